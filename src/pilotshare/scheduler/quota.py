"""Quotas: at most so many booked hours per organisation and UTC day, ISO week or month."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID

from pilotshare.core.db import Connection
from pilotshare.core.errors import Conflict
from pilotshare.scheduler import store
from pilotshare.scheduler.policy import Interval


def _period_of(period: str, at: datetime) -> Interval:
    """The UTC calendar day, ISO week or month containing ``at``."""
    day = at.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "day":
        return day, day + timedelta(days=1)
    if period == "week":
        monday = day - timedelta(days=day.weekday())
        return monday, monday + timedelta(days=7)
    first = day.replace(day=1)
    nxt = (first + timedelta(days=32)).replace(day=1)
    return first, nxt


async def check_quota(
    conn: Connection, org: str, slot: Interval, *, exclude: UUID | None = None
) -> None:
    """Refuse (``Conflict``) a booking of ``slot`` that would take ``org`` over a quota.

    Limits are inclusive, and a slot across a period boundary counts its part in each period
    it touches. ``exclude`` is a booking being moved: its old slot does not count. Call inside
    the booking's transaction: it takes a per-organisation advisory lock, so two concurrent
    requests cannot both fit under the limit.
    """
    limits = await store.quotas(conn, org)
    if not limits:
        return
    await store.lock_quotas(conn, org)
    for period, max_hours in sorted(limits.items()):
        lo, hi = _period_of(period, slot[0])
        while lo < slot[1]:
            hours = (min(hi, slot[1]) - max(lo, slot[0])).total_seconds() / 3600.0
            used = await store.booked_hours(conn, org, (lo, hi), exclude=exclude)
            if used + hours > max_hours + 1e-9:
                start = lo.astimezone(UTC).isoformat().replace("+00:00", "Z")
                raise Conflict(
                    "quota_exceeded",
                    f"quota exceeded: organisation {org!r} may book {max_hours:g} h per "
                    f"{period} and has {used:g} h booked in the {period} from {start}",
                )
            lo, hi = _period_of(period, hi)
