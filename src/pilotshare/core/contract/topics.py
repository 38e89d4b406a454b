"""MQTT topics: ``pilotshare/v1/{site}/{instrument}/{channel}``."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from pilotshare.core.domain import is_slug
from pilotshare.core.errors import BadInput

ROOT: Final = "pilotshare/v1"


class Channel(StrEnum):
    """The four channels of an instrument (CONTRACT §2)."""

    TELEMETRY = "telemetry"
    ACK = "ack"
    STATUS = "status"
    CMD = "cmd"


@dataclass(frozen=True, slots=True)
class Topic:
    """A validated topic of one instrument's channel; frozen, like aiomqtt's ``Topic``."""

    site: str
    instrument: str
    channel: Channel

    def __post_init__(self) -> None:
        for name, value in (("site", self.site), ("instrument", self.instrument)):
            if not is_slug(value):
                raise BadInput("bad_topic", f"{name} {value!r} is not a slug")

    def __str__(self) -> str:
        return f"{ROOT}/{self.site}/{self.instrument}/{self.channel.value}"

    def sibling(self, channel: Channel) -> Topic:
        """The same instrument's topic on another channel (telemetry → ack)."""
        return Topic(self.site, self.instrument, channel)


def parse_topic(topic: str) -> Topic:
    """Parse a concrete topic; raises ``BadInput('bad_topic', …)`` when it is not ours."""
    parts = topic.split("/")
    if len(parts) != 5 or f"{parts[0]}/{parts[1]}" != ROOT:
        raise BadInput("bad_topic", f"{topic!r} is not pilotshare/v1/<site>/<instrument>/<channel>")
    try:
        channel = Channel(parts[4])
    except ValueError:
        raise BadInput("bad_topic", f"unknown channel {parts[4]!r}") from None
    return Topic(parts[2], parts[3], channel)


def subscription(channel: Channel, *, site: str = "+", instrument: str = "+") -> str:
    """A subscription filter for one channel, wildcards by default."""
    return f"{ROOT}/{site}/{instrument}/{channel.value}"
