"""Whether a TCP service answers: the readiness check's and the embedded broker's question."""

from __future__ import annotations

import asyncio
import contextlib


async def reachable(host: str, port: int, *, within_s: float = 2.0) -> bool:
    """True when a TCP connection to ``host:port`` opens within ``within_s`` seconds."""
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), within_s)
    except (OSError, TimeoutError):
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True
