"""The desk hands the scheduler's ``allocate`` a pruned candidate list: the decision must be
the one ``allocate`` makes on every instrument's full free time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from pilotshare.scheduler.allocation import Candidate, Request, allocate
from pilotshare.scheduler.forecast.desk import SchedulerDesk, SchedulerDeskFactory, us
from pilotshare.twin.model import BookingSpec, InstrumentSpec, SiteSpec, SlotRequest

H = 3600.0
ORIGIN = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
_US = timedelta(microseconds=1)


def _at_us(micros: int) -> datetime:
    """The desk's time (microseconds from the origin) as the API's datetime."""
    return ORIGIN + micros * _US


def _at(seconds: float) -> datetime:
    """A model time as the datetime the desk works on (``desk.us``)."""
    return _at_us(us(seconds))


def _full(desk: SchedulerDesk, kind: str, now: datetime) -> list[Candidate]:
    """Every instrument's whole free time, cut at ``now`` as ``policy.free_intervals`` does."""
    out = []
    for n in desk.by_kind[kind]:
        f = desk.free[n]
        spec = desk.instruments[n]
        cut = now + timedelta(seconds=spec.min_notice_s)
        free = [(_at_us(a), _at_us(b)) for a, b in zip(f.starts, f.ends, strict=True)]
        spans = [(max(a, cut), b) for a, b in free if b > cut]
        out.append(
            Candidate(
                spec.id,
                spec.kind,
                spec.capabilities,
                tuple(spans),
                spec.p_up,
                timedelta(seconds=spec.setup_buffer_s),
                timedelta(seconds=spec.min_booking_s),
                None if spec.max_booking_s is None else timedelta(seconds=spec.max_booking_s),
            )
        )
    return out


OFFICE = tuple((d * 24 * H + 2 * H, d * 24 * H + 12 * H) for d in range(60))


def _spec(n: int, *, office: bool, **rules: float) -> InstrumentSpec:
    """Instrument ``i{n}`` of kind ``k``, open ten hours a day or always, with ``rules``."""
    return InstrumentSpec(f"i{n}", "k", calendar=OFFICE if office else None, **rules)


instrument = st.tuples(
    st.sampled_from([0.0, 900.0, 1800.0]),  # setup buffer
    st.sampled_from([0.9, 0.95, 0.99]),  # p_up
    st.sampled_from([0.0, 7200.0]),  # minimum notice
    st.booleans(),  # office hours or always open
    st.lists(st.tuples(st.integers(0, 200), st.integers(1, 12)), max_size=6),  # bookings (h)
)
request = st.tuples(
    st.integers(0, 150),  # arrival hour
    st.integers(1, 16),  # duration (h)
    st.integers(0, 48),  # lead (h)
    st.integers(0, 120),  # slack (h)
)


@settings(max_examples=200, deadline=None)
@given(st.lists(instrument, min_size=1, max_size=5), st.lists(request, min_size=1, max_size=25))
def test_pruned_desk_decides_as_allocate_on_all_candidates(
    instruments: list[tuple[float, float, float, bool, list[tuple[int, int]]]],
    requests: list[tuple[int, int, int, int]],
) -> None:
    specs, held = [], []
    for n, (buf, p_up, notice, hours, bookings) in enumerate(instruments):
        specs.append(_spec(n, office=hours, setup_buffer_s=buf, p_up=p_up, min_notice_s=notice))
        end = -1.0
        for start_h, length_h in sorted(bookings):
            start = max(start_h * H, end + 2 * buf + H)
            held.append(BookingSpec(f"b{n}-{start_h}", f"i{n}", start, start + length_h * H))
            end = start + length_h * H
    site = SiteSpec(
        origin=ORIGIN, horizon_s=30 * 24 * H, instruments=tuple(specs), bookings=tuple(held)
    )
    desk = SchedulerDeskFactory()(site)
    for rid, (at_h, dur_h, lead_h, slack_h) in enumerate(sorted(requests)):
        now = at_h * H
        earliest = now + lead_h * H
        latest = earliest + (dur_h + slack_h) * H
        expected = allocate(
            Request(
                str(rid),
                "k",
                timedelta(hours=dur_h),
                ORIGIN + timedelta(seconds=earliest),
                ORIGIN + timedelta(seconds=latest),
            ),
            _full(desk, "k", ORIGIN + timedelta(seconds=now)),
            ORIGIN + timedelta(seconds=now),
        )
        got = desk.place(SlotRequest(rid, "k", dur_h * H, earliest, latest, frozenset()), now, {})
        if expected is None:
            assert got is None
            continue
        assert got is not None
        assert specs[got.instrument].id == expected.instrument
        assert ORIGIN + timedelta(seconds=got.start) == expected.start
        assert ORIGIN + timedelta(seconds=got.end) == expected.end


