"""The scheduler as the site model's booking desk: ``allocation.allocate``'s decision in
virtual time.

``twin.model`` sits below the scheduler and may not import it, so it asks a ``Desk`` to place
requests. ``SchedulerDesk`` is that desk for the forecast and the what-if simulations: it
keeps each instrument's *bookable* time (open hours minus maintenance minus held bookings
widened by the setup buffer, exactly what ``policy.free_intervals`` yields) as sorted
intervals, and removes a booked slot with its buffers as ``allocation.take`` does, but in
place, by bisection, so a booking costs O(log n) instead of a rebuild.

Times are integer microseconds from the origin: what the API's datetimes are, so every sum
and comparison is exact (floats would drift from the datetimes by a microsecond and flip a
tie). On them the desk applies ``allocate``'s rule, which the API applies on datetimes: each
instrument's first fit (``allocation.first_fit``), then the smallest key of
``allocation.allocate`` (finish, -p_up, unusable fragment, leftover, instrument), with the
walk cut short where a fit cannot finish first. Building ``Candidate``s and datetimes for
``allocate`` itself would cost more than the whole rest of a request's simulation; the
decision is property-tested against ``allocate`` on every instrument's full free time on
random sites (``tests/unit/test_model_desk.py``), so the two cannot drift apart unseen.

Who may book what, as the API decides it: a request of an organisation is offered only the
instruments ``policy.may_book`` lets it book (qualifications; an organisation that holds an
admin key, ``SiteSpec.admins``, books as an admin), and a slot that would take
it past one of its quotas (``policy.quota_pieces``, counted against what the organisation
held at the origin plus what the desk booked for it since) is refused, as
``scheduler.quota.check_quota`` refuses it with 409: not booked, and not searched for
elsewhere.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from pilotshare.core.intervals import subtract
from pilotshare.scheduler.policy import Interval, may_book, quota_pieces
from pilotshare.twin.model import Placement, SiteSpec, SlotRequest

_SECOND = timedelta(seconds=1)
_US = timedelta(microseconds=1)
_MICRO = 1_000_000


def us(seconds: float) -> int:
    """Seconds from the origin (the model's floats) as whole microseconds, the resolution
    of the API's datetimes. Which microsecond a float rounds to is immaterial; what matters
    is that every time the desk compares was rounded once, here."""
    return round(seconds * _MICRO)


@dataclass(slots=True)
class _Free:
    """One instrument's bookable time (microseconds from the origin) and its rules."""

    starts: list[int]
    ends: list[int]
    buffer: int
    notice: int
    least: int  # minimum booking
    most: int | None  # maximum booking
    capabilities: frozenset[str]
    p_up: float
    name: str

    def copy(self) -> _Free:
        return _Free(
            list(self.starts),
            list(self.ends),
            self.buffer,
            self.notice,
            self.least,
            self.most,
            self.capabilities,
            self.p_up,
            self.name,
        )

    def hole(self, h0: int, h1: int) -> None:
        """Remove ``[h0, h1)``."""
        k0 = bisect_right(self.ends, h0)
        k1 = bisect_left(self.starts, h1)
        if k0 >= k1:
            return
        keep_s: list[int] = []
        keep_e: list[int] = []
        if self.starts[k0] < h0:
            keep_s.append(self.starts[k0])
            keep_e.append(h0)
        if self.ends[k1 - 1] > h1:
            keep_s.append(h1)
            keep_e.append(self.ends[k1 - 1])
        self.starts[k0:k1] = keep_s
        self.ends[k0:k1] = keep_e


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

    def __init__(self, site: SiteSpec, free: list[_Free], access: _Access | None = None) -> None:
        self.origin = site.origin
        self.free = free
        self.instruments = site.instruments
        self.by_kind: dict[str, list[int]] = {}
        for n, spec in enumerate(site.instruments):
            self.by_kind.setdefault(spec.kind, []).append(n)
        self.access = access if access is not None else build_access(site)
        self.admins = site.admins
        self._members: dict[tuple[str, str], list[tuple[int, _Free]]] = {}

    def members(self, kind: str, org: str) -> list[int]:
        """The instruments of ``kind`` that ``org`` may book (``policy.may_book``, an
        organisation of ``SiteSpec.admins`` as an admin)."""
        return [n for n, _ in self._pairs(kind, org)]

    def _pairs(self, kind: str, org: str) -> list[tuple[int, _Free]]:
        """``members`` with each one's free time: the desk's own lists, which ``place``
        changes in place, so the pairs stay valid for the whole replication."""
        key = (kind, org)
        found = self._members.get(key)
        if found is None:
            admin = org in self.admins
            found = self._members[key] = [
                (n, self.free[n])
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
        """``allocate``'s choice among the instruments of the request's kind that its
        organisation may book (or ``among`` those named); the slot is booked."""
        members = (
            self._pairs(request.kind, request.org)
            if among is None
            else [(n, self.free[n]) for n in among]
        )
        now_us = round(now * _MICRO)  # us(), inlined: four per request
        duration = round(request.duration * _MICRO)
        lo = round(request.earliest * _MICRO)
        if now_us > lo:  # noqa: PLR1730 - max() costs a call, four times per request
            lo = now_us
        hi = round(request.latest * _MICRO)
        if duration <= 0 or lo + duration > hi:
            return None
        fits = self._fits(
            request.capabilities,
            duration,
            lo,
            hi,
            now=now_us,
            not_before=not_before,
            members=members,
        )
        if not fits:
            return None
        n, start = self._choose(fits, duration) if len(fits) > 1 else fits[0][1:3]
        end = start + duration
        if self._over_quota(request.org, n, start, end):
            return None  # refused, as the API refuses it (409 quota_exceeded)
        f = self.free[n]
        f.hole(start - f.buffer, end + f.buffer)
        return Placement(n, start / _MICRO, end / _MICRO)

    def _fits(
        self,
        caps: frozenset[str],
        duration: int,
        lo: int,
        hi: int,
        *,
        now: int,
        not_before: dict[int, float],
        members: Sequence[tuple[int, _Free]],
    ) -> list[tuple[int, int, int, int, int]]:
        """The members whose first fit finishes first: (end, member, start, span start as
        offered, span end). ``allocation.eligible`` and ``allocation.first_fit``, inlined
        (this loop runs for every instrument of the kind, for every request)."""
        fits: list[tuple[int, int, int, int, int]] = []
        bound = hi  # a fit ending later than the best so far cannot win
        bisect = bisect_right
        for n, f in members:
            if caps and not caps <= f.capabilities:
                continue
            if duration < f.least or (f.most is not None and duration > f.most):
                continue
            # Bookable from ``avail``, as policy.free_intervals cuts at now + notice; a
            # down instrument from its ``not_before``. The request's own bounds never cut a
            # span: allocate's tie-breaks (fragment, leftover) see whole intervals.
            avail = now + f.notice
            if not_before:
                down = not_before.get(n)
                if down is not None and (d := round(down * _MICRO)) > avail:
                    avail = d
            first = lo if lo > avail else avail  # noqa: FURB136 - hot loop, as below
            # Ends only grow along the spans, so the walk stops at the first that cannot
            # fit or cannot beat the best. (Conditional expressions, not max/min, and an
            # index, not a range: this is the innermost loop.)
            starts, ends = f.starts, f.ends
            k = bisect(ends, first)
            last = len(ends)
            while k < last:
                a = starts[k]
                start = a if a > first else first  # noqa: FURB136
                end = start + duration
                if end > bound:
                    break
                b = ends[k]
                if end <= b:
                    if end < bound:
                        fits.clear()
                        bound = end
                    fits.append((end, n, start, a if a > avail else avail, b))  # noqa: FURB136
                    break
                k += 1
        return fits

    def _choose(self, fits: list[tuple[int, int, int, int, int]], duration: int) -> tuple[int, int]:
        """Among fits that finish together, ``allocate``'s tie-break: the instrument most
        likely to be up, then the least unusable fragment, then the least leftover in its
        interval, then the instrument id."""
        best: tuple[float, int, int, str] | None = None
        chosen = fits[0]
        free = self.free
        for fit in fits:
            end, n, start, a, b = fit
            f = free[n]
            before, after = start - f.buffer - a, b - end - f.buffer
            fragment = (before if 0 < before < f.least else 0) + (
                after if 0 < after < f.least else 0
            )
            key = (-f.p_up, fragment, (b - a) - duration, f.name)
            if best is None or key < best:
                best, chosen = key, fit
        return chosen[1], chosen[2]

    def _over_quota(self, org: str, n: int, start: int, end: int) -> bool:
        """Whether the slot takes ``org`` past a quota (``policy.quota_pieces``, in the
        instrument's site's periods); if not, it now counts against them."""
        counted = self.access.counted.get(org)
        if counted is None:
            return False
        slot = (self.origin + start * _US, self.origin + end * _US)
        pieces = quota_pieces(self.access.limits[org], slot, self.instruments[n].timezone)
        if any(p.exceeded(counted.used(p.window)) for p in pieces):
            return True
        counted.add(slot)
        return False


class SchedulerDeskFactory:
    """``DeskFactory`` for ``twin.model.replicate``: picklable, builds the bookable time of a
    site once (calendar, maintenance, existing bookings with buffers) and copies it for each
    replication."""

    def __init__(self) -> None:
        self._site: SiteSpec | None = None
        self._free: list[_Free] = []
        self._access = _Access({}, {})

    def __getstate__(self) -> dict[str, object]:
        return {}

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__init__()  # type: ignore[misc]

    def __call__(self, site: SiteSpec) -> SchedulerDesk:
        if self._site is not site:
            self._free = build_free(site)
            self._access = build_access(site)
            self._site = site
        return SchedulerDesk(site, [f.copy() for f in self._free], self._access.copy())


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
        out.append(
            _Free(
                [us(a) for a, _ in free],
                [us(b) for _, b in free],
                us(buf),
                us(spec.min_notice_s),
                us(spec.min_booking_s),
                None if spec.max_booking_s is None else us(spec.max_booking_s),
                spec.capabilities,
                spec.p_up,
                spec.id,
            )
        )
    return out
