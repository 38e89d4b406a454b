"""Payload models of CONTRACT §2, their encoder and their validating decoders.

msgspec does the structural work in C (types, ranges, the metric-name pattern, a time zone on
every timestamp); the few rules it cannot state (finite metric values, the 5-minute future
limit) are checked after it. Every failure is a ``BadInput`` whose ``reason`` is one of
``REASONS``, stable enough to be a metric label and a stored reject's reason.
"""

from __future__ import annotations

import math
import re
from datetime import datetime, timedelta
from typing import Annotated, Final, Literal, TypeVar, get_args, get_origin

import msgspec

from pilotshare.core.domain import InstrumentState
from pilotshare.core.errors import BadInput

MAX_PAYLOAD_BYTES: Final = 256 * 1024
MAX_FUTURE: Final = timedelta(minutes=5)
MAX_METRICS: Final = 64
MAX_BATCH: Final = 2**63 - 1

#: Every reason a telemetry message can be rejected for, with what it means.
REASONS: Final[dict[str, str]] = {
    "too_large": "payload over 256 KiB",
    "bad_json": "not UTF-8 JSON",
    "bad_version": "'v' is not 1",
    "bad_field": "a field is missing, unknown or of the wrong type",
    "empty_batch": "a batch with no samples",
    "bad_batch": "'batch' is not an integer in [0, 2^63)",
    "bad_ts": "'ts' is not RFC 3339 with an offset",
    "future_ts": "a sample more than 5 minutes in the future",
    "bad_state": "'state' is not one of running, idle, setup, down, maintenance",
    "bad_utilization": "'utilization' is not a number in [0, 1]",
    "bad_metrics": "'metrics' is not a flat map of at most 64 names to finite numbers",
    "bad_topic": "the topic is not pilotshare/v1/<site>/<instrument>/<channel>",
    "unknown_instrument": "the instrument is not registered at this site",
}

#: Checked once per distinct name in a batch after decoding, not per key by the decoder: the
#: same few names repeat in every sample, and the per-key pattern cost two thirds of decoding
#: (benchmarks/decode.py).
METRIC_NAME_PATTERN: Final = r"^[a-z][a-z0-9_]{0,63}$"
METRIC_NAME: Final = re.compile(METRIC_NAME_PATTERN)
#: The same rule as a type, for configuration files that name metrics.
MetricName = Annotated[str, msgspec.Meta(pattern=METRIC_NAME_PATTERN)]
AwareDatetime = Annotated[datetime, msgspec.Meta(tz=True)]
Utilization = Annotated[float, msgspec.Meta(ge=0.0, le=1.0)]
BatchNumber = Annotated[int, msgspec.Meta(ge=0, le=MAX_BATCH)]
Slugless = Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
#: An interlock's desired-state number: rises with every change of an instrument's interlock.
Seq = Annotated[int, msgspec.Meta(ge=0, le=MAX_BATCH)]
#: What an agent reports it applied of the interlock (``unsupported``: it cannot switch one).
InterlockState = Literal["unlocked", "locked", "unsupported"]


class Sample(msgspec.Struct, frozen=True, forbid_unknown_fields=True, omit_defaults=True):
    """One observation of an instrument."""

    ts: AwareDatetime
    state: InstrumentState
    utilization: Utilization | None = None
    metrics: Annotated[dict[str, float], msgspec.Meta(max_length=MAX_METRICS)] = {}


