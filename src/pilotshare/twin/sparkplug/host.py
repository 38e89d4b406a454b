"""The Sparkplug B host application's rules, as a state machine: messages in, effects out
(pure: no I/O, ``now`` passed in).

Theory of operation. The host knows nothing until an edge node is born: an NBIRTH carries
every node metric with its name, alias, datatype and current value, its ``seq`` and its
``bdSeq`` (the number of the MQTT session whose will is that node's NDEATH); a DBIRTH does the
same for one device of a born node. Data messages (NDATA, DDATA) then carry only what changed,
often by alias alone, so the host keeps each node's and device's current values and reads a
change against its birth. Every message of a node after its NBIRTH (NDATA, DBIRTH, DDATA,
DDEATH) carries the next ``seq`` (0..255, wrapping); a gap means something was lost, and data
of a node or device that is not born (or an alias its birth did not declare) cannot be read.
Either way the host asks the node to be born again (NCMD ``Node Control/Rebirth`` = true), at
most once per ``rebirth_interval_s`` until a birth comes; a message that can still be read is
used, one that cannot is kept as a reject. An NDEATH counts only when its ``bdSeq`` is the
current birth's (an older session's will arriving late is ignored); it ends the node and all
its devices, a DDEATH one device.

Each birth or data message of a mapped node or device yields the instrument's sample (its
current values at the message's timestamp, read by ``mapping.InstrumentMap.sample``); births
and deaths yield its presence. The host's own STATE topic is watched too: seeing itself
announced offline (its previous session's will, retained) it announces itself again.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from pilotshare.twin.sparkplug.mapping import Mapping, Refused
from pilotshare.twin.sparkplug.payload import (
    DataType,
    Kind,
    Metric,
    Payload,
    PayloadError,
    Scalar,
    decode_payload,
    encode_payload,
    scalar,
)
from pilotshare.twin.sparkplug.topic import MessageType, SparkplugTopic, parse_topic, state_topic

__all__ = [
    "REASONS",
    "REBIRTH",
    "Effect",
    "Host",
    "Observe",
    "Presence",
    "Publish",
    "Refuse",
]

#: The metric an NCMD sets to ask an edge node for its births again.
REBIRTH = "Node Control/Rebirth"
BD_SEQ = "bdSeq"

#: The reasons of Sparkplug rejects beside the contract's (``core.contract.payloads.REASONS``).
REASONS: dict[str, str] = {
    "bad_sparkplug": "not a Sparkplug B payload, or a required field (seq, bdSeq) is missing",
    "no_birth": "data of an edge node or device that is not born (a rebirth is requested)",
    "unknown_metric": "a metric alias or name its birth did not declare (a rebirth is requested)",
    "unmapped": "no instrument is mapped to the edge node or device",
}

_DATA_TYPES = {MessageType.NDATA, MessageType.DBIRTH, MessageType.DDATA, MessageType.DDEATH}
_MAX_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z


@dataclass(frozen=True, slots=True)
class Observe:
    """A mapped instrument's sample (contract shape, not yet validated)."""

    instrument: str
    agent: str
    sample: dict[str, object]
    topic: str
    raw: bytes


@dataclass(frozen=True, slots=True)
class Presence:
    """A mapped instrument came online (a birth) or went offline (a death)."""

    instrument: str
    agent: str
    online: bool
    ts: datetime
    topic: str
    raw: bytes


@dataclass(frozen=True, slots=True)
class Refuse:
    """A message kept as a reject."""

    topic: str
    reason: str
    detail: str
    raw: bytes


@dataclass(frozen=True, slots=True)
class Publish:
    """A message the host sends: a rebirth request, or its STATE again."""

    topic: str
    payload: bytes
    qos: int = 0
    retain: bool = False


Effect = Observe | Presence | Refuse | Publish


@dataclass(slots=True)
class _Metrics:
    """One node's or device's metrics as its birth declared them, and their current values."""

    names: dict[int, str] = field(default_factory=dict)  # alias -> name
    types: dict[str, int | None] = field(default_factory=dict)
    values: dict[str, Scalar | None] = field(default_factory=dict)

    def declare(self, metrics: tuple[Metric, ...]) -> None:
        for m in metrics:
            if m.name is None:
                raise Refused("bad_sparkplug", "a birth metric has no name")
            if m.alias is not None:
                self.names[m.alias] = m.name
            self.types[m.name] = m.datatype
            self.values[m.name] = scalar(m, m.datatype)

    def update(self, metrics: tuple[Metric, ...]) -> None:
        """Apply a data message's changes; all or nothing."""
        changes: dict[str, Scalar | None] = {}
        for m in metrics:
            name = m.name if m.name is not None else self.names.get(m.alias or -1)
            if name is None or name not in self.types:
                what = f"name {m.name!r}" if m.name is not None else f"alias {m.alias}"
                raise Refused("unknown_metric", f"metric {what} is not in the birth")
            if m.is_historical:
                continue  # history, not the current value
            changes[name] = scalar(m, m.datatype or self.types[name])
        self.values.update(changes)


