"""Prometheus metrics of the ingest, registered on the registry the composition root passes."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

_SIZES = (1, 10, 100, 500, 1000, 2000, 5000, 10000, 20000)
_SECONDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30)


class IngestMetrics:
    """Samples stored, rejects by reason, flush sizes, commit and ack latency, buffer depth."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.samples = Counter(
            "pilotshare_ingest_samples_stored", "Samples newly stored", registry=registry
        )
        self.duplicates = Counter(
            "pilotshare_ingest_samples_duplicate",
            "Samples received again (resent batches) and not stored twice",
            registry=registry,
        )
        self.messages = Counter(
            "pilotshare_ingest_messages", "Valid messages received", ["channel"], registry=registry
        )
        self.rejects = Counter(
            "pilotshare_ingest_rejects",
            "Messages rejected, by reason",
            ["reason"],
            registry=registry,
        )
        self.flush_samples = Histogram(
            "pilotshare_ingest_flush_samples",
            "Samples per database transaction",
            buckets=_SIZES,
            registry=registry,
        )
        self.commit_latency = Histogram(
            "pilotshare_ingest_commit_seconds",
            "Time to store one flush (one transaction)",
            buckets=_SECONDS,
            registry=registry,
        )
        self.ack_latency = Histogram(
            "pilotshare_ingest_ack_latency_seconds",
            "From receiving a batch to publishing its ack (oldest batch of a flush)",
            buckets=_SECONDS,
            registry=registry,
        )
        self.buffer = Gauge(
            "pilotshare_ingest_buffer_samples",
            "Samples held in memory, not yet committed",
            registry=registry,
        )
        self.db_errors = Counter(
            "pilotshare_ingest_db_errors", "Failed flushes that will be retried", registry=registry
        )
        self.online = Gauge(
            "pilotshare_instruments_online", "Instruments whose agent is online", registry=registry
        )
