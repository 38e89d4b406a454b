"""One module per area of ``/api/v1``, each exposing ``router`` (``api.app.ROUTERS``)."""

__all__ = [
    "availability",
    "bookings",
    "calendars",
    "dashboard",
    "events",
    "forecasts",
    "health",
    "instruments",
    "profiles",
    "public",
    "qualifications",
    "rejects",
    "requests",
    "service_items",
    "simulations",
    "statements",
    "statistics",
    "telemetry",
    "twin",
    "vouchers",
]