@dataclass(slots=True)
class _Node:
    bd_seq: int
    seq: int
    metrics: _Metrics
    devices: dict[str, _Metrics] = field(default_factory=dict)


def _agent(group: str, node: str) -> str:
    return f"sparkplug:{group}/{node}"[:128]


def _when(payload: Payload, now: datetime) -> datetime:
    if payload.timestamp is None:
        return now
    if payload.timestamp > _MAX_MS:
        raise Refused("bad_ts", f"timestamp {payload.timestamp} ms is past the year 9999")
    return datetime.fromtimestamp(payload.timestamp / 1000, UTC)


def _ms(t: datetime) -> int:
    return int(t.timestamp() * 1000)


class Host:
    """One host application's view of the Sparkplug network; see the module docstring."""

    def __init__(self, mapping: Mapping) -> None:
        self._mapping = mapping
        self._host_id = mapping.host.host_id
        self._interval = timedelta(seconds=mapping.host.rebirth_interval_s)
        self._reject_unmapped = mapping.host.reject_unmapped
        self._mapped_nodes = mapping.nodes()
        self._nodes: dict[tuple[str, str], _Node] = {}
        self._asked: dict[tuple[str, str], datetime] = {}
        self._birth_ms = 0

    # -- the host's own STATE -------------------------------------------------------------

    @property
    def state_topic(self) -> str:
        return state_topic(self._host_id)

    def state(self, *, online: bool) -> bytes:
        """The STATE payload of this session (birth and will share one timestamp)."""
        return json.dumps({"online": online, "timestamp": self._birth_ms}).encode()

    def connected(self, now: datetime) -> None:
        """A new MQTT session: nothing known survives it (births are not retained)."""
        self._birth_ms = _ms(now)
        self._nodes.clear()
        self._asked.clear()

    # -- messages in ----------------------------------------------------------------------

    def receive(self, topic_text: str, raw: bytes, now: datetime) -> list[Effect]:
        """The effects of one message received at ``now``."""
        topic = parse_topic(topic_text)
        if topic is None:
            return [Refuse(topic_text, "bad_sparkplug", "not a Sparkplug B topic", raw)]
        if topic.type is MessageType.STATE:
            return self._state(topic, raw)
        if topic.type in {MessageType.NCMD, MessageType.DCMD}:
            return []  # commands are for edge nodes (ours among them)
        key = (topic.group, topic.node)
        if key not in self._mapped_nodes:
            return self._unmapped(topic, topic_text, raw)
        try:
            payload = decode_payload(raw)
        except PayloadError as exc:
            return [Refuse(topic_text, "bad_sparkplug", str(exc), raw)]
        message = _Message(topic, topic_text, raw, payload, now)
        try:
            self._dispatch(message)
        except Refused as exc:
            message.effects.append(Refuse(topic_text, exc.reason, exc.detail, raw))
            if exc.reason in {"no_birth", "unknown_metric", "bad_sparkplug"}:
                message.effects.extend(self._rebirth(key, now))
        return message.effects

    def _state(self, topic: SparkplugTopic, raw: bytes) -> list[Effect]:
        if topic.node != self._host_id or not self._birth_ms:
            return []
        try:
            online = json.loads(raw).get("online")
        except (ValueError, AttributeError):
            online = None
        if online is False:  # our last session's will: we are here, say so again
            return [Publish(self.state_topic, self.state(online=True), qos=1, retain=True)]
        return []

    def _unmapped(self, topic: SparkplugTopic, text: str, raw: bytes) -> list[Effect]:
        if not self._reject_unmapped or topic.type not in {
            MessageType.NDATA,
            MessageType.DBIRTH,
            MessageType.DDATA,
        }:
            return []
        return [Refuse(text, "unmapped", f"no instrument is mapped to {_where(topic)}", raw)]

    def _dispatch(self, msg: _Message) -> None:
        topic, payload = msg.topic, msg.payload
        key = (topic.group, topic.node)
        kind = topic.type
        if kind is MessageType.NBIRTH:
            self._nbirth(msg)
            return
        node = self._nodes.get(key)
        if kind is MessageType.NDEATH:
            self._ndeath(msg, node)
            return
        if node is None:
            if kind is MessageType.DDEATH:
                return  # nothing of it is online
            raise Refused("no_birth", f"{kind} of edge node {topic.node!r} before its NBIRTH")
        if kind in _DATA_TYPES:
            self._sequence(key, node, msg)
        if kind is MessageType.NDATA:
            node.metrics.update(payload.metrics)
            self._observe(msg, node.metrics)
        elif kind is MessageType.DBIRTH:
            assert topic.device is not None  # noqa: S101 - parse_topic guarantees it
            device = _Metrics()
            device.declare(payload.metrics)
            node.devices[topic.device] = device
            self._presence(msg, topic, online=True, ts=_when(payload, msg.now))
            self._observe(msg, device)
        elif kind is MessageType.DDATA:
            assert topic.device is not None  # noqa: S101
            known = node.devices.get(topic.device)
            if known is None and self._mapping.find(*key, topic.device) is None:
                self._observe(msg, _Metrics())  # nothing to read it for: unmapped
                return
            if known is None:
                raise Refused("no_birth", f"DDATA of device {topic.device!r} before its DBIRTH")
            known.update(payload.metrics)
            self._observe(msg, known)
        elif kind is MessageType.DDEATH:
            assert topic.device is not None  # noqa: S101
            if node.devices.pop(topic.device, None) is not None:
                self._presence(msg, topic, online=False, ts=msg.now)

    def _nbirth(self, msg: _Message) -> None:
        topic, payload = msg.topic, msg.payload
        if payload.seq is None or payload.seq > 255:
            raise Refused("bad_sparkplug", "NBIRTH without a seq in 0..255")
        bd_seq = _bd_seq(payload)
        if bd_seq is None:
            raise Refused("bad_sparkplug", "NBIRTH without a bdSeq metric")
        metrics = _Metrics()
        metrics.declare(payload.metrics)
        key = (topic.group, topic.node)
        # a rebirth: devices are born again after it; until then they keep their presence
        self._nodes[key] = _Node(bd_seq=bd_seq, seq=payload.seq, metrics=metrics)
        self._asked.pop(key, None)
        self._presence(msg, topic, online=True, ts=_when(payload, msg.now))
        self._observe(msg, metrics)

    def _ndeath(self, msg: _Message, node: _Node | None) -> None:
        topic = msg.topic
        bd_seq = _bd_seq(msg.payload)
        if bd_seq is None:
            raise Refused("bad_sparkplug", "NDEATH without a bdSeq metric")
        if node is None or bd_seq != node.bd_seq:
            return  # an older session's will: the node's current session lives on
        del self._nodes[(topic.group, topic.node)]
        self._presence(msg, topic, online=False, ts=msg.now)
        for device in node.devices:
            gone = SparkplugTopic(MessageType.DDEATH, topic.group, topic.node, device)
            self._presence(msg, gone, online=False, ts=msg.now)

    def _sequence(self, key: tuple[str, str], node: _Node, msg: _Message) -> None:
        seq = msg.payload.seq
        if seq is None or seq > 255:
            raise Refused("bad_sparkplug", "a message of a born edge node without a seq in 0..255")
        expected = (node.seq + 1) % 256
        node.seq = seq
        if seq != expected:
            msg.effects.extend(self._rebirth(key, msg.now))

    def _rebirth(self, key: tuple[str, str], now: datetime) -> list[Effect]:
        asked = self._asked.get(key)
        if asked is not None and now - asked < self._interval:
            return []
        self._asked[key] = now
        ms = _ms(now)
        command = Payload(
            timestamp=ms,
            metrics=(
                Metric(
                    name=REBIRTH,
                    timestamp=ms,
                    datatype=DataType.BOOLEAN,
                    kind=Kind.BOOLEAN,
                    value=True,
                ),
            ),
        )
        topic = SparkplugTopic(MessageType.NCMD, key[0], key[1])
        return [Publish(str(topic), encode_payload(command))]

    # -- effects out ----------------------------------------------------------------------

    def _presence(
        self, msg: _Message, topic: SparkplugTopic, *, online: bool, ts: datetime
    ) -> None:
        """``topic``: whose presence (a node's death ends its devices' too)."""
        mapped = self._mapping.find(topic.group, topic.node, topic.device)
        if mapped is not None:
            agent = _agent(topic.group, topic.node)
            msg.effects.append(Presence(mapped.id, agent, online, ts, msg.text, msg.raw))

    def _observe(self, msg: _Message, metrics: _Metrics) -> None:
        topic = msg.topic
        mapped = self._mapping.find(topic.group, topic.node, topic.device)
        if mapped is None:
            if self._reject_unmapped and topic.type is not MessageType.NBIRTH:
                detail = f"no instrument is mapped to {_where(topic)}"
                msg.effects.append(Refuse(msg.text, "unmapped", detail, msg.raw))
            return
        sample = mapped.sample(metrics.values, _when(msg.payload, msg.now))
        agent = _agent(topic.group, topic.node)
        msg.effects.append(Observe(mapped.id, agent, sample, msg.text, msg.raw))


@dataclass(slots=True)
class _Message:
    """One message being handled, and the effects it has so far."""

    topic: SparkplugTopic
    text: str
    raw: bytes
    payload: Payload
    now: datetime
    effects: list[Effect] = field(default_factory=list)


def _where(topic: SparkplugTopic) -> str:
    return f"{topic.group}/{topic.node}" + (f"/{topic.device}" if topic.device else "")


def _bd_seq(payload: Payload) -> int | None:
    for m in payload.metrics:
        if m.name == BD_SEQ:
            value = scalar(m, m.datatype or DataType.INT64)
            if isinstance(value, int) and not isinstance(value, bool):
                return value
    return None
