"""What a platform publishes, as the API shows it: its profile and its service items (服务项目).

Used by the profile and service-item routes (and the demo, to seed its network); the SQL is
the registry's. Every change is audited in its own transaction (``core.audit.record``, owned
by the platform). Who may change what is the API's dependencies' to say: the functions that
change a platform's things take ``authorise``, called with the owning platform before any
change (``api.deps.administers``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictBool, StringConstraints

from pilotshare import registry
from pilotshare.api.keys import Principal
from pilotshare.api.schemas import Money, Slug
from pilotshare.core import audit
from pilotshare.core.db import Connection, Executor
from pilotshare.core.errors import BadInput, NotFound
from pilotshare.core.scope import may_see

#: Called with the platform that owns what is about to change; raises when the caller may not.
Authorise = Callable[[str], None]

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Text = Annotated[str, StringConstraints(max_length=4000)]


class Contact(BaseModel):
    """How the public reaches the platform; every field optional."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, max_length=200, examples=["张工 Zhang Gong"])
    phone: str | None = Field(default=None, max_length=64, examples=["+86 769 2288 0000"])
    email: str | None = Field(default=None, max_length=200)
    url: str | None = Field(default=None, max_length=500)


class ProfileBody(BaseModel):
    """``PUT /api/v1/organisations/{org}/profile``: the whole profile (a PUT replaces it)."""

    model_config = ConfigDict(extra="forbid")

    name_zh: Name = Field(examples=["松山湖材料分析中试平台"])
    name_en: Name = Field(examples=["Songshan Lake Materials Analysis Pilot Platform"])
    site: Slug | None = Field(default=None, description="the platform's home site")
    address: str = Field(default="", max_length=500)
    description_zh: Text = ""
    description_en: Text = ""
    contact: Contact = Contact()
    accreditations: list[Annotated[str, StringConstraints(min_length=1, max_length=64)]] = Field(
        default=[], max_length=32, examples=[["CMA", "CNAS"]]
    )
    public: StrictBool = Field(
        default=False, description="listed in the public directory, with its public items"
    )


class ProfilePublic(ProfileBody):
    """A profile as stored; the names default to the organisation's registered name."""

    org: str
    kind: str
    updated_at: AwareDatetime | None = Field(description="null: never edited")


def _profile(found: registry.Profile) -> ProfilePublic:
    t = found.terms
    return ProfilePublic(
        org=found.org,
        kind=found.kind,
        updated_at=found.updated_at,
        name_zh=t.name_zh,
        name_en=t.name_en,
        site=t.site_id,
        address=t.address,
        description_zh=t.description_zh,
        description_en=t.description_en,
        contact=Contact.model_validate(t.contact),
        accreditations=t.accreditations,
        public=t.public,
    )


async def get_profile(conn: Executor, org: str, viewer: Principal | None = None) -> ProfilePublic:
    """An organisation's profile; ``NotFound`` for an unknown organisation, and for a client
    (or the operator) that is not ``viewer``'s own: only platforms' profiles are for
    everyone to read, nothing about a client is."""
    found = await registry.profile(conn, org)
    if (
        viewer is not None
        and found.kind != "platform"
        and not may_see(org, org=viewer.org, admin=viewer.network)
    ):
        raise NotFound("no_organisation", f"no organisation {org!r}")
    return _profile(found)


def _require_platform(found: registry.Profile, what: str) -> None:
    """``BadInput`` (``not_a_platform``) unless ``found`` is a platform: only platforms
    publish profiles and offer service items."""
    if found.kind != "platform":
        raise BadInput(
            "not_a_platform",
            f"{found.org!r} is a {found.kind}, not a platform: only platforms {what}",
        )


async def put_profile(
    conn: Connection, org: str, body: ProfileBody, *, actor: audit.Actor, now: datetime
) -> ProfilePublic:
    """Replace ``org``'s profile (the caller was authorised for ``org``), audited."""
    terms = registry.ProfileTerms(
        name_zh=body.name_zh,
        name_en=body.name_en,
        site_id=body.site,
        address=body.address,
        description_zh=body.description_zh,
        description_en=body.description_en,
        contact=body.contact.model_dump(exclude_none=True),
        accreditations=body.accreditations,
        public=body.public,
    )
    async with conn.transaction():
        before = await registry.profile(conn, org)
        _require_platform(before, "publish a profile")
        await registry.put_profile(conn, org, terms, now)
        await audit.record(
            conn,
            actor,
            "organisation.profile",
            "organisation",
            org,
            owners=[org],
            at=now,
            before=before.terms,
            after=terms,
        )
    return await get_profile(conn, org)


class ServiceItemFields(BaseModel):
    """What describes a service item."""

    model_config = ConfigDict(extra="forbid")

    name_zh: Name = Field(examples=["扫描电镜成像（每样品）"])
    name_en: Name = Field(examples=["SEM imaging, per sample"])
    description_zh: Text = ""
    description_en: Text = ""
    unit: Slug = Field(description="what the price is per: sample, hour, batch, …")
    price: Money = Field(ge=0, max_digits=12, decimal_places=2, description="CNY per unit")
    kind: Slug | None = Field(default=None, description="the instrument kind it is done on")
    instrument: Slug | None = Field(default=None, description="the one instrument it is done on")
    site: Slug | None = Field(
        default=None,
        description="where it is offered; default: the instrument's site, else the platform's",
    )
    public: StrictBool = Field(default=False, description="shown in the public directory")


class ServiceItemCreate(ServiceItemFields):
    """``POST /api/v1/service-items``."""

    id: Slug
    platform: Slug = Field(description="the platform (organisation) offering it")


