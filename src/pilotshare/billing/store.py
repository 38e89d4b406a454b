"""SQL of billing: the bookings a statement bills, and vouchers with their audit lines."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Final

import asyncpg

from pilotshare.billing.accounts import Programme, Voucher
from pilotshare.billing.statements import Statement, compute, current_month, month_range
from pilotshare.core.audit import SYSTEM, Actor, record
from pilotshare.core.db import Connection, Executor
from pilotshare.core.errors import BadInput, Conflict, NotFound
from pilotshare.core.periods import month_of
from pilotshare.registry import require_organisation, service_item
from pilotshare.scheduler.states import BILLABLE_SQL

#: Every billable booking of some organisations that starts before $2, with its site's zone
#: (``statements`` cuts the months in it), its platform, kind and service item (a voucher's
#: scope).
_BILLED: Final = f"""
SELECT b.id, b.org_id, b.instrument_id, lower(b.period) AS start, upper(b.period) AS "end",
       b.status, b.billing, b.hourly_rate, b.used_s, b.ended_at, s.timezone,
       i.owner_org_id AS platform, i.kind, b.service_item_id
FROM bookings b JOIN instruments i ON i.id = b.instrument_id JOIN sites s ON s.id = i.site_id
WHERE b.org_id = ANY($1::text[]) AND lower(b.period) < $2
  AND b.status IN {BILLABLE_SQL}
