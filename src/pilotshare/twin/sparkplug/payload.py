"""The Sparkplug B payload: a small reader and writer of its protobuf wire form (pure).

The public Sparkplug B schema (``org.eclipse.tahu.protobuf.Payload``) needs only a handful of
its fields here: ``Payload`` {1 timestamp, 2 metrics, 3 seq, 4 uuid, 5 body} and ``Metric``
{1 name, 2 alias, 3 timestamp, 4 datatype, 5 is_historical, 6 is_transient, 7 is_null, and
the ``value`` oneof 10 int, 11 long, 12 float, 13 double, 14 boolean, 15 string, 16 bytes,
17-19 dataset, template, extension}. Metadata, properties, datasets and templates are skipped
(kept as ``Kind.OTHER``); unknown fields are skipped as protobuf readers must.

Values are kept in their wire form (``Kind`` and the raw number), because a data message may
leave the datatype out: its meaning (the sign of an ``int_value``) comes from the birth, and
``scalar`` applies it. Every malformed input raises ``PayloadError``, never anything else.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from enum import IntEnum

__all__ = [
    "DataType",
    "Kind",
    "Metric",
    "Payload",
    "PayloadError",
    "decode_payload",
    "encode_payload",
    "scalar",
]

Scalar = int | float | bool | str


class PayloadError(ValueError):
    """The bytes are not a Sparkplug B payload."""


class DataType(IntEnum):
    """The scalar datatypes of the Sparkplug B schema (arrays and the rest are not read)."""

    UNKNOWN = 0
    INT8 = 1
    INT16 = 2
    INT32 = 3
    INT64 = 4
    UINT8 = 5
    UINT16 = 6
    UINT32 = 7
    UINT64 = 8
    FLOAT = 9
    DOUBLE = 10
    BOOLEAN = 11
    STRING = 12
    DATETIME = 13
    TEXT = 14


class Kind(IntEnum):
    """Which field of the metric's ``value`` oneof was set (its field number)."""

    INT = 10
    LONG = 11
    FLOAT = 12
    DOUBLE = 13
    BOOLEAN = 14
    STRING = 15
    BYTES = 16
    OTHER = 17  # dataset, template or extension: not read


@dataclass(frozen=True, slots=True)
class Metric:
    """One metric as sent: ``value`` in wire form (``kind`` says which field held it)."""

    name: str | None = None
    alias: int | None = None
    timestamp: int | None = None
    datatype: int | None = None
    is_historical: bool = False
    is_transient: bool = False
    is_null: bool = False
    kind: Kind | None = None
    value: int | float | bool | str | bytes | None = None


@dataclass(frozen=True, slots=True)
class Payload:
    """A Sparkplug B payload: timestamps are milliseconds since the Unix epoch (UTC)."""

    timestamp: int | None = None
    metrics: tuple[Metric, ...] = field(default_factory=tuple)
    seq: int | None = None
    uuid: str | None = None
    body: bytes | None = None


_DATATYPES = {int(t): t for t in DataType}
_SIGNED_BITS = {DataType.INT8: 8, DataType.INT16: 16, DataType.INT32: 32, DataType.INT64: 64}
_UNSIGNED_BITS = {DataType.UINT8: 8, DataType.UINT16: 16, DataType.UINT32: 32}


def scalar(metric: Metric, datatype: int | None) -> Scalar | None:
    """The metric's value as a Python scalar under ``datatype`` (the birth's when the message
    left it out); None for a null, an unread kind or an absent value.

    Signed integers are read at their width, so both encodings in use (two's complement at the
    type's width, or sign-extended to 32/64 bits) give the same number.
    """
    value = metric.value
    if metric.is_null or value is None or metric.kind in {Kind.OTHER, Kind.BYTES}:
        return None
    if metric.kind in {Kind.INT, Kind.LONG}:
        assert isinstance(value, int)  # noqa: S101 - the reader stores ints for these kinds
        kind = _DATATYPES.get(datatype) if datatype is not None else None
        if kind == DataType.BOOLEAN:
            return value != 0
        if kind in _SIGNED_BITS:
            bits = _SIGNED_BITS[kind]
            value &= (1 << bits) - 1
            return value - (1 << bits) if value >> (bits - 1) else value
        if kind in _UNSIGNED_BITS:
            return value & ((1 << _UNSIGNED_BITS[kind]) - 1)
        return value
    if isinstance(value, bytes):  # pragma: no cover - BYTES returned above
        return None
    return value


