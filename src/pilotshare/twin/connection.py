"""The ingest's MQTT connection: client options, and the ``Publisher`` it lends the scheduler.

aiomqtt stays inside the twin (DESIGN.md); the scheduler sends interlock commands through
``MqttPublisher``, which knows only how to reach the ingest's current client.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from typing import Any

import aiomqtt

from pilotshare.core.settings import MqttEndpoint


def make_client(
    endpoint: MqttEndpoint,
    client_id: str,
    *,
    v5: bool,
    queue: int,
    will: aiomqtt.Will | None = None,
) -> aiomqtt.Client:
    """A client for the twin's readers (the ingest, the Sparkplug bridge): MQTT 5 or 3.1.1, a
    bounded incoming queue, a quiet logger, and a last will when given."""
    return aiomqtt.Client(
        endpoint.host,
        endpoint.port,
        username=endpoint.username,
        password=endpoint.password,
        identifier=client_id,
        protocol=aiomqtt.ProtocolVersion.V5 if v5 else aiomqtt.ProtocolVersion.V311,
        tls_params=aiomqtt.TLSParameters() if endpoint.tls else None,
        max_queued_incoming_messages=queue,
        logger=_QUIET_MQTT,
        will=will,
        timeout=10,
    )


def payload_bytes(message: aiomqtt.Message) -> bytes:
    """A received message's payload as bytes (aiomqtt types it wider than the wire is)."""
    payload = message.payload
    return payload if isinstance(payload, bytes) else str(payload or "").encode()


async def read_until(read: Coroutine[Any, Any, None], stop: asyncio.Event) -> bool:
    """Run a connection's reader until it ends (its error raised: the connection is lost) or
    ``stop`` is set; then it is cancelled and awaited. Whether ``stop`` ended it."""
    reader = asyncio.create_task(read)
    stopping = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait([reader, stopping], return_when=asyncio.FIRST_COMPLETED)
        if reader.done():
            reader.result()
            return False
        return True
    finally:
        reader.cancel()
        stopping.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader


class MqttPublisher:
    """``core.messaging.Publisher`` over whatever client the ingest is connected with."""

    def __init__(self, current: Callable[[], aiomqtt.Client | None]) -> None:
        self._current = current

    async def publish(
        self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False
    ) -> None:
        client = self._current()
        if client is None:
            raise ConnectionError("not connected to the MQTT broker")
        try:
            await client.publish(topic, payload, qos=qos, retain=retain)
        except aiomqtt.MqttError as exc:
            raise ConnectionError(f"publish to {topic} failed: {exc}") from exc


class _DiscardFilter(logging.Filter):
    """Keep aiomqtt's per-message 'queue is full' warnings out of the log (counted instead)."""

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        return "queue is full" not in text and "pending publish calls" not in text


_QUIET_MQTT = logging.getLogger("pilotshare.twin.ingest.mqtt")
_QUIET_MQTT.addFilter(_DiscardFilter())
