"""The SQL of the scheduler, and nothing else: one module per part, re-exported here so that
callers write ``from pilotshare.scheduler import store; store.get_booking(...)``.

Rows come back as frozen dataclasses; the decisions (rules, allocation, lifecycle) live in
``policy``, ``allocation``, ``service`` and ``lifecycle``.
"""

from pilotshare.scheduler.store.bookings import (
    Booking,
    Instrument,
    busy,
    get_booking,
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
)
from pilotshare.scheduler.store.closures import (
    Closure,
    add_closure,
    open_closures,
    remove_closure,
)
from pilotshare.scheduler.store.interlock import (
    Desired,
    close_for,
    next_send,
    open_due,
    sends_due,
    sent,
    settle_reported,
)
from pilotshare.scheduler.store.lifecycle import (
    check_in_running,
    ended_held,
    flag_delayed,
    next_due,
    past_grace,
    released_unlocked,
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
    "Desired",
    "Instrument",
    "add_closure",
    "booked_hours",
    "busy",
    "check_in_running",
    "close_for",
    "drop_quota",
    "ended_held",
    "flag_delayed",
    "get_booking",
    "holder_of",
    "insert_booking",
    "instrument",
    "instrument_for_slot",
    "instruments_of_kind",
    "list_bookings",
    "live_state",
    "lock_allocation",
    "lock_quotas",
    "measure",
    "next_due",
    "next_send",
    "open_closures",
    "open_due",
    "p_up",
    "past_grace",
    "quotas",
    "released_unlocked",
    "remove_closure",
    "sends_due",
    "sent",
    "set_quota",
    "settle_reported",
    "transition",
]
