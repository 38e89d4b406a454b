"""The agent's own health as Prometheus metrics, on its own registry and port.

Each ``Agent`` gets a fresh ``CollectorRegistry`` (nothing global, so the demo can run many
agents in one process); ``serve`` exposes it on ``metrics_port``.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server

from pilotshare.core.errors import ConfigError


class AgentMetrics:
    """Counters and gauges named ``pilotshare_agent_*``, labelled with the instrument."""

    def __init__(self, registry: CollectorRegistry | None, *, instrument: str) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        labels = {"instrument": instrument}
        self.instrument = instrument

        def counter(name: str, doc: str) -> Any:
            return Counter(
                f"pilotshare_agent_{name}", doc, list(labels), registry=self.registry
            ).labels(**labels)

        def gauge(name: str, doc: str) -> Any:
            return Gauge(
                f"pilotshare_agent_{name}", doc, list(labels), registry=self.registry
            ).labels(**labels)

        self.samples = counter("samples", "Samples taken and committed to the outbox.")
        self.adapter_errors = counter(
            "adapter_errors", "Failed or garbled reads (sample skipped, read again with backoff)."
        )
        self.sent = counter("batches_sent", "Batches published (first sends and resends).")
        self.resent = counter(
            "batches_resent", "Batches published again: no ack in time or reconnect."
        )
        self.acked = counter("batches_acked", "Batches acknowledged by the backend and deleted.")
        self.rejected = Counter(
            "pilotshare_agent_batches_rejected",
            "Batches the backend rejected for good (kept there as rejects), deleted here.",
            ["instrument", "reason"],
            registry=self.registry,
        )
        self.dropped = counter("dropped_samples", "Samples dropped because the outbox was full.")
        self.connects = counter("connects", "Successful connections to the broker.")
        self.bad_messages = counter("bad_messages", "Malformed ack or cmd messages ignored.")
        self.interlock_failures = counter(
            "interlock_failures", "Interlock switches that failed or were not confirmed (retried)."
        )
        self.interlock_pending = gauge(
            "interlock_pending", "1 while a desired interlock state (or the fail-safe lock) waits."
        )
        self.depth = gauge("outbox_samples", "Samples held in the outbox, unacknowledged.")
        self.batches = gauge("outbox_batches", "Sealed batches not yet acknowledged.")
        self.oldest = gauge(
            "oldest_unacked_seconds", "Age of the oldest sample not yet acknowledged."
        )
        self.connected = gauge("connected", "1 while connected to the broker.")
        self.dropped_total = gauge(
            "outbox_dropped_lifetime", "Samples this outbox file ever dropped."
        )

    def rejected_batch(self, reason: str) -> None:
        self.rejected.labels(self.instrument, reason).inc()

    def dropped_base(self, value: int) -> None:
        self.dropped_total.set(value)

    def update(self, *, depth: int, batches: int, oldest_age: float, connected: bool) -> None:
        self.depth.set(depth)
        self.batches.set(batches)
        self.oldest.set(oldest_age)
        self.connected.set(1 if connected else 0)

    def serve(self, host: str, port: int) -> Any:
        """Serve ``/metrics`` on ``host:port`` in a thread; call ``.shutdown()`` to stop."""
        try:
            server, _thread = start_http_server(port, addr=host, registry=self.registry)
        except OSError as exc:
            raise ConfigError(
                f"agent.metrics_port: cannot listen on {host}:{port}: {exc.strerror}"
            ) from None
        return server
