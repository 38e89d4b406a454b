"""Sparkplug B topic names (pure): ``spBv1.0/<group>/<type>/<edge node>[/<device>]`` and the
host's ``spBv1.0/STATE/<host id>``."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = ["NAMESPACE", "MessageType", "SparkplugTopic", "parse_topic", "state_topic"]

NAMESPACE = "spBv1.0"


class MessageType(StrEnum):
    """The message types of the Sparkplug B namespace."""

    NBIRTH = "NBIRTH"
    NDEATH = "NDEATH"
    NDATA = "NDATA"
    NCMD = "NCMD"
    DBIRTH = "DBIRTH"
    DDEATH = "DDEATH"
    DDATA = "DDATA"
    DCMD = "DCMD"
    STATE = "STATE"


_NODE = {MessageType.NBIRTH, MessageType.NDEATH, MessageType.NDATA, MessageType.NCMD}


@dataclass(frozen=True, slots=True)
class SparkplugTopic:
    """A parsed topic; ``device`` is None for node messages, ``node`` the host id of STATE."""

    type: MessageType
    group: str
    node: str
    device: str | None = None

    def __str__(self) -> str:
        if self.type is MessageType.STATE:
            return state_topic(self.node)
        tail = f"/{self.device}" if self.device is not None else ""
        return f"{NAMESPACE}/{self.group}/{self.type}/{self.node}{tail}"


def state_topic(host_id: str) -> str:
    """Where a host application announces itself (Sparkplug 3.0)."""
    return f"{NAMESPACE}/STATE/{host_id}"


def parse_topic(text: str) -> SparkplugTopic | None:
    """The topic's parts, or None when it is not a Sparkplug B topic of a known form."""
    parts = text.split("/")
    if len(parts) < 3 or parts[0] != NAMESPACE or not all(parts):
        return None
    if parts[1] == "STATE":
        return SparkplugTopic(MessageType.STATE, "", parts[2]) if len(parts) == 3 else None
    if len(parts) not in {4, 5}:
        return None
    try:
        kind = MessageType(parts[2])
    except ValueError:
        return None
    if kind is MessageType.STATE or (kind in _NODE) != (len(parts) == 4):
        return None
    return SparkplugTopic(kind, parts[1], parts[3], parts[4] if len(parts) == 5 else None)
