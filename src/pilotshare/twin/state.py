"""The live state of one instrument and how messages and silence change it (pure).

An instrument's *reported* state is what its agent last said it was doing; its *effective*
state is that, or ``offline`` when the agent is gone. ``since`` is when the effective state
began. Three things move it, each a pure function of the old state and ``now``:

- ``apply_samples``: a committed batch of samples. Only samples newer than ``last_seen`` can
  change the reported state (older ones are history being back-filled by an agent's outbox),
  except while no state is known yet: then the first samples set it.
  Samples make an offline instrument online again only when the newest is recent (within
  ``offline_after``), so a replayed backlog does not make a dead agent flap.
- ``apply_status``: the agent's retained status or its last will.
- ``apply_silence``: nothing heard for longer than ``offline_after``.

The database row is the authority (several ingest processes may share a stream), so callers
load the row under a lock, apply these functions and write the result back.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from operator import attrgetter
from typing import Protocol

from pilotshare.core.domain import OFFLINE, InstrumentState


class Observed(Protocol):
    """The part of a sample the live state needs (``core.contract.Sample`` has it)."""

    @property
    def ts(self) -> datetime: ...
    @property
    def state(self) -> InstrumentState: ...
    @property
    def utilization(self) -> float | None: ...


@dataclass(frozen=True, slots=True)
class Observation:
    """A minimal ``Observed``."""

    ts: datetime
    state: InstrumentState
    utilization: float | None = None


@dataclass(frozen=True, slots=True)
class Live:
    """One instrument's live twin, as stored in ``instrument_live``."""

    instrument: str
    site: str
    online: bool = False
    state: InstrumentState | None = None
    since: datetime | None = None
    last_seen: datetime | None = None
    utilization: float | None = None
    last_batch: int | None = None
    agent: str | None = None
    agent_version: str | None = None
    interlock_state: str | None = None  # what the agent last reported it applied
    interlock_seq: int | None = None

    @property
    def current_state(self) -> InstrumentState | None:
        """The reported state while the agent is online (None: offline or never reported)."""
        return self.state if self.online else None

    @property
    def effective_state(self) -> str | None:
        """The reported state, or ``offline`` when the agent is gone (None: never heard)."""
        if not self.online:
            return OFFLINE if self.state is not None or self.last_seen is not None else None
        return self.state.value if self.state is not None else None

    def change_key(self) -> tuple[bool, str | None, str | None, int | None]:
        """What a change notification is about: online flag, effective state and the
        reported interlock (the booking lifecycle stops re-sending a command on it)."""
        return (self.online, self.effective_state, self.interlock_state, self.interlock_seq)

    def as_event(self) -> dict[str, object]:
        """The JSON body of a ``twin_changes`` notification."""
        return {
            "instrument": self.instrument,
            "site": self.site,
            "state": self.effective_state,
            "reported_state": self.state.value if self.state is not None else None,
            "since": _iso(self.since),
            "online": self.online,
            "last_seen": _iso(self.last_seen),
            "utilization": self.utilization,
            "interlock": None
            if self.interlock_state is None
            else {"state": self.interlock_state, "seq": self.interlock_seq},
        }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def apply_samples(
    live: Live,
    samples: Sequence[Observed],
    *,
    batch: int | None,
    now: datetime,
    offline_after: timedelta,
) -> Live:
    """The live state after committed ``samples`` (any order) of batch ``batch``."""
    last_batch = live.last_batch if batch is None else max(batch, live.last_batch or batch)
    seen = live.last_seen
    if live.state is None:
        # No state reported yet: the first samples set it even when a status (an agent
        # announces itself as it connects) already moved last_seen past them.
        seen = None
    fresh: list[Observed] = []
    for sample in sorted(
        (s for s in samples if seen is None or s.ts > seen), key=attrgetter("ts")
    ):  # stable: of samples with equal ts the first wins
        if not fresh or sample.ts != fresh[-1].ts:
            fresh.append(sample)
    if not fresh:
        return live if last_batch == live.last_batch else replace(live, last_batch=last_batch)
    state, since, online, utilization = live.state, live.since, live.online, live.utilization
    if not online and fresh[-1].ts >= now - offline_after:
        online = True
        since = fresh[0].ts
        state = fresh[0].state
    for sample in fresh:
        if sample.state != state:
            state = sample.state
            since = sample.ts
        if since is None:
            since = sample.ts
        if sample.utilization is not None:
            utilization = sample.utilization
    return replace(
        live,
        online=online,
        state=state,
        since=since,
        last_seen=max(fresh[-1].ts, live.last_seen or fresh[-1].ts),
        utilization=utilization,
        last_batch=last_batch,
    )


def apply_status(
    live: Live,
    *,
    online: bool,
    ts: datetime,
    now: datetime,
    agent: str | None = None,
    agent_version: str | None = None,
    interlock: tuple[str, int | None] | None = None,
) -> Live:
    """The live state after the agent's status message (or last will) received at ``now``.

    A will's ``ts`` is when the agent connected, so a change is dated ``now``, not ``ts``.
    ``interlock``: the (state, seq) the status reports; a status without one (a will, an
    older agent) keeps what was known.
    """
    seen_at = min(ts, now)
    last_seen = live.last_seen
    if online and (last_seen is None or seen_at > last_seen):
        last_seen = seen_at
    since = live.since
    if online != live.online:
        since = now if not online else seen_at
    return replace(
        live,
        online=online,
        since=since,
        last_seen=last_seen,
        agent=agent or live.agent,
        agent_version=agent_version or live.agent_version,
        interlock_state=interlock[0] if interlock else live.interlock_state,
        interlock_seq=interlock[1] if interlock else live.interlock_seq,
    )


def apply_silence(live: Live, *, now: datetime, offline_after: timedelta) -> Live:
    """Offline when nothing was heard for longer than ``offline_after`` (dated last seen)."""
    if not live.online:
        return live
    if live.last_seen is not None and live.last_seen >= now - offline_after:
        return live
    return replace(live, online=False, since=live.last_seen or now)
