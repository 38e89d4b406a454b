"""The outbox protocol as a specification: short cases, then properties over random histories."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pilotshare.edge_agent.protocol import (
    Discard,
    Drop,
    FailureStreak,
    Forget,
    Limits,
    OutboxProtocol,
    Seal,
    Send,
    backoff_delay,
)

LIMITS = Limits(
    batch_max_samples=3, batch_max_age_s=5.0, ack_timeout_s=10.0, max_samples=9, max_inflight=2
)


def test_a_batch_is_sealed_by_count() -> None:
    p = OutboxProtocol(LIMITS, next_batch=100, now=0)
    assert p.sample(0) == []
    assert p.sample(1) == []
    assert p.sample(2) == [Seal(100, 3)]
    assert p.next_batch == 101
    assert p.unacked == (100,)


def test_a_batch_is_sealed_by_age() -> None:
    p = OutboxProtocol(LIMITS, next_batch=1, now=0)
    p.sample(10)
    assert p.tick(14.9, connected=False) == []
    assert p.tick(15, connected=False) == [Seal(1, 1)]


def test_sends_wait_for_a_connection_and_respect_the_window() -> None:
    p = OutboxProtocol(LIMITS, next_batch=1, now=0)
    for t in range(9):
        p.sample(t)
    assert p.tick(9, connected=False) == []
    assert p.tick(9, connected=True) == [Send(1, resend=False), Send(2, resend=False)]
    assert p.tick(9.5, connected=True) == []  # window full
    assert p.ack([1]) == [Forget((1,))]
    assert p.tick(10, connected=True) == [Send(3, resend=False)]


def test_unacked_batches_are_resent_after_the_timeout_or_a_disconnect() -> None:
    p = OutboxProtocol(LIMITS, next_batch=1, now=0)
    for t in range(3):
        p.sample(t)
    assert p.tick(3, connected=True) == [Send(1, resend=False)]
    assert p.tick(12.9, connected=True) == []
    assert p.tick(13, connected=True) == [Send(1, resend=True)]
    p.disconnected()
    assert p.tick(14, connected=True) == [Send(1, resend=True)]


def test_acks_of_unknown_batches_are_ignored() -> None:
    p = OutboxProtocol(LIMITS, next_batch=1, now=0)
    assert p.ack([5, 6]) == []


def test_a_rejected_batch_is_discarded_and_never_resent() -> None:
    """CONTRACT §6: a batch the backend can never store leaves the outbox for good."""
    p = OutboxProtocol(LIMITS, next_batch=1, now=0)
    for t in range(6):
        p.sample(t)
    assert p.tick(6, connected=True) == [Send(1, resend=False), Send(2, resend=False)]
    assert p.reject([1, 7]) == [Discard((1,))]
    assert p.reject([1]) == []  # a repeated rejection of a batch already gone
    assert p.unacked == (2,)
    assert p.tick(100, connected=True) == [Send(2, resend=True)]  # only the other
    assert p.depth == 3


def test_a_failing_adapter_backs_off_from_the_interval_to_the_cap() -> None:
    streak = FailureStreak(interval=1.0, cap=30.0)
    delays = [streak.failed("exit 3")[0] for _ in range(8)]
    assert delays == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]
    streak.succeeded()
    assert streak.failed("exit 3")[0] == 1.0  # a new streak starts at the interval again
    slow = FailureStreak(interval=60.0, cap=30.0)
    assert [slow.failed("x")[0] for _ in range(3)] == [60.0, 60.0, 60.0]  # never faster


def test_a_failing_adapter_is_logged_once_per_change_of_condition() -> None:
    """A line when failing starts, when its reason changes and when it recovers."""
    streak = FailureStreak(interval=0.5, cap=30.0)
    assert streak.succeeded() is None
    lines = [streak.failed("'probe' exited with 3: no device")[1] for _ in range(1000)]
    said = [line for line in lines if line is not None]
    assert len(said) == 1
    assert said[0].startswith("adapter failing: 'probe' exited with 3: no device")
    changed = streak.failed("'probe' ran over 10 s")[1]
    assert changed == "adapter still failing, now: 'probe' ran over 10 s (1001 failures so far)"
    assert streak.failed("'probe' ran over 10 s")[1] is None
    assert streak.succeeded() == "adapter recovered after 1002 failures"
    assert streak.succeeded() is None
    assert streak.failures == 0


def test_over_the_bound_the_oldest_batches_are_dropped() -> None:
    p = OutboxProtocol(LIMITS, next_batch=1, now=0)
    effects = [e for t in range(12) for e in p.sample(t)]
    assert Drop((1,), 3) in effects
    assert p.depth <= LIMITS.max_samples
    assert p.unacked == (2, 3, 4)


def test_restart_resumes_the_counter_and_resends_everything() -> None:
    p = OutboxProtocol(LIMITS, next_batch=8, now=0, pending=2, batches=[(5, 3), (7, 3)])
    assert p.depth == 8
    assert p.tick(0, connected=True) == [Send(5, resend=False), Send(7, resend=False)]
    assert p.sample(1) == [Seal(8, 3)]
    with pytest.raises(ValueError, match="counter"):
        OutboxProtocol(LIMITS, next_batch=5, now=0, batches=[(5, 1)])


def test_backoff_grows_to_the_cap_with_jitter() -> None:
    rng = random.Random(1)
    delays = [backoff_delay(n, rng, base=0.5, cap=30) for n in range(12)]
    assert all(0.25 <= d <= 30 for d in delays)
    assert delays[0] <= 0.5
    assert min(delays[8:]) >= 15
    assert len({round(d, 6) for d in delays[8:]}) > 1


events = st.lists(
    st.one_of(
        st.tuples(st.just("sample"), st.floats(0, 3), st.integers(0, 120)),
        st.tuples(st.just("tick"), st.floats(0, 20), st.booleans()),
        st.tuples(st.just("ack"), st.floats(0, 1)),
        st.tuples(st.just("disconnect")),
    ),
    max_size=200,
)


@settings(max_examples=300, deadline=None)
@given(events, st.integers(1, 6), st.integers(1, 4), st.integers(0, 3))
def test_nothing_is_lost_and_numbers_only_grow(
    history: list[tuple[object, ...]], batch: int, inflight: int, extra: int
) -> None:
    limits = Limits(
        batch_max_samples=batch,
        batch_max_age_s=2.0,
        ack_timeout_s=5.0,
        max_samples=batch * (2 + extra),
        max_inflight=inflight,
        max_batch_bytes=250,
    )
    p = OutboxProtocol(limits, next_batch=1000, now=0)
    pending_sizes: list[int] = []
    now = 0.0
    taken = acked = dropped = 0
    sealed: dict[int, int] = {}
    in_flight: set[int] = set()
    connected = False
    last_seal = 999
    for event in history:
        effects = []
        if event[0] == "sample":
            now += float(event[1])  # type: ignore[arg-type]
            taken += 1
            size = int(event[2])  # type: ignore[call-overload]
            pending_sizes.append(size)
            effects = p.sample(now, size)
        elif event[0] == "tick":
            now += float(event[1])  # type: ignore[arg-type]
            connected = bool(event[2])
            effects = p.tick(now, connected=connected)
        elif event[0] == "ack":
            chosen = sorted(in_flight)[: max(1, int(len(in_flight) * float(event[1])))]  # type: ignore[arg-type]
            effects = p.ack([*chosen, 1])  # 1 was never a batch: ignored
        else:
            p.disconnected()
            in_flight.clear()
        for e in effects:
            if isinstance(e, Seal):
                assert e.number == last_seal + 1  # strictly increasing, no gaps
                last_seal = e.number
                assert 1 <= e.samples <= batch
                sealed[e.number] = e.samples
                in_batch, pending_sizes = pending_sizes[: e.samples], pending_sizes[e.samples :]
                # never too large for the backend (a lone sample is always let through)
                assert len(in_batch) == 1 or sum(x + 1 for x in in_batch) <= 250
            elif isinstance(e, Send):
                assert connected
                assert event[0] == "tick"
                assert e.number in sealed
                in_flight.add(e.number)
            elif isinstance(e, Forget):
                for n in e.numbers:
                    acked += sealed.pop(n)
                    in_flight.discard(n)
            elif isinstance(e, Drop):
                assert e.numbers == tuple(sorted(sealed))[: len(e.numbers)]  # oldest first
                assert e.samples == sum(sealed[n] for n in e.numbers)
                for n in e.numbers:
                    dropped += sealed.pop(n)
                    in_flight.discard(n)
        # conservation: every sample is pending, held in a batch, acked or counted as dropped
        assert taken == p.pending + sum(sealed.values()) + acked + dropped
        assert p.depth <= limits.max_samples
        assert p.in_flight <= limits.max_inflight
        assert tuple(sorted(sealed)) == p.unacked
        deadline = p.deadline(connected=connected)
        if deadline is not None and deadline > now:
            assert not [e for e in p.tick(now, connected=connected) if not isinstance(e, Seal)]
