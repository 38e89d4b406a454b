"""A simulated instrument: a seeded state machine with known true parameters.

It serves demos, tests and benchmarks, and it is a library object: ``SimulatedInstrument(params,
seed).step(now)`` reads no clock, so the same seed gives the same trace, in wall time or in
virtual time, and history with known MTBF, MTTR and run lengths can be generated in
milliseconds.

The model (every number is a field of ``SimulatedParams``):

- ``idle`` → (``setup``) → ``running`` → ``idle`` …; idle gaps are exponential with mean
  ``idle_mean_s``, setups exponential with mean ``setup_mean_s`` (0: no setup), run lengths
  lognormal with mean ``run_mean_s`` and shape ``run_sigma``.
- Failures happen only while running: the running time between failures is exponential with
  mean ``mtbf_s`` (so MTBF is in *running* hours); a failure ends the run and the instrument is
  ``down`` for an exponential repair with mean ``mttr_s``, then idle.
- Preventive ``maintenance`` of ``maintenance_s`` every ``maintenance_every_s`` of calendar time
  (0: never), taken at the next idle moment.
- Bookings (``follow_bookings``): runs start only inside booked slots; a slot is a no-show with
  probability ``p_no_show``; the first run starts late by an exponential with mean
  ``late_start_mean_s``; a run still going at the slot's end overruns with probability
  ``p_overrun`` by an exponential with mean ``overrun_mean_s``, else it stops at the end.
- Interlock: while locked no setup or run starts (a run in progress finishes, a setup in
  progress ends without a run).
- Metrics move with the state: ``power_w`` (per-state draw, scaled by utilisation while
  running, 1 % noise) and ``chamber_c`` (first-order approach to the state's temperature with
  time constant ``temp_tau_s``).

State transitions draw from one generator and metric noise from another, so the state trace
does not depend on how often ``step`` is called.
"""

from __future__ import annotations

import bisect
import math
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated

import msgspec

from pilotshare.core.contract import Command, Sample
from pilotshare.core.domain import InstrumentState
from pilotshare.edge_agent.adapters.base import Adapter

NonNeg = Annotated[float, msgspec.Meta(ge=0)]
Pos = Annotated[float, msgspec.Meta(gt=0)]
Prob = Annotated[float, msgspec.Meta(ge=0, le=1)]

S = InstrumentState


