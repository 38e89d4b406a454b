"""The Sparkplug B payload reader and writer: round trips, hand-made bytes, robustness."""

from __future__ import annotations

import contextlib
import math
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pilotshare.twin.sparkplug.payload import (
    DataType,
    Kind,
    Metric,
    Payload,
    PayloadError,
    decode_payload,
    encode_payload,
    scalar,
)

u64 = st.integers(0, 2**64 - 1)
text = st.text(max_size=20)


@st.composite
def metrics(draw: st.DrawFn) -> Metric:
    kind = draw(st.sampled_from([None, *[k for k in Kind if k is not Kind.OTHER]]))
    values = {
        None: st.none(),
        Kind.INT: st.integers(0, 2**32 - 1),
        Kind.LONG: u64,
        Kind.FLOAT: st.floats(width=32, allow_nan=False),
        Kind.DOUBLE: st.floats(allow_nan=False),
        Kind.BOOLEAN: st.booleans(),
        Kind.STRING: text,
        Kind.BYTES: st.binary(max_size=16),
    }
    return Metric(
        name=draw(st.none() | text),
        alias=draw(st.none() | u64),
        timestamp=draw(st.none() | u64),
        datatype=draw(st.none() | st.integers(0, 2**32 - 1)),
        is_historical=draw(st.booleans()),
        is_transient=draw(st.booleans()),
        is_null=draw(st.booleans()),
        kind=kind,
        value=draw(values[kind]),
    )


payloads = st.builds(
    Payload,
    timestamp=st.none() | u64,
    metrics=st.lists(metrics(), max_size=5).map(tuple),
    seq=st.none() | st.integers(0, 255),
    uuid=st.none() | text,
    body=st.none() | st.binary(max_size=16),
)


@given(payloads)
def test_decode_of_encode_is_identity(payload: Payload) -> None:
    assert decode_payload(encode_payload(payload)) == payload


@given(st.binary(max_size=200))
def test_any_bytes_decode_or_raise_payload_error(raw: bytes) -> None:
    with contextlib.suppress(PayloadError):
        decode_payload(raw)


def test_hand_made_bytes_read_as_the_schema_says() -> None:
    # Payload{timestamp=1000, metrics=[{name="t", alias=3, datatype=10, double_value=2.5}], seq=7}
    metric = b"\x0a\x01t" + b"\x10\x03" + b"\x20\x0a" + b"\x69" + struct.pack("<d", 2.5)
    raw = b"\x08\xe8\x07" + b"\x12" + bytes([len(metric)]) + metric + b"\x18\x07"
    payload = decode_payload(raw)
    assert payload.timestamp == 1000
    assert payload.seq == 7
    (m,) = payload.metrics
    assert (m.name, m.alias, m.datatype, m.kind, m.value) == ("t", 3, 10, Kind.DOUBLE, 2.5)


def test_unknown_fields_are_skipped() -> None:
    raw = encode_payload(Payload(timestamp=5, seq=1)) + b"\xa8\x06\x01"  # field 101, varint
    assert decode_payload(raw) == Payload(timestamp=5, seq=1)


def test_a_known_field_of_the_wrong_wire_type_is_refused() -> None:
    with pytest.raises(PayloadError, match="wire type"):
        decode_payload(b"\x0d\x00\x00\x00\x00")  # field 1 (timestamp) as fixed32


def test_signed_integers_read_in_both_encodings() -> None:
    for raw in (0xFF, 0xFFFFFFFF):  # at the type's width, or sign-extended to 32 bits
        assert scalar(Metric(kind=Kind.INT, value=raw), DataType.INT8) == -1
    assert scalar(Metric(kind=Kind.INT, value=0x8000), DataType.INT16) == -32768
    assert scalar(Metric(kind=Kind.LONG, value=2**64 - 2), DataType.INT64) == -2
    assert scalar(Metric(kind=Kind.INT, value=0xFF), DataType.UINT8) == 255
    assert scalar(Metric(kind=Kind.INT, value=1), DataType.BOOLEAN) is True


def test_nulls_and_unread_kinds_have_no_value() -> None:
    assert scalar(Metric(kind=Kind.DOUBLE, value=1.0, is_null=True), DataType.DOUBLE) is None
    assert scalar(Metric(kind=Kind.OTHER), DataType.UNKNOWN) is None
    value = scalar(Metric(kind=Kind.FLOAT, value=0.5), DataType.FLOAT)
    assert isinstance(value, float)
    assert math.isclose(value, 0.5)
