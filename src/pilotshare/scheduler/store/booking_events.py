"""The ``booking_events`` table read as an outbox: every booking change the bookings trigger
recorded, by id, so that a reader (the API's event streams) sees each change without the
trigger notifying for each one (a NOTIFY per booking serialises commits).
"""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from pilotshare.core.db import Executor
from pilotshare.scheduler.store.bookings import BOOKING_COLUMNS, Booking, booking_from


async def last_booking_event(conn: Executor) -> int:
    """The highest ``booking_events`` id committed so far (0: none): where a tail starts."""
    last = await conn.fetchval("SELECT coalesce(max(id), 0) FROM booking_events")
    return int(last)


async def booking_events_after(
    conn: Executor, after: int, *, missing: Sequence[int] = (), limit: int
) -> list[tuple[int, UUID]]:
    """``(id, booking_id)`` of the first ``limit`` changes after ``after`` and of those of
    ``missing`` (ids at or below ``after`` not seen yet: their transactions had not committed)
    that are there now, in id order."""
    rows = await conn.fetch(
        """SELECT id, booking_id FROM booking_events WHERE id = ANY($2::bigint[])
           UNION ALL
           (SELECT id, booking_id FROM booking_events WHERE id > $1 ORDER BY id LIMIT $3)
           ORDER BY id""",
        after,
        list(missing),
        limit,
    )
    return [(int(r["id"]), r["booking_id"]) for r in rows]


async def get_bookings(conn: Executor, ids: Sequence[UUID]) -> list[Booking]:
    """The bookings of ``ids`` that still exist, in the order of ``ids`` (one query)."""
    rows = await conn.fetch(
        f"""SELECT {BOOKING_COLUMNS} FROM bookings b JOIN instruments i ON i.id = b.instrument_id
            WHERE b.id = ANY($1::uuid[])""",
        list(ids),
    )
    found = {row["id"]: booking_from(row) for row in rows}
    return [found[i] for i in ids if i in found]