class SimulatedParams(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """The true parameters of a simulated instrument (seconds unless named otherwise)."""

    run_mean_s: Pos = 1800.0
    run_sigma: NonNeg = 0.5
    idle_mean_s: Pos = 900.0
    setup_mean_s: NonNeg = 300.0
    mtbf_s: Pos = 86_400.0
    mttr_s: Pos = 3600.0
    maintenance_every_s: NonNeg = 0.0
    maintenance_s: Pos = 7200.0
    utilization_mean: Prob = 0.85
    idle_power_w: NonNeg = 150.0
    setup_power_w: NonNeg = 400.0
    run_power_w: NonNeg = 1500.0
    down_power_w: NonNeg = 50.0
    ambient_c: float = 22.0
    run_temp_c: float = 180.0
    temp_tau_s: Pos = 600.0
    follow_bookings: bool = False
    p_no_show: Prob = 0.1
    late_start_mean_s: NonNeg = 600.0
    p_overrun: Prob = 0.2
    overrun_mean_s: NonNeg = 900.0
    locked_at_start: bool = False


@dataclass(frozen=True, slots=True)
class Transition:
    """The instrument entered ``state`` at ``at`` (kept when ``record=True``)."""

    at: datetime
    state: InstrumentState


@dataclass(slots=True)
class _Slot:
    start: datetime
    end: datetime
    decided: bool = False
    no_show: bool = False
    first_run_at: datetime | None = None


def _exp(rng: random.Random, mean: float) -> float:
    return rng.expovariate(1.0 / mean) if mean > 0 else 0.0


class SimulatedInstrument:
    """The state machine; ``step(now)`` advances it to ``now`` and returns a sample."""

    def __init__(
        self, params: SimulatedParams, seed: int, *, start: datetime, record: bool = False
    ) -> None:
        self.params = params
        self._rng = random.Random(seed)  # noqa: S311 - a simulation, not a secret
        self._noise = random.Random(f"{seed}/noise")  # noqa: S311
        self.state = S.IDLE
        self.since = start
        self._t = start
        self._until: datetime | None = start + self._secs(_exp(self._rng, params.idle_mean_s))
        self._ttf = _exp(self._rng, params.mtbf_s)  # running seconds to the next failure
        self._failing = False  # the current run ends in a failure
        self._util = 0.0
        self._temp = params.ambient_c
        self._next_maintenance = (
            start + self._secs(params.maintenance_every_s) if params.maintenance_every_s else None
        )
        self._slots: list[_Slot] = []
        self._locked = params.locked_at_start
        self._lock_until: datetime | None = None
        self._waiting = False  # idle because locked or outside bookings, not by its own gap
        self.transitions: list[Transition] | None = [Transition(start, S.IDLE)] if record else None

    # -- public ------------------------------------------------------------------------------

    def step(self, now: datetime) -> Sample:
        """Advance to ``now`` (never backwards) and observe the instrument."""
        self.advance(now)
        p = self.params
        noise = 1.0 + self._noise.gauss(0.0, 0.01)
        power = {
            S.RUNNING: p.idle_power_w + (p.run_power_w - p.idle_power_w) * self._util,
            S.SETUP: p.setup_power_w,
            S.IDLE: p.idle_power_w,
            S.DOWN: p.down_power_w,
            S.MAINTENANCE: p.down_power_w,
        }[self.state]
        util = self._util if self.state is S.RUNNING else 0.0
        return Sample(
            ts=now,
            state=self.state,
            utilization=round(util, 4),
            metrics={
                "power_w": round(max(0.0, power * noise), 2),
                "chamber_c": round(self._temp + self._noise.gauss(0.0, 0.2), 2),
            },
        )

    def advance(self, now: datetime) -> None:
        """Play every transition due up to ``now``."""
        while self._until is not None and self._until <= now:
            self._enter_next(self._until)
        self._heat_to(max(now, self._t))

    def _advance_before(self, now: datetime) -> None:
        """Play the transitions due strictly before ``now``: what is due at ``now`` itself
        happens after a command received at ``now`` (a lock beats a start at the same instant).
        """
        while self._until is not None and self._until < now:
            self._enter_next(self._until)
        self._heat_to(max(now, self._t))

    def next_change(self) -> datetime | None:
        """When the next scheduled transition happens (None: waits for a booking or unlock)."""
        return self._until

    def add_booking(self, start: datetime, end: datetime, now: datetime | None = None) -> None:
        """Book ``[start, end)``; with ``follow_bookings`` runs start only inside bookings."""
        if end <= start:
            return
        bisect.insort(self._slots, _Slot(start, end), key=lambda s: s.start)
        self._wake(now or self._t)

    def interlock(self, *, locked: bool, until: datetime | None, now: datetime) -> None:
        """``lock``/``unlock`` until ``until``; afterwards the starting state returns."""
        self._advance_before(now)
        self._locked = locked
        self._lock_until = until
        if not locked and until is not None and self.params.follow_bookings:
            self.add_booking(now, until, now)
        self._wake(now)

    def locked(self, at: datetime) -> bool:
        if self._lock_until is not None and at >= self._lock_until:
            self._locked = self.params.locked_at_start
            self._lock_until = None
        return self._locked

    # -- the machine ----------------------------------------------------------------------

    @staticmethod
    def _secs(seconds: float) -> timedelta:
        return timedelta(seconds=seconds)

    def _heat_to(self, t: datetime) -> None:
        p = self.params
        target = {
            S.RUNNING: p.ambient_c + (p.run_temp_c - p.ambient_c) * max(self._util, 0.3),
            S.SETUP: (p.ambient_c + p.run_temp_c) / 2,
        }.get(self.state, p.ambient_c)
        dt = (t - self._t).total_seconds()
        if dt > 0:
            self._temp = target + (self._temp - target) * math.exp(-dt / p.temp_tau_s)
            self._t = t

    def _set(self, t: datetime, state: InstrumentState, until: datetime | None) -> None:
        self._heat_to(t)
        if state is not self.state and self.transitions is not None:
            self.transitions.append(Transition(t, state))
        if state is not self.state:
            self.since = t
        self.state = state
        # never schedule the past: a lock that holds a setup back may find maintenance fell
        # due during the setup, and that maintenance then starts now, not back then
        self._until = until if until is None or until >= t else t

    def _wake(self, now: datetime) -> None:
        """An idle instrument held back (lock, no booking) looks again: something changed."""
        if self.state is S.IDLE and self._waiting:
            self._until = now

    def _enter_next(self, t: datetime) -> None:
        p = self.params
        self._waiting = False
        if self.state is S.RUNNING:
            self._ttf -= (t - self.since).total_seconds()
            if self._failing:
                self._ttf = _exp(self._rng, p.mtbf_s)
                self._set(t, S.DOWN, t + self._secs(_exp(self._rng, p.mttr_s)))
            else:
                self._set(t, S.IDLE, t + self._secs(_exp(self._rng, p.idle_mean_s)))
            return
        if self.state is S.SETUP:
            if self.locked(t):  # locked during the setup: the run does not start
                self._set(t, S.IDLE, self._earliest(self._lock_until, self._next_maintenance))
                self._waiting = True
                return
            self._start_run(t)
            return
        if self.state in (S.DOWN, S.MAINTENANCE):
            if self.state is S.MAINTENANCE and self._next_maintenance is not None:
                self._next_maintenance = t + self._secs(p.maintenance_every_s)
            self._set(t, S.IDLE, t + self._secs(_exp(self._rng, p.idle_mean_s)))
            return
        # idle: maintenance first, then a run if allowed, else wait for the next chance
        if self._next_maintenance is not None and self._next_maintenance <= t:
            self._set(t, S.MAINTENANCE, t + self._secs(p.maintenance_s))
            return
        wait = self._blocked_until(t)
        if wait is not False:
            self._set(t, S.IDLE, wait if isinstance(wait, datetime) else None)
            self._waiting = True
            return
        if p.setup_mean_s > 0:
            self._set(t, S.SETUP, t + self._secs(_exp(self._rng, p.setup_mean_s)))
        else:
            self._start_run(t)

    def _blocked_until(self, t: datetime) -> datetime | bool | None:
        """False when a run may start at ``t``; else when to look again (None: on an event)."""
        if self.locked(t):
            return self._earliest(self._lock_until, self._next_maintenance)
        if not self.params.follow_bookings:
            return False
        slot = self._slot_at(t)
        if slot is None:
            later = [s.start for s in self._slots if s.start > t]
            return self._earliest(min(later) if later else None, self._next_maintenance)
        if not slot.decided:
            slot.decided = True
            slot.no_show = self._rng.random() < self.params.p_no_show
            late = _exp(self._rng, self.params.late_start_mean_s)
            slot.first_run_at = slot.start + self._secs(late)
        if slot.no_show:
            return slot.end
        if slot.first_run_at is not None and t < slot.first_run_at:
            return min(slot.first_run_at, slot.end)
        return False

    def _earliest(self, *times: datetime | None) -> datetime | None:
        present = [x for x in times if x is not None]
        return min(present) if present else None

    def _slot_at(self, t: datetime) -> _Slot | None:
        for slot in self._slots:
            if slot.start <= t < slot.end:
                return slot
        return None

    def _start_run(self, t: datetime) -> None:
        p = self.params
        if p.follow_bookings:
            slot = self._slot_at(t)
            if slot is None:  # the setup outlasted the booking
                self._set(t, S.IDLE, t)
                return
        sigma = p.run_sigma
        mu = math.log(p.run_mean_s) - sigma * sigma / 2
        length = self._rng.lognormvariate(mu, sigma) if sigma > 0 else p.run_mean_s
        end = t + self._secs(length)
        if p.follow_bookings and slot is not None and end > slot.end:
            if self._rng.random() < p.p_overrun:
                end = min(end, slot.end + self._secs(_exp(self._rng, p.overrun_mean_s)))
            else:
                end = slot.end
        self._util = min(1.0, max(0.05, self._rng.gauss(p.utilization_mean, 0.05)))
        failure = t + self._secs(self._ttf)
        self._failing = failure <= end
        self._set(t, S.RUNNING, min(end, failure))


class SimulatedAdapter(Adapter):
    """The agent-side wrapper: samples the instrument at the runner's ``now``."""

    switches_interlock = True

    def __init__(self, params: SimulatedParams, seed: int, *, start: datetime) -> None:
        self.instrument = SimulatedInstrument(params, seed, start=start)

    async def read(self, now: datetime) -> Sample:
        return self.instrument.step(now)

    def next_change(self) -> datetime | None:
        return self.instrument.next_change()

    async def command(self, cmd: Command, now: datetime) -> None:
        self.instrument.interlock(locked=cmd.cmd == "lock", until=cmd.until, now=now)