class TelemetryBatch(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """A numbered batch of samples; the unit of the outbox and of the ack."""

    v: Literal[1] = 1
    agent: Slugless
    batch: BatchNumber
    samples: tuple[Sample, ...]


class Interlock(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """The interlock state an agent applied, and the ``seq`` of the command it applied last
    (None: only commands without a ``seq``, from an older backend)."""

    state: InterlockState
    seq: Seq | None = None


class Status(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """An agent's retained presence; its last will has ``online`` false.

    ``interlock`` (CONTRACT §6) is left out (``UNSET``, not encoded) by older agents and by
    the will (written at connect time, it would report a stale state); the backend then keeps
    what it knew. A null one is read the same way.
    """

    v: Literal[1] = 1
    online: bool
    agent: Slugless
    agent_version: str
    ts: AwareDatetime
    interlock: Interlock | msgspec.UnsetType | None = msgspec.UNSET


#: A reject reason on the wire: a stable code (``REASONS``), new ones may come.
RejectReason = Annotated[str, msgspec.Meta(pattern=r"^[a-z][a-z0-9_]{0,63}$")]


class Rejection(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """A batch the backend can never store (CONTRACT §6), and why."""

    batch: BatchNumber
    reason: RejectReason


class Ack(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """The batches the backend has committed to the database, and those it never will.

    ``rejected`` is left out of the bytes when there is none (``UNSET``), so an ack of
    committed batches only is byte for byte what a v1 agent of before §6 decodes.
    """

    v: Literal[1] = 1
    batches: tuple[BatchNumber, ...]
    rejected: tuple[Rejection, ...] | msgspec.UnsetType = msgspec.UNSET

    @property
    def rejections(self) -> tuple[Rejection, ...]:
        """The rejected batches (none when the field was absent)."""
        return () if isinstance(self.rejected, msgspec.UnsetType) else self.rejected


class Command(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """The instrument's desired interlock state, retained on ``…/cmd`` (CONTRACT §6).

    ``seq`` rises with every change; an agent applies only a ``seq`` newer than the one it
    applied last. Commands of an older backend have no ``seq`` (and were not retained): they
    are applied as they come.
    """

    v: Literal[1] = 1
    cmd: Literal["unlock", "lock"]
    booking: str | None = None
    until: AwareDatetime | None = None
    seq: Seq | None = None


Payload = TelemetryBatch | Status | Ack | Command
P = TypeVar("P", TelemetryBatch, Status, Ack, Command)

_encoder = msgspec.json.Encoder()
_decoders: dict[type, msgspec.json.Decoder[object]] = {
    cls: msgspec.json.Decoder(cls) for cls in (TelemetryBatch, Status, Ack, Command)
}


def encode(payload: Payload) -> bytes:
    """UTF-8 JSON bytes of a payload, field order as declared."""
    return _encoder.encode(payload)


#: The reason a field's value is refused for, by field name; any other field: ``bad_field``.
_FIELD_REASONS: Final[dict[str, str]] = {
    "v": "bad_version",
    "batch": "bad_batch",
    "ts": "bad_ts",
    "state": "bad_state",
    "utilization": "bad_utilization",
    "metrics": "bad_metrics",
}
_Fields = dict[str, msgspec.Raw]


def _is_struct(t: object) -> bool:
    return isinstance(t, type) and issubclass(t, msgspec.Struct)


def _reason_for(raw: bytes | msgspec.Raw, cls: type[msgspec.Struct]) -> str | None:
    """The reason ``cls``'s decoder refused ``raw``, found without reading msgspec's message.

    Run only after a refusal: the document is split into its fields' own bytes and each field,
    in document order as msgspec reads them, is decoded alone with its declared type; the
    first that fails names the reason. Unknown or missing fields, or a document that is not
    an object, are ``bad_field``; a nested struct (a sample) is searched the same way.
    ``None`` when no single field is to blame.
    """
    try:
        fields = msgspec.json.decode(raw, type=_Fields)
    except msgspec.ValidationError:
        return "bad_field"  # not an object
    except msgspec.DecodeError:
        return "bad_json"  # malformed after the point where the typed decoder stopped
    declared = {f.encode_name: f for f in msgspec.structs.fields(cls)}
    for name, value in fields.items():
        field = declared.get(name)
        if field is None:
            return "bad_field"
        items = get_args(field.type)
        if get_origin(field.type) is tuple and items and _is_struct(items[0]):
            try:
                elements = msgspec.json.decode(value, type=list[msgspec.Raw])
            except msgspec.ValidationError:
                return "bad_field"
            for element in elements:
                if (reason := _reason_for(element, items[0])) is not None:
                    return reason
            continue
        try:
            msgspec.json.decode(value, type=field.type)
        except msgspec.ValidationError:
            return _FIELD_REASONS.get(name, "bad_field")
    if any(f.required and f.encode_name not in fields for f in declared.values()):
        return "bad_field"
    return None


def _decode(raw: bytes, cls: type[P]) -> P:
    if len(raw) > MAX_PAYLOAD_BYTES:
        raise BadInput("too_large", f"payload is {len(raw)} bytes, over {MAX_PAYLOAD_BYTES}")
    try:
        value = _decoders[cls].decode(raw)
    except msgspec.ValidationError as exc:
        raise BadInput(_reason_for(raw, cls) or "bad_field", str(exc)) from None
    except msgspec.DecodeError as exc:
        raise BadInput("bad_json", str(exc)) from None
    assert isinstance(value, cls)  # noqa: S101 - the decoder was built for cls
    return value


def decode_telemetry(raw: bytes, now: datetime) -> TelemetryBatch:
    """Decode and validate a telemetry batch received at ``now``."""
    batch = _decode(raw, TelemetryBatch)
    if not batch.samples:
        raise BadInput("empty_batch", "'samples' is empty")
    limit = now + MAX_FUTURE
    names: set[str] = set()
    for i, sample in enumerate(batch.samples):
        # the hot path: inline, not ``_check_values`` (a call per sample costs here)
        if sample.ts > limit:
            _check_values(i, sample, now, limit)
        metrics = sample.metrics
        if metrics:
            names.update(metrics)
            for value in metrics.values():
                if not math.isfinite(value):
                    _check_values(i, sample, now, limit)
    for name in names:
        if METRIC_NAME.match(name) is None:
            i = next(i for i, s in enumerate(batch.samples) if name in s.metrics)
            raise _bad_name(i, name)
    return batch


def _check_values(i: int, sample: Sample, now: datetime, limit: datetime) -> None:
    """The rules msgspec cannot state, but the metric names: not too far ahead, finite."""
    if sample.ts > limit:
        raise BadInput(
            "future_ts",
            f"samples[{i}].ts {sample.ts.isoformat()} is more than 5 minutes ahead of "
            f"{now.isoformat()}",
        )
    for name, value in sample.metrics.items():
        if not math.isfinite(value):
            raise BadInput("bad_metrics", f"samples[{i}].metrics.{name} is not finite")


def _bad_name(i: int, name: str) -> BadInput:
    return BadInput(
        "bad_metrics",
        f"samples[{i}].metrics: {name[:80]!r} is not a metric name (^[a-z][a-z0-9_]{{0,63}}$)",
    )


class _Envelope(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    v: Literal[1] = 1
    agent: Slugless
    batch: BatchNumber
    samples: tuple[msgspec.Raw, ...]


_envelope = msgspec.json.Decoder(_Envelope)
_sample = msgspec.json.Decoder(Sample)


def salvage_telemetry(raw: bytes, now: datetime) -> tuple[TelemetryBatch, list[BadInput]] | None:
    """The valid samples of a batch that ``decode_telemetry`` refused, and why each other was.

    Run only after a refusal. A batch whose envelope (``v``, ``agent``, ``batch``) is sound and
    that holds at least one valid sample is stored in part (CONTRACT §6: acknowledged, its bad
    samples kept as a reject); ``None`` when nothing in it can be stored.
    """
    if len(raw) > MAX_PAYLOAD_BYTES:
        return None
    try:
        envelope = _envelope.decode(raw)
    except msgspec.MsgspecError:
        return None
    limit = now + MAX_FUTURE
    good: list[Sample] = []
    bad: list[BadInput] = []
    for i, part in enumerate(envelope.samples):
        try:
            sample = _sample.decode(part)
            _check_values(i, sample, now, limit)
            for name in sample.metrics:
                if METRIC_NAME.match(name) is None:
                    raise _bad_name(i, name)
        except msgspec.ValidationError as exc:
            bad.append(BadInput(_reason_for(part, Sample) or "bad_field", f"samples[{i}]: {exc}"))
        except BadInput as exc:
            bad.append(exc)
        else:
            good.append(sample)
    if not good:
        return None
    batch = TelemetryBatch(agent=envelope.agent, batch=envelope.batch, samples=tuple(good))
    return batch, bad


def decode_status(raw: bytes) -> Status:
    """Decode an agent's status (or last will)."""
    return _decode(raw, Status)


class _BatchNumberOnly(msgspec.Struct):
    batch: BatchNumber


def batch_number(raw: bytes) -> int | None:
    """The batch number of a telemetry message that failed validation, if it can be read.

    A refused batch is acknowledged as rejected by its number; a message too large, not JSON,
    or without a valid ``batch`` has none, and is kept as a reject only.
    """
    if len(raw) > MAX_PAYLOAD_BYTES:
        return None
    try:
        return _batch_only.decode(raw).batch
    except msgspec.MsgspecError:
        return None


_batch_only = msgspec.json.Decoder(_BatchNumberOnly)


def decode_ack(raw: bytes) -> Ack:
    """Decode an ack from the backend."""
    return _decode(raw, Ack)


def decode_command(raw: bytes) -> Command:
    """Decode an interlock command."""
    return _decode(raw, Command)
