"""The outbox protocol: what to seal, send, resend, forget and drop, decided without I/O.

Theory of operation
===================

The agent's promise is *at least once, end to end*: a sample leaves the outbox only when the
backend says, on ``…/ack``, that the batch holding it is committed to the database. Broker
acknowledgements (PUBACK) mean nothing here: a broker may accept a message and lose it, and the
ingest may die between reading a message and committing it (NOTES.md: aiomqtt acks before the
application sees the message). So the outbox, not the broker, is the durable copy.

This module is the bookkeeping of that promise and nothing else. Like h11 it does no I/O and
reads no clock: the runner feeds it *events* and carries out the *effects* it returns, in
order, on the SQLite outbox and the MQTT connection.

Events in:

- ``sample(now)``: the runner has appended one sample to the outbox's pending list.
- ``tick(now, connected=…)``: time has passed; the connection is up or not.
- ``ack(numbers)``: the backend committed these batches (unknown numbers are ignored: acks
  of resent or dropped batches, or duplicates, are normal).
- ``reject(numbers)``: the backend will never store these batches (CONTRACT §6: unknown
  instrument, malformed, every sample invalid); resending them would never end.
- ``disconnected()``: the connection went away; whatever was in flight is unsent again.

Effects out, each a frozen value:

- ``Seal(number, samples)``: move every pending sample into batch ``number``, in one
  transaction together with the new batch counter. A crash either sees the whole batch or none
  of it (no torn batch), and the counter never goes back.
- ``Send(number, resend)``: publish batch ``number`` (QoS 1) now.
- ``Forget(numbers)``: delete these acknowledged batches.
- ``Discard(numbers)``: delete these rejected batches (the backend keeps them as rejects).
- ``Drop(numbers, samples)``: the outbox is over its bound; delete these oldest batches
  unacknowledged and count their samples as lost. The newest data is kept.

Batch lifecycle (a table, as h11 keeps its states)::

    pending ──Seal (count or age)──> sealed ──Send──> in flight ──ack──> Forget
                                       ^                  ├──reject──> Discard
                                       │                  │
                                       └──timeout/disconnect (resend)
    sealed | in flight ──over outbox bound──> Drop

A batch is sealed when it holds ``batch_max_samples`` samples or its first sample is
``batch_max_age_s`` old, and before one more sample would take it past ``max_batch_bytes``
(the contract's 256 KiB: a larger batch would be refused, never acked, and resent forever).
At most ``max_inflight`` batches are in flight at once, so a day of backlog drains in order,
as fast as the backend acks, without flooding the broker's queue. A batch unacknowledged
``ack_timeout_s`` after its send is sent again with the same number: the backend stores each
``(instrument, ts)`` once, so a resend is harmless.

``now`` is seconds on any monotonic clock; it is only compared with itself.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Limits:
    """The knobs of the protocol (the agent config's names)."""

    batch_max_samples: int = 100
    batch_max_age_s: float = 5.0
    ack_timeout_s: float = 30.0
    max_samples: int = 10_000_000
    max_inflight: int = 32
    #: Bytes of encoded samples a batch may hold: the contract's 256 KiB, less the envelope.
    max_batch_bytes: int = 256 * 1024 - 1024

    def __post_init__(self) -> None:
        if self.batch_max_samples < 1:
            raise ValueError("batch_max_samples must be at least 1")
        if self.max_samples < self.batch_max_samples:
            raise ValueError("max_samples must be at least batch_max_samples")
        if self.batch_max_age_s < 0 or self.ack_timeout_s <= 0 or self.max_inflight < 1:
            raise ValueError("ages and timeouts must be positive, max_inflight at least 1")


@dataclass(frozen=True, slots=True)
class Seal:
    """Move all pending samples into batch ``number`` (one transaction)."""

    number: int
    samples: int


@dataclass(frozen=True, slots=True)
class Send:
    """Publish batch ``number``; ``resend`` when it was published before."""

    number: int
    resend: bool


@dataclass(frozen=True, slots=True)
class Forget:
    """Delete these acknowledged batches."""

    numbers: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Drop:
    """Delete these unacknowledged oldest batches: the bound is reached; count the loss."""

    numbers: tuple[int, ...]
    samples: int


@dataclass(frozen=True, slots=True)
class Discard:
    """Delete these batches the backend rejected for good (it keeps them as rejects)."""

    numbers: tuple[int, ...]


Effect = Seal | Send | Forget | Drop | Discard


@dataclass(slots=True)
class _Batch:
    samples: int
    sent_at: float | None = None
    sends: int = 0


class OutboxProtocol:
    """The state of one outbox: pending samples, sealed batches, what is in flight."""

    def __init__(
        self,
        limits: Limits,
        *,
        next_batch: int,
        now: float,
        pending: int = 0,
        pending_bytes: int = 0,
        batches: Iterable[tuple[int, int]] = (),
    ) -> None:
        """Start, or restart from what the outbox holds (then nothing counts as sent)."""
        self.limits = limits
        self._next = next_batch
        self._pending = pending
        self._pending_bytes = pending_bytes
        self._pending_since: float | None = now if pending else None
        self._batches: dict[int, _Batch] = {}
        for number, samples in sorted(batches):
            if number >= self._next:
                raise ValueError(f"stored batch {number} is not below the counter {self._next}")
            self._batches[number] = _Batch(samples)

    # -- what it holds ------------------------------------------------------------------------

    @property
    def next_batch(self) -> int:
        return self._next

    @property
    def pending(self) -> int:
        """Samples not yet in a batch."""
        return self._pending

    @property
    def depth(self) -> int:
        """Samples held: pending and in unacknowledged batches."""
        return self._pending + sum(b.samples for b in self._batches.values())

    @property
    def unacked(self) -> tuple[int, ...]:
        """Numbers of the sealed, unacknowledged batches, oldest first."""
        return tuple(self._batches)

    @property
    def in_flight(self) -> int:
        return sum(1 for b in self._batches.values() if b.sent_at is not None)

    # -- events -------------------------------------------------------------------------------

    def sample(self, now: float, size: int = 0) -> list[Effect]:
        """One more pending sample of ``size`` encoded bytes; may seal and drop.

        A batch that would outgrow ``max_batch_bytes`` with this sample is sealed first, so no
        batch is ever too large for the backend to take (it would be refused, never acked,
        and resent forever).
        """
        effects: list[Effect] = []
        if self._pending and self._pending_bytes + size + 1 > self.limits.max_batch_bytes:
            effects.append(self._seal())
        if self._pending == 0:
            self._pending_since = now
        self._pending += 1
        self._pending_bytes += size + 1  # and a comma
        if self._pending >= self.limits.batch_max_samples:
            effects.append(self._seal())
        dropped = self._enforce_bound()
        if dropped is not None:
            effects.append(dropped)
        return effects

    def tick(self, now: float, *, connected: bool) -> list[Effect]:
        """Seal an old pending batch; when connected, send what is due."""
        effects: list[Effect] = []
        since = self._pending_since
        if self._pending and since is not None and now - since >= self.limits.batch_max_age_s:
            effects.append(self._seal())
        if not connected:
            return effects
        for number, batch in self._batches.items():
            if batch.sent_at is not None and now - batch.sent_at >= self.limits.ack_timeout_s:
                effects.append(self._send(number, batch, now))
        room = self.limits.max_inflight - self.in_flight
        for number, batch in self._batches.items():
            if room <= 0:
                break
            if batch.sent_at is None:
                effects.append(self._send(number, batch, now))
                room -= 1
        return effects

    def ack(self, numbers: Iterable[int]) -> list[Effect]:
        """The backend committed these batches."""
        known = self._settle(numbers)
        return [Forget(known)] if known else []

    def reject(self, numbers: Iterable[int]) -> list[Discard]:
        """The backend will never store these batches: stop sending them."""
        known = self._settle(numbers)
        return [Discard(known)] if known else []

    def _settle(self, numbers: Iterable[int]) -> tuple[int, ...]:
        """Stop tracking the known ones of ``numbers`` (an ack or a rejection); which, sorted."""
        known = tuple(sorted({n for n in numbers if n in self._batches}))
        for number in known:
            del self._batches[number]
        return known

    def disconnected(self) -> None:
        """Whatever was in flight is unsent again (its ack may never come)."""
        for batch in self._batches.values():
            batch.sent_at = None

    def deadline(self, *, connected: bool) -> float | None:
        """When ``tick`` next has work (None: only a new event can create work)."""
        times: list[float] = []
        if self._pending and self._pending_since is not None:
            times.append(self._pending_since + self.limits.batch_max_age_s)
        if connected:
            room = self.limits.max_inflight - self.in_flight
            for batch in self._batches.values():
                if batch.sent_at is not None:
                    times.append(batch.sent_at + self.limits.ack_timeout_s)
                elif room > 0:
                    times.append(float("-inf"))
        return min(times) if times else None

    # -- internals ----------------------------------------------------------------------------

    def _seal(self) -> Seal:
        number, samples = self._next, self._pending
        self._batches[number] = _Batch(samples)
        self._next += 1
        self._pending = 0
        self._pending_bytes = 0
        self._pending_since = None
        return Seal(number, samples)

    def _send(self, number: int, batch: _Batch, now: float) -> Send:
        batch.sent_at = now
        batch.sends += 1
        return Send(number, resend=batch.sends > 1)

    def _enforce_bound(self) -> Drop | None:
        over = self.depth - self.limits.max_samples
        if over <= 0:
            return None
        numbers: list[int] = []
        lost = 0
        for number, batch in self._batches.items():
            if lost >= over:
                break
            numbers.append(number)
            lost += batch.samples
        for number in numbers:
            del self._batches[number]
        return Drop(tuple(numbers), lost) if numbers else None


def backoff_delay(attempt: int, rng: random.Random, *, base: float, cap: float) -> float:
    """Seconds to wait before reconnect ``attempt`` (0-based): exponential, half jittered.

    Half of the delay is fixed so a broker restart is not hammered at once by every agent of a
    site, and half random so they spread out.
    """
    ceiling = min(cap, base * 2.0 ** min(attempt, 32))
    return ceiling / 2 + rng.uniform(0, ceiling / 2)


@dataclass(slots=True)
class FailureStreak:
    """An adapter's run of failed reads: when to read again, and what is worth a log line.

    A failing instrument interface (a program exiting non-zero, a device not answering) is
    read again after one sample interval, then after twice as long each time up to ``cap``:
    a broken reader neither spins nor floods the log. One line says when the failing
    starts, one when its reason changes, one when it recovers (with the count); the
    failures between are only counted.
    """

    interval: float
    cap: float
    failures: int = 0
    reason: str | None = None

    def failed(self, reason: str) -> tuple[float, str | None]:
        """Count one failure; the seconds to wait before the next read, and the line to log
        (``None``: nothing new to say)."""
        self.failures += 1
        cap = max(self.cap, self.interval)
        delay = min(cap, self.interval * 2.0 ** min(self.failures - 1, 32))
        if reason == self.reason:
            return delay, None
        line = (
            f"adapter failing: {reason} (samples skipped; reading again in {delay:g} s, "
            f"backing off to every {cap:g} s)"
            if self.reason is None
            else f"adapter still failing, now: {reason} ({self.failures} failures so far)"
        )
        self.reason = reason
        return delay, line

    def succeeded(self) -> str | None:
        """A good read; the line to log when it ends a streak of failures."""
        if not self.failures:
            return None
        line = f"adapter recovered after {self.failures} failures"
        self.failures, self.reason = 0, None
        return line
