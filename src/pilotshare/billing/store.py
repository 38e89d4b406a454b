"""SQL of billing: the bookings a statement bills, and vouchers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Final

import asyncpg

from pilotshare.billing.statements import Statement, compute, month_range
from pilotshare.core.db import Connection, Executor
from pilotshare.registry import require_organisation
from pilotshare.scheduler.states import BILLABLE_SQL

_BILLED: Final = f"""
SELECT b.id, b.instrument_id, lower(b.period) AS start, upper(b.period) AS "end", b.status,
       b.billing, b.hourly_rate, b.used_s, b.ended_at
FROM bookings b
WHERE b.org_id = $1 AND ($2::timestamptz IS NULL OR lower(b.period) >= $2)
  AND lower(b.period) < $3
  AND b.status IN {BILLABLE_SQL}
ORDER BY lower(b.period), b.instrument_id, b.id"""


@dataclass(frozen=True, slots=True)
class Voucher:
    """Balance granted to an organisation."""

    id: int
    org: str
    amount: Decimal
    note: str
    granted_at: datetime


def _voucher(row: asyncpg.Record) -> Voucher:
    return Voucher(row["id"], row["org_id"], row["amount"], row["note"], row["granted_at"])


async def statement(conn: Executor, org: str, month: str) -> Statement:
    """The statement of ``org`` for ``month`` (``YYYY-MM``): its rows, loaded and billed."""
    lo, hi = month_range(month)
    rows = await conn.fetch(_BILLED, org, lo, hi)
    earlier = await conn.fetch(_BILLED, org, None, lo)  # vouchers pay these months first
    grants = [
        (r["granted_at"], Decimal(r["amount"]))
        for r in await conn.fetch(
            "SELECT granted_at, amount FROM vouchers WHERE org_id = $1 AND granted_at < $2",
            org,
            hi,
        )
    ]
    return compute(org, month, rows, earlier, grants)


async def grant_voucher(
    conn: Connection, org: str, amount: Decimal, note: str, now: datetime
) -> Voucher:
    """Grant ``org`` voucher balance from ``now`` on; ``NotFound`` for an unknown one."""
    async with conn.transaction():
        await require_organisation(conn, org)
        row = await conn.fetchrow(
            "INSERT INTO vouchers (org_id, amount, note, granted_at) VALUES ($1, $2, $3, $4) "
            "RETURNING id, org_id, amount, note, granted_at",
            org,
            amount,
            note,
            now,
        )
    assert row is not None  # noqa: S101 - INSERT … RETURNING
    return _voucher(row)


async def vouchers(conn: Executor, org: str) -> list[Voucher]:
    """Every grant to ``org``, oldest first."""
    rows = await conn.fetch(
        "SELECT id, org_id, amount, note, granted_at FROM vouchers WHERE org_id = $1 "
        "ORDER BY granted_at, id",
        org,
    )
    return [_voucher(r) for r in rows]
