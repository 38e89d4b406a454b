"""The durable side of the agent: adapter readings in, committed samples and batches out.

The ``Recorder`` owns the outbox file and the outbox protocol. It reads the adapter on the
configured schedule (every ``sample_interval_s``, and at once when the state changes), commits
each sample, and carries out the protocol's storage effects (seal, forget, drop). The MQTT side
(``runner``) asks it for batches and hands it acks; both run on one event loop, so nothing here
needs a lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from pilotshare.core.clock import Clock
from pilotshare.core.contract import Rejection, Sample
from pilotshare.edge_agent.adapters import Adapter, AdapterError
from pilotshare.edge_agent.config import AgentConfig
from pilotshare.edge_agent.metrics import AgentMetrics
from pilotshare.edge_agent.outbox import Outbox
from pilotshare.edge_agent.protocol import (
    Discard,
    Drop,
    FailureStreak,
    Forget,
    Limits,
    OutboxProtocol,
    Seal,
    Send,
)

log = logging.getLogger(__name__)

#: Two samples never share a timestamp: ``(instrument, ts)`` is a sample's identity.
_MIN_STEP = timedelta(milliseconds=1)
#: The longest wait between reads of a failing adapter (at least the sample interval).
ADAPTER_BACKOFF_CAP_S = 30.0


@dataclass(slots=True)
class AgentStats:
    """Counters of one agent's life (also exported as Prometheus metrics)."""

    samples: int = 0
    adapter_errors: int = 0
    sent: int = 0
    resent: int = 0
    acked: int = 0
    rejected: int = 0
    dropped: int = 0
    connects: int = 0
    bad_messages: int = 0


