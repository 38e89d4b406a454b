"""The agent's side of the interlock: apply the newest desired state only, and remember it.

The backend keeps one desired interlock state per instrument, retained on ``…/cmd`` and
numbered by a ``seq`` that rises with every change (CONTRACT §6). The broker may deliver the
same state twice (a re-send, the retained copy on every subscribe) or an older one after a
newer (a re-send racing a change), so the agent applies a command only when its ``seq`` is
newer than the last one it applied (``should_apply``). That last command is kept in a table
of the outbox's SQLite file, so a restarted agent neither regresses to an older state nor
applies the retained one twice; it gives the adapter back the state it had (``restore``).
A command without ``seq`` comes from an older backend, which did not retain commands: it is
applied as it comes, and remembers nothing.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

from pilotshare.core.contract import Command, Interlock, InterlockState, decode_command, encode
from pilotshare.core.errors import BadInput, ConfigError

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
        self._legacy: InterlockState | None = None  # applied from a command without seq

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
        """Whether ``cmd`` should be applied (see ``should_apply``)."""
        return should_apply(self.seq, cmd)

    def record(self, cmd: Command, state: InterlockState) -> None:
        """Remember that ``cmd`` was applied and left ``state`` (durably, before reporting)."""
        if cmd.seq is None:
            self._legacy = state
            return
        self._legacy = None
        self._db.execute(
            "INSERT INTO interlock VALUES (1, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET "
            "seq = excluded.seq, state = excluded.state, command = excluded.command",
            (cmd.seq, state, encode(cmd)),
        )
        self.applied = Applied(cmd, state)

    def report(self) -> Interlock | None:
        """The ``interlock`` of the agent's status (None: no command seen yet)."""
        if self._legacy is not None:
            return Interlock(state=self._legacy, seq=self.seq)
        if self.applied is None:
            return None
        return Interlock(state=self.applied.state, seq=self.applied.command.seq)

    def close(self) -> None:
        self._db.close()
