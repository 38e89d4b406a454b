"""Booking quotas per organisation and period, and the hours they count."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from uuid import UUID

from pilotshare.core.audit import Actor, record
from pilotshare.core.db import Connection, Executor
from pilotshare.registry import require_organisation
from pilotshare.scheduler.policy import Interval
from pilotshare.scheduler.states import QUOTA_COUNTED_SQL


async def lock_quotas(conn: Connection, org: str) -> None:
    """Serialise quota checks of ``org`` until the transaction ends."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext('quota:' || $1))", org)


async def booked_hours(
    conn: Executor, org: str, window: Interval, *, exclude: UUID | None = None
) -> float:
    """Hours of ``org``'s holding and finished-with-use bookings (but ``exclude``) that lie
    inside ``window``: a booking across the window's edge counts only its part inside."""
    value = await conn.fetchval(
        f"""SELECT coalesce(sum(extract(epoch FROM
                       least(upper(period), $3) - greatest(lower(period), $2))), 0)::float8
            FROM bookings WHERE org_id = $1 AND period && tstzrange($2, $3)
              AND status IN {QUOTA_COUNTED_SQL} AND ($4::uuid IS NULL OR id <> $4)""",
        org,
        window[0],
        window[1],
        exclude,
    )
    return float(value) / 3600.0


async def quotas(conn: Executor, org: str) -> dict[str, float]:
    rows = await conn.fetch("SELECT period, max_hours FROM booking_quotas WHERE org_id = $1", org)
    return {r["period"]: float(r["max_hours"]) for r in rows}


async def _quota(conn: Connection, org: str, period: str) -> dict[str, object] | None:
    row = await conn.fetchrow(
        "SELECT org_id, period, max_hours FROM booking_quotas WHERE org_id = $1 AND period = $2 "
        "FOR UPDATE",
        org,
        period,
    )
    return None if row is None else dict(row)


async def set_quota(
    conn: Connection, org: str, period: str, max_hours: Decimal, *, actor: Actor, at: datetime
) -> None:
    """Set ``org``'s quota for ``period``, with its audit line; ``NotFound`` for an unknown
    organisation."""
    async with conn.transaction():
        await require_organisation(conn, org)
        before = await _quota(conn, org, period)
        await conn.execute(
            """INSERT INTO booking_quotas (org_id, period, max_hours) VALUES ($1, $2, $3)
               ON CONFLICT (org_id, period) DO UPDATE SET max_hours = EXCLUDED.max_hours""",
            org,
            period,
            max_hours,
        )
        after = {"org_id": org, "period": period, "max_hours": max_hours}
        await record(
            conn,
            actor,
            "quota.set",
            "quota",
            f"{org}/{period}",
            owners=[org],
            at=at,
            before=before,
            after=after,
        )


async def drop_quota(
    conn: Connection, org: str, period: str, *, actor: Actor, at: datetime
) -> None:
    """Remove ``org``'s quota for ``period``, if it had one (then with its audit line)."""
    async with conn.transaction():
        row = await conn.fetchrow(
            "DELETE FROM booking_quotas WHERE org_id = $1 AND period = $2 "
            "RETURNING org_id, period, max_hours",
            org,
            period,
        )
        if row is None:
            return
        before = dict(row)
        await record(
            conn,
            actor,
            "quota.drop",
            "quota",
            f"{org}/{period}",
            owners=[org],
            at=at,
            before=before,
        )
