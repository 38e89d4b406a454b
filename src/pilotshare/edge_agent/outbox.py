"""The durable outbox: SQLite in WAL mode, carrying out ``protocol`` effects.

Every sample is committed the moment it is taken (``synchronous=FULL``: it survives a power
cut, not only a crash), so a killed agent loses nothing it has sampled. Sealing a batch is one
transaction that assigns the pending samples to the batch *and* advances the batch counter, so
after any crash a batch is whole or does not exist, and a number is never used twice.

A fresh outbox starts its counter at the current time in milliseconds: if the file is lost
(a replaced disk), batch numbers still increase across the agent's lifetime as the contract
asks, as long as the clock does not go back.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import msgspec

from pilotshare.core.contract import Sample, TelemetryBatch, encode
from pilotshare.core.errors import ConfigError
from pilotshare.edge_agent.protocol import Discard, Drop, Effect, Forget, Seal, Send

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS samples (
    id     INTEGER PRIMARY KEY,
    batch  INTEGER,
    ts     REAL NOT NULL,
    body   BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS samples_batch ON samples (batch);
CREATE TABLE IF NOT EXISTS batches (number INTEGER PRIMARY KEY, samples INTEGER NOT NULL);
"""

#: The oldest ``count`` pending samples join the batch: exactly those the protocol counted,
#: even when a newer sample was committed before the seal was carried out.
_SEAL = (
    "UPDATE samples SET batch = ? WHERE id IN "
    "(SELECT id FROM samples WHERE batch IS NULL ORDER BY id LIMIT ?)"
)

_sample_encoder = msgspec.json.Encoder()
_sample_decoder = msgspec.json.Decoder(Sample)


@dataclass(frozen=True, slots=True)
class Stored:
    """What an outbox holds when it is opened: the protocol is restarted from this."""

    next_batch: int
    pending: int
    pending_bytes: int
    batches: tuple[tuple[int, int], ...]
    dropped: int


class Outbox:
    """One instrument's outbox file; not thread-safe (the runner's loop owns it)."""

    def __init__(self, path: Path, *, first_batch: int) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_SCHEMA)
            self._db.execute(
                "INSERT OR IGNORE INTO meta VALUES ('next_batch', ?), ('dropped', 0)",
                (first_batch,),
            )
        except (OSError, sqlite3.Error) as exc:
            raise ConfigError(f"agent.outbox_path: cannot use {path}: {exc}") from None

    def close(self) -> None:
        self._db.close()

    def stored(self) -> Stored:
        """The counter, pending count and unacknowledged batches, as on disk."""
        meta = dict(self._db.execute("SELECT key, value FROM meta").fetchall())
        pending, pending_bytes = self._db.execute(
            "SELECT count(*), coalesce(sum(length(body) + 1), 0) FROM samples WHERE batch IS NULL"
        ).fetchone()
        batches = tuple(self._db.execute("SELECT number, samples FROM batches ORDER BY number"))
        return Stored(
            int(meta["next_batch"]), int(pending), int(pending_bytes), batches, int(meta["dropped"])
        )

    def append(self, sample: Sample) -> int:
        """Commit one sample to the pending list; returns its encoded size in bytes."""
        body = _sample_encoder.encode(sample)
        self._db.execute(
            "INSERT INTO samples (batch, ts, body) VALUES (NULL, ?, ?)",
            (sample.ts.timestamp(), body),
        )
        return len(body)

    def apply(self, effect: Effect) -> None:
        """Carry out a storage effect (``Send`` is the runner's; it is ignored here)."""
        match effect:
            case Seal(number, count):
                self._write(
                    [
                        ("INSERT INTO batches VALUES (?, ?)", (number, count)),
                        (_SEAL, (number, count)),
                        ("UPDATE meta SET value = ? WHERE key = 'next_batch'", (number + 1,)),
                    ]
                )
            case Forget(numbers) | Discard(numbers):
                self._delete(numbers, durable=False)
            case Drop(numbers, lost):
                self._delete(
                    numbers, ("UPDATE meta SET value = value + ? WHERE key = 'dropped'", (lost,))
                )
            case Send():
                pass

    def payload(self, number: int, agent: str) -> bytes:
        """The telemetry message of a stored batch."""
        rows = self._db.execute(
            "SELECT body FROM samples WHERE batch = ? ORDER BY id", (number,)
        ).fetchall()
        samples = tuple(_sample_decoder.decode(body) for (body,) in rows)
        return encode(TelemetryBatch(agent=agent, batch=number, samples=samples))

    def oldest(self) -> datetime | None:
        """The time of the oldest sample held (for the oldest-unacknowledged-age metric)."""
        row = self._db.execute("SELECT ts FROM samples ORDER BY id LIMIT 1").fetchone()
        return datetime.fromtimestamp(row[0], UTC) if row else None

    def dropped(self) -> int:
        """Samples dropped over the bound in this outbox's lifetime."""
        (value,) = self._db.execute("SELECT value FROM meta WHERE key = 'dropped'").fetchone()
        return int(value)

    def _delete(
        self,
        numbers: Iterable[int],
        extra: tuple[str, tuple[int, ...]] | None = None,
        *,
        durable: bool = True,
    ) -> None:
        statements: list[tuple[str, tuple[int, ...]]] = []
        for n in numbers:
            statements += [
                ("DELETE FROM samples WHERE batch = ?", (n,)),
                ("DELETE FROM batches WHERE number = ?", (n,)),
            ]
        if extra is not None:
            statements.append(extra)
        self._write(statements, durable=durable)

    def _write(
        self, statements: list[tuple[str, tuple[int, ...]]], *, durable: bool = True
    ) -> None:
        """Run statements as one transaction: all of them reach the disk, or none.

        ``durable=False`` skips the fsync (the next durable commit carries it): for deleting
        acknowledged batches, where losing the delete to a power cut only means a harmless
        resend.
        """
        if not durable:
            self._db.execute("PRAGMA synchronous=NORMAL")
        try:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                for sql, params in statements:
                    self._db.execute(sql, params)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
        finally:
            if not durable:
                self._db.execute("PRAGMA synchronous=FULL")
