"""What the ingest holds between receiving a message and committing it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from pilotshare.core.contract import Status, TelemetryBatch, Topic
from pilotshare.twin.state import Live


@dataclass(slots=True)
class TelemetryItem:
    """A valid telemetry message waiting to be stored."""

    topic: Topic
    batch: TelemetryBatch
    raw: bytes
    received_at: datetime
    received: float  # monotonic seconds

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
    """A message that failed validation, kept whole with why."""

    topic: str
    reason: str
    detail: str
    payload: bytes
    received_at: datetime
    received: float
    weight: int = 1


Item = TelemetryItem | StatusItem | RejectItem


@dataclass(slots=True)
class FlushResult:
    """What a committed flush did."""

    stored: int = 0
    samples: int = 0
    acks: dict[Topic, list[int]] = field(default_factory=dict)
    changes: list[Live] = field(default_factory=list)
    rejects: dict[str, int] = field(default_factory=dict)
