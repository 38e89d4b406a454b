"""A Sparkplug B host application that turns mapped edge-node and device metrics into the
twin's telemetry (docs/sparkplug.md).

``payload`` (the protobuf reader and writer), ``topic``, ``mapping`` and ``host`` (the host
rules as a state machine) are pure; ``bridge`` is the MQTT session and hands what the host
yields to the ingest's writer (``twin.writer``), so Sparkplug samples are stored and refused
exactly as contract telemetry is.
"""

__all__ = ["bridge", "host", "mapping", "payload", "topic"]
