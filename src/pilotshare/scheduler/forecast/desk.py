"""The scheduler as the site model's booking desk: ``allocation.allocate`` in virtual time.

``twin.model`` sits below the scheduler and may not import it, so it asks a ``Desk`` to place
requests. ``SchedulerDesk`` is that desk for the forecast and the what-if simulations: it
keeps each instrument's *bookable* time (open hours minus maintenance minus held bookings
widened by the setup buffer, exactly what ``policy.free_intervals`` yields) as sorted
datetime intervals, hands them to the real ``allocate`` as ``Candidate``s, and removes the
chosen slot with its buffers, as ``allocation.take`` does, but in place, by bisection, so a
booking costs O(log n) instead of a rebuild.

Speed without changing a decision: ``allocate`` picks the slot that *finishes* first and
breaks ties after that. The desk computes each instrument's first fit in float seconds (the
same rule as ``allocation.first_fit``) and hands ``allocate`` only the instruments whose
first fit finishes first (within a millisecond), each with the free spans ``first_fit``
would walk to find it. Every other instrument would lose on the first element of the key,
so the decision is the one ``allocate`` makes on the full candidate list; it is still
``allocate`` that makes it (``tests/unit/test_model_desk.py`` compares both on random
sites).

Who may book what, as the API decides it: a request of an organisation is offered only the
instruments ``policy.may_book`` lets it book (qualifications; an organisation that holds an
admin key, ``SiteSpec.admins``, books as an admin), and a slot that would take
it past one of its quotas (``policy.quota_pieces``, counted against what the organisation
held at the origin plus what the desk booked for it since) is refused, as
``scheduler.quota.check_quota`` refuses it with 409: not booked, and not searched for
elsewhere.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from pilotshare.core.intervals import subtract
from pilotshare.scheduler.allocation import Allocation, Candidate, Request, allocate
from pilotshare.scheduler.policy import Interval, may_book, quota_pieces
from pilotshare.twin.model import Placement, SiteSpec, SlotRequest

AllocateFn = Callable[[Request, Iterable[Candidate], datetime], Allocation | None]

_SECOND = timedelta(seconds=1)
#: Float and datetime bounds agree to a microsecond; candidates this close tie.
_TIE = 1e-3


@dataclass(slots=True)
class _Free:
    """One instrument's bookable time: float bounds for bisection, datetimes for allocate."""

    starts: list[float]
    ends: list[float]
    spans: list[tuple[datetime, datetime]]
    buffer_s: float
    buffer: timedelta
    notice_s: float
    min_s: float
    max_s: float | None
    template: Candidate = field(repr=False)
    #: Candidates built since the last hole, by (span, cut or -1): a Candidate costs more
    #: to build than allocate spends on it, and the same one is offered again while
    #: nothing is booked on the instrument.
    made: dict[tuple[int, float], Candidate] = field(default_factory=dict, repr=False)

    def copy(self) -> _Free:
        return _Free(
            list(self.starts),
            list(self.ends),
            list(self.spans),
            self.buffer_s,
            self.buffer,
            self.notice_s,
            self.min_s,
            self.max_s,
            self.template,
        )

    def candidate(self, k: int, avail: float, origin: datetime) -> Candidate:
        """The instrument as ``allocate`` sees it for a fit in span ``k``: that span, cut at
        ``avail`` when it starts earlier (as ``policy.free_intervals`` cuts at now +
        notice). The spans before it are left out: none of them fits (``_fits``), so
        ``first_fit`` finds the same slot without walking them."""
        cut = avail if self.starts[k] < avail else -1.0
        key = (k, cut)
        made = self.made.get(key)
        if made is None:
            span = self.spans[k]
            if cut >= 0:
                span = (origin + timedelta(seconds=avail), span[1])
            t = self.template
            made = self.made[key] = Candidate(
                t.instrument,
                t.kind,
                t.capabilities,
                (span,),
                t.p_up,
                t.setup_buffer,
                t.min_length,
                t.max_length,
            )
        return made

    def hole(self, h0: float, h1: float, d0: datetime, d1: datetime) -> None:
        """Remove ``[h0, h1)`` (``d0``, ``d1`` the same instants as datetimes)."""
        k0 = bisect_right(self.ends, h0)
        k1 = bisect_left(self.starts, h1)
        if k0 >= k1:
            return
        if self.made:
            self.made = {}
        keep_f: list[tuple[float, float]] = []
        keep_d: list[tuple[datetime, datetime]] = []
        if self.starts[k0] < h0:
            keep_f.append((self.starts[k0], h0))
            keep_d.append((self.spans[k0][0], d0))
        if self.ends[k1 - 1] > h1:
            keep_f.append((h1, self.ends[k1 - 1]))
            keep_d.append((d1, self.spans[k1 - 1][1]))
        self.starts[k0:k1] = [a for a, _ in keep_f]
        self.ends[k0:k1] = [b for _, b in keep_f]
        self.spans[k0:k1] = keep_d


