"""Who and what is on the platform: organisations and the instruments they may book.

The rows that every other package names (``organisations``, ``instruments``) are created and
looked up here, once, so that "does this instrument exist" and "register an organisation" have
one answer. Bookings, telemetry and money live in their own packages and only refer to these.
"""

from pilotshare.registry.store import (
    ensure_organisation,
    grant_qualification,
    instrument_exists,
    require_instrument,
)

__all__ = ["ensure_organisation", "grant_qualification", "instrument_exists", "require_instrument"]
