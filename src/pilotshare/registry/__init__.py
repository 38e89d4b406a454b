"""Who and what is on the platform: organisations, sites, the instrument catalogue, who is
qualified for what, and the API keys organisations hold.

The rows that every other package names (``organisations``, ``instruments``) are created and
looked up here, once, so that "does this instrument exist" and "register an organisation" have
one answer. Bookings, telemetry and money live in their own packages and only refer to these.
"""

from pilotshare.registry.store import (
    TOUCH_EVERY_S,
    InstrumentTerms,
    KeyRecord,
    Organisation,
    OrgKind,
    catalogue_row,
    catalogue_rows,
    create_organisation,
    ensure_organisation,
    ensure_site,
    grant_qualification,
    insert_instrument,
    insert_key,
    instrument_exists,
    instrument_owner,
    list_keys,
    live_key,
    organisations,
    require_instrument,
    require_organisation,
    retire_instrument,
    revoke_key,
    revoke_qualification,
    touch_key,
    update_instrument,
)

__all__ = [
    "TOUCH_EVERY_S",
    "InstrumentTerms",
    "KeyRecord",
    "OrgKind",
    "Organisation",
    "catalogue_row",
    "catalogue_rows",
    "create_organisation",
    "ensure_organisation",
    "ensure_site",
    "grant_qualification",
    "insert_instrument",
    "insert_key",
    "instrument_exists",
    "instrument_owner",
    "list_keys",
    "live_key",
    "organisations",
    "require_instrument",
    "require_organisation",
    "retire_instrument",
    "revoke_key",
    "revoke_qualification",
    "touch_key",
    "update_instrument",
]
