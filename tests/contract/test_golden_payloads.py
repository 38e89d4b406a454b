"""The golden payloads decode (or are rejected with the reason their file names) exactly."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from pilotshare.core.contract import (
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
    assert decoded["will"].online is False


@pytest.mark.parametrize(("name", "raw"), acks().items())
def test_acks_decode_and_encode_to_the_same_bytes(name: str, raw: bytes) -> None:
    ack = decode_ack(raw)
    assert encode(ack) == raw.strip(), name


def test_the_golden_ack_is_the_contracts_example() -> None:
    assert decode_ack(acks()["committed"]).batches == (1041, 1042)


@pytest.mark.parametrize(("name", "raw"), commands().items())
def test_commands_decode_and_encode_to_the_same_bytes(name: str, raw: bytes) -> None:
    command = decode_command(raw)
    assert command.cmd == name
    assert command.until.utcoffset() is not None
    assert encode(command) == raw.strip()
