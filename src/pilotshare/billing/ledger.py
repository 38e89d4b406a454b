"""Vouchers' accounts read from the database: each voucher's figures and uses, the programme's
report and what vouchers paid each platform.

Nothing here is stored: every figure is recomputed from the bookings and the vouchers' terms
(``billing.redemption``), the same way a statement is, so each answer agrees with the
statements and reading never changes anything. One client's lines and vouchers are loaded in
one query each, so a report over a few hundred bookings takes milliseconds.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

from pilotshare.billing.accounts import (
    Account,
    Report,
    Status,
    Voucher,
    accounts,
    by_platform,
    report,
)
from pilotshare.billing.redemption import redeem
from pilotshare.billing.statements import Line, line_of, month_range
from pilotshare.billing.store import ANY_ZONE, billed_rows, find_vouchers, site_zones, voucher
from pilotshare.core.audit import AuditEvent, events
from pilotshare.core.db import Executor
from pilotshare.core.errors import BadInput, NotFound
from pilotshare.core.periods import month_of


async def _lines(conn: Executor, clients: Sequence[str], before: datetime) -> dict[str, list[Line]]:
    out: dict[str, list[Line]] = {c: [] for c in clients}
    for row in await billed_rows(conn, sorted(set(clients)), before):
        out[row["org_id"]].append(line_of(row))
    return out


def _by_client(vouchers: Sequence[Voucher]) -> dict[str, list[Voucher]]:
    out: dict[str, list[Voucher]] = {}
    for v in vouchers:
        out.setdefault(v.org, []).append(v)
    return out


async def voucher_accounts(
    conn: Executor,
    now: datetime,
    *,
    client: str | None = None,
    platform: str | None = None,
    status: Status | None = None,
) -> list[Account]:
    """Vouchers (of one client, that may pay one platform's lines, of one status: each None:
    any) with their figures now, oldest first."""
    wanted = await find_vouchers(conn, client=client, platform=platform)
    clients = {v.org for v in wanted}
    ids = {v.id for v in wanted}
    # a voucher's figures depend on every voucher of its client: they share the lines (without
    # a platform, ``wanted`` is already every voucher of those clients)
    shared = wanted if platform is None else await find_vouchers(conn, client=client)
    every = _by_client([v for v in shared if v.org in clients])
    zones = await site_zones(conn)
    lines = await _lines(conn, list(every), now)
    out = [
        a
        for c, vs in every.items()
        for a in accounts(vs, lines[c], now, zones)
        if a.voucher.id in ids and (status is None or a.status == status)
    ]
    return sorted(out, key=lambda a: (a.voucher.granted_at, a.voucher.id))


async def voucher_account(conn: Executor, voucher_id: int, now: datetime) -> Account:
    """One voucher with its figures and the lines it paid; ``NotFound('no_voucher')``."""
    client = (await voucher(conn, voucher_id)).org
    for account in await voucher_accounts(conn, now, client=client):
        if account.voucher.id == voucher_id:
            return account
    raise NotFound("no_voucher", f"no voucher {voucher_id} yet")


async def voucher_report(conn: Executor, first: str, last: str, now: datetime) -> Report:
    """The vouchers' accounts for the months ``first``..``last`` (``YYYY-MM``, each site's),
    as of the end of ``last`` (in the last zone to end it) or ``now`` if that is earlier."""
    if first > last:
        raise BadInput("bad_query", "the report's 'from' month is after its 'to' month")
    zones = await site_zones(conn) or {"UTC"}
    month_range(first)  # refuses a bad month
    as_of = min(now, max(month_range(last, z)[1] for z in zones))
    ledger_vouchers = _by_client(await find_vouchers(conn, until=as_of))
    lines = await _lines(conn, list(ledger_vouchers), as_of)
    ledger = {c: (vs, lines[c]) for c, vs in ledger_vouchers.items()}
    return report(first, last, as_of, ledger, zones)


async def redeemed_by_platform(conn: Executor, month: str) -> dict[str, Decimal]:
    """What vouchers paid of each platform's statement lines billed in ``month`` (``YYYY-MM``,
    cut in each site's zone), as the statements show it now."""
    until = month_range(month)[1] + ANY_ZONE
    by_client = _by_client(await find_vouchers(conn, until=until))
    lines = await _lines(conn, list(by_client), until)
    out: dict[str, Decimal] = {}
    for client, vs in by_client.items():
        billed = [line for line in lines[client] if month_of(line.start, line.timezone) <= month]
        done = redeem(billed, [v.terms() for v in vs])
        for platform, paid in by_platform(billed, done, {month}).items():
            out[platform] = out.get(platform, Decimal(0)) + paid
    return dict(sorted(out.items()))


async def voucher_audit(conn: Executor, voucher_id: int) -> list[AuditEvent]:
    """Every audited change of one voucher, newest first (for the network operator)."""
    return await events(conn, owner=None, kind="voucher", object_id=str(voucher_id))
