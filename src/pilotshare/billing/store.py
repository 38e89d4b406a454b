"""SQL of billing: the bookings a statement bills, and vouchers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Final

import asyncpg

from pilotshare.billing.statements import Statement, compute, current_month, month_range
from pilotshare.core.db import Connection, Executor
from pilotshare.core.periods import month_of
from pilotshare.registry import require_organisation
from pilotshare.scheduler.states import BILLABLE_SQL

#: Every billable booking of an organisation that starts before $2, with its site's zone
#: (``statements`` cuts the months in it).
_BILLED: Final = f"""
SELECT b.id, b.instrument_id, lower(b.period) AS start, upper(b.period) AS "end", b.status,
       b.billing, b.hourly_rate, b.used_s, b.ended_at, s.timezone
FROM bookings b JOIN instruments i ON i.id = b.instrument_id JOIN sites s ON s.id = i.site_id
WHERE b.org_id = $1 AND lower(b.period) < $2
  AND b.status IN {BILLABLE_SQL}
ORDER BY lower(b.period), b.instrument_id, b.id"""

#: Local months end within a day of the UTC month: enough to load for any zone.
_ANY_ZONE: Final = timedelta(days=1)


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


async def _grants(conn: Executor, org: str, before: datetime) -> list[tuple[datetime, Decimal]]:
    rows = await conn.fetch(
        "SELECT granted_at, amount FROM vouchers WHERE org_id = $1 AND granted_at < $2",
        org,
        before,
    )
    return [(r["granted_at"], Decimal(r["amount"])) for r in rows]


async def statement(conn: Executor, org: str, month: str) -> Statement:
    """The statement of ``org`` for ``month`` (``YYYY-MM``, local to each site): its rows, and
    those of the months before (vouchers pay these first), loaded and billed."""
    until = month_range(month)[1] + _ANY_ZONE
    rows = await conn.fetch(_BILLED, org, until)
    return compute(org, month, rows, await _grants(conn, org, until))


async def voucher_balance(conn: Executor, org: str, now: datetime) -> Decimal:
    """What is left of ``org``'s vouchers after every statement up to ``now``'s month."""
    # to the end of the month ``now`` is in, in any zone
    until = month_range(month_of(now + _ANY_ZONE, "UTC"))[1] + _ANY_ZONE
    rows = await conn.fetch(_BILLED, org, until)
    month = current_month(rows, now)
    return compute(org, month, rows, await _grants(conn, org, until)).voucher_balance


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
