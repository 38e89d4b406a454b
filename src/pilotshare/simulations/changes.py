"""Apply a scenario's changes to a site, and a sweep's values to the changes.

Pure functions of frozen values: the baseline is the site as given, the scenario the site after
every change in order. A change that cannot apply (removing more ovens than a live site has) is
a :class:`ScenarioError` naming the change's line, so it reads like a loader error even when it
is only found once the live snapshot is known.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

from pilotshare.simulations.loader import ScenarioError
from pilotshare.simulations.scenario import (
    NO_MAINTENANCE,
    AddInstruments,
    Change,
    DemandGrowth,
    ImproveMtbf,
    Instrument,
    NewCustomer,
    Policy,
    RemoveInstruments,
    Selector,
    SetMaintenance,
    SetOperatingHours,
    SetPolicy,
    Site,
)


def _selected(instrument: Instrument, where: Selector) -> bool:
    if not where.kinds and not where.ids:
        return True
    return instrument.kind in where.kinds or instrument.id in where.ids


def _fresh_id(prefix: str, taken: set[str]) -> str:
    n = 1
    while f"{prefix}-{n}" in taken:
        n += 1
    return f"{prefix}-{n}"


def _add(site: Site, a: AddInstruments) -> Site:
    """New instruments copy the first existing one of their kind for what ``a`` leaves open."""
    like = next((i for i in site.instruments if i.kind == a.kind), None)
    template = like or Instrument(id="x", kind=a.kind)
    taken = {i.id for i in site.instruments}
    added = []
    for _ in range(a.count):
        iid = _fresh_id(a.id_prefix or a.kind, taken)
        taken.add(iid)
        added.append(
            dataclasses.replace(
                template,
                id=iid,
                hourly_rate=template.hourly_rate if a.hourly_rate is None else a.hourly_rate,
                mtbf_hours=template.mtbf_hours if a.mtbf_hours is None else a.mtbf_hours,
                mttr_hours=template.mttr_hours if a.mttr_hours is None else a.mttr_hours,
                operating_hours=a.operating_hours or template.operating_hours,
                maintenance=a.maintenance or template.maintenance,
            )
        )
    return site.with_(instruments=(*site.instruments, *added))


def _remove(site: Site, a: RemoveInstruments) -> Site:
    """Remove by id, then ``count`` of ``kind`` from the end (the newest first)."""
    ids = set(a.ids)
    missing = ids - {i.id for i in site.instruments}
    if missing:
        raise ValueError(f"the site has no instrument {min(missing)!r}")
    kept = [i for i in site.instruments if i.id not in ids]
    if a.kind and a.count:
        of_kind = [i for i in kept if i.kind == a.kind]
        if len(of_kind) < a.count:
            raise ValueError(
                f"cannot remove {a.count} of kind {a.kind!r}: the site has {len(of_kind)}"
            )
        gone = {i.id for i in of_kind[len(of_kind) - a.count :]}
        kept = [i for i in kept if i.id not in gone]
    kept_ids = {i.id for i in kept}
    bookings = tuple(b for b in site.bookings if b.instrument in kept_ids)
    return site.with_(instruments=tuple(kept), bookings=bookings)


def _apply_one(site: Site, change: Change) -> Site:
    a = change.action
    if isinstance(a, AddInstruments):
        return _add(site, a)
    if isinstance(a, RemoveInstruments):
        return _remove(site, a)
    if isinstance(a, SetOperatingHours | SetMaintenance | ImproveMtbf):
        selected = [i for i in site.instruments if _selected(i, a.where)]
        if not selected:
            raise ValueError("selects no instrument of the site")
        out = []
        for i in site.instruments:
            if not _selected(i, a.where):
                out.append(i)
            elif isinstance(a, SetOperatingHours):
                out.append(dataclasses.replace(i, operating_hours=a.hours))
            elif isinstance(a, SetMaintenance):
                out.append(dataclasses.replace(i, maintenance=a.plan or NO_MAINTENANCE))
            elif a.hours is not None:
                out.append(dataclasses.replace(i, mtbf_hours=a.hours))
            elif i.mtbf_hours is not None and a.factor is not None:
                out.append(dataclasses.replace(i, mtbf_hours=i.mtbf_hours * a.factor))
            else:
                out.append(i)
        return site.with_(instruments=tuple(out))
    if isinstance(a, DemandGrowth):
        demand = tuple(
            dataclasses.replace(d, per_week=d.per_week * a.factor)
            if not a.kinds or d.kind in a.kinds
            else d
            for d in site.demand
        )
        return site.with_(demand=demand)
    if isinstance(a, NewCustomer):
        return site.with_(demand=(*site.demand, *a.demand))
    assert isinstance(a, SetPolicy)  # noqa: S101 - the union is closed
    policy = Policy(
        a.allocation or site.policy.allocation,
        None if a.clear_window else (a.window_hours or site.policy.window_hours),
    )
    return site.with_(policy=policy)


def apply_changes(site: Site, changes: Sequence[Change], *, source: str = "<scenario>") -> Site:
    """The site after every change, in order."""
    for n, change in enumerate(changes):
        try:
            site = _apply_one(site, change)
        except ValueError as exc:
            key = f"changes[{n}]" + (f" ({change.name})" if change.name else "")
            raise ScenarioError(source, change.line, key, str(exc)) from None
    return site


def with_values(
    changes: Sequence[Change], values: Mapping[tuple[str, str], float]
) -> tuple[Change, ...]:
    """The changes with a sweep point's values: ``{(change name, field): value}``."""
    out = []
    for change in changes:
        a = change.action
        for (name, field), value in values.items():
            if change.name != name:
                continue
            if isinstance(a, AddInstruments | RemoveInstruments) and field == "count":
                a = dataclasses.replace(a, count=round(value))
            elif isinstance(a, SetMaintenance) and a.plan is not None:
                a = dataclasses.replace(a, plan=dataclasses.replace(a.plan, **{field: value}))
            elif isinstance(a, NewCustomer) and field == "per_week":
                total = sum(d.per_week for d in a.demand) or 1.0
                a = dataclasses.replace(
                    a,
                    demand=tuple(
                        dataclasses.replace(d, per_week=value * d.per_week / total)
                        for d in a.demand
                    ),
                )
            elif isinstance(a, ImproveMtbf):
                a = dataclasses.replace(
                    a,
                    factor=value if field == "factor" else None,
                    hours=value if field == "hours" else None,
                )
            else:
                a = dataclasses.replace(a, **{field: value})  # type: ignore[arg-type]
        out.append(dataclasses.replace(change, action=a))
    return tuple(out)
