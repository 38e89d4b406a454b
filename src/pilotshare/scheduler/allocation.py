"""Choosing an instrument and a slot for booking requests (pure: no I/O, no clock, no RNG).

Theory of operation
===================

The caller describes the world as data and gets decisions back, as in a sans-IO protocol
library: a ``Request`` (what is wanted: a kind or one instrument, capabilities, a duration,
a window ``[earliest, latest]`` the booking must lie in) and ``Candidate`` instruments (what
they are, where they are free, how likely they are to be up). Nothing here reads a clock or
a database, so the same code serves the HTTP API in wall time and the capacity forecast
inside SimPy in virtual time; ``now`` is passed in and only bounds the start.

``Candidate.free`` is already the *bookable* time: ``scheduler.policy.free_intervals`` has
cut away closed hours, maintenance, blackouts and every held booking widened by the setup
buffer. Any sub-interval of a free interval is therefore a legal slot, and the only work
left is to choose. ``take`` removes a chosen slot, widened by the candidate's buffer, so
several requests can be placed on the same candidates in turn.

One request (``allocate``). On each eligible candidate the slot is the first free interval
that fits the duration, started as early as allowed. Among candidates the winner is the
smallest key

    (finish, -p_up, unusable fragment, leftover, instrument id)

- the earliest *finish* first: it serves the requester soonest, and for requests of one
  duration is the same as the earliest start;
- then the instrument most likely to be up (``p_up``, the twin's steady-state availability
  MTBF / (MTBF + MTTR)), so a booking is less likely to be lost to a failure;
- then the least *unusable fragment*: the free pieces the slot leaves on either side (net
  of the buffer) that are shorter than the instrument's minimum booking, i.e. time nobody
  can book any more;
- then the least leftover in that interval (best fit: keep long gaps whole for long
  requests), and last the instrument id, so equal inputs always give equal answers.

A set of requests (``allocate_batch``, weekly planning). First come, first served
(``allocate_greedy``: each request in arrival order takes its best slot) is the baseline. It
lets an early, long, flexible request take the slot a short or tightly windowed request
needed, so that one waits or is not served. The batch mode keeps the same per-request choice
and searches over the *order* in which requests choose:

1. it scores the greedy plan: (requests served, total waiting from each ``earliest``);
2. it tries shortest first (which minimises total waiting on one machine), least slack
   first, earliest deadline first and most constrained first (fewest eligible instruments);
3. then, as a local search, it moves one request to the front of the best order so far,
   first those left unserved, then those that waited longest, keeping any move that
   improves the plan, until no move helps or ``budget`` greedy passes have run.

A plan is only ever accepted if it serves at least as many requests as greedy *and* waits no
longer in total, and it replaces the best so far only if it serves more, or as many with less
waiting. So the batch plan is never worse than greedy on either measure, and on contested
demand it is better on both (``tests/unit/test_scheduler_allocation.py``,
``benchmarks/booking.py``). Cost: at most ``budget`` greedy passes (default 200).

Interface, stable for callers (the forecast calls ``allocate`` thousands of times per
replication): ``Request``, ``Candidate``, ``Allocation``, ``allocate(request, candidates,
now)``, ``allocate_batch(requests, candidates, now)``, ``allocate_greedy(...)``,
``take(candidate, start, end)``, ``plan_score(requests, plan)``, and ``candidate(rules, …)``,
the one way to build a ``Candidate`` from an instrument's booking rules. Datetimes must be
timezone-aware (any zone; UTC by convention).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Final

from pilotshare.core.intervals import subtract
from pilotshare.scheduler.policy import BookingRules, Interval, free_intervals

_ZERO: Final = timedelta(0)


@dataclass(frozen=True, slots=True)
class Request:
    """What is wanted: ``duration`` somewhere in ``[earliest, latest]`` (``latest``: end)."""

    id: str
    kind: str | None
    duration: timedelta
    earliest: datetime
    latest: datetime
    capabilities: frozenset[str] = frozenset()
    org: str | None = None
    instrument: str | None = None  # pin the request to one instrument


@dataclass(frozen=True, slots=True)
class Candidate:
    """An instrument as allocation sees it; ``free`` is sorted, disjoint, bookable time."""

    instrument: str
    kind: str
    capabilities: frozenset[str]
    free: tuple[Interval, ...]
    p_up: float = 1.0
    setup_buffer: timedelta = _ZERO
    min_length: timedelta = _ZERO
    max_length: timedelta | None = None


def candidate(
    rules: BookingRules,
    *,
    instrument: str,
    kind: str,
    capabilities: frozenset[str],
    window: Interval,
    now: datetime,
    bookings: Iterable[Interval] = (),
    closures: Iterable[Interval] = (),
    p_up: float = 1.0,
) -> Candidate:
    """An instrument as allocation sees it, from its booking rules: the bookable time they
    leave in ``window`` (``policy.free_intervals`` of its held ``bookings`` and ``closures``)
    and the limits ``allocate`` keeps (buffer, minimum and maximum length)."""
    return Candidate(
        instrument=instrument,
        kind=kind,
        capabilities=capabilities,
        free=free_intervals(rules, window=window, now=now, bookings=bookings, closures=closures),
        p_up=p_up,
        setup_buffer=rules.setup_buffer,
        min_length=rules.min_length,
        max_length=rules.max_length,
    )


@dataclass(frozen=True, slots=True)
class Allocation:
    """A decision: ``request`` gets ``instrument`` for ``[start, end)``."""

    request: str
    instrument: str
    start: datetime
    end: datetime
    p_up: float
    fragment: timedelta  # time the slot leaves unusable (pieces under the minimum booking)


def eligible(request: Request, candidate: Candidate) -> bool:
    """Whether the candidate can serve the request at all, whatever its calendar."""
    if request.instrument is not None and request.instrument != candidate.instrument:
        return False
    if request.kind is not None and request.kind != candidate.kind:
        return False
    if not request.capabilities <= candidate.capabilities:
        return False
    if request.duration < candidate.min_length:
        return False
    return candidate.max_length is None or request.duration <= candidate.max_length


def first_fit(
    free: Sequence[Interval], lo: datetime, hi: datetime, duration: timedelta
) -> tuple[datetime, Interval] | None:
    """The earliest ``duration`` slot in ``free`` within ``[lo, hi]``: its start and interval."""
    for a, b in free:
        if b <= lo:
            continue
        start = max(lo, a)
        end = start + duration
        if end > hi:
            return None  # later intervals start later still
        if end <= b:
            return start, (a, b)
    return None


def _waste(piece: timedelta, min_length: timedelta) -> timedelta:
    return piece if _ZERO < piece < min_length else _ZERO


def allocate(request: Request, candidates: Iterable[Candidate], now: datetime) -> Allocation | None:
    """The best slot for one request (theory of operation above), or ``None`` if none fits."""
    lo = max(now, request.earliest)
    hi = request.latest
    duration = request.duration
    if duration <= _ZERO or lo + duration > hi:
        return None
    best: tuple[datetime, float, timedelta, timedelta, str] | None = None
    chosen: tuple[Candidate, datetime] | None = None
    for cand in candidates:
        if not eligible(request, cand):
            continue
        fit = first_fit(cand.free, lo, hi, duration)
        if fit is None:
            continue
        start, (a, b) = fit
        end = start + duration
        if best is not None and end > best[0]:
            continue
        buf = cand.setup_buffer
        before, after = start - buf - a, b - end - buf
        fragment = _waste(before, cand.min_length) + _waste(after, cand.min_length)
        leftover = (b - a) - duration
        key = (end, -cand.p_up, fragment, leftover, cand.instrument)
        if best is None or key < best:
            best, chosen = key, (cand, start)
    if best is None or chosen is None:
        return None
    cand, start = chosen
    return Allocation(request.id, cand.instrument, start, best[0], cand.p_up, best[2])


def take(candidate: Candidate, start: datetime, end: datetime) -> Candidate:
    """The candidate with ``[start, end)`` booked: that slot and its buffers are no longer free."""
    buf = candidate.setup_buffer
    return replace(candidate, free=subtract(candidate.free, [(start - buf, end + buf)]))


def _run(
    requests: Sequence[Request],
    order: Sequence[int],
    candidates: Sequence[Candidate],
    now: datetime,
) -> list[Allocation | None]:
    state = {c.instrument: c for c in candidates}
    plan: list[Allocation | None] = [None] * len(requests)
    for i in order:
        got = allocate(requests[i], state.values(), now)
        if got is not None:
            plan[i] = got
            state[got.instrument] = take(state[got.instrument], got.start, got.end)
    return plan


def allocate_greedy(
    requests: Sequence[Request], candidates: Sequence[Candidate], now: datetime
) -> list[Allocation | None]:
    """First come, first served: each request in the given order takes its best slot."""
    return _run(requests, range(len(requests)), candidates, now)


def plan_score(
    requests: Sequence[Request], plan: Sequence[Allocation | None]
) -> tuple[int, timedelta]:
    """(requests served, total waiting of the served ones from their ``earliest``)."""
    served, waited = 0, _ZERO
    for request, got in zip(requests, plan, strict=True):
        if got is not None:
            served += 1
            waited += got.start - request.earliest
    return served, waited


def _orders(requests: Sequence[Request], candidates: Sequence[Candidate]) -> list[list[int]]:
    idx = range(len(requests))

    def by(key: Callable[[Request], tuple[object, ...]]) -> list[int]:
        return sorted(idx, key=lambda i: (*key(requests[i]), i))

    def choices(r: Request) -> int:
        return sum(1 for c in candidates if eligible(r, c))

    return [
        list(idx),
        by(lambda r: (r.duration, r.earliest)),
        by(lambda r: (r.latest - r.earliest - r.duration, r.earliest)),
        by(lambda r: (r.latest, r.duration)),
        by(lambda r: (choices(r), r.latest - r.earliest - r.duration, r.duration)),
    ]


def _better(key: tuple[int, timedelta], than: tuple[int, timedelta]) -> bool:
    """Serves more, or as many with less waiting."""
    return key[0] > than[0] or (key[0] == than[0] and key[1] < than[1])


def allocate_batch(
    requests: Sequence[Request],
    candidates: Sequence[Candidate],
    now: datetime,
    *,
    budget: int = 200,
) -> list[Allocation | None]:
    """Allocate a set of requests together; the result is in the order of ``requests``.

    Never worse than ``allocate_greedy`` on requests served nor on total waiting (a plan
    is only accepted when it is at least as good on both); deterministic for equal inputs.
    ``budget`` bounds the number of greedy passes tried.
    """
    greedy = _run(requests, range(len(requests)), candidates, now)
    floor = plan_score(requests, greedy)

    def admissible(score: tuple[int, timedelta]) -> bool:
        return score[0] >= floor[0] and score[1] <= floor[1]

    best_order: list[int] = list(range(len(requests)))
    best_plan, best = greedy, floor
    tried = 1
    for order in _orders(requests, candidates)[1:]:
        plan = _run(requests, order, candidates, now)
        score = plan_score(requests, plan)
        tried += 1
        if admissible(score) and _better(score, best):
            best_order, best_plan, best = order, plan, score
    improved = True
    while improved and tried < budget:
        improved = False
        unserved = [i for i in best_order if best_plan[i] is None]
        waiting = sorted(
            (
                i
                for i in best_order
                if (got := best_plan[i]) is not None and got.start > requests[i].earliest
            ),
            key=lambda i: (-(_start(best_plan[i]) - requests[i].earliest), i),
        )
        for i in unserved + waiting:
            if tried >= budget:
                break
            order = [i, *(j for j in best_order if j != i)]
            plan = _run(requests, order, candidates, now)
            score = plan_score(requests, plan)
            tried += 1
            if admissible(score) and _better(score, best):
                best_order, best_plan, best = order, plan, score
                improved = True
                break
    return best_plan


def _start(got: Allocation | None) -> datetime:
    assert got is not None  # noqa: S101 - only called on served requests
    return got.start
