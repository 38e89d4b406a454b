"""The golden payloads decode (or are rejected with the reason their file names) exactly."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec
import pytest

from pilotshare.core.contract import (
    Ack,
    Interlock,
    Rejection,
    decode_ack,
    decode_command,
    decode_status,
    decode_telemetry,
    encode,
)
from pilotshare.core.contract.payloads import REASONS
from pilotshare.core.errors import BadInput
from tests.support.golden import (
    NOT_IN_PAYLOAD,
    acks,
    commands,
    invalid_telemetry,
    invalid_telemetry_cases,
    legacy_commands,
    reason_of,
    statuses,
    too_large,
    valid_telemetry,
)

NOW = datetime(2026, 11, 28, 2, 0, tzinfo=UTC)


@pytest.mark.parametrize(("name", "raw"), valid_telemetry().items())
def test_valid_batches_decode_and_round_trip(name: str, raw: bytes) -> None:
    batch = decode_telemetry(raw, NOW)
    assert batch.samples
    assert decode_telemetry(encode(batch), NOW) == batch
    assert all(s.ts.utcoffset() is not None for s in batch.samples), name


@pytest.mark.parametrize(("name", "raw"), invalid_telemetry_cases().items())
def test_invalid_batches_are_rejected_with_their_reason(name: str, raw: bytes) -> None:
    """Pinned per case, so a msgspec release that reorders or rewords its errors shows here."""
    with pytest.raises(BadInput) as caught:
        decode_telemetry(raw, NOW)
    assert caught.value.reason == reason_of(name)
    assert caught.value.detail


def test_every_payload_reason_has_a_golden_message() -> None:
    assert set(invalid_telemetry()) | NOT_IN_PAYLOAD == set(REASONS)
    assert {reason_of(name) for name in invalid_telemetry_cases()} <= set(REASONS)


def test_too_large_is_rejected_before_parsing() -> None:
    raw = too_large()
    assert len(raw) > 256 * 1024
    with pytest.raises(BadInput) as caught:
        decode_telemetry(raw, NOW)
    assert caught.value.reason == "too_large"


def test_status_and_will_decode() -> None:
    decoded = {name: decode_status(raw) for name, raw in statuses().items()}
    assert decoded["online"].online is True
    assert decoded["online"].interlock is msgspec.UNSET  # an older agent's still decodes
    assert decoded["will"].online is False
    assert decoded["will"].interlock is msgspec.UNSET


@pytest.mark.parametrize("name", ["interlock", "unsupported", "online", "will"])
def test_statuses_encode_to_the_same_bytes(name: str) -> None:
    raw = statuses()[name]
    assert encode(decode_status(raw)) == raw.strip()


def test_a_status_reports_the_applied_interlock_and_its_seq() -> None:
    applied = decode_status(statuses()["interlock"]).interlock
    unsupported = decode_status(statuses()["unsupported"]).interlock
    assert applied == Interlock(state="unlocked", seq=17)
    assert unsupported == Interlock(state="unsupported", seq=17)


@pytest.mark.parametrize(("name", "raw"), acks().items())
def test_acks_decode_and_encode_to_the_same_bytes(name: str, raw: bytes) -> None:
    ack = decode_ack(raw)
    assert encode(ack) == raw.strip(), name


def test_the_golden_ack_is_the_contracts_example() -> None:
    committed = decode_ack(acks()["committed"])
    assert committed.batches == (1041, 1042)
    assert committed.rejections == ()


def test_a_rejected_batch_is_acknowledged_beside_the_committed_ones() -> None:
    """CONTRACT §6: ``rejected`` rides beside ``batches``, absent when there is none."""
    ack = decode_ack(acks()["rejected"])
    assert ack.batches == (1042,)
    assert ack.rejections == (Rejection(batch=1043, reason="unknown_instrument"),)
    only = decode_ack(acks()["rejected_only"])
    assert only.batches == ()
    assert [r.reason for r in only.rejections] == ["unknown_instrument", "future_ts"]
    assert b"rejected" not in encode(Ack(batches=(1,)))


@pytest.mark.parametrize(
    "raw",
    [
        b'{"v":1,"batches":[],"rejected":[{"batch":1}]}',
        b'{"v":1,"batches":[],"rejected":[{"batch":1,"reason":"x","why":"y"}]}',
        b'{"v":1,"batches":[],"rejected":[{"batch":-1,"reason":"x"}]}',
        b'{"v":1,"batches":[],"rejected":[{"batch":1,"reason":"Not A Code"}]}',
        b'{"v":1,"batches":[],"rejected":{"batch":1,"reason":"x"}}',
    ],
)
def test_a_malformed_rejection_is_refused(raw: bytes) -> None:
    with pytest.raises(BadInput):
        decode_ack(raw)


@pytest.mark.parametrize(("name", "raw"), commands().items())
def test_commands_decode_and_encode_to_the_same_bytes(name: str, raw: bytes) -> None:
    command = decode_command(raw)
    assert command.cmd == reason_of(name)
    assert command.seq is not None
    assert command.until is None or command.until.utcoffset() is not None
    assert encode(command) == raw.strip()


def test_a_lock_without_booking_or_until_decodes() -> None:
    command = decode_command(commands()["lock.no_booking"])
    assert (command.cmd, command.booking, command.until, command.seq) == ("lock", None, None, 19)


@pytest.mark.parametrize(("name", "raw"), legacy_commands().items())
def test_commands_without_seq_still_decode(name: str, raw: bytes) -> None:
    command = decode_command(raw)
    assert command.cmd == name
    assert command.seq is None
    assert command.booking is not None
    assert command.until is not None
