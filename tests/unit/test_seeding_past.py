"""The demo's simulated past (``seeding.past``, pure): seeded and deterministic, bookings of
every outcome inside opening hours and never overlapping, and samples dense enough that the
twin reads no silence into them: never further apart than the coarse gap, and from the
interval in progress a day back never further apart than the live one."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pilotshare.core.domain import BookingStatus
from pilotshare.seeding import DEMO_INSTRUMENTS, past_instruments, simulate
from pilotshare.seeding.past import COARSE, FINE, GRACE, LOOKBACK

NOW = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)
WEEK = timedelta(weeks=1)


def test_the_same_seed_gives_the_same_past() -> None:
    a = simulate(past_instruments(), start=NOW - WEEK, now=NOW, rng=np.random.default_rng(5))
    b = simulate(past_instruments(), start=NOW - WEEK, now=NOW, rng=np.random.default_rng(5))
    c = simulate(past_instruments(), start=NOW - WEEK, now=NOW, rng=np.random.default_rng(6))
    assert [p.bookings for p in a] == [p.bookings for p in b]
    assert a[0].samples() == b[0].samples()
    assert [p.bookings for p in a] != [p.bookings for p in c]


def test_eight_weeks_hold_every_outcome_mostly_served() -> None:
    past = simulate(
        past_instruments(), start=NOW - 8 * WEEK, now=NOW, rng=np.random.default_rng(13)
    )
    bookings = [b for p in past for b in p.bookings]
    count = {s: sum(b.status is s for b in bookings) for s in BookingStatus}
    assert count[BookingStatus.COMPLETED] > len(bookings) / 2
    for status in ("no_show", "cancelled", "released"):
        assert 0 < count[BookingStatus(status)] < len(bookings) / 4, count
    assert any("overrun" in b.flags for b in bookings)
    assert {p.instrument for p in past} == {s.id for s in DEMO_INSTRUMENTS}


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), days=st.integers(2, 4))
def test_bookings_and_samples_are_consistent(seed: int, days: int) -> None:
    start = NOW - timedelta(days=days)
    specs = {s.id: s for s in past_instruments()}
    for past in simulate(
        list(specs.values()), start=start, now=NOW, rng=np.random.default_rng(seed)
    ):
        spec = specs[past.instrument]
        slots = sorted((b.start, b.end) for b in past.bookings)
        assert all(a[1] <= b[0] for a, b in itertools.pairwise(slots))
        for b in past.bookings:
            assert start <= b.start < b.end <= NOW
            assert b.org in spec.clients
            assert b.created_at < b.start
            assert b.start.timestamp() % 600 == 0  # on a whole ten minutes
            if spec.operating_hours is not None:  # inside the site's opening hours
                local = b.start.astimezone(ZoneInfo(spec.timezone))
                assert local.weekday() < 5
                assert f"{local:%H:%M}" >= "08:00"
                assert b.end.astimezone(local.tzinfo) <= (local.replace(hour=20, minute=0))
            if b.status is BookingStatus.COMPLETED:
                assert b.activated_at is not None
                assert b.activated_at < b.start + GRACE
                assert b.running_s is not None
                assert b.running_s > 0
            if b.status is BookingStatus.NO_SHOW:
                assert b.ended_at == b.start + GRACE
        samples = past.samples()
        times = [s.ts for s in samples]
        assert times == sorted(set(times))
        assert times[0] == start
        assert times[-1] < NOW
        gaps = [(b - a, b) for a, b in itertools.pairwise(times)]
        assert all(gap <= COARSE for gap, _ in gaps)
        assert all(gap <= FINE for gap, at in gaps if at > past.dense)
        assert past.dense <= NOW - LOOKBACK
