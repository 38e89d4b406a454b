"""The allocator: earliest finish, then likely up, then least fragment; batch beats greedy."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from pilotshare.scheduler.allocation import (
    Allocation,
    Candidate,
    Request,
    allocate,
    allocate_batch,
    allocate_greedy,
    plan_score,
    take,
)
from pilotshare.scheduler.policy import BookingRules, OperatingCalendar, check_slot, free_intervals
from tests.support.demand import weekly_demand

MON = datetime(2026, 1, 5, tzinfo=UTC)
H = timedelta(hours=1)
WEEK = (MON, MON + timedelta(days=7))


def cand(
    name: str,
    free: list[tuple[int, int]],
    *,
    kind: str = "sem",
    caps: frozenset[str] = frozenset(),
    p_up: float = 1.0,
    setup_buffer: timedelta = timedelta(0),
) -> Candidate:
    spans = tuple((MON + a * H, MON + b * H) for a, b in free)
    return Candidate(name, kind, caps, spans, p_up=p_up, setup_buffer=setup_buffer)


def req(duration_h: float, earliest_h: float = 0, latest_h: float = 168, **kw: object) -> Request:
    return Request(
        id=str(kw.pop("id", "r")),
        kind=kw.pop("kind", "sem"),  # type: ignore[arg-type]
        duration=timedelta(hours=duration_h),
        earliest=MON + timedelta(hours=earliest_h),
        latest=MON + timedelta(hours=latest_h),
        **kw,  # type: ignore[arg-type]
    )


def test_earliest_finish_wins() -> None:
    got = allocate(req(2), [cand("a", [(10, 20)]), cand("b", [(5, 20)])], MON)
    assert got is not None
    assert (got.instrument, got.start, got.end) == ("b", MON + 5 * H, MON + 7 * H)


def test_then_the_instrument_most_likely_to_be_up() -> None:
    got = allocate(req(2), [cand("a", [(5, 20)], p_up=0.9), cand("b", [(5, 20)], p_up=0.97)], MON)
    assert got is not None
    assert got.instrument == "b"


def test_then_the_least_unusable_fragment() -> None:
    # On "a" the slot leaves a 30-minute piece nobody can book (minimum 1 h); on "b" none.
    a = Candidate("a", "sem", frozenset(), ((MON, MON + 2.5 * H),), min_length=H)
    b = Candidate("b", "sem", frozenset(), ((MON, MON + 5 * H),), min_length=H)
    got = allocate(req(2), [a, b], MON)
    assert got is not None
    assert got.instrument == "b"
    assert allocate(req(2), [a], MON) == Allocation("r", "a", MON, MON + 2 * H, 1.0, H / 2)


def test_kind_capabilities_window_and_now_are_respected() -> None:
    cands = [cand("x", [(0, 100)], kind="xrd"), cand("s", [(0, 100)], caps=frozenset({"eds"}))]
    assert allocate(req(1, kind="tem"), cands, MON) is None
    got = allocate(req(1, capabilities=frozenset({"eds"})), cands, MON + 3 * H)
    assert got is not None
    assert (got.instrument, got.start) == ("s", MON + 3 * H)
    assert allocate(req(5, earliest_h=0, latest_h=4), cands, MON) is None


def test_take_removes_the_slot_and_its_buffers() -> None:
    c = cand("a", [(0, 10)], setup_buffer=H / 2)
    after = take(c, MON + 4 * H, MON + 5 * H)
    assert after.free == ((MON, MON + 3.5 * H), (MON + 5.5 * H, MON + 10 * H))


# --- properties on generated instruments and requests ------------------------------------


@dataclass(frozen=True)
class World:
    rules: dict[str, BookingRules]
    closures: dict[str, list[tuple[datetime, datetime]]]
    booked: dict[str, list[tuple[datetime, datetime]]]
    candidates: list[Candidate]
    requests: list[Request]
    now: datetime


HOURS = [
    None,
    {d: [["08:00", "18:00"]] for d in ("mon", "tue", "wed", "thu", "fri")},
    {"mon": [["22:00", "06:00"]], "wed": [["00:00", "24:00"]], "sat": [["10:00", "14:00"]]},
]


@st.composite
def worlds(draw: st.DrawFn) -> World:
    n = draw(st.integers(1, 5))
    quarter = st.integers(0, 7 * 24 * 4).map(lambda q: MON + timedelta(minutes=15 * q))
    rules, closures, booked, candidates = {}, {}, {}, []
    now = MON + timedelta(hours=draw(st.integers(0, 48)))
    for i in range(n):
        name = f"i{i}"
        r = BookingRules(
            calendar=OperatingCalendar.parse(draw(st.sampled_from(HOURS)), "Europe/Paris"),
            setup_buffer=timedelta(minutes=draw(st.sampled_from([0, 15, 30, 60]))),
            min_length=timedelta(minutes=30),
            max_length=timedelta(hours=12),
        )
        cl = [
            (a, a + timedelta(hours=draw(st.integers(1, 8))))
            for a in draw(st.lists(quarter, max_size=3))
        ]
        bk = [
            (a, a + timedelta(hours=draw(st.integers(1, 6))))
            for a in draw(st.lists(quarter, max_size=4))
        ]
        rules[name], closures[name], booked[name] = r, cl, bk
        free = free_intervals(r, window=WEEK, now=now, bookings=bk, closures=cl)
        candidates.append(
            Candidate(
                name,
                draw(st.sampled_from(["a", "b"])),
                frozenset(),
                free,
                p_up=draw(st.sampled_from([0.9, 0.95, 0.99])),
                setup_buffer=r.setup_buffer,
                min_length=r.min_length,
                max_length=r.max_length,
            )
        )
    requests = []
    for j in range(draw(st.integers(1, 25))):
        earliest = draw(quarter)
        duration = timedelta(minutes=30 * draw(st.integers(1, 16)))
        latest = earliest + duration + timedelta(hours=draw(st.integers(0, 72)))
        requests.append(
            Request(f"r{j}", draw(st.sampled_from(["a", "b", None])), duration, earliest, latest)
        )
    return World(rules, closures, booked, candidates, requests, now)


def assert_legal(world: World, plan: list[Allocation | None]) -> None:
    """No overlap (with buffers), never closed, never in maintenance, within each window."""
    held = {name: list(spans) for name, spans in world.booked.items()}
    for request, got in zip(world.requests, plan, strict=True):
        if got is None:
            continue
        rules = world.rules[got.instrument]
        assert got.end - got.start == request.duration
        assert request.earliest <= got.start
        assert got.end <= request.latest
        assert got.start >= world.now
        check_slot(rules, got.start, got.end, now=world.now)  # operating hours, length, notice
        for a, b in world.closures[got.instrument]:
            assert got.end <= a or b <= got.start, "inside maintenance"
        buf = rules.setup_buffer
        for a, b in held[got.instrument]:
            assert got.end + buf <= a or b + buf <= got.start, "overlaps a booking or its buffer"
        held[got.instrument].append((got.start, got.end))


@settings(max_examples=150, deadline=None)
@given(worlds())
def test_plans_never_overlap_never_closed_never_in_maintenance(world: World) -> None:
    for plan in (
        allocate_greedy(world.requests, world.candidates, world.now),
        allocate_batch(world.requests, world.candidates, world.now, budget=60),
    ):
        assert_legal(world, plan)
    single = [allocate(r, world.candidates, world.now) for r in world.requests]
    for request, got in zip(world.requests, single, strict=True):
        if got is not None:
            assert_legal(
                World(
                    world.rules,
                    world.closures,
                    world.booked,
                    world.candidates,
                    [request],
                    world.now,
                ),
                [got],
            )


@settings(max_examples=100, deadline=None)
@given(worlds(), st.randoms(use_true_random=False))
def test_deterministic_whatever_the_order_of_candidates(world: World, rnd: object) -> None:
    shuffled = list(world.candidates)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    for r in world.requests:
        assert allocate(r, world.candidates, world.now) == allocate(r, shuffled, world.now)
    first = allocate_batch(world.requests, world.candidates, world.now, budget=60)
    assert first == allocate_batch(world.requests, world.candidates, world.now, budget=60)


@settings(max_examples=100, deadline=None)
@given(worlds())
def test_batch_is_never_worse_than_greedy(world: World) -> None:
    greedy = plan_score(
        world.requests, allocate_greedy(world.requests, world.candidates, world.now)
    )
    batch = plan_score(
        world.requests, allocate_batch(world.requests, world.candidates, world.now, budget=60)
    )
    assert batch[0] >= greedy[0]
    assert batch[1] <= greedy[1]


def test_batch_beats_greedy_on_generated_demand() -> None:
    served = {"greedy": 0, "batch": 0}
    waited = {"greedy": timedelta(0), "batch": timedelta(0)}
    for seed in range(6):
        demand = weekly_demand(np.random.default_rng(seed), start=MON, requests=100)
        for name, fn in (("greedy", allocate_greedy), ("batch", allocate_batch)):
            s, w = plan_score(demand.requests, fn(demand.requests, demand.candidates, MON))
            served[name] += s
            waited[name] += w
    assert served["batch"] > served["greedy"]
    assert waited["batch"] < waited["greedy"]


def test_a_slot_one_minute_too_long_for_every_gap_is_refused() -> None:
    gap = Candidate("a", "sem", frozenset(), ((MON, MON + 2 * H - timedelta(minutes=1)),))
    assert allocate(req(2), [gap], MON) is None
    assert allocate_greedy([req(2)], [gap], MON) == [None]


@settings(max_examples=150, deadline=None)
@given(worlds())
def test_allocate_finds_the_earliest_finish_there_is(world: World) -> None:
    """Brute force on a 15-minute grid: no feasible slot finishes before the chosen one."""
    step = timedelta(minutes=15)
    for request in world.requests[:5]:
        got = allocate(request, world.candidates, world.now)
        best = None
        for c in world.candidates:
            if request.kind not in (None, c.kind) or not c.min_length <= request.duration:
                continue
            if c.max_length is not None and request.duration > c.max_length:
                continue
            for a, b in c.free:
                t = max(a, request.earliest, world.now)
                t = a + -((a - t) // step) * step if t > a else a  # the grid from a
                while t + request.duration <= min(b, request.latest):
                    if t >= request.earliest and t >= world.now:
                        end = t + request.duration
                        best = end if best is None or end < best else best
                        break
                    t += step
        if best is None:
            assert got is None
        else:
            assert got is not None
            assert got.end <= best
