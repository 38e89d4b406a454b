"""The one small interface every adapter implements, and the reading they all parse.

An adapter turns whatever the instrument speaks into a ``Sample`` at the ``now`` the runner
gives it. A failed or garbled read raises ``AdapterError``: the runner logs and counts it and
skips that sample, and the agent goes on.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Annotated, Literal

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


class InterlockPolicy(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """How the agent drives an adapter's interlock when the backend is not heard from.

    ``on_start = "lock"``: lock ``start_wait_s`` after the agent starts unless a desired state
    has arrived by then (the fail-safe; a lock never claims a ``seq``); ``"none"``: leave the
    instrument as it is until one arrives. An unlock is only ever applied from a desired
    state. A switch that fails is tried again every ``retry_s`` until it works or a newer
    desired state replaces it.
    """

    on_start: Literal["lock", "none"] = "lock"
    start_wait_s: Annotated[float, msgspec.Meta(ge=0)] = 10.0
    retry_s: Annotated[float, msgspec.Meta(gt=0)] = 5.0


#: The policy of an adapter whose resting state needs no fail-safe (the simulated one).
NO_FAIL_SAFE = InterlockPolicy(on_start="none")


class Adapter:
    """Base of adapters: ``read`` is required; the rest have sensible no-op defaults."""

    #: Whether ``command`` really switches an interlock; the agent reports ``unsupported``
    #: for the commands of an adapter that does not. An adapter may set it per instance
    #: (when its config has an interlock section).
    switches_interlock: bool = False
    #: What the agent does about the interlock while no desired state has arrived, and how
    #: often it retries a failed switch (only used when ``switches_interlock``).
    interlock_policy: InterlockPolicy = NO_FAIL_SAFE

    async def read(self, now: datetime) -> Sample | None:
        """Observe the instrument at ``now``; None: nothing to report this time."""
        raise NotImplementedError

    def next_change(self) -> datetime | None:
        """When the state is known to change next, so the runner can sample right then."""
        return None

    async def command(self, cmd: Command, now: datetime) -> None:  # noqa: ARG002 - ignored here
        """Switch the interlock to ``cmd.cmd`` (``lock``/``unlock``); ignored by default.

        Return only once the switch is confirmed (read back, exit status, HTTP status): the
        agent then reports the new state. Raise ``AdapterError`` when it is not; the agent
        reports the state it last confirmed and tries again. ``cmd.seq`` is None for the
        fail-safe lock and for commands of an older backend.
        """
        return

    async def aclose(self) -> None:
        """Release connections and processes."""
        return
