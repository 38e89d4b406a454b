"""The golden payloads decode (or are rejected with the reason their file names) exactly."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from golden_payloads import NOT_IN_PAYLOAD, invalid_telemetry, statuses, too_large, valid_telemetry

from pilotshare.core.contract import decode_status, decode_telemetry, encode
from pilotshare.core.contract.payloads import REASONS
from pilotshare.core.errors import BadInput

NOW = datetime(2026, 11, 28, 2, 0, tzinfo=UTC)


@pytest.mark.parametrize(("name", "raw"), valid_telemetry().items())
def test_valid_batches_decode_and_round_trip(name: str, raw: bytes) -> None:
    batch = decode_telemetry(raw, NOW)
    assert batch.samples
    assert decode_telemetry(encode(batch), NOW) == batch
    assert all(s.ts.utcoffset() is not None for s in batch.samples), name


@pytest.mark.parametrize(("reason", "raw"), invalid_telemetry().items())
def test_invalid_batches_are_rejected_with_their_reason(reason: str, raw: bytes) -> None:
    with pytest.raises(BadInput) as caught:
        decode_telemetry(raw, NOW)
    assert caught.value.reason == reason
    assert caught.value.detail


def test_every_payload_reason_has_a_golden_message() -> None:
    assert set(invalid_telemetry()) | NOT_IN_PAYLOAD == set(REASONS)


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
