"""1 Hz telemetry of a ``SimulatedInstrument`` whose MTBF and MTTR are known.

``simulate`` plays the instrument's state machine over a span and records its transitions;
``ticks`` says what an agent sampling it every second reports (the state at each whole
second, none while the agent is offline). The agent's outages are a seeded Poisson process,
so the learned behaviour must cope with silence as in the field.

Four weeks at 1 Hz are 2.4 million samples. ``samples`` yields all of them (for the
database); ``thinned`` keeps only those that ``twin.stats.intervals`` can tell apart from
the full stream (every change of state, the samples on both sides of each silence, and a
heartbeat well within the offline gap), so the many-seed checks learn from exactly the
intervals that the full stream gives, at a small cost.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import numpy.typing as npt

from pilotshare.core.domain import InstrumentState
from pilotshare.edge_agent.adapters.simulated import SimulatedInstrument, SimulatedParams

T0 = datetime(2026, 3, 2, tzinfo=UTC)  # a Monday
GAP = timedelta(seconds=30)  # the deployment's default offline gap
HEARTBEAT = 20  # seconds: a kept sample at least this often, well within the gap
STATES: tuple[InstrumentState, ...] = tuple(InstrumentState)

IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Trace:
    """What an agent sampling once a second saw: tick ``k`` is ``start + k`` seconds."""

    start: datetime
    seconds: int
    present: npt.NDArray[np.bool_]  # the agent reported at this tick
    state: IntArray  # index into STATES of the state at each tick
    failures: int  # true failures in the span (the instrument's own count)

    @property
    def end(self) -> datetime:
        return self.start + timedelta(seconds=self.seconds)


def simulate(
    params: SimulatedParams,
    seed: int,
    *,
    days: float = 28.0,
    start: datetime = T0,
    outage_every_h: float = 0.0,
    outage_mean_s: float = 1800.0,
) -> Trace:
    """The 1 Hz trace of ``SimulatedInstrument(params, seed)`` over ``days``.

    With ``outage_every_h`` the agent is offline now and then (exponential gaps of that mean
    between outages, exponential outage lengths of ``outage_mean_s``); the instrument goes on
    meanwhile, only its telemetry stops.
    """
    n = int(days * 86_400)
    inst = SimulatedInstrument(params, seed, start=start, record=True)
    inst.advance(start + timedelta(seconds=n))
    assert inst.transitions is not None
    at = np.array([(tr.at - start).total_seconds() for tr in inst.transitions])
    code = np.array([STATES.index(tr.state) for tr in inst.transitions], dtype=np.int64)
    k = np.arange(n, dtype=np.float64)
    state = code[np.searchsorted(at, k, side="right") - 1]
    present = np.ones(n, dtype=bool)
    if outage_every_h > 0:
        rng = random.Random(f"{seed}/outages")
        t = rng.expovariate(1 / (outage_every_h * 3600))
        while t < n:
            length = rng.expovariate(1 / outage_mean_s)
            present[int(t) : int(t + length) + 1] = False
            t += length + rng.expovariate(1 / (outage_every_h * 3600))
    down = STATES.index(InstrumentState.DOWN)
    failures = int(np.sum((code[1:] == down) & (code[:-1] != down)) + (code[0] == down))
    return Trace(start, n, present, state, failures)


def _kept(trace: Trace) -> IntArray:
    """Ticks whose samples decide the intervals of the full stream."""
    p, s = trace.present, trace.state
    n = trace.seconds
    keep = p.copy()
    changed = np.ones(n, dtype=bool)
    changed[1:] = (s[1:] != s[:-1]) | (p[1:] != p[:-1])
    before_change = np.zeros(n, dtype=bool)
    before_change[:-1] = changed[1:]
    before_change[-1] = True
    heartbeat = np.arange(n) % HEARTBEAT == 0
    keep &= changed | before_change | heartbeat
    return np.flatnonzero(keep)


def thinned(trace: Trace) -> list[tuple[datetime, InstrumentState]]:
    """The samples of the 1 Hz stream that ``intervals`` needs (the same intervals)."""
    return [
        (trace.start + timedelta(seconds=int(k)), STATES[int(trace.state[k])]) for k in _kept(trace)
    ]


def samples(trace: Trace) -> Iterator[tuple[datetime, InstrumentState]]:
    """Every sample the agent reported, one a second."""
    for k in np.flatnonzero(trace.present):
        yield trace.start + timedelta(seconds=int(k)), STATES[int(trace.state[k])]


def running_hours(trace: Trace) -> float:
    """Hours the instrument truly spent running (observed or not)."""
    return float(np.sum(trace.state == STATES.index(InstrumentState.RUNNING))) / 3600
