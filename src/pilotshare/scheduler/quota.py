"""Quotas: at most so many booked hours per organisation and day, ISO week or month.

The period is the booked instrument's site's local day, week (from Monday) or month containing
the booking's start (``core.periods``): in Asia/Shanghai a booking at 02:00 on 1 December
counts in December. Each booking of the organisation counts its part inside the period. The
rule itself is ``policy.quota_pieces`` and ``QuotaPiece.exceeded`` (pure), which the
forecast's booking desk applies too.
"""

from __future__ import annotations

from datetime import UTC
from uuid import UUID

from pilotshare.core.db import Connection
from pilotshare.core.errors import Conflict
from pilotshare.scheduler import store
from pilotshare.scheduler.policy import Interval, QuotaPiece, quota_pieces


def quota_exceeded(org: str, piece: QuotaPiece, used: float) -> Conflict:
    """The refusal of a slot that would take ``org`` past the quota of ``piece``."""
    start = piece.window[0].astimezone(UTC).isoformat().replace("+00:00", "Z")
    return Conflict(
        "quota_exceeded",
        f"quota exceeded: organisation {org!r} may book {piece.max_hours:g} h per "
        f"{piece.period} and has {used:g} h booked in the {piece.period} from {start}",
    )


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
    for piece in quota_pieces(limits, slot, timezone):
        used = await store.booked_hours(conn, org, piece.window, exclude=exclude)
        if piece.exceeded(used):
            raise quota_exceeded(org, piece, used)
