"""Quotas: at most so many booked hours per organisation and day, ISO week or month.

The period is the booked instrument's site's local day, week (from Monday) or month containing
the booking's start (``core.periods``): in Asia/Shanghai a booking at 02:00 on 1 December
counts in December. Each booking of the organisation counts its part inside the period.
"""

from __future__ import annotations

from datetime import UTC
from uuid import UUID

from pilotshare.core.db import Connection
from pilotshare.core.errors import Conflict
from pilotshare.core.periods import period_of
from pilotshare.scheduler import store
from pilotshare.scheduler.policy import Interval


async def check_quota(
    conn: Connection, org: str, slot: Interval, timezone: str, *, exclude: UUID | None = None
) -> None:
    """Refuse (``Conflict``) a booking of ``slot`` that would take ``org`` over a quota, in
    periods of ``timezone`` (the instrument's site's).

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
        lo, hi = period_of(period, slot[0], timezone)
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
            lo, hi = period_of(period, hi, timezone)
