"""Schema-valid scenario data into frozen values, with the checks a schema cannot express.

The loader has already matched the file against the JSON schema; what is left needs the whole
document: generated instrument ids and their uniqueness, demand and changes naming kinds or
instruments the site has, one action per change, sweeps naming a change and a field it has,
allocation policies the engine knows. Every refusal goes through ``Lines.error`` so it names
the file, the line and the key, as schema errors do.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pilotshare.simulations.scenario import (
    AddInstruments,
    Booking,
    Change,
    ChangeAction,
    Demand,
    DemandGrowth,
    Durations,
    ImproveMtbf,
    Instrument,
    LiveSource,
    MaintenancePlan,
    NewCustomer,
    Policy,
    RemoveInstruments,
    Scenario,
    Selector,
    SetMaintenance,
    SetOperatingHours,
    SetPolicy,
    Site,
    Sweep,
    SweepParameter,
    WeeklyHours,
)

if TYPE_CHECKING:
    from pilotshare.simulations.loader import Lines, Path_

ACTIONS = (
    "add_instruments",
    "remove_instruments",
    "operating_hours",
    "maintenance",
    "demand_growth",
    "new_customer",
    "mtbf",
    "policy",
)

#: Which numbers of which change a sweep may vary.
SWEEPABLE: Mapping[str, frozenset[str]] = {
    "add_instruments": frozenset({"count", "hourly_rate", "mtbf_hours"}),
    "remove_instruments": frozenset({"count"}),
    "maintenance": frozenset({"every_days", "hours"}),
    "demand_growth": frozenset({"factor"}),
    "new_customer": frozenset({"per_week"}),
    "mtbf": frozenset({"factor", "hours"}),
    "policy": frozenset({"window_hours"}),
    "operating_hours": frozenset(),
}


class Builder:
    """Turns schema-valid data into values, with the checks a schema cannot express."""

    def __init__(self, lines: Lines) -> None:
        self.lines = lines

    def scenario(self, d: dict[str, Any]) -> Scenario:
        base: Site | LiveSource
        base = LiveSource(d["live"]["site"]) if "live" in d else self.site(d["site"])
        changes = tuple(self.change(c, ("changes", i)) for i, c in enumerate(d["changes"]))
        names = [c.name for c in changes if c.name]
        for i, c in enumerate(changes):
            if c.name and names.count(c.name) > 1:
                raise self.lines.error(("changes", i, "name"), f"{c.name!r} names two changes")
        if isinstance(base, Site):
            self.check_against(base, d["changes"])
        kinds = None
        if isinstance(base, Site):
            added = {c["add_instruments"]["kind"] for c in d["changes"] if "add_instruments" in c}
            kinds = {i.kind for i in base.instruments} | added
        sweep = self.sweep(d["sweep"], d["changes"], kinds) if "sweep" in d else None
        horizon = float(d.get("horizon_days", 91))
        warmup = float(d.get("warmup_days", min(7.0, horizon / 4)))
        if warmup >= horizon:
            raise self.lines.error(("warmup_days",), "must be shorter than horizon_days")
        return Scenario(
            name=d["name"],
            description=str(d.get("description", "")).strip(),
            base=base,
            changes=changes,
            horizon_days=horizon,
            warmup_days=warmup,
            replications=int(d.get("replications", 30)),
            seed=int(d.get("seed", 1)),
            confidence=float(d.get("confidence", 0.95)),
            sweep=sweep,
            source=self.lines.source,
        )

    # --- the site --------------------------------------------------------------------------

    def site(self, d: dict[str, Any]) -> Site:
        default_hours = hours(d.get("operating_hours"))
        instruments: list[Instrument] = []
        seen: set[str] = set()
        for i, spec in enumerate(d["instruments"]):
            count = int(spec.get("count", 1))
            if "id" in spec and count != 1:
                raise self.lines.error(
                    ("site", "instruments", i, "count"), "an instrument with an id has count 1"
                )
            for _ in range(count):
                number = sum(x.kind == spec["kind"] for x in instruments) + 1
                iid = spec.get("id") or f"{spec['kind']}-{number}"
                if iid in seen:
                    raise self.lines.error(
                        ("site", "instruments", i), f"instrument id {iid!r} twice"
                    )
                seen.add(iid)
                instruments.append(
                    Instrument(
                        id=iid,
                        kind=spec["kind"],
                        hourly_rate=float(spec.get("hourly_rate", 0.0)),
                        mtbf_hours=_opt_float(spec.get("mtbf_hours")),
                        mttr_hours=float(spec.get("mttr_hours", 4.0)),
                        operating_hours=hours(spec["operating_hours"])
                        if "operating_hours" in spec
                        else default_hours,
                        maintenance=maintenance(spec.get("maintenance")),
                        setup_hours=float(spec.get("setup_hours", 0.0)),
                    )
                )
        kinds = {x.kind for x in instruments}
        demand = []
        for i, spec in enumerate(d.get("demand", [])):
            if spec["kind"] not in kinds:
                raise self.lines.error(
                    ("site", "demand", i, "kind"),
                    f"no instrument of kind {spec['kind']!r} on the site",
                )
            demand.append(self.demand(spec, spec.get("customer", "platform")))
        bookings = []
        for i, spec in enumerate(d.get("bookings", [])):
            if spec["instrument"] not in seen:
                raise self.lines.error(
                    ("site", "bookings", i, "instrument"),
                    f"no instrument {spec['instrument']!r} on the site",
                )
            bookings.append(
                Booking(
                    str(spec["id"]),
                    spec["instrument"],
                    float(spec["start_hour"]),
                    float(spec["hours"]),
                    spec.get("customer", "platform"),
                )
            )
        return Site(
            d["id"],
            tuple(instruments),
            tuple(demand),
            tuple(bookings),
            self.policy(d.get("policy", {}), ("site", "policy")),
        )

    @staticmethod
    def demand(spec: Mapping[str, Any], customer: str) -> Demand:
        dur = spec["duration_hours"]
        return Demand(
            kind=spec["kind"],
            per_week=float(spec["per_week"]),
            durations=Durations(
                float(dur["mean"]), dur.get("distribution", "lognormal"), float(dur.get("cv", 0.5))
            ),
            customer=customer,
        )

    def policy(self, d: Mapping[str, Any], path: Path_) -> Policy:
        from pilotshare.simulations.engine import allocation_policies

        allocation = d.get("allocation", Policy().allocation)
        known = allocation_policies()
        if known and allocation not in known:
            raise self.lines.error(
                (*path, "allocation"), f"unknown policy {allocation!r} (known: {', '.join(known)})"
            )
        return Policy(allocation, _opt_float(d.get("window_hours")))

    # --- changes ---------------------------------------------------------------------------

    def change(self, d: dict[str, Any], path: Path_) -> Change:
        actions = [k for k in d if k != "name"]
        if len(actions) != 1:
            raise self.lines.error(path, f"a change has exactly one of: {', '.join(ACTIONS)}")
        kind = actions[0]
        a = d[kind]
        where = Selector(tuple(a.get("kinds", ())), tuple(a.get("ids", ())))
        action: ChangeAction
        if kind == "add_instruments":
            action = AddInstruments(
                kind=a["kind"],
                count=int(a["count"]),
                hourly_rate=_opt_float(a.get("hourly_rate")),
                mtbf_hours=_opt_float(a.get("mtbf_hours")),
                mttr_hours=_opt_float(a.get("mttr_hours")),
                operating_hours=hours(a.get("operating_hours")),
                maintenance=maintenance(a.get("maintenance")),
                id_prefix=a.get("id_prefix"),
            )
        elif kind == "remove_instruments":
            if not a.get("ids") and not a.get("kind"):
                raise self.lines.error((*path, kind), "give ids: or kind: and count:")
            action = RemoveInstruments(
                tuple(a.get("ids", ())), a.get("kind"), int(a.get("count", 0))
            )
        elif kind == "operating_hours":
            action = SetOperatingHours(where, hours(a["hours"]))
        elif kind == "maintenance":
            action = SetMaintenance(where, maintenance(a["plan"]))
        elif kind == "demand_growth":
            action = DemandGrowth(tuple(a.get("kinds", ())), float(a["factor"]))
        elif kind == "new_customer":
            action = NewCustomer(a["name"], tuple(self.demand(x, a["name"]) for x in a["demand"]))
        elif kind == "mtbf":
            action = ImproveMtbf(where, _opt_float(a.get("factor")), _opt_float(a.get("hours")))
        else:
            p = self.policy(a, (*path, kind))
            action = SetPolicy(
                ("allocation" in a and p.allocation) or None,
                p.window_hours,
                clear_window="window_hours" in a and a["window_hours"] is None,
            )
        return Change(action, d.get("name"), self.lines.line(path))

    def check_against(self, site: Site, changes: Sequence[Mapping[str, Any]]) -> None:
        """Changes that name kinds or ids the described site never has are typos."""
        kinds = {i.kind for i in site.instruments}
        ids = {i.id for i in site.instruments}
        for i, c in enumerate(changes):
            for action, a in c.items():
                if action == "add_instruments":
                    kinds.add(a["kind"])
                if not isinstance(a, Mapping):
                    continue
                for j, k in enumerate(a.get("kinds", ())):
                    if k not in kinds:
                        raise self.lines.error(
                            ("changes", i, action, "kinds", j),
                            f"the site has no instrument of kind {k!r}",
                        )
                for j, x in enumerate(a.get("ids", ())):
                    if x not in ids:
                        raise self.lines.error(
                            ("changes", i, action, "ids", j), f"the site has no instrument {x!r}"
                        )
                if action == "remove_instruments" and a.get("kind") and a["kind"] not in kinds:
                    raise self.lines.error(
                        ("changes", i, action, "kind"),
                        f"the site has no instrument of kind {a['kind']!r}",
                    )
                if action == "new_customer":
                    for j, dem in enumerate(a["demand"]):
                        if dem["kind"] not in kinds:
                            raise self.lines.error(
                                ("changes", i, action, "demand", j, "kind"),
                                f"the site has no instrument of kind {dem['kind']!r}",
                            )

    def sweep(
        self, d: dict[str, Any], changes: Sequence[Mapping[str, Any]], kinds: set[str] | None
    ) -> Sweep:
        by_name = {c["name"]: c for c in changes if "name" in c}
        params = []
        for i, p in enumerate(d["parameters"]):
            path: Path_ = ("sweep", "parameters", i)
            target = by_name.get(p["change"])
            if target is None:
                raise self.lines.error(
                    (*path, "change"), f"no change is named {p['change']!r} (give it name:)"
                )
            action = next(k for k in target if k != "name")
            if p["field"] not in SWEEPABLE[action]:
                allowed = ", ".join(sorted(SWEEPABLE[action])) or "nothing"
                raise self.lines.error((*path, "field"), f"a {action} change can sweep {allowed}")
            params.append(SweepParameter(p["change"], p["field"], tuple(map(float, p["values"]))))
        if len(params) == 2 and (params[0].change, params[0].field) == (
            params[1].change,
            params[1].field,
        ):
            raise self.lines.error(("sweep", "parameters", 1), "sweeps the same field twice")
        kind = d.get("kind", "site")
        if kinds is not None and kind != "site" and kind not in kinds:
            raise self.lines.error(
                ("sweep", "kind"), f"the site has no instrument of kind {kind!r}"
            )
        return Sweep(tuple(params), d.get("replications"), d.get("metric", "wait_hours"), kind)


def _opt_float(value: object) -> float | None:
    return None if value is None else float(value)  # type: ignore[arg-type]


def hours(value: object) -> WeeklyHours | None:
    """Schema-valid opening hours as a frozen value (``None``: always open)."""
    if value is None or value == "always":
        return None
    assert isinstance(value, Mapping)  # noqa: S101 - the schema said so
    return tuple(
        (day, tuple((str(a), str(b)) for a, b in value[day]))
        for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
        if day in value
    )


def maintenance(value: object) -> MaintenancePlan | None:
    if value is None:
        return None
    assert isinstance(value, Mapping)  # noqa: S101 - the schema said so
    return MaintenancePlan(
        float(value["every_days"]), float(value["hours"]), float(value.get("start_hour", 0.0))
    )
