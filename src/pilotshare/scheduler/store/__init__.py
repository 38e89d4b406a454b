"""The SQL of the scheduler, and nothing else: one module per part, re-exported here so that
callers write ``from pilotshare.scheduler import store; store.get_booking(...)``.

Rows come back as frozen dataclasses; the decisions (rules, allocation, lifecycle) live in
``policy``, ``allocation``, ``service`` and ``lifecycle``.
"""

from pilotshare.scheduler.store.bookings import (
    Booking,
    Instrument,
    InstrumentRetired,
    busy,
    get_booking,
    held_from,
    holder_of,
    insert_booking,
    instrument,
    instrument_for_slot,
    instruments_of_kind,
    list_bookings,
    live_state,
    lock_allocation,
    measure,
    p_up,
    transition,
    update_period,
)
from pilotshare.scheduler.store.closures import (
    Closure,
    add_closure,
    open_closures,
    remove_closure,
)
from pilotshare.scheduler.store.lifecycle import (
    InProgress,
    close_interlock,
    ended_held,
    in_progress,
    mark_freed,
    next_due,
    past_grace,
    released_unlocked,
    runs,
    taken_until,
    unlock_due,
)
from pilotshare.scheduler.store.quotas import (
    booked_hours,
    drop_quota,
    lock_quotas,
    quotas,
    set_quota,
)

__all__ = [
    "Booking",
    "Closure",
    "InProgress",
    "Instrument",
    "InstrumentRetired",
    "add_closure",
    "booked_hours",
    "busy",
    "close_interlock",
    "drop_quota",
    "ended_held",
    "get_booking",
    "held_from",
    "holder_of",
    "in_progress",
    "insert_booking",
    "instrument",
    "instrument_for_slot",
    "instruments_of_kind",
    "list_bookings",
    "live_state",
    "lock_allocation",
    "lock_quotas",
    "mark_freed",
    "measure",
    "next_due",
    "open_closures",
    "p_up",
    "past_grace",
    "quotas",
    "released_unlocked",
    "remove_closure",
    "runs",
    "set_quota",
    "taken_until",
    "transition",
    "unlock_due",
    "update_period",
]
