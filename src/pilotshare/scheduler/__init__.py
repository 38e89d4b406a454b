"""Bookings: rules, allocation, the booking state machine, the service and the lifecycle.

Pure: ``requests`` (what a request must say), ``policy`` (an instrument's rules and free
time), ``allocation`` (choosing a slot), ``states`` (the transitions table), ``checkin``
(when a run is a booking's own: the check-in window). With the
database: ``service`` (load -> decide -> persist -> report), ``search``, ``quota``,
``feeds``, ``store`` (the SQL), and ``lifecycle`` (check-in, no-show, completion and the
interlock, from telemetry). ``forecast`` is the capacity forecast of these bookings.

Public are the submodules in ``__all__`` (``search`` for its free-slot reads, which the
public directory shares); ``allocation`` and ``quota`` are the service's own. Nothing is
re-exported here, so the pure modules load without the database.
"""

__all__ = [
    "checkin",
    "feeds",
    "forecast",
    "lifecycle",
    "metrics",
    "policy",
    "requests",
    "search",
    "service",
    "states",
    "store",
]