def _hours(slot: Interval, window: Interval) -> float:
    a, b = max(slot[0], window[0]), min(slot[1], window[1])
    return (b - a).total_seconds() / 3600.0 if b > a else 0.0


class _Counted:
    """What counts against one organisation's quotas: its booked slots, and the hours of
    them inside each period window asked about so far (kept up to date as it books)."""

    __slots__ = ("hours", "slots")

    def __init__(self, slots: list[Interval], hours: dict[Interval, float] | None = None) -> None:
        self.slots = slots
        self.hours = hours if hours is not None else {}

    def copy(self) -> _Counted:
        return _Counted(list(self.slots), dict(self.hours))

    def used(self, window: Interval) -> float:
        h = self.hours.get(window)
        if h is None:
            h = self.hours[window] = sum(_hours(s, window) for s in self.slots)
        return h

    def add(self, slot: Interval) -> None:
        self.slots.append(slot)
        for window in self.hours:
            self.hours[window] += _hours(slot, window)


@dataclass(slots=True)
class _Access:
    """Who may book what at the origin: the site's quotas and what counts against them."""

    limits: dict[str, dict[str, float]]
    counted: dict[str, _Counted]

    def copy(self) -> _Access:
        return _Access(self.limits, {org: c.copy() for org, c in self.counted.items()})


def build_access(site: SiteSpec) -> _Access:
    """Quotas per organisation, with the bookings that count against them at the origin."""
    limits: dict[str, dict[str, float]] = {}
    for q in site.quotas:
        limits.setdefault(q.org, {})[q.period] = q.max_hours
    origin = site.origin
    slots: dict[str, list[Interval]] = {org: [] for org in limits}
    spans = [(b.org, b.start, b.end) for b in site.bookings] + list(site.quota_counted)
    for org, a, b in spans:
        if org in slots:
            slots[org].append((origin + a * _SECOND, origin + b * _SECOND))
    return _Access(limits, {org: _Counted(s) for org, s in slots.items()})


class SchedulerDesk:
    """A desk for one replication; build many cheaply with ``SchedulerDeskFactory``."""

    def __init__(
        self,
        site: SiteSpec,
        free: list[_Free],
        allocate_fn: AllocateFn,
        access: _Access | None = None,
    ) -> None:
        self.origin = site.origin
        self.free = free
        self.allocate = allocate_fn
        self.instruments = site.instruments
        self.by_kind: dict[str, list[int]] = {}
        for n, spec in enumerate(site.instruments):
            self.by_kind.setdefault(spec.kind, []).append(n)
        self.index = {spec.id: n for n, spec in enumerate(site.instruments)}
        self.access = access if access is not None else build_access(site)
        self.admins = site.admins
        self._members: dict[tuple[str, str], list[int]] = {}

    def members(self, kind: str, org: str) -> list[int]:
        """The instruments of ``kind`` that ``org`` may book (``policy.may_book``, an
        organisation of ``SiteSpec.admins`` as an admin)."""
        key = (kind, org)
        found = self._members.get(key)
        if found is None:
            admin = org in self.admins
            found = self._members[key] = [
                n
                for n in self.by_kind.get(kind, ())
                if may_book(
                    requires_qualification=(q := self.instruments[n].qualified) is not None,
                    qualified=q is not None and org in q,
                    admin=admin,
                )
            ]
        return found

    def place(
        self,
        request: SlotRequest,
        now: float,
        not_before: dict[int, float],
        *,
        among: Sequence[int] | None = None,
    ) -> Placement | None:
        """The real allocator's choice among the instruments of the request's kind that its
        organisation may book (or ``among`` those named); the slot is booked."""
        members = self.members(request.kind, request.org) if among is None else among
        fits, best = self._fits(request, now, not_before, members)
        if not fits:
            return None
        origin = self.origin
        got = self.allocate(
            Request(
                str(request.id),
                request.kind,
                timedelta(seconds=request.duration),
                origin + timedelta(seconds=request.earliest),
                origin + timedelta(seconds=request.latest),
                request.capabilities,
                request.org or None,
            ),
            self._candidates(fits, best),
            origin + timedelta(seconds=now),
        )
        if got is None:
            return None
        n = self.index[got.instrument]
        if self._over_quota(request.org, n, got):
            return None  # refused, as the API refuses it (409 quota_exceeded)
        return self._book(n, got)

    def _fits(
        self,
        request: SlotRequest,
        now: float,
        not_before: dict[int, float],
        members: Sequence[int],
    ) -> tuple[list[tuple[float, int, int, float]], float]:
        """Each member's first fit (end, member, span, avail) that may finish first, and the
        earliest end of all: ``allocation.eligible`` and ``allocation.first_fit``, inlined
        in float seconds (this loop runs for every instrument of the kind)."""
        lo = max(request.earliest, now)
        hi = request.latest
        duration = request.duration
        fits: list[tuple[float, int, int, float]] = []
        best = bound = math.inf  # bound: best + _TIE; a fit ending later cannot win
        caps = request.capabilities
        free = self.free
        for n in members:
            f = free[n]
            if caps and not caps <= f.template.capabilities:
                continue
            if duration < f.min_s or (f.max_s is not None and duration > f.max_s):
                continue
            # Bookable from ``avail``, as policy.free_intervals cuts at now + notice; a
            # down instrument from its ``not_before``. The request's own bounds never cut a
            # span: allocate's tie-breaks (fragment, leftover) must see whole intervals.
            avail = now + f.notice_s
            if not_before:
                down = not_before.get(n)
                if down is not None and down > avail:
                    avail = down
            first = max(lo, avail)
            # The earliest end in [first, hi], and only if it can beat the best so far:
            # ends only grow along the spans, so the walk stops at the first that cannot.
            limit = min(bound, hi)
            starts, ends = f.starts, f.ends
            k0 = bisect_right(ends, first)
            for k in range(k0, len(starts)):
                a = starts[k]
                end = (max(first, a)) + duration
                if end > limit:
                    break
                if end <= ends[k]:
                    fits.append((end, n, k, avail))
                    if end < best:
                        best = end
                        bound = end + _TIE
                    break
        return fits, best

    def _candidates(
        self, fits: list[tuple[float, int, int, float]], best: float
    ) -> list[Candidate]:
        """The fits that finish first (within ``_TIE``) as ``allocate`` sees them: each with
        the free spans ``first_fit`` walks, the first cut where it becomes bookable."""
        origin, free, bound = self.origin, self.free, best + _TIE
        # A fit finishing later than another cannot be allocate's choice: not offered.
        return [free[n].candidate(k, avail, origin) for end, n, k, avail in fits if end <= bound]

    def _over_quota(self, org: str, n: int, got: Allocation) -> bool:
        """Whether the slot takes ``org`` past a quota (``policy.quota_pieces``, in the
        instrument's site's periods); if not, it now counts against them."""
        counted = self.access.counted.get(org)
        if counted is None:
            return False
        slot = (got.start, got.end)
        pieces = quota_pieces(self.access.limits[org], slot, self.instruments[n].timezone)
        if any(p.exceeded(counted.used(p.window)) for p in pieces):
            return True
        counted.add(slot)
        return False

    def _book(self, n: int, got: Allocation) -> Placement:
        f = self.free[n]
        start = (got.start - self.origin) / _SECOND
        end = (got.end - self.origin) / _SECOND
        f.hole(start - f.buffer_s, end + f.buffer_s, got.start - f.buffer, got.end + f.buffer)
        return Placement(n, start, end)