fine_instrument = st.tuples(
    st.sampled_from([0.0, 600.0, 900.0]),  # setup buffer
    st.sampled_from([0.95, 0.99]),  # p_up: ties are frequent
    st.sampled_from([0.0, 1800.0, 3600.0, 7200.0]),  # minimum booking: fragments matter
    st.booleans(),  # office hours or always open
)
fine_request = st.tuples(
    st.floats(0, 100 * H, allow_nan=False),  # arrival (s): any float, as the model draws
    st.floats(0.25 * H, 8 * H, allow_nan=False),  # duration (s)
    st.floats(0, 24 * H, allow_nan=False),  # lead (s)
    st.floats(0, 48 * H, allow_nan=False),  # slack (s)
    st.lists(st.integers(0, 4), max_size=2),  # instruments down now
    st.floats(0, 6 * H, allow_nan=False),  # how long they stay down
)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(fine_instrument, min_size=2, max_size=5),
    st.lists(fine_request, min_size=1, max_size=30),
)
def test_the_desk_decides_as_allocate_to_the_microsecond(
    instruments: list[tuple[float, float, float, bool]],
    requests: list[tuple[float, float, float, float, list[int], float]],
) -> None:
    """Times of any float value (the model's draws), minimum bookings that make fragments
    count, equal reliabilities and down instruments: the desk's decision and slot are
    ``allocate``'s on the datetimes the API would hold, after every earlier booking."""
    specs = tuple(
        _spec(n, office=hours, setup_buffer_s=buf, p_up=p_up, min_booking_s=least)
        for n, (buf, p_up, least, hours) in enumerate(instruments)
    )
    site = SiteSpec(origin=ORIGIN, horizon_s=30 * 24 * H, instruments=specs)
    desk = SchedulerDeskFactory()(site)
    index = {spec.id: n for n, spec in enumerate(specs)}
    for rid, (now, dur, lead, slack, down, repair) in enumerate(sorted(requests)):
        not_before = {n: now + repair for n in down if n < len(specs)}
        earliest = now + lead
        latest = earliest + dur + slack
        at = _at(now)
        cands = [
            c
            if (n := index[c.instrument]) not in not_before
            else Candidate(
                c.instrument,
                c.kind,
                c.capabilities,
                tuple((max(a, cut), b) for a, b in c.free if b > (cut := _at(not_before[n]))),
                c.p_up,
                c.setup_buffer,
                c.min_length,
                c.max_length,
            )
            for c in _full(desk, "k", at)
        ]
        expected = allocate(
            Request(
                str(rid),
                "k",
                us(dur) * _US,
                _at(earliest),
                _at(latest),
            ),
            cands,
            at,
        )
        got = desk.place(SlotRequest(rid, "k", dur, earliest, latest, frozenset()), now, not_before)
        if expected is None:
            assert got is None
            continue
        assert got is not None
        assert specs[got.instrument].id == expected.instrument
        assert _at(got.start) == expected.start
        assert _at(got.end) == expected.end


def test_a_booked_slot_and_its_buffers_are_no_longer_free() -> None:
    site = SiteSpec(
        origin=ORIGIN,
        horizon_s=10 * 24 * H,
        instruments=(InstrumentSpec("a", "k", setup_buffer_s=1800.0),),
    )
    desk = SchedulerDeskFactory()(site)
    first = desk.place(SlotRequest(1, "k", 2 * H, 0.0, 10 * H, frozenset()), 0.0, {})
    second = desk.place(SlotRequest(2, "k", 2 * H, 0.0, 10 * H, frozenset()), 0.0, {})
    assert first is not None
    assert second is not None
    assert (first.start, first.end) == (0.0, 2 * H)
    assert second.start == first.end + 1800.0  # the changeover after the first booking
    third = desk.place(SlotRequest(3, "k", 7 * H, 0.0, 10 * H, frozenset()), 0.0, {})
    assert third is None  # nothing of 7 h is left before the 10 h limit


def test_a_down_instrument_is_offered_only_from_its_not_before_time() -> None:
    site = SiteSpec(
        origin=ORIGIN,
        horizon_s=10 * 24 * H,
        instruments=(InstrumentSpec("a", "k"), InstrumentSpec("b", "k", p_up=0.5)),
    )
    desk = SchedulerDeskFactory()(site)
    got = desk.place(SlotRequest(1, "k", H, 0.0, 48 * H, frozenset()), 0.0, {0: 5 * H})
    assert got is not None
    assert (got.instrument, got.start) == (1, 0.0)  # b, although less reliable, is free now
    again = desk.place(SlotRequest(2, "k", H, 0.0, 48 * H, frozenset()), 0.0, {0: 5 * H, 1: 9 * H})
    assert again is not None
    assert (again.instrument, again.start) == (0, 5 * H)


def test_an_admin_organisation_may_book_an_instrument_that_requires_a_qualification() -> None:
    gated = InstrumentSpec("sem-1", "sem", qualified=frozenset({"acme"}))
    site = SiteSpec(
        ORIGIN, 48 * H, (gated, InstrumentSpec("sem-2", "sem")), admins=frozenset({"platform"})
    )
    desk = SchedulerDeskFactory()(site)
    assert desk.members("sem", "acme") == [0, 1]
    assert desk.members("sem", "globex") == [1]
    assert desk.members("sem", "platform") == [0, 1]  # an admin books anything, as the API
    got = desk.place(
        SlotRequest(1, "sem", 2 * H, 0.0, 4 * H, frozenset(), "platform"), 0.0, {}, among=(0,)
    )
    assert got is not None
    assert got.instrument == 0