# -- reading ------------------------------------------------------------------------------


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data):
            raise PayloadError("truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            if result >= 1 << 64:
                raise PayloadError("varint longer than 64 bits")
            return result, pos
        shift += 7
        if shift >= 70:
            raise PayloadError("varint longer than 10 bytes")


def _fields(data: bytes) -> list[tuple[int, int, int | bytes]]:
    """``(field number, wire type, value)`` of one message; length-delimited values as bytes,
    fixed-width ones as their little-endian integer."""
    out: list[tuple[int, int, int | bytes]] = []
    pos = 0
    end = len(data)
    while pos < end:
        key = data[pos]
        if key < 0x80:  # one-byte varints (field keys, flags, small numbers): the usual case
            pos += 1
        else:
            key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise PayloadError("field number 0")
        value: int | bytes
        if wire == 0:
            if pos < end and data[pos] < 0x80:
                value, pos = data[pos], pos + 1
            else:
                value, pos = _varint(data, pos)
        elif wire == 1:
            if pos + 8 > len(data):
                raise PayloadError("truncated 64-bit field")
            value, pos = int.from_bytes(data[pos : pos + 8], "little"), pos + 8
        elif wire == 2:
            size, pos = _varint(data, pos)
            if pos + size > len(data):
                raise PayloadError("truncated length-delimited field")
            value, pos = data[pos : pos + size], pos + size
        elif wire == 5:
            if pos + 4 > len(data):
                raise PayloadError("truncated 32-bit field")
            value, pos = int.from_bytes(data[pos : pos + 4], "little"), pos + 4
        else:
            raise PayloadError(f"unsupported wire type {wire}")
        out.append((number, wire, value))
    return out


#: The wire type each known field must have: (message, field) -> wire type.
_WIRE = {
    **{("p", n): w for n, w in ((1, 0), (2, 2), (3, 0), (4, 2), (5, 2))},
    **{("m", n): w for n, w in ((1, 2), (2, 0), (3, 0), (4, 0), (5, 0), (6, 0), (7, 0))},
    **{("m", n): w for n, w in ((10, 0), (11, 0), (12, 5), (13, 1), (14, 0), (15, 2), (16, 2))},
    **{("m", n): 2 for n in (8, 9, 17, 18, 19)},
}


def _text(value: bytes, what: str) -> str:
    try:
        return value.decode()
    except UnicodeDecodeError:
        raise PayloadError(f"{what} is not UTF-8") from None


def _checked(kind: str, number: int, wire: int) -> bool:
    """Whether a field is known (then its wire type must be right); unknown ones are skipped."""
    expected = _WIRE.get((kind, number))
    if expected is None:
        return False
    if wire != expected:
        raise PayloadError(f"field {number} has wire type {wire}, not {expected}")
    return True


def _metric(data: bytes) -> Metric:
    values: dict[str, object] = {}
    for number, wire, value in _fields(data):
        if not _checked("m", number, wire):
            continue
        if number == 1:
            assert isinstance(value, bytes)  # noqa: S101 - wire type 2 checked
            values["name"] = _text(value, "a metric name")
        elif number in {2, 3, 4}:
            values[("alias", "timestamp", "datatype")[number - 2]] = value
        elif number in {5, 6, 7}:
            values[("is_historical", "is_transient", "is_null")[number - 5]] = bool(value)
        elif number in {8, 9}:
            continue  # metadata, properties: not needed
        else:
            values["kind"], values["value"] = _value(number, value)
    return Metric(**values)  # type: ignore[arg-type]


def _value(number: int, value: int | bytes) -> tuple[Kind, int | float | bool | str | bytes | None]:
    if number >= 17:
        return Kind.OTHER, None
    kind = Kind(number)
    if kind is Kind.FLOAT:
        assert isinstance(value, int)  # noqa: S101 - wire type 5
        return kind, struct.unpack("<f", value.to_bytes(4, "little"))[0]
    if kind is Kind.DOUBLE:
        assert isinstance(value, int)  # noqa: S101 - wire type 1
        return kind, struct.unpack("<d", value.to_bytes(8, "little"))[0]
    if kind is Kind.BOOLEAN:
        return kind, bool(value)
    if kind is Kind.STRING:
        assert isinstance(value, bytes)  # noqa: S101 - wire type 2
        return kind, _text(value, "a string value")
    if kind is Kind.INT:
        assert isinstance(value, int)  # noqa: S101 - wire type 0
        return kind, value & 0xFFFFFFFF  # a uint32 field: higher bits are truncated
    return kind, value


def decode_payload(raw: bytes) -> Payload:
    """Read a Sparkplug B payload; ``PayloadError`` when the bytes are not one."""
    values: dict[str, object] = {}
    metrics: list[Metric] = []
    for number, wire, value in _fields(raw):
        if not _checked("p", number, wire):
            continue
        if number == 2:
            assert isinstance(value, bytes)  # noqa: S101 - wire type 2 checked
            metrics.append(_metric(value))
        elif number == 4:
            assert isinstance(value, bytes)  # noqa: S101
            values["uuid"] = _text(value, "the uuid")
        else:
            values[{1: "timestamp", 3: "seq", 5: "body"}[number]] = value
    return Payload(metrics=tuple(metrics), **values)  # type: ignore[arg-type]


# -- writing ------------------------------------------------------------------------------


def _put_varint(out: bytearray, value: int) -> None:
    value &= (1 << 64) - 1  # negative numbers as protobuf writes them: 64-bit two's complement
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)


