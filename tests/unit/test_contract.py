"""The wire contract (CONTRACT §2): round trips and every validation rule with its reason."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pilotshare.core.contract import (
    MAX_PAYLOAD_BYTES,
    Ack,
    Channel,
    Command,
    Interlock,
    Sample,
    Status,
    TelemetryBatch,
    Topic,
    decode_ack,
    decode_command,
    decode_status,
    decode_telemetry,
    encode,
    parse_topic,
)
from pilotshare.core.contract.payloads import REASONS
from pilotshare.core.domain import InstrumentState
from pilotshare.core.errors import BadInput

NOW = datetime(2026, 11, 28, 1, 0, tzinfo=UTC)

slugs = st.from_regex(r"\A[a-z0-9][a-z0-9_-]{0,63}\Z")
metric_names = st.from_regex(r"\A[a-z][a-z0-9_]{0,63}\Z")
offsets = st.integers(-14 * 60, 14 * 60).map(lambda m: timezone(timedelta(minutes=m)))
timestamps = st.builds(
    lambda micro, tz: (NOW - timedelta(microseconds=micro)).astimezone(tz),
    st.integers(0, 10**13),
    offsets,
)
finite = st.floats(allow_nan=False, allow_infinity=False, width=64)
samples = st.builds(
    Sample,
    ts=timestamps,
    state=st.sampled_from(list(InstrumentState)),
    utilization=st.none() | st.floats(0, 1),
    metrics=st.dictionaries(metric_names, finite, max_size=64),
)
batches = st.builds(
    TelemetryBatch,
    agent=st.text(min_size=1, max_size=128),
    batch=st.integers(0, 2**63 - 1),
    samples=st.lists(samples, min_size=1, max_size=20).map(tuple),
)


@given(batches)
def test_telemetry_round_trip(batch: TelemetryBatch) -> None:
    assert decode_telemetry(encode(batch), NOW) == batch


@given(
    st.builds(
        Status,
        online=st.booleans(),
        agent=st.text(min_size=1, max_size=128),
        agent_version=st.text(max_size=20),
        ts=timestamps,
        interlock=st.just(msgspec.UNSET)
        | st.builds(
            Interlock,
            state=st.sampled_from(["unlocked", "locked", "unsupported"]),
            seq=st.none() | st.integers(0, 2**63 - 1),
        ),
    )
)
def test_status_round_trip(status: Status) -> None:
    assert decode_status(encode(status)) == status


@given(st.lists(st.integers(0, 2**63 - 1), max_size=50).map(tuple))
def test_ack_round_trip(numbers: tuple[int, ...]) -> None:
    assert decode_ack(encode(Ack(batches=numbers))) == Ack(batches=numbers)


@given(
    st.sampled_from(["unlock", "lock"]),
    st.none() | st.text(max_size=40),
    st.none() | timestamps,
    st.none() | st.integers(0, 2**63 - 1),
)
def test_command_round_trip(
    cmd: str, booking: str | None, until: datetime | None, seq: int | None
) -> None:
    command = Command(cmd=cmd, booking=booking, until=until, seq=seq)  # type: ignore[arg-type]
    assert decode_command(encode(command)) == command


def test_a_status_without_interlock_encodes_as_before() -> None:
    status = Status(online=True, agent="a", agent_version="1", ts=NOW)
    assert b"interlock" not in encode(status)
    assert encode(status).startswith(b'{"v":1,')


@pytest.mark.parametrize(
    "raw",
    [
        b'{"v":1,"cmd":"unlock","booking":null,"until":null,"seq":-1}',
        b'{"v":1,"cmd":"open","booking":null,"until":null,"seq":1}',
        b'{"v":1,"cmd":"lock","seq":"7"}',
    ],
)
def test_bad_commands_are_refused(raw: bytes) -> None:
    with pytest.raises(BadInput):
        decode_command(raw)


def test_a_bad_interlock_report_is_refused_with_bad_field() -> None:
    raw = (
        b'{"v":1,"online":true,"agent":"a","agent_version":"1","ts":"2026-11-28T01:00:00Z",'
        b'"interlock":{"state":"open","seq":1}}'
    )
    with pytest.raises(BadInput) as caught:
        decode_status(raw)
    assert caught.value.reason == "bad_field"


@given(slugs, slugs, st.sampled_from(list(Channel)))
def test_topic_round_trip(site: str, instrument: str, channel: Channel) -> None:
    topic = Topic(site, instrument, channel)
    assert parse_topic(str(topic)) == topic


def test_the_contract_example_decodes() -> None:
    raw = (
        b'{"v": 1, "agent": "oven-3-agent", "batch": 1042, "samples": [{"ts": '
        b'"2026-11-28T01:00:00.000Z", "state": "running", "utilization": 0.83, "metrics": '
        b'{"power_w": 1520.5, "chamber_c": 241.0}}]}'
    )
    batch = decode_telemetry(raw, NOW)
    assert batch.batch == 1042
    assert batch.samples[0].ts == NOW
    assert batch.samples[0].metrics == {"power_w": 1520.5, "chamber_c": 241.0}
    assert encode(Ack(batches=(1041, 1042))) == b'{"v":1,"batches":[1041,1042]}'


def _with(**sample: object) -> bytes:
    base: dict[str, object] = {"ts": "2026-11-28T00:59:00Z", "state": "idle"}
    base.update(sample)
    return json.dumps({"v": 1, "agent": "a", "batch": 1, "samples": [base]}).encode()


BAD: dict[str, list[bytes]] = {
    "too_large": [_with(metrics={"m": 1.0}) + b" " * MAX_PAYLOAD_BYTES],
    "bad_json": [b"{", b"\xff\xfe", b'{"v":1,"agent":"a","batch":1,"samples":[{"ts":NaN}]}'],
    "bad_version": [b'{"v":2,"agent":"a","batch":1,"samples":[]}'],
    "bad_field": [
        b'{"v":1,"batch":1,"samples":[]}',
        b"[1]",
        _with(colour="red"),
        b'{"v":1,"agent":"","batch":1,"samples":[]}',
    ],
    "empty_batch": [b'{"v":1,"agent":"a","batch":1,"samples":[]}'],
    "bad_batch": [
        b'{"v":1,"agent":"a","batch":-1,"samples":[]}',
        b'{"v":1,"agent":"a","batch":"7","samples":[]}',
        b'{"v":1,"agent":"a","batch":9223372036854775808,"samples":[]}',
    ],
    "bad_ts": [_with(ts="2026-11-28T00:59:00"), _with(ts="yesterday"), _with(ts=1764291540)],
    "future_ts": [_with(ts="2026-11-28T01:05:01Z"), _with(ts="2026-11-28T10:00:00+08:00")],
    "bad_state": [_with(state="offline"), _with(state="RUNNING"), _with(state=None)],
    "bad_utilization": [_with(utilization=1.01), _with(utilization=-0.1), _with(utilization="x")],
    "bad_metrics": [
        _with(metrics={"Power": 1}),
        _with(metrics={"1x": 1}),
        _with(metrics={"a" * 65: 1}),
        _with(metrics={"x": "1"}),
        _with(metrics={"x": {"y": 1}}),
        _with(metrics={f"m{i}": i for i in range(65)}),
        _with(metrics={"x": 1}).replace(b'"x": 1', b'"x": 1e999'),
    ],
}


@pytest.mark.parametrize(
    ("reason", "raw"), [(reason, raw) for reason, raws in BAD.items() for raw in raws]
)
def test_every_rule_is_rejected_with_its_reason(reason: str, raw: bytes) -> None:
    with pytest.raises(BadInput) as caught:
        decode_telemetry(raw, NOW)
    assert caught.value.reason == reason
    assert caught.value.detail
    assert reason in REASONS


def test_samples_up_to_five_minutes_ahead_are_accepted() -> None:
    batch = decode_telemetry(_with(ts="2026-11-28T01:05:00Z"), NOW)
    assert batch.samples[0].ts == NOW + timedelta(minutes=5)


def test_offsets_are_kept_and_compare_as_instants() -> None:
    batch = decode_telemetry(_with(ts="2026-11-28T08:59:00+08:00"), NOW)
    assert batch.samples[0].ts == datetime(2026, 11, 28, 0, 59, tzinfo=UTC)


@pytest.mark.parametrize(
    "topic",
    [
        "pilotshare/v2/s/i/telemetry",
        "pilotshare/v1/s/i/other",
        "pilotshare/v1/S/i/telemetry",
        "pilotshare/v1/s/telemetry",
        "pilotshare/v1/s/i/telemetry/x",
        "pilotshare/v1/-s/i/telemetry",
    ],
)
def test_foreign_topics_are_bad_topic(topic: str) -> None:
    with pytest.raises(BadInput) as caught:
        parse_topic(topic)
    assert caught.value.reason == "bad_topic"