ORDER BY b.org_id, lower(b.period), b.instrument_id, b.id"""

_VOUCHER: Final = """id, org_id, amount, note, granted_at, programme, share, cap, valid_from,
    valid_until, platforms, kinds, service_items, issued_by, revoked_at"""

#: Local months end within a day of the UTC month: enough to load for any zone.
ANY_ZONE: Final = timedelta(days=1)


def _voucher(row: asyncpg.Record) -> Voucher:
    return Voucher(
        id=row["id"],
        org=row["org_id"],
        amount=row["amount"],
        note=row["note"],
        granted_at=row["granted_at"],
        programme=row["programme"],
        share=row["share"],
        cap=row["cap"],
        valid_from=row["valid_from"],
        valid_until=row["valid_until"],
        platforms=tuple(row["platforms"]),
        kinds=tuple(row["kinds"]),
        service_items=tuple(row["service_items"]),
        issued_by=row["issued_by"],
        revoked_at=row["revoked_at"],
    )


async def billed_rows(
    conn: Executor, orgs: Sequence[str], before: datetime
) -> list[asyncpg.Record]:
    """The billable bookings of ``orgs`` starting before ``before``, by organisation and start."""
    return list(await conn.fetch(_BILLED, list(orgs), before))


async def site_zones(conn: Executor) -> set[str]:
    """The time zones of every site (a voucher lapses when its last day has ended in all)."""
    return {r["timezone"] for r in await conn.fetch("SELECT DISTINCT timezone FROM sites")}


async def statement(conn: Executor, org: str, month: str) -> Statement:
    """The statement of ``org`` for ``month`` (``YYYY-MM``, local to each site): its rows, and
    those of the months before (vouchers pay their lines first), loaded and billed."""
    until = month_range(month)[1] + ANY_ZONE
    rows = await billed_rows(conn, [org], until)
    vouchers = await find_vouchers(conn, client=org, until=until)
    return compute(org, month, rows, [v.terms() for v in vouchers])


async def voucher_balance(conn: Executor, org: str, now: datetime) -> Decimal:
    """What is left of ``org``'s vouchers after every statement up to ``now``'s month."""
    # to the end of the month ``now`` is in, in any zone
    until = month_range(month_of(now + ANY_ZONE, "UTC"))[1] + ANY_ZONE
    rows = await billed_rows(conn, [org], until)
    month = current_month(rows, now)
    vouchers = await find_vouchers(conn, client=org, until=until)
    return compute(org, month, rows, [v.terms() for v in vouchers]).voucher_balance


async def find_vouchers(
    conn: Executor,
    *,
    client: str | None = None,
    platform: str | None = None,
    until: datetime | None = None,
) -> list[Voucher]:
    """Vouchers, oldest first: of one client, that may pay one platform's lines (those that
    name it, and those of any platform), issued up to an instant (each None: any)."""
    rows = await conn.fetch(
        f"SELECT {_VOUCHER} FROM vouchers WHERE ($1::text IS NULL OR org_id = $1) "
        "AND ($2::text IS NULL OR platforms = '{}' OR $2 = ANY(platforms)) "
        "AND ($3::timestamptz IS NULL OR granted_at <= $3) ORDER BY granted_at, id",
        client,
        platform,
        until,
    )
    return [_voucher(r) for r in rows]


async def vouchers(conn: Executor, org: str) -> list[Voucher]:
    """Every voucher issued to ``org``, oldest first."""
    return await find_vouchers(conn, client=org)


async def voucher(conn: Executor, voucher_id: int) -> Voucher:
    """One voucher; ``NotFound('no_voucher')`` when there is none of this id."""
    row = await conn.fetchrow(f"SELECT {_VOUCHER} FROM vouchers WHERE id = $1", voucher_id)
    if row is None:
        raise NotFound("no_voucher", f"no voucher {voucher_id}")
    return _voucher(row)


def _owners(v: Voucher) -> list[str]:
    return [v.org, *v.platforms]


async def grant_voucher(
    conn: Connection,
    org: str,
    amount: Decimal,
    note: str,
    now: datetime,
    *,
    actor: Actor = SYSTEM,
    programme: Programme = "pilot",
    share: Decimal = Decimal(1),
    cap: Decimal | None = None,
    valid_from: date | None = None,
    valid_until: date | None = None,
    platforms: Sequence[str] = (),
    kinds: Sequence[str] = (),
    service_items: Sequence[str] = (),
) -> Voucher:
    """Issue ``org`` a voucher from ``now`` on (cap: the face value unless less), audited;
    ``NotFound`` for an unknown client or platform, ``BadInput('bad_voucher')`` for terms
    that do not hold together."""
    if cap is not None and cap > amount:
        raise BadInput("bad_voucher", "a voucher's cap per line cannot exceed its face value")
    if valid_from is not None and valid_until is not None and valid_from > valid_until:
        raise BadInput("bad_voucher", "a voucher's validity cannot end before it starts")
    async with conn.transaction():
        for who in (org, *platforms):
            await require_organisation(conn, who)
        for item in service_items:  # a scope naming no item would pay nothing, silently
            await service_item(conn, item)
        row = await conn.fetchrow(
            "INSERT INTO vouchers (org_id, amount, note, granted_at, programme, share, cap, "
            "valid_from, valid_until, platforms, kinds, service_items, issued_by) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) "
            f"RETURNING {_VOUCHER}",
            org,
            amount,
            note,
            now,
            programme,
            share,
            amount if cap is None else cap,
            valid_from,
            valid_until,
            sorted(set(platforms)),
            sorted(set(kinds)),
            sorted(set(service_items)),
            actor.key,
        )
        assert row is not None  # noqa: S101 - INSERT … RETURNING
        issued = _voucher(row)
        await record(
            conn,
            actor,
            "voucher.issue",
            "voucher",
            str(issued.id),
            owners=_owners(issued),
            at=now,
            after=issued,
        )
    return issued


async def revoke_voucher(conn: Connection, voucher_id: int, actor: Actor, now: datetime) -> Voucher:
    """Revoke a voucher from ``now`` on: it pays nothing of bookings starting later, what it
    paid stays; ``Conflict('voucher_revoked')`` if it was revoked already."""
    async with conn.transaction():
        before = await voucher(conn, voucher_id)
        if before.revoked_at is not None:
            raise Conflict("voucher_revoked", f"voucher {voucher_id} was revoked already")
        await conn.execute("UPDATE vouchers SET revoked_at = $2 WHERE id = $1", voucher_id, now)
        after = replace(before, revoked_at=now)
        await _audited(conn, "voucher.revoke", before, after, actor=actor, now=now)
    return after


async def edit_voucher(
    conn: Connection, voucher_id: int, note: str, actor: Actor, now: datetime
) -> Voucher:
    """Change a voucher's note (its terms are fixed once issued: statements depend on them)."""
    async with conn.transaction():
        before = await voucher(conn, voucher_id)
        await conn.execute("UPDATE vouchers SET note = $2 WHERE id = $1", voucher_id, note)
        after = replace(before, note=note)
        await _audited(conn, "voucher.edit", before, after, actor=actor, now=now)
    return after


async def _audited(
    conn: Connection, action: str, before: Voucher, after: Voucher, *, actor: Actor, now: datetime
) -> None:
    """The audit line of a change to a voucher, owned by its client and scoped platforms."""
    await record(
        conn,
        actor,
        action,
        "voucher",
        str(after.id),
        owners=_owners(after),
        at=now,
        before=before,
        after=after,
    )