class Recorder:
    """One instrument's outbox, its protocol state and the sampling loop that feeds them."""

    def __init__(
        self, config: AgentConfig, adapter: Adapter, clock: Clock, metrics: AgentMetrics
    ) -> None:
        self.config = config
        self.adapter = adapter
        self.clock = clock
        self.metrics = metrics
        self.stats = AgentStats()
        self.wake = asyncio.Event()  # set when there may be something to send
        self._last_ts: datetime | None = None
        self.failures = FailureStreak(config.sample_interval_s, ADAPTER_BACKOFF_CAP_S)
        self._rejecting: str | None = None  # the reason last logged for a rejected batch
        first = int(self.clock.now().timestamp() * 1000)
        self.outbox = Outbox(
            Path(self.config.outbox_path or f"{self.config.instrument}.outbox.sqlite"),
            first_batch=first,
        )
        stored = self.outbox.stored()
        limits = Limits(
            self.config.batch_max_samples,
            self.config.batch_max_age_s,
            self.config.ack_timeout_s,
            self.config.outbox_max_samples,
            self.config.max_inflight_batches,
        )
        self.protocol = OutboxProtocol(
            limits,
            next_batch=stored.next_batch,
            now=self.clock.monotonic(),
            pending=stored.pending,
            pending_bytes=stored.pending_bytes,
            batches=stored.batches,
        )
        if stored.batches or stored.pending:
            log.info(
                "%s: the outbox holds %d samples in %d batches from before; resending them",
                self.config.instrument,
                self.protocol.depth,
                len(stored.batches),
            )
        self.metrics.dropped_base(stored.dropped)

    async def sample_forever(self, stop: asyncio.Event) -> None:
        """Read the adapter on its schedule until ``stop``; every sample taken is committed."""
        cfg = self.config
        last_emit: float | None = None
        last_state = None
        while not stop.is_set():
            now = self.clock.now()
            mono = self.clock.monotonic()
            sample, retry = await self._read(now)
            if sample is not None:
                due = last_emit is None or mono - last_emit >= cfg.sample_interval_s - 1e-3
                if due or sample.state != last_state:
                    try:
                        self.record(sample)
                    except sqlite3.Error as exc:  # a full or broken disk: say so, keep going
                        log.error(  # noqa: TRY400 - one loud line, not a traceback per sample
                            "%s: OUTBOX WRITE FAILED (%s): sample of %s lost",
                            cfg.instrument,
                            exc,
                            sample.ts.isoformat(),
                        )
                    last_emit, last_state = mono, sample.state
            wait = cfg.poll_s
            if last_emit is not None:
                wait = min(wait, max(0.0, last_emit + cfg.sample_interval_s - mono))
            change = self.adapter.next_change()
            if change is not None:
                wait = min(wait, max(0.0, (change - self.clock.now()).total_seconds()))
            if retry is not None:  # a failing adapter keeps the interval and backs off
                wait = retry
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), max(wait, 0.001))

    async def _read(self, now: datetime) -> tuple[Sample | None, float | None]:
        """One adapter read: the sample (if any), and the wait before the next read when it
        failed (the backoff of ``FailureStreak``)."""
        name = self.config.instrument
        try:
            sample = await self.adapter.read(now)
        except AdapterError as exc:
            retry, line = self._adapter_failed(str(exc))
            if line is not None:
                log.warning("%s: %s", name, line)
            return None, retry
        except Exception:  # an adapter's own bug must not stop a months-long run
            retry, line = self._adapter_failed("it raised an unexpected error")
            if line is not None:
                log.exception("%s: %s", name, line)
            return None, retry
        if (line := self.failures.succeeded()) is not None:
            log.info("%s: %s", name, line)
        return sample, None

    def _adapter_failed(self, why: str) -> tuple[float, str | None]:
        """Count a failed read; the wait before the next, and the line to log once (None:
        the same condition as before, said already)."""
        self.stats.adapter_errors += 1
        self.metrics.adapter_errors.inc()
        delay, line = self.failures.failed(why)
        if line is None:
            log.debug("%s: adapter failed again: %s", self.config.instrument, why)
        return delay, line

    def rejected(self, rejections: tuple[Rejection, ...]) -> None:
        """The backend rejected these batches for good: delete them, count them, say so once.

        One line when the backend starts rejecting (or its reason changes); the batches after
        it are counted in ``pilotshare_agent_batches_rejected_total`` only.
        """
        reasons = {r.batch: r.reason for r in rejections}
        for effect in self.protocol.reject(reasons):
            self.store(effect)
            for number in effect.numbers:
                reason = reasons[number]
                self.metrics.rejected_batch(reason)
                if reason != self._rejecting:
                    self._rejecting = reason
                    log.warning(
                        "%s: the backend rejected batch %d (%s) and keeps it as a reject: "
                        "deleted from the outbox, not resent; batches rejected after it are "
                        "counted in pilotshare_agent_batches_rejected_total",
                        self.config.instrument,
                        number,
                        reason,
                    )

    def record(self, sample: Sample) -> None:
        """Commit one sample to the outbox and let the protocol seal or drop."""
        if self._last_ts is not None and sample.ts <= self._last_ts:  # (instrument, ts) is unique
            sample = Sample(
                ts=self._last_ts + _MIN_STEP,
                state=sample.state,
                utilization=sample.utilization,
                metrics=sample.metrics,
            )
        self._last_ts = sample.ts
        size = self.outbox.append(sample)
        self.stats.samples += 1
        self.metrics.samples.inc()
        for effect in self.protocol.sample(self.clock.monotonic(), size):
            self.store(effect)
        self.wake.set()

    def store(self, effect: Seal | Forget | Drop | Send | Discard) -> None:
        self.outbox.apply(effect)
        if isinstance(effect, Drop):
            self.stats.dropped += effect.samples
            self.metrics.dropped.inc(effect.samples)
            log.error(
                "%s: OUTBOX FULL (%d samples): dropped the %d oldest samples (batches %s…); "
                "the backend has not acknowledged for a long time",
                self.config.instrument,
                self.config.outbox_max_samples,
                effect.samples,
                effect.numbers[0],
            )
        elif isinstance(effect, Forget):
            self.stats.acked += len(effect.numbers)
            self.metrics.acked.inc(len(effect.numbers))
            self._rejecting = None  # batches are stored again: a new rejection is news
        elif isinstance(effect, Discard):
            self.stats.rejected += len(effect.numbers)

    def update_gauges(self, *, connected: bool) -> None:
        """Refresh the outbox gauges (the pump calls this about once a second)."""
        oldest = self.outbox.oldest()
        age = (self.clock.now() - oldest).total_seconds() if oldest else 0.0
        self.metrics.update(
            depth=self.protocol.depth,
            batches=len(self.protocol.unacked),
            oldest_age=max(0.0, age),
            connected=connected,
        )

    def close(self) -> None:
        self.outbox.close()
