"""SQL of what a platform publishes about itself: its profile and its service items (服务项目).

A profile is a set of columns of the platform's organisation row (migration 0049); a service
item is a priced service of one platform ("SEM imaging, per sample"), optionally tied to an
instrument kind or one instrument. Both are here, below the scheduler, because a booking may
name a service item and the scheduler checks that it belongs to the instrument's platform.
"""

from __future__ import annotations

from dataclasses import astuple, dataclass, fields
from datetime import datetime
from decimal import Decimal
from typing import Any, Final

import asyncpg

from pilotshare.core.db import Executor
from pilotshare.core.errors import Conflict, NotFound


@dataclass(frozen=True, slots=True)
class ProfileTerms:
    """A platform's profile, as ``PUT …/profile`` replaces it (column order of the table)."""

    name_zh: str
    name_en: str
    site_id: str | None
    address: str
    description_zh: str
    description_en: str
    contact: dict[str, Any]
    accreditations: list[str]
    public: bool


@dataclass(frozen=True, slots=True)
class Profile:
    """An organisation's profile as stored (the names default to its registered name)."""

    org: str
    kind: str
    terms: ProfileTerms
    updated_at: datetime | None


_PROFILE: Final = tuple(f.name for f in fields(ProfileTerms))


@dataclass(frozen=True, slots=True)
class ServiceItem:
    """A priced service of a platform, as stored (column order of ``service_items``)."""

    id: str
    platform_org_id: str
    site_id: str
    name_zh: str
    name_en: str
    description_zh: str
    description_en: str
    unit: str
    price: Decimal
    kind: str | None
    instrument_id: str | None
    public: bool

    def serves(self, owner: str | None, kind: str, instrument: str) -> bool:
        """Whether the work may be done on an instrument (its owner, kind and id) for this
        item: the item is its platform's, and of its kind and for it where the item names
        a kind or an instrument. One rule for bookings and for offers on requests."""
        return (
            owner is not None
            and self.platform_org_id == owner
            and self.kind in {None, kind}
            and self.instrument_id in {None, instrument}
        )


_ITEM: Final = tuple(f.name for f in fields(ServiceItem))


def _profile(row: asyncpg.Record) -> Profile:
    terms = ProfileTerms(
        name_zh=row["name_zh"] or row["name"],
        name_en=row["name_en"] or row["name"],
        site_id=row["site_id"],
        address=row["address"],
        description_zh=row["description_zh"],
        description_en=row["description_en"],
        contact=dict(row["contact"] or {}),
        accreditations=list(row["accreditations"]),
        public=row["public"],
    )
    return Profile(row["id"], row["kind"], terms, row["profile_updated_at"])


async def profile(conn: Executor, org: str) -> Profile:
    """An organisation's profile; ``NotFound`` for an unknown organisation."""
    row = await conn.fetchrow(
        f"SELECT id, kind, name, profile_updated_at, {', '.join(_PROFILE)} "
        "FROM organisations WHERE id = $1",
        org,
    )
    if row is None:
        raise NotFound("no_organisation", f"no organisation {org!r}")
    return _profile(row)


async def put_profile(conn: Executor, org: str, terms: ProfileTerms, now: datetime) -> None:
    """Replace an organisation's profile; ``NotFound`` for an unknown organisation or site."""
    sets = ", ".join(f"{c} = ${n}" for n, c in enumerate(_PROFILE, start=3))
    try:
        done = await conn.fetchval(
            f"UPDATE organisations SET profile_updated_at = $2, {sets} WHERE id = $1 "
            "RETURNING true",
            org,
            now,
            *astuple(terms),
        )
    except asyncpg.ForeignKeyViolationError:
        raise NotFound("no_site", f"no site {terms.site_id!r}") from None
    if not done:
        raise NotFound("no_organisation", f"no organisation {org!r}")


def _item(row: asyncpg.Record) -> ServiceItem:
    return ServiceItem(*(row[c] for c in _ITEM))


async def service_item(conn: Executor, item: str, *, for_update: bool = False) -> ServiceItem:
    """One service item; ``NotFound`` when there is none. ``for_update`` locks its row."""
    lock = " FOR UPDATE" if for_update else ""
    row = await conn.fetchrow(
        f"SELECT {', '.join(_ITEM)} FROM service_items WHERE id = $1{lock}", item
    )
    if row is None:
        raise NotFound("no_service_item", f"no service item {item!r}")
    return _item(row)


async def service_items(
    conn: Executor, *, platform: str | None = None, site: str | None = None
) -> list[ServiceItem]:
    """Every service item (of one platform, of one site), by id."""
    rows = await conn.fetch(
        f"""SELECT {", ".join(_ITEM)} FROM service_items
            WHERE ($1::text IS NULL OR platform_org_id = $1) AND ($2::text IS NULL OR site_id = $2)
            ORDER BY id""",
        platform,
        site,
    )
    return [_item(r) for r in rows]


def _missing(exc: asyncpg.ForeignKeyViolationError, item: ServiceItem) -> NotFound:
    """The 404 of whichever reference of ``item`` names nothing."""
    detail = str(exc.detail or "")
    if "instrument_id" in detail:
        return NotFound("no_instrument", f"no instrument {item.instrument_id!r}")
    if "site_id" in detail:
        return NotFound("no_site", f"no site {item.site_id!r}")
    return NotFound("no_organisation", f"no organisation {item.platform_org_id!r}")


async def insert_service_item(conn: Executor, item: ServiceItem, now: datetime) -> None:
    """Add a service item; ``Conflict`` when its id exists, ``NotFound`` for an unknown
    platform, site or instrument."""
    marks = ", ".join(f"${n}" for n in range(2, len(_ITEM) + 2))
    try:
        await conn.execute(
            f"INSERT INTO service_items ({', '.join(_ITEM)}, created_at, updated_at) "
            f"VALUES ({marks}, $1, $1)",
            now,
            *astuple(item),
        )
    except asyncpg.UniqueViolationError:
        raise Conflict("service_item_exists", f"service item {item.id!r} already exists") from None
    except asyncpg.ForeignKeyViolationError as exc:
        raise _missing(exc, item) from None


async def update_service_item(conn: Executor, item: ServiceItem, now: datetime) -> None:
    """Replace a service item's fields (its id and platform stay)."""
    editable = _ITEM[2:]
    sets = ", ".join(f"{c} = ${n}" for n, c in enumerate(editable, start=3))
    try:
        await conn.execute(
            f"UPDATE service_items SET updated_at = $2, {sets} WHERE id = $1",
            item.id,
            now,
            *astuple(item)[2:],
        )
    except asyncpg.ForeignKeyViolationError as exc:
        raise _missing(exc, item) from None


async def delete_service_item(conn: Executor, item: str) -> None:
    """Delete a service item; ``Conflict`` while bookings name it (hide it instead)."""
    try:
        await conn.execute("DELETE FROM service_items WHERE id = $1", item)
    # the key is ON DELETE RESTRICT: PostgreSQL answers 23503, and under load it was seen to
    # answer 23001 (restrict_violation) for the same refusal
    except (asyncpg.ForeignKeyViolationError, asyncpg.RestrictViolationError):
        raise Conflict(
            "service_item_in_use",
            f"bookings name service item {item!r}: set it not public instead of deleting it",
        ) from None
