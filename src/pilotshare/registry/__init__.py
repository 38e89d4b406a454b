"""Who and what is on the platform: organisations, sites, the instrument catalogue, who is
qualified for what, the API keys organisations hold, and what platforms publish (their
profiles and service items).

The rows that every other package names (``organisations``, ``instruments``) are created and
looked up here, once, so that "does this instrument exist" and "register an organisation" have
one answer. Bookings, telemetry and money live in their own packages and only refer to these.
"""

from pilotshare.registry.platforms import (
    Profile,
    ProfileTerms,
    ServiceItem,
    delete_service_item,
    insert_service_item,
    profile,
    put_profile,
    service_item,
    service_items,
    update_service_item,
)
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
    "Profile",
    "ProfileTerms",
    "ServiceItem",
    "catalogue_row",
    "catalogue_rows",
    "create_organisation",
    "delete_service_item",
    "ensure_organisation",
    "ensure_site",
    "grant_qualification",
    "insert_instrument",
    "insert_key",
    "insert_service_item",
    "instrument_exists",
    "list_keys",
    "live_key",
    "organisations",
    "profile",
    "put_profile",
    "require_instrument",
    "require_organisation",
    "retire_instrument",
    "revoke_key",
    "revoke_qualification",
    "service_item",
    "service_items",
    "touch_key",
    "update_instrument",
    "update_service_item",
]
