"""A scenario's baseline from the live twin: the site as the database knows it right now.

The capacity forecast already reads one consistent snapshot (instruments, calendars,
maintenance, held bookings, learned failure and usage behaviour, booking history) and builds
the model's ``SiteSpec`` from it; a live scenario starts from exactly that, restricted to the
scenario's site. Each instrument and demand stream becomes a :class:`Site` value that keeps the
twin's own spec, so changes alter only what they name and everything else stays as learned
(see :mod:`.engine`).
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, time, timedelta

from pilotshare.core.db import Connection
from pilotshare.core.errors import ConfigError
from pilotshare.registry import catalogue_rows
from pilotshare.scheduler.forecast.inputs import ForecastInputs, build_site, load_inputs
from pilotshare.scheduler.policy import DAYS, OperatingCalendar
from pilotshare.simulations.scenario import (
    Booking,
    Demand,
    Durations,
    Instrument,
    Scenario,
    Site,
    WeeklyHours,
)

HOUR = 3600.0


def _hhmm(t: time | None) -> str:
    return "24:00" if t is None else t.strftime("%H:%M")


def weekly_hours(calendar: OperatingCalendar | None) -> WeeklyHours | None:
    """An instrument's weekly hours in the scenario's form (dated exceptions are not kept)."""
    if calendar is None:
        return None
    return tuple(
        (day, tuple((_hhmm(a), _hhmm(b)) for a, b in spans))
        for day, spans in zip(DAYS, calendar.weekly, strict=True)
        if spans
    )


def _restrict(inputs: ForecastInputs, ids: set[str]) -> ForecastInputs:
    """The inputs of the instruments ``ids`` only; who may book what (qualifications,
    admins, quotas) and what is retired stay as read."""
    instruments = tuple(i for i in inputs.instruments if i.id in ids)
    kinds = {i.kind for i in instruments}
    return dataclasses.replace(
        inputs,
        instruments=instruments,
        bookings=tuple(b for b in inputs.bookings if b[1] in ids),
        history=tuple(h for h in inputs.history if h.kind in kinds),
    )


async def live_site(conn: Connection, site: str, scenario: Scenario, now: datetime) -> Site:
    """The live site ``site`` at ``now``, for ``scenario``'s horizon."""
    ids = {r["id"] for r in await catalogue_rows(conn, site=site)}
    if not ids:
        raise ConfigError(f"{scenario.source}: live.site: site {site!r} has no instruments")
    horizon = timedelta(days=scenario.horizon_days)
    inputs = _restrict(await load_inputs(conn, now, horizon), ids)
    spec = build_site(inputs, horizon)
    by_id = {i.id: i for i in inputs.instruments}
    instruments = []
    for s in spec.instruments:
        rules = by_id[s.id].rules
        hours = weekly_hours(rules.calendar)
        mtbf = s.failures.up.mean_s / HOUR if s.failures is not None else None
        instruments.append(
            Instrument(
                id=s.id,
                kind=s.kind,
                hourly_rate=s.hourly_rate,
                mtbf_hours=mtbf,
                mttr_hours=s.failures.repair.mean_s / HOUR if s.failures is not None else 4.0,
                operating_hours=hours,
                setup_hours=s.setup_buffer_s / HOUR,
                timezone=rules.calendar.timezone if rules.calendar is not None else "UTC",
                model=s,
                learned_mtbf_hours=mtbf,
                learned_hours=hours,
            )
        )
    demand = tuple(
        Demand(
            kind=d.kind,
            per_week=d.rate_per_hour * 168.0,
            durations=Durations(d.duration.mean_s / HOUR, "lognormal"),
            customer="history",
            model=d,
        )
        for d in spec.demand
    )
    bookings = tuple(  # the customer of a live booking is its organisation
        Booking(
            b.id,
            b.instrument,
            b.start / HOUR,
            (b.end - b.start) / HOUR,
            inputs.owners.get(b.id, "platform"),
        )
        for b in spec.bookings
        if b.end > 0
    )
    return Site(
        id=site,
        instruments=tuple(instruments),
        demand=demand,
        bookings=bookings,
        origin=spec.origin,
        model=spec,
    )
