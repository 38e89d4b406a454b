"""The public directory (莞仪在线-style sharing): platforms, instruments and service items,
as anyone may see them without a key.

Assembly only: the rows come from ``network.store`` (which reads only what platforms mark
public, and nothing about clients), the next free slots from the scheduler's own search
(``scheduler.search.next_free``: the slots ``/api/v1/availability`` would offer), and the
live status from ``network.status.live_status``. The answer models say every field shown;
nothing else leaves this module.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any, Final

import asyncpg
from pydantic import AwareDatetime, BaseModel, Field, PlainSerializer

from pilotshare.core.db import Executor
from pilotshare.network import store
from pilotshare.network.status import LiveStatus, live_status, patterns
from pilotshare.scheduler import search

#: How far ahead the next free slot is looked for (the availability search's default window).
NEXT_FREE_HORIZON: Final = timedelta(days=7)

#: Money on the wire as the rest of the API writes it (``api.schemas.Money``): a JSON number.
Money = Annotated[Decimal, PlainSerializer(float, return_type=float, when_used="json")]


class PlatformEntry(BaseModel):
    """A public platform."""

    id: str
    name_zh: str
    name_en: str
    site: str | None = Field(description="its home site")
    address: str
    description_zh: str
    description_en: str
    contact: dict[str, str] = Field(description="name, phone, email, url: those it gives")
    accreditations: list[str] = Field(examples=[["CMA", "CNAS"]])
    instruments: int = Field(description="how many public instruments it shows")
    service_items: int = Field(description="how many public service items it shows")


class FreeSlot(BaseModel):
    """A free interval: any booking of the instrument's minimum length or more inside it."""

    start: AwareDatetime
    end: AwareDatetime


class InstrumentEntry(BaseModel):
    """A public instrument with its live status."""

    id: str
    name: str
    kind: str
    model: str | None
    capabilities: list[str]
    hourly_rate: Money = Field(description="CNY per hour")
    billing: str = Field(description="booked: the booked time is billed; measured: the use")
    requires_qualification: bool
    operating_hours: dict[str, Any] | None = Field(description="as the instrument's; null: always")
    site: str
    site_timezone: str
    platform: str
    platform_name_zh: str
    platform_name_en: str
    status: LiveStatus = Field(description="online, busy, free-soon or offline (docs/network.md)")
    status_since: AwareDatetime | None = Field(description="when the twin's state began")
    next_free: FreeSlot | None = Field(description="the first free slot within a week; null: none")


class ServiceItemEntry(BaseModel):
    """A public service item (服务项目)."""

    id: str
    platform: str
    platform_name_zh: str
    platform_name_en: str
    site: str
    name_zh: str
    name_en: str
    description_zh: str
    description_en: str
    unit: str
    price: Money = Field(description="CNY per unit")
    kind: str | None
    instrument: str | None = Field(description="the public instrument it is done on, if one")


def _platform(row: asyncpg.Record) -> PlatformEntry:
    return PlatformEntry(
        id=row["id"],
        name_zh=row["name_zh"],
        name_en=row["name_en"],
        site=row["site_id"],
        address=row["address"],
        description_zh=row["description_zh"],
        description_en=row["description_en"],
        contact={str(k): str(v) for k, v in (row["contact"] or {}).items()},
        accreditations=list(row["accreditations"]),
        instruments=row["instruments"],
        service_items=row["service_items"],
    )


async def platforms(
    conn: Executor, *, q: str | None = None, site: str | None = None
) -> list[PlatformEntry]:
    """The public platforms matching ``q`` (of ``site``), by id."""
    rows = await store.public_platforms(conn, patterns=patterns(q), site=site)
    return [_platform(r) for r in rows]


def _instrument(row: asyncpg.Record, slot: search.Slot | None, now: datetime) -> InstrumentEntry:
    status = live_status(
        online=row["online"],
        state=row["state"],
        held_until=row["held_until"],
        next_free=slot.start if slot else None,
        now=now,
    )
    return InstrumentEntry(
        id=row["id"],
        name=row["name"],
        kind=row["kind"],
        model=row["model"],
        capabilities=list(row["capabilities"]),
        hourly_rate=row["hourly_rate"],
        billing=row["billing"],
        requires_qualification=row["requires_qualification"],
        operating_hours=row["operating_hours"],
        site=row["site_id"],
        site_timezone=row["site_timezone"],
        platform=row["platform"],
        platform_name_zh=row["platform_name_zh"],
        platform_name_en=row["platform_name_en"],
        status=status,
        status_since=row["since"] if row["online"] else None,
        next_free=FreeSlot(start=slot.start, end=slot.end) if slot else None,
    )


async def instruments(
    pool: asyncpg.Pool,
    *,
    now: datetime,
    q: str | None = None,
    capabilities: list[str] | None = None,
    kind: str | None = None,
    site: str | None = None,
) -> list[InstrumentEntry]:
    """The public instruments matching ``q`` with every one of ``capabilities`` (of ``kind``,
    at ``site``), by id, each with its live status and next free slot at ``now``.

    One connection for its four statements: one round of acquiring and resetting it."""
    async with pool.acquire() as conn:
        rows = await store.public_instruments(
            conn,
            patterns=patterns(q),
            capabilities=sorted(set(capabilities or ())),
            kind=kind,
            site=site,
            now=now,
        )
        ids = [r["id"] for r in rows]
        free = await search.next_free(conn, ids, now=now, horizon=NEXT_FREE_HORIZON)
    return [_instrument(r, free.get(r["id"]), now) for r in rows]


async def service_items(
    conn: Executor, *, q: str | None = None, platform: str | None = None, site: str | None = None
) -> list[ServiceItemEntry]:
    """The public service items matching ``q`` (of ``platform``, at ``site``), by id."""
    rows = await store.public_items(conn, patterns=patterns(q), platform=platform, site=site)
    return [
        ServiceItemEntry(
            id=r["id"],
            platform=r["platform"],
            platform_name_zh=r["platform_name_zh"],
            platform_name_en=r["platform_name_en"],
            site=r["site_id"],
            name_zh=r["name_zh"],
            name_en=r["name_en"],
            description_zh=r["description_zh"],
            description_en=r["description_en"],
            unit=r["unit"],
            price=r["price"],
            kind=r["kind"],
            instrument=r["instrument"],
        )
        for r in rows
    ]
