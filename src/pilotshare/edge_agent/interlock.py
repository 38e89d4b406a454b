"""The agent's side of the interlock: apply the newest desired state only, and remember it.

The backend keeps one desired interlock state per instrument, retained on ``…/cmd`` and
numbered by a ``seq`` that rises with every change (CONTRACT §6). The broker may deliver the
same state twice (a re-send, the retained copy on every subscribe) or an older one after a
newer (a re-send racing a change), so the agent applies a command only when its ``seq`` is
newer than the last one it applied (``should_apply``). That last command is kept in a table
of the outbox's SQLite file, so a restarted agent never regresses to an older state; the
retained copy of the last applied one is applied once more after a restart, since the device
may have lost it while the agent was away (a PLC restarted), and only what was confirmed in
this run is reported. A command without ``seq`` comes from an older backend, which did not
retain commands: it is applied as it comes, and remembers nothing.

``InterlockDriver`` is the agent's task that does the switching: it applies the newest
wanted command through the adapter, retries one that failed every ``retry_s`` (reporting the
state it last confirmed meanwhile, never the one it failed to reach), and, when the adapter's
policy says so, locks the instrument if no desired state has arrived ``start_wait_s`` after
the start (the fail-safe). It never unlocks but on a desired state.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from pilotshare.core.clock import Clock
from pilotshare.core.contract import Command, Interlock, InterlockState, decode_command, encode
from pilotshare.core.errors import BadInput, ConfigError
from pilotshare.edge_agent.adapters.base import Adapter
from pilotshare.edge_agent.metrics import AgentMetrics

log = logging.getLogger(__name__)

#: The fail-safe's own command: a lock for no booking, claiming no ``seq``.
FAIL_SAFE_LOCK = Command(cmd="lock")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS interlock (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    seq     INTEGER NOT NULL,
    state   TEXT NOT NULL,
    command BLOB NOT NULL
)"""


def should_apply(applied_seq: int | None, cmd: Command) -> bool:
    """Whether ``cmd`` is news: newer than the last applied ``seq``, or without a ``seq``."""
    return cmd.seq is None or applied_seq is None or cmd.seq > applied_seq


def state_after(cmd: Command, *, switches: bool) -> InterlockState:
    """What an agent reports after applying ``cmd``: the state, or ``unsupported`` when its
    adapter cannot switch an interlock."""
    if not switches:
        return "unsupported"
    return "unlocked" if cmd.cmd == "unlock" else "locked"


@dataclass(frozen=True, slots=True)
class Applied:
    """The command applied last and the state it left."""

    command: Command
    state: InterlockState


class InterlockMemory:
    """The last applied command, in a table of the outbox file (its own connection)."""

    def __init__(self, path: Path) -> None:
        try:
            self._db = sqlite3.connect(path, isolation_level=None)
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise ConfigError(f"agent.outbox_path: cannot use {path}: {exc}") from None
        self.applied = self._load()
        self._current: Interlock | None = None  # what this run confirmed, for the status

    def _load(self) -> Applied | None:
        row = self._db.execute("SELECT state, command FROM interlock WHERE id = 1").fetchone()
        if row is None:
            return None
        state, raw = row
        try:
            return Applied(decode_command(raw), state)
        except BadInput:
            return None  # unreadable: the retained desired state comes again on subscribing

    @property
    def seq(self) -> int | None:
        """The ``seq`` of the last applied command (None: none yet)."""
        return None if self.applied is None else self.applied.command.seq

    def wants(self, cmd: Command) -> bool:
        """Whether ``cmd`` should be applied (see ``should_apply``); the last applied one is
        wanted once more after a restart, until this run has confirmed it."""
        if should_apply(self.seq, cmd):
            return True
        current = None if self._current is None else self._current.seq
        return cmd.seq == self.seq and current != cmd.seq

    def record(self, cmd: Command, state: InterlockState) -> None:
        """Remember that ``cmd`` was applied and left ``state`` (durably, before reporting)."""
        if cmd.seq is None:
            self._current = Interlock(state=state, seq=self.seq)
            return
        self._current = Interlock(state=state, seq=cmd.seq)
        self._db.execute(
            "INSERT INTO interlock VALUES (1, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET "
            "seq = excluded.seq, state = excluded.state, command = excluded.command",
            (cmd.seq, state, encode(cmd)),
        )
        self.applied = Applied(cmd, state)

    def failed_safe(self) -> None:
        """The fail-safe lock is confirmed: report ``locked`` for no ``seq`` (the backend then
        keeps sending its desired state), and remember nothing."""
        self._current = Interlock(state="locked", seq=None)

    def report(self) -> Interlock | None:
        """The ``interlock`` of the agent's status: what this run confirmed (None: nothing
        yet; the backend keeps what it knew)."""
        return self._current

    def close(self) -> None:
        self._db.close()


