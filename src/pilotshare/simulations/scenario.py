"""The what-if scenario: a site to start from, changes to apply, and how to run the comparison.

A scenario file is read by :mod:`pilotshare.simulations.loader` into these frozen values. They
are plain data (hours as floats, slugs as strings) so that a replication task pickles small and
travels unchanged to a local worker process or a Dask worker: the same task gives the same
answer wherever it runs. Nothing here knows SimPy; :mod:`pilotshare.simulations.engine` turns a
:class:`Site` into the twin model's input.

Units: every duration is in hours, every rate in currency per hour, demand in requests per week.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Literal

#: Operating hours as stored for instruments: ``{"mon": [["08:00", "18:00"]], …}``; ``None``
#: means always open. Kept as tuples so that values stay hashable and frozen.
WeeklyHours = tuple[tuple[str, tuple[tuple[str, str], ...]], ...]

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

Distribution = Literal["exponential", "lognormal", "fixed"]


@dataclass(frozen=True, slots=True)
class Durations:
    """How long requested jobs take: a mean and, for lognormal, a coefficient of variation."""

    mean_hours: float
    distribution: Distribution = "lognormal"
    cv: float = 0.5


@dataclass(frozen=True, slots=True)
class MaintenancePlan:
    """Planned maintenance: ``hours`` long, every ``every_days``, from ``start_hour`` of the
    horizon (so that a plan of several instruments can be staggered)."""

    every_days: float
    hours: float
    start_hour: float = 0.0


#: "No planned maintenance", as a plan: unlike ``None`` ("as given"), it also clears the
#: maintenance windows a live site brings from the database.
NO_MAINTENANCE = MaintenancePlan(every_days=1.0, hours=0.0)


@dataclass(frozen=True, slots=True)
class Instrument:
    """One instrument of the site. ``mtbf_hours`` ``None``: it never fails."""

    id: str
    kind: str
    hourly_rate: float = 0.0
    mtbf_hours: float | None = None
    mttr_hours: float = 4.0
    operating_hours: WeeklyHours | None = None
    maintenance: MaintenancePlan | None = None
    setup_hours: float = 0.0
    #: The time zone its opening hours are in.
    timezone: str = "UTC"
    #: Live sites only: the twin's own spec of this instrument (learned distributions), and
    #: the MTBF and opening hours it was read with, so the engine sees what a change altered.
    model: object | None = field(default=None, compare=False, repr=False)
    learned_mtbf_hours: float | None = field(default=None, compare=False, repr=False)
    learned_hours: WeeklyHours | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Demand:
    """A stream of new booking requests of one kind from one customer (Poisson arrivals)."""

    kind: str
    per_week: float
    durations: Durations
    customer: str = "platform"
    #: Live sites only: the twin's demand stream (learned durations and weekly profile).
    model: object | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Booking:
    """An existing booking, whose odds of being served as booked the report gives."""

    id: str
    instrument: str
    start_hour: float
    hours: float
    customer: str = "platform"


@dataclass(frozen=True, slots=True)
class Policy:
    """The allocation policy (a name :func:`engine.allocation_policies` knows) and the booking
    window: a request must be placed to *finish* within ``window_hours`` of its arrival, or it
    is turned away (not served). ``None``: the model's default of 14 days."""

    allocation: str = "earliest_finish"
    window_hours: float | None = None


@dataclass(frozen=True, slots=True)
class Site:
    """A described site: what the model simulates."""

    id: str
    instruments: tuple[Instrument, ...]
    demand: tuple[Demand, ...]
    bookings: tuple[Booking, ...] = ()
    policy: Policy = field(default_factory=Policy)
    #: Where simulated time starts (described sites: ``engine.ORIGIN``, a Monday).
    origin: datetime | None = None
    #: Live sites only: the twin's snapshot the site was read from.
    model: object | None = field(default=None, compare=False, repr=False)

    def kinds(self) -> list[str]:
        """Every kind the site has instruments or demand for, sorted."""
        return sorted({i.kind for i in self.instruments} | {d.kind for d in self.demand})

    def with_(self, **changes: object) -> Site:
        """A copy with some fields replaced."""
        return replace(self, **changes)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class LiveSource:
    """Start from the live twin snapshot of a site in the database."""

    site: str


# --- changes -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Selector:
    """Which instruments a change applies to: by kind, by id, or (both empty) all."""

    kinds: tuple[str, ...] = ()
    ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class AddInstruments:
    kind: str
    count: int
    hourly_rate: float | None = None
    mtbf_hours: float | None = None
    mttr_hours: float | None = None
    operating_hours: WeeklyHours | None = None
    maintenance: MaintenancePlan | None = None
    id_prefix: str | None = None


@dataclass(frozen=True, slots=True)
class RemoveInstruments:
    ids: tuple[str, ...] = ()
    kind: str | None = None
    count: int = 0


@dataclass(frozen=True, slots=True)
class SetOperatingHours:
    where: Selector
    hours: WeeklyHours | None


@dataclass(frozen=True, slots=True)
class SetMaintenance:
    where: Selector
    plan: MaintenancePlan | None


@dataclass(frozen=True, slots=True)
class DemandGrowth:
    """Multiply the request rate of some kinds (all kinds when ``kinds`` is empty)."""

    kinds: tuple[str, ...]
    factor: float


@dataclass(frozen=True, slots=True)
class NewCustomer:
    name: str
    demand: tuple[Demand, ...]


@dataclass(frozen=True, slots=True)
class ImproveMtbf:
    """Multiply MTBF by ``factor``, or set it to ``hours``."""

    where: Selector
    factor: float | None = None
    hours: float | None = None


@dataclass(frozen=True, slots=True)
class SetPolicy:
    allocation: str | None = None
    window_hours: float | None = None
    clear_window: bool = False


ChangeAction = (
    AddInstruments
    | RemoveInstruments
    | SetOperatingHours
    | SetMaintenance
    | DemandGrowth
    | NewCustomer
    | ImproveMtbf
    | SetPolicy
)


@dataclass(frozen=True, slots=True)
class Change:
    """One change; ``name`` lets a sweep vary one of its numbers."""

    action: ChangeAction
    name: str | None = None
    line: int = 0


@dataclass(frozen=True, slots=True)
class SweepParameter:
    """Vary ``field`` of the change called ``change`` over ``values``."""

    change: str
    field: str
    values: tuple[float, ...]


@dataclass(frozen=True, slots=True)
class Sweep:
    """A grid over one or two parameters; ``metric`` of ``kind`` (or the site) is charted."""

    parameters: tuple[SweepParameter, ...]
    replications: int | None = None
    metric: str = "wait_hours"
    kind: str = "site"


@dataclass(frozen=True, slots=True)
class Scenario:
    """A whole scenario file."""

    name: str
    description: str
    base: Site | LiveSource
    changes: tuple[Change, ...]
    horizon_days: float = 91.0
    warmup_days: float = 7.0
    replications: int = 30
    seed: int = 1
    confidence: float = 0.95
    sweep: Sweep | None = None
    source: str = "<scenario>"
