"""The wire contract (CONTRACT §2): the only code that knows topics and payload shapes,
and the names of the database's notification channels.

Agents and the backend both encode and decode through here, so a change of the wire format is
a change of this package and of its golden payloads in ``tests/contract``. Other packages
import the names below from here, never from its modules.
"""

from pilotshare.core.contract.channels import (
    BOOKING_CHANGES,
    JOB_CHANGES,
    JOB_QUEUE,
    TWIN_CHANGES,
)
from pilotshare.core.contract.payloads import (
    MAX_FUTURE,
    MAX_METRICS,
    MAX_PAYLOAD_BYTES,
    METRIC_NAME,
    Ack,
    Command,
    Interlock,
    InterlockState,
    MetricName,
    Rejection,
    Sample,
    Status,
    TelemetryBatch,
    batch_number,
    decode_ack,
    decode_command,
    decode_status,
    decode_telemetry,
    encode,
    salvage_telemetry,
)
from pilotshare.core.contract.topics import Channel, Topic, parse_topic, subscription

__all__ = [
    "BOOKING_CHANGES",
    "JOB_CHANGES",
    "JOB_QUEUE",
    "MAX_FUTURE",
    "MAX_METRICS",
    "MAX_PAYLOAD_BYTES",
    "METRIC_NAME",
    "TWIN_CHANGES",
    "Ack",
    "Channel",
    "Command",
    "Interlock",
    "InterlockState",
    "MetricName",
    "Rejection",
    "Sample",
    "Status",
    "TelemetryBatch",
    "Topic",
    "batch_number",
    "decode_ack",
    "decode_command",
    "decode_status",
    "decode_telemetry",
    "encode",
    "parse_topic",
    "salvage_telemetry",
    "subscription",
]