class SchedulerDeskFactory:
    """``DeskFactory`` for ``twin.model.replicate``: picklable, builds the bookable time of a
    site once (calendar, maintenance, existing bookings with buffers) and copies it for each
    replication. ``allocate_fn`` defaults to the API's own ``allocation.allocate``."""

    def __init__(self, allocate_fn: AllocateFn = allocate) -> None:
        self.allocate_fn = allocate_fn
        self._site: SiteSpec | None = None
        self._free: list[_Free] = []
        self._access = _Access({}, {})

    def __getstate__(self) -> dict[str, object]:
        return {"allocate_fn": self.allocate_fn}

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__init__(state["allocate_fn"])  # type: ignore[misc]

    def __call__(self, site: SiteSpec) -> SchedulerDesk:
        if self._site is not site:
            self._free = build_free(site)
            self._access = build_access(site)
            self._site = site
        return SchedulerDesk(
            site, [f.copy() for f in self._free], self.allocate_fn, self._access.copy()
        )


def build_free(site: SiteSpec) -> list[_Free]:
    """Each instrument's bookable time at the origin, as the desk keeps it."""
    held: dict[str, list[tuple[float, float]]] = {}
    for b in site.bookings:
        held.setdefault(b.instrument, []).append((b.start, b.end))
    out = []
    for n, spec in enumerate(site.instruments):
        buf = spec.setup_buffer_s
        holes = [(a - buf, b + buf) for a, b in held.get(spec.id, ())]
        free = subtract(site.open_intervals(n, until=site.calendar_s), holes)
        spans = [(site.origin + a * _SECOND, site.origin + b * _SECOND) for a, b in free]
        template = Candidate(
            instrument=spec.id,
            kind=spec.kind,
            capabilities=spec.capabilities,
            free=(),
            p_up=spec.p_up,
            setup_buffer=buf * _SECOND,
            min_length=spec.min_booking_s * _SECOND,
            max_length=None if spec.max_booking_s is None else spec.max_booking_s * _SECOND,
        )
        out.append(
            _Free(
                [a for a, _ in free],
                [b for _, b in free],
                spans,
                buf,
                buf * _SECOND,
                spec.min_notice_s,
                spec.min_booking_s,
                spec.max_booking_s,
                template,
            )
        )
    return out