class ServiceItemPatch(BaseModel):
    """``PATCH /api/v1/service-items/{id}``: the fields to change (id and platform stay);
    ``kind`` and ``instrument`` may be set to null."""

    model_config = ConfigDict(extra="forbid")

    name_zh: Name | None = None
    name_en: Name | None = None
    description_zh: Text | None = None
    description_en: Text | None = None
    unit: Slug | None = None
    price: Money | None = Field(default=None, ge=0, max_digits=12, decimal_places=2)
    kind: Slug | None = None
    instrument: Slug | None = None
    site: Slug | None = None
    public: StrictBool | None = None


class ServiceItemPublic(ServiceItemFields):
    """A service item as stored."""

    id: str
    platform: str
    site: str


def _item(i: registry.ServiceItem) -> ServiceItemPublic:
    return ServiceItemPublic(
        id=i.id,
        platform=i.platform_org_id,
        site=i.site_id,
        name_zh=i.name_zh,
        name_en=i.name_en,
        description_zh=i.description_zh,
        description_en=i.description_en,
        unit=i.unit,
        price=i.price,
        kind=i.kind,
        instrument=i.instrument_id,
        public=i.public,
    )


async def _resolved(conn: Executor, item: registry.ServiceItem) -> registry.ServiceItem:
    """``item`` with its site filled in and its instrument checked: the platform's, of the
    item's kind. ``BadInput`` when the site cannot be told or the instrument does not fit."""
    site = item.site_id or None
    if item.instrument_id is not None:
        inst = await registry.catalogue_row(conn, item.instrument_id)
        if inst["owner_org_id"] != item.platform_org_id:
            raise BadInput(
                "service_item_mismatch",
                f"instrument {item.instrument_id!r} is not {item.platform_org_id!r}'s",
            )
        if item.kind is not None and inst["kind"] != item.kind:
            raise BadInput(
                "service_item_mismatch",
                f"instrument {item.instrument_id!r} is a {inst['kind']!r}, not a {item.kind!r}",
            )
        if site is not None and site != inst["site_id"]:
            raise BadInput(
                "service_item_mismatch",
                f"instrument {item.instrument_id!r} is at site {inst['site_id']!r}, not {site!r}",
            )
        site = inst["site_id"]
    if site is None:
        site = (await registry.profile(conn, item.platform_org_id)).terms.site_id
    if site is None:
        raise BadInput(
            "no_item_site",
            "give the item's 'site' (or an 'instrument', or a site in the platform's profile)",
        )
    return dataclasses.replace(item, site_id=site)


async def list_items(
    conn: Executor, *, platform: str | None = None, site: str | None = None
) -> list[ServiceItemPublic]:
    """Every service item (public or not), of one platform or site, by id."""
    return [_item(i) for i in await registry.service_items(conn, platform=platform, site=site)]


async def get_item(conn: Executor, item: str) -> ServiceItemPublic:
    """One service item; ``NotFound`` when there is none."""
    return _item(await registry.service_item(conn, item))


async def create_item(
    conn: Connection,
    body: ServiceItemCreate,
    *,
    authorise: Authorise,
    actor: audit.Actor,
    now: datetime,
) -> ServiceItemPublic:
    """Add a platform's service item, audited; ``Conflict`` for an existing id."""
    authorise(body.platform)
    async with conn.transaction():
        _require_platform(await registry.profile(conn, body.platform), "offer service items")
        item = await _resolved(
            conn,
            registry.ServiceItem(
                id=body.id,
                platform_org_id=body.platform,
                site_id=body.site or "",
                name_zh=body.name_zh,
                name_en=body.name_en,
                description_zh=body.description_zh,
                description_en=body.description_en,
                unit=body.unit,
                price=Decimal(body.price),
                kind=body.kind,
                instrument_id=body.instrument,
                public=body.public,
            ),
        )
        await registry.insert_service_item(conn, item, now)
        await audit.record(
            conn,
            actor,
            "service_item.create",
            "service_item",
            item.id,
            owners=[item.platform_org_id],
            at=now,
            after=item,
        )
    return _item(item)


_RENAMED = {"instrument": "instrument_id", "site": "site_id"}


async def update_item(
    conn: Connection,
    item_id: str,
    patch: ServiceItemPatch,
    *,
    authorise: Authorise,
    actor: audit.Actor,
    now: datetime,
) -> ServiceItemPublic:
    """Change the fields ``patch`` sets, audited; ``NotFound`` for an unknown item."""
    changes = patch.model_dump(exclude_unset=True)
    nulls = sorted(k for k, v in changes.items() if v is None and k not in {"kind", "instrument"})
    if nulls:
        raise BadInput("bad_request", f"{', '.join(nulls)} may not be null")
    async with conn.transaction():
        before = await registry.service_item(conn, item_id, for_update=True)
        authorise(before.platform_org_id)
        update = {_RENAMED.get(k, k): v for k, v in changes.items()}
        if "instrument" in changes and "site" not in changes:
            update["site_id"] = ""  # follows the new instrument (or the platform's site)
        after = await _resolved(conn, dataclasses.replace(before, **update))
        await registry.update_service_item(conn, after, now)
        await audit.record(
            conn,
            actor,
            "service_item.update",
            "service_item",
            item_id,
            owners=[after.platform_org_id],
            at=now,
            before=before,
            after=after,
        )
    return _item(after)


async def delete_item(
    conn: Connection, item_id: str, *, authorise: Authorise, actor: audit.Actor, now: datetime
) -> None:
    """Delete a service item, audited; ``Conflict`` while bookings name it."""
    async with conn.transaction():
        before = await registry.service_item(conn, item_id, for_update=True)
        authorise(before.platform_org_id)
        await registry.delete_service_item(conn, item_id)
        await audit.record(
            conn,
            actor,
            "service_item.delete",
            "service_item",
            item_id,
            owners=[before.platform_org_id],
            at=now,
            before=before,
        )
