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
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from pilotshare.core.intervals import subtract
from pilotshare.scheduler.allocation import Allocation, Candidate, Request, allocate
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

    def hole(self, h0: float, h1: float, d0: datetime, d1: datetime) -> None:
        """Remove ``[h0, h1)`` (``d0``, ``d1`` the same instants as datetimes)."""
        k0 = bisect_right(self.ends, h0)
        k1 = bisect_left(self.starts, h1)
        if k0 >= k1:
            return
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


class SchedulerDesk:
    """A desk for one replication; build many cheaply with ``SchedulerDeskFactory``."""

    def __init__(self, site: SiteSpec, free: list[_Free], allocate_fn: AllocateFn) -> None:
        self.origin = site.origin
        self.free = free
        self.allocate = allocate_fn
        self.by_kind: dict[str, list[int]] = {}
        for n, spec in enumerate(site.instruments):
            self.by_kind.setdefault(spec.kind, []).append(n)
        self.index = {spec.id: n for n, spec in enumerate(site.instruments)}

    def place(
        self, request: SlotRequest, now: float, not_before: dict[int, float]
    ) -> Placement | None:
        """The real allocator's choice among this kind's instruments; the slot is booked."""
        lo = max(request.earliest, now)
        hi = request.latest
        duration = request.duration
        fits: list[tuple[float, int, int, int, float]] = []  # end, member, k0, k1, first
        best = math.inf
        caps = request.capabilities
        for n in self.by_kind.get(request.kind, ()):
            f = self.free[n]
            # allocation.eligible, inlined: this loop runs for every instrument of the kind.
            if caps and not caps <= f.template.capabilities:
                continue
            if duration < f.min_s or (f.max_s is not None and duration > f.max_s):
                continue
            # Bookable from ``avail``, as policy.free_intervals cuts at now + notice; a
            # down instrument from its ``not_before``. The request's own bounds never cut a
            # span: allocate's tie-breaks (fragment, leftover) must see whole intervals.
            avail = now + f.notice_s
            if not_before and n in not_before and not_before[n] > avail:
                avail = not_before[n]
            first = max(avail, lo)
            # allocation.first_fit, in float seconds: the earliest end in [first, hi].
            starts, ends = f.starts, f.ends
            k0 = bisect_right(ends, first)
            for k in range(k0, len(starts)):
                a = starts[k]
                end = (max(first, a)) + duration
                if end > hi:
                    break
                if end <= ends[k]:
                    if end <= best + _TIE:
                        best = min(best, end)
                        fits.append((end, n, k0, k + 1, avail))
                    break
        if not fits:
            return None
        origin = self.origin
        cands = []
        for end, n, k0, k1, avail in fits:
            if end > best + _TIE:
                continue  # finishes later than another candidate: allocate would not pick it
            f = self.free[n]
            spans = f.spans[k0:k1]
            if f.starts[k0] < avail:
                spans[0] = (origin + timedelta(seconds=avail), spans[0][1])
            t = f.template
            cands.append(
                Candidate(
                    t.instrument,
                    t.kind,
                    t.capabilities,
                    tuple(spans),
                    t.p_up,
                    t.setup_buffer,
                    t.min_length,
                    t.max_length,
                )
            )
        got = self.allocate(
            Request(
                str(request.id),
                request.kind,
                timedelta(seconds=duration),
                origin + timedelta(seconds=request.earliest),
                origin + timedelta(seconds=hi),
                request.capabilities,
            ),
            cands,
            origin + timedelta(seconds=now),
        )
        return None if got is None else self._book(got)

    def _book(self, got: Allocation) -> Placement:
        n = self.index[got.instrument]
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

    def __getstate__(self) -> dict[str, object]:
        return {"allocate_fn": self.allocate_fn}

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__init__(state["allocate_fn"])  # type: ignore[misc]

    def __call__(self, site: SiteSpec) -> SchedulerDesk:
        if self._site is not site:
            self._free = build_free(site)
            self._site = site
        return SchedulerDesk(site, [f.copy() for f in self._free], self.allocate_fn)


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
