"""What the ingest holds between receiving a message and committing it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from pilotshare.core.contract import Channel, Rejection, Status, TelemetryBatch, Topic
from pilotshare.twin.state import Live


@dataclass(slots=True)
class TelemetryItem:
    """A valid telemetry message (or the valid part of one) waiting to be stored."""

    topic: Topic
    batch: TelemetryBatch
    raw: bytes
    received_at: datetime
    received: float  # monotonic seconds
    #: The batch's refused samples, kept as a reject when the valid ones are stored.
    refused: RejectItem | None = None

    @property
    def weight(self) -> int:
        return len(self.batch.samples)


@dataclass(slots=True)
class StatusItem:
    """An agent's status (or last will) waiting to be applied."""

    topic: Topic
    status: Status
    raw: bytes
    received_at: datetime
    received: float
    weight: int = 1


@dataclass(slots=True)
class RejectItem:
    """A message that failed validation, kept whole with why.

    ``batch`` is its batch number when one could be read (its reject is then kept once per
    topic, batch and reason); ``ack`` is set when nothing in the batch can be stored, and the batch
    is acknowledged there as rejected (CONTRACT §6).
    """

    topic: str
    reason: str
    detail: str
    payload: bytes
    received_at: datetime
    received: float
    weight: int = 1
    batch: int | None = None
    ack: Topic | None = None

    @classmethod
    def whole(
        cls, item: TelemetryItem | StatusItem, reason: str, detail: str, received_at: datetime
    ) -> RejectItem:
        """The reject of a decoded message that cannot be stored: its whole message, and
        for a telemetry batch its number and ack topic (it is acknowledged as rejected)."""
        reject = cls(str(item.topic), reason, detail, item.raw, received_at, item.received)
        if isinstance(item, TelemetryItem):
            reject.batch, reject.ack = item.batch.batch, item.topic.sibling(Channel.ACK)
        return reject


Item = TelemetryItem | StatusItem | RejectItem


@dataclass(slots=True)
class FlushResult:
    """What a committed flush did."""

    stored: int = 0
    samples: int = 0
    acks: dict[Topic, list[int]] = field(default_factory=dict)
    rejected: dict[Topic, list[Rejection]] = field(default_factory=dict)
    changes: list[Live] = field(default_factory=list)
    rejects: dict[str, int] = field(default_factory=dict)

    def add(self, other: FlushResult) -> None:
        """Count ``other`` in too (a chunk stored message by message)."""
        self.stored += other.stored
        self.samples += other.samples
        for topic, batches in other.acks.items():
            self.acks.setdefault(topic, []).extend(batches)
        for topic, refused in other.rejected.items():
            self.rejected.setdefault(topic, []).extend(refused)
        self.changes.extend(other.changes)
        for reason, n in other.rejects.items():
            self.rejects[reason] = self.rejects.get(reason, 0) + n