def _key(out: bytearray, number: int, wire: int) -> None:
    _put_varint(out, number << 3 | wire)


def _put_bytes(out: bytearray, number: int, data: bytes) -> None:
    _key(out, number, 2)
    _put_varint(out, len(data))
    out += data


def _encode_metric(m: Metric) -> bytes:
    out = bytearray()
    if m.name is not None:
        _put_bytes(out, 1, m.name.encode())
    for number, number_value in ((2, m.alias), (3, m.timestamp), (4, m.datatype)):
        if number_value is not None:
            _key(out, number, 0)
            _put_varint(out, number_value)
    for number, flag in ((5, m.is_historical), (6, m.is_transient), (7, m.is_null)):
        if flag:
            _key(out, number, 0)
            _put_varint(out, 1)
    v = m.value
    if m.kind is None or m.kind is Kind.OTHER or v is None:
        return bytes(out)
    if m.kind is Kind.FLOAT:
        _key(out, 12, 5)
        out += struct.pack("<f", v)
    elif m.kind is Kind.DOUBLE:
        _key(out, 13, 1)
        out += struct.pack("<d", v)
    elif m.kind is Kind.STRING:
        assert isinstance(v, str)  # noqa: S101 - local misuse otherwise
        _put_bytes(out, 15, v.encode())
    elif m.kind is Kind.BYTES:
        assert isinstance(v, bytes)  # noqa: S101
        _put_bytes(out, 16, v)
    else:
        assert isinstance(v, int)  # noqa: S101 - INT, LONG, BOOLEAN (bool is an int)
        _key(out, int(m.kind), 0)
        _put_varint(out, int(v) & 0xFFFFFFFF if m.kind is Kind.INT else int(v))
    return bytes(out)


def encode_payload(payload: Payload) -> bytes:
    """The protobuf bytes of ``payload`` (field order as the schema numbers them)."""
    out = bytearray()
    if payload.timestamp is not None:
        _key(out, 1, 0)
        _put_varint(out, payload.timestamp)
    for metric in payload.metrics:
        _put_bytes(out, 2, _encode_metric(metric))
    if payload.seq is not None:
        _key(out, 3, 0)
        _put_varint(out, payload.seq)
    if payload.uuid is not None:
        _put_bytes(out, 4, payload.uuid.encode())
    if payload.body is not None:
        _put_bytes(out, 5, payload.body)
    return bytes(out)
