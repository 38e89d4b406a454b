"""The one small interface every adapter implements, and the reading they all parse.

An adapter turns whatever the instrument speaks into a ``Sample`` at the ``now`` the runner
gives it. A failed or garbled read raises ``AdapterError``: the runner logs and counts it and
skips that sample, and the agent goes on.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Annotated, ClassVar

import msgspec

from pilotshare.core.contract import Command, MetricName, Sample
from pilotshare.core.domain import InstrumentState
from pilotshare.core.errors import PilotshareError


class AdapterError(PilotshareError):
    """The instrument could not be read this time (the sample is skipped and counted)."""


class Reading(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """What a ``command`` program prints (or an HTTP endpoint gives): state and numbers."""

    state: InstrumentState
    utilization: Annotated[float, msgspec.Meta(ge=0, le=1)] | None = None
    metrics: Annotated[dict[MetricName, float], msgspec.Meta(max_length=64)] = {}

    def at(self, now: datetime) -> Sample:
        return Sample(ts=now, state=self.state, utilization=self.utilization, metrics=self.metrics)


_reading = msgspec.json.Decoder(Reading)


def parse_reading(text: str) -> Reading:
    """A bare state word or a JSON ``Reading``; raises ``AdapterError`` saying what is wrong."""
    text = text.strip()
    if not text.startswith("{"):
        try:
            return Reading(InstrumentState(text))
        except ValueError:
            raise AdapterError(f"{text[:60]!r} is neither a state word nor JSON") from None
    try:
        reading = _reading.decode(text)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise AdapterError(f"bad reading: {exc}") from None
    check_finite(reading.metrics)
    return reading


def check_finite(metrics: dict[str, float]) -> None:
    for name, value in metrics.items():
        if not math.isfinite(value):
            raise AdapterError(f"metric {name} is not finite")


class Adapter:
    """Base of adapters: ``read`` is required; the rest have sensible no-op defaults."""

    #: Whether ``command`` really switches an interlock; the agent reports ``unsupported``
    #: for the commands of an adapter that does not.
    switches_interlock: ClassVar[bool] = False

    async def read(self, now: datetime) -> Sample | None:
        """Observe the instrument at ``now``; None: nothing to report this time."""
        raise NotImplementedError

    def next_change(self) -> datetime | None:
        """When the state is known to change next, so the runner can sample right then."""
        return None

    async def command(self, cmd: Command, now: datetime) -> None:  # noqa: ARG002 - ignored here
        """An interlock command (``lock``/``unlock``) from the backend; ignored by default."""
        return

    async def aclose(self) -> None:
        """Release connections and processes."""
        return
