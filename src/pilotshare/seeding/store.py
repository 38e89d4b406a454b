"""The past bookings of a back-fill, stored as the booking lifecycle leaves settled ones.

Rows go in with their final status, times and measured usage; the bookings trigger fills
their hold, rate and billing from the instrument as it does for every booking.
"""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from pilotshare.core.db import Connection
from pilotshare.seeding.past import PastBooking

_COLUMNS = (
    "instrument_id",
    "org_id",
    "period",
    "status",
    "purpose",
    "created_at",
    "updated_at",
    "activated_at",
    "ended_at",
    "used_s",
    "running_s",
    "flags",
)


async def insert_bookings(conn: Connection, bookings: Sequence[PastBooking]) -> int:
    """Store settled past bookings in one COPY; returns how many."""
    await conn.copy_records_to_table(
        "bookings",
        records=[
            (
                b.instrument,
                b.org,
                asyncpg.Range(b.start, b.end),
                b.status.value,
                b.purpose,
                b.created_at,
                b.ended_at,
                b.activated_at,
                b.ended_at,
                b.used_s,
                b.running_s,
                list(b.flags),
            )
            for b in bookings
        ],
        columns=_COLUMNS,
    )
    return len(bookings)
