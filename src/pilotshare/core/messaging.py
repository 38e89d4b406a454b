"""The one MQTT capability the rest of the backend needs: publishing a message.

aiomqtt lives only inside the agent's runner and the twin's ingest (DESIGN.md); the ingest's
connection implements this protocol, and the scheduler sends interlock commands through it
without knowing about MQTT clients.
"""

from __future__ import annotations

from typing import Protocol


class Publisher(Protocol):
    """Publishes to the broker the process is connected to."""

    async def publish(
        self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False
    ) -> None:
        """Send one message; raises ``ConnectionError`` when the broker cannot be reached."""
        ...
