"""The digital twin: telemetry in, each instrument's live state, what its history says, and
a SimPy model of the site.

The ingest path is ``ingest`` -> ``buffer`` -> ``writer`` (``rows``: COPY), with ``state``
(pure) moving the live rows; ``stats`` (pure) learns behaviour from state intervals and
``store`` reads all of it back (``history`` and ``series``: telemetry and its metrics in
buckets); ``writer`` is public for back-fills that store a
simulated past as the ingest would have. ``site``, ``model``, ``timeline`` and ``distributions``
(pure) are the site model the forecast and the simulations replicate (``replications``).
``sparkplug`` is a Sparkplug B host application that feeds the same writer.

Public are the submodules in ``__all__`` (``model`` re-exports ``site``); nothing is
re-exported here, so a replication's worker process loads the model without asyncpg or MQTT.
"""

__all__ = [
    "distributions",
    "history",
    "ingest",
    "model",
    "replications",
    "series",
    "sparkplug",
    "state",
    "stats",
    "store",
    "timeline",
    "writer",
]
