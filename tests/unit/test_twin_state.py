"""The live-state machine: properties over random streams of samples, statuses and silence."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as hs

from pilotshare.core.domain import OFFLINE, InstrumentState
from pilotshare.twin.state import Live, Observation, apply_samples, apply_silence, apply_status

T0 = datetime(2026, 1, 5, 8, tzinfo=UTC)
GAP = timedelta(seconds=30)
STATES = list(InstrumentState)

# An event: ("samples", [(offset_s, state)], lag_s) | ("status", online) | ("tick", seconds)
sample_lists = hs.lists(
    hs.tuples(hs.integers(0, 600), hs.sampled_from(STATES)),
    min_size=1,
    max_size=8,
    unique_by=lambda s: s[0],  # two samples of one instrument never share a timestamp
)
events = hs.lists(
    hs.one_of(
        hs.tuples(hs.just("samples"), sample_lists),
        hs.tuples(hs.just("status"), hs.booleans()),
        hs.tuples(hs.just("tick"), hs.integers(1, 120)),
    ),
    max_size=40,
)


def run(stream: list[tuple[str, object]]) -> tuple[Live, list[Live]]:
    live = Live("oven-1", "demo")
    now = T0
    history = [live]
    for kind, arg in stream:
        if kind == "tick":
            now += timedelta(seconds=int(arg))  # type: ignore[call-overload]
            live = apply_silence(live, now=now, offline_after=GAP)
        elif kind == "status":
            live = apply_status(live, online=bool(arg), ts=now, now=now)
        else:
            obs = [
                Observation(now - timedelta(seconds=off), st)
                for off, st in arg  # type: ignore[attr-defined]
            ]
            live = apply_samples(live, obs, batch=1, now=now, offline_after=GAP)
        history.append(live)
    return live, history


@settings(max_examples=300, deadline=None)
@given(events)
def test_invariants_hold_after_any_stream(stream: list[tuple[str, object]]) -> None:
    _, history = run(stream)
    previous_seen: datetime | None = None
    for live in history:
        # last_seen never goes back
        if previous_seen is not None:
            assert live.last_seen is not None
            assert live.last_seen >= previous_seen
        previous_seen = live.last_seen
        # an online instrument with a state has a since
        if live.online and live.state is not None:
            assert live.since is not None
        # the effective state is the reported one when online, offline when not
        if live.online:
            assert live.effective_state == (live.state.value if live.state else None)
        elif live.last_seen is not None or live.state is not None:
            assert live.effective_state == OFFLINE


@settings(max_examples=200, deadline=None)
@given(events, hs.integers(0, 1000))
def test_silence_longer_than_the_gap_is_always_offline(
    stream: list[tuple[str, object]], wait_s: int
) -> None:
    live, _ = run(stream)
    last = live.last_seen or T0
    now = last + GAP + timedelta(seconds=wait_s + 1)
    assert not apply_silence(live, now=now, offline_after=GAP).online


@settings(max_examples=200, deadline=None)
@given(sample_lists)
def test_samples_are_order_insensitive_within_a_batch(samples: list[tuple[int, object]]) -> None:
    obs = [Observation(T0 - timedelta(seconds=o), s) for o, s in samples]  # type: ignore[arg-type]
    live = Live("oven-1", "demo")
    a = apply_samples(live, obs, batch=1, now=T0, offline_after=GAP)
    b = apply_samples(live, list(reversed(obs)), batch=1, now=T0, offline_after=GAP)
    assert a == b


@settings(max_examples=200, deadline=None)
@given(sample_lists)
def test_replaying_a_batch_changes_nothing(samples: list[tuple[int, object]]) -> None:
    obs = [Observation(T0 - timedelta(seconds=o), s) for o, s in samples]  # type: ignore[arg-type]
    once = apply_samples(Live("oven-1", "demo"), obs, batch=3, now=T0, offline_after=GAP)
    twice = apply_samples(once, obs, batch=3, now=T0, offline_after=GAP)
    assert twice == once


def test_state_change_dates_since_at_the_first_sample_of_the_new_state() -> None:
    obs = [
        Observation(T0, InstrumentState.IDLE),
        Observation(T0 + timedelta(seconds=1), InstrumentState.IDLE),
        Observation(T0 + timedelta(seconds=2), InstrumentState.RUNNING, 0.7),
        Observation(T0 + timedelta(seconds=3), InstrumentState.RUNNING),
    ]
    live = apply_samples(
        Live("oven-1", "demo"), obs, batch=1, now=T0 + timedelta(seconds=4), offline_after=GAP
    )
    assert live.online
    assert live.state is InstrumentState.RUNNING
    assert live.since == T0 + timedelta(seconds=2)
    assert live.last_seen == T0 + timedelta(seconds=3)
    assert live.utilization == 0.7


def test_a_replayed_old_backlog_does_not_bring_an_offline_agent_back() -> None:
    old = [Observation(T0, InstrumentState.RUNNING)]
    now = T0 + timedelta(hours=1)
    live = apply_samples(Live("oven-1", "demo"), old, batch=1, now=now, offline_after=GAP)
    assert not live.online
    assert live.effective_state == OFFLINE


def test_the_will_takes_an_instrument_offline_dated_when_it_arrived() -> None:
    live = apply_samples(
        Live("oven-1", "demo"),
        [Observation(T0, InstrumentState.RUNNING)],
        batch=1,
        now=T0,
        offline_after=GAP,
    )
    later = T0 + timedelta(seconds=5)
    gone = apply_status(live, online=False, ts=T0 - timedelta(days=1), now=later)
    assert not gone.online
    assert gone.since == later
    assert gone.as_event()["state"] == OFFLINE


def test_silence_dates_offline_at_last_seen() -> None:
    live = apply_samples(
        Live("oven-1", "demo"),
        [Observation(T0, InstrumentState.IDLE)],
        batch=1,
        now=T0,
        offline_after=GAP,
    )
    assert apply_silence(live, now=T0 + GAP, offline_after=GAP).online
    gone = apply_silence(live, now=T0 + GAP + timedelta(seconds=1), offline_after=GAP)
    assert not gone.online
    assert gone.since == T0


def test_the_first_samples_set_the_state_even_when_the_status_is_dated_later() -> None:
    live = Live("oven-1", "s1")
    later = T0 + timedelta(seconds=2)
    live = apply_status(live, online=True, ts=later, now=later)
    assert live.online
    assert live.state is None
    running = Observation(T0 + timedelta(seconds=1), InstrumentState.RUNNING, 0.7)
    live = apply_samples(live, [running], batch=1, now=later, offline_after=GAP)
    assert live.state is InstrumentState.RUNNING
    assert live.utilization == 0.7
    assert live.effective_state == "running"
    assert live.last_seen == later  # never moved back


def test_the_current_state_is_the_reported_one_only_while_online() -> None:
    heard = apply_samples(
        Live("oven-1", "demo"),
        [Observation(T0, InstrumentState.DOWN)],
        batch=1,
        now=T0,
        offline_after=GAP,
    )
    assert heard.current_state is InstrumentState.DOWN
    silent = apply_silence(heard, now=T0 + GAP + timedelta(seconds=1), offline_after=GAP)
    assert silent.current_state is None
    assert silent.effective_state == OFFLINE
    assert Live("oven-1", "demo").current_state is None


def test_a_status_records_the_reported_interlock_and_a_will_keeps_it() -> None:
    live = apply_status(
        Live("oven-1", "demo"), online=True, ts=T0, now=T0, interlock=("unlocked", 17)
    )
    assert (live.interlock_state, live.interlock_seq) == ("unlocked", 17)
    assert live.as_event()["interlock"] == {"state": "unlocked", "seq": 17}
    # A will, or the status of an agent older than the interlock report, keeps what was known.
    gone = apply_status(live, online=False, ts=T0, now=T0 + GAP)
    assert (gone.interlock_state, gone.interlock_seq) == ("unlocked", 17)
    old = apply_status(Live("oven-1", "demo"), online=True, ts=T0, now=T0)
    assert old.as_event()["interlock"] is None


def test_a_new_interlock_report_is_a_change_to_notify() -> None:
    """The booking lifecycle stops re-sending a command when it hears the report."""
    live = apply_status(Live("oven-1", "demo"), online=True, ts=T0, now=T0)
    reported = apply_status(live, online=True, ts=T0, now=T0, interlock=("locked", 18))
    assert reported.change_key() != live.change_key()
    again = apply_status(reported, online=True, ts=T0, now=T0, interlock=("locked", 18))
    assert again.change_key() == reported.change_key()