class InterlockDriver:
    """Applies desired interlock states through the adapter, one at a time; see the module
    docstring. ``report`` is awaited after each confirmed switch (it publishes the status)."""

    def __init__(
        self,
        adapter: Adapter,
        memory: InterlockMemory,
        clock: Clock,
        metrics: AgentMetrics,
        *,
        report: Callable[[], Awaitable[None]],
    ) -> None:
        self.adapter = adapter
        self.memory = memory
        self.clock = clock
        self.metrics = metrics
        self._report = report
        self._pending: Command | None = None
        self._retry_at: float | None = None
        self._heard = False  # a desired state arrived in this run
        self._wake = asyncio.Event()
        self._failing: str | None = None
        self._streak = 0  # failures in a row
        self.failures = 0

    @property
    def pending(self) -> Command | None:
        """The command waiting to be applied (or retried), if any."""
        return self._pending

    def offer(self, cmd: Command) -> None:
        """A desired state from ``…/cmd``: applied soon when it is wanted."""
        self._heard = True
        if not self.memory.wants(cmd):
            log.debug("%s: interlock seq %s already applied", self.metrics.instrument, cmd.seq)
            return
        old = self._pending
        if old is not None and None not in (old.seq, cmd.seq) and cmd.seq < old.seq:  # type: ignore[operator]
            return  # an older state racing the one waiting to be applied
        self._pending = cmd
        self._retry_at = None
        self.metrics.interlock_pending.set(1)
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Until ``stop``: apply what is pending, retry what failed, lock when nobody says."""
        policy = self.adapter.interlock_policy
        fail_safe_at: float | None = None
        if self.adapter.switches_interlock and policy.on_start == "lock":
            fail_safe_at = self.clock.monotonic() + policy.start_wait_s
        while not stop.is_set():
            self._wake.clear()
            now = self.clock.monotonic()
            cmd = self._pending
            if cmd is not None and (self._retry_at is None or now >= self._retry_at):
                if await self._apply(cmd):
                    if self._pending is cmd:
                        self._pending = None
                        self.metrics.interlock_pending.set(0)
                else:
                    self._retry_at = self.clock.monotonic() + policy.retry_s
                continue
            if self._heard:
                fail_safe_at = None
            elif fail_safe_at is not None and now >= fail_safe_at:
                self.metrics.interlock_pending.set(1)
                if await self._apply(FAIL_SAFE_LOCK, fail_safe=True):
                    fail_safe_at = None
                    self.metrics.interlock_pending.set(1 if self._pending else 0)
                else:
                    fail_safe_at = self.clock.monotonic() + policy.retry_s
                continue
            due = [t for t in (self._retry_at if cmd else None, fail_safe_at) if t is not None]
            wait = min(due) - now if due else None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(_either(self._wake, stop), wait)

    async def _apply(self, cmd: Command, *, fail_safe: bool = False) -> bool:
        instrument = self.metrics.instrument
        what = "fail-safe lock" if fail_safe else f"interlock {cmd.cmd} (seq {cmd.seq})"
        try:
            await self.adapter.command(cmd, self.clock.now())
        except Exception as exc:  # noqa: BLE001 - any failure is retried, never fatal
            self.failures += 1
            self._streak += 1
            self.metrics.interlock_failures.inc()
            reason = str(exc) or type(exc).__name__
            level = logging.DEBUG if reason == self._failing else logging.WARNING
            self._failing = reason
            log.log(
                level,
                "%s: %s failed: %s (reporting the state last confirmed; retry in %.1f s)",
                instrument,
                what,
                reason,
                self.adapter.interlock_policy.retry_s,
            )
            return False
        if self._failing is not None:
            log.info("%s: %s applied after %d failures", instrument, what, self._streak)
            self._failing = None
            self._streak = 0
        else:
            until = cmd.until.isoformat() if cmd.until else "further notice"
            log.info("%s: %s applied, until %s", instrument, what, until)
        if fail_safe:
            self.memory.failed_safe()
        else:
            self.memory.record(cmd, state_after(cmd, switches=self.adapter.switches_interlock))
        await self._report()
        return True


async def _either(event: asyncio.Event, stop: asyncio.Event) -> None:
    waits = [asyncio.ensure_future(event.wait()), asyncio.ensure_future(stop.wait())]
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waits:
            w.cancel()
