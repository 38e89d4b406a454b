"""The ``http`` adapter: poll a JSON endpoint and pick fields by JSON pointer (RFC 6901).

``state`` points at the state (mapped through ``state_map`` when the device has its own
words or codes), ``utilization`` (optional, times ``utilization_scale``) at a number in
[0, 1], and each ``metrics`` entry at a number. A failed request, a non-2xx answer or a missing
field is an ``AdapterError`` (that sample is skipped and counted).

With an ``[adapter.interlock]`` section, ``lock``/``unlock`` send one ``POST`` (or ``PUT``) to
its ``url`` with the configured body (by default the command itself as JSON); only a 2xx answer
confirms the switch.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

import httpx

from pilotshare.core.contract import Command, Sample, encode
from pilotshare.core.domain import InstrumentState
from pilotshare.edge_agent.adapters.base import Adapter, AdapterError
from pilotshare.edge_agent.config import HttpInterlock


def resolve_pointer(document: Any, pointer: str) -> Any:
    """The value at an RFC 6901 JSON pointer; ``AdapterError`` when it is absent."""
    if pointer == "":
        return document
    if not pointer.startswith("/"):
        raise AdapterError(f"JSON pointer {pointer!r} must start with '/'")
    value = document
    for token in pointer[1:].split("/"):
        key = token.replace("~1", "/").replace("~0", "~")
        if isinstance(value, dict) and key in value:
            value = value[key]
        elif isinstance(value, list) and key.isdigit() and int(key) < len(value):
            value = value[int(key)]
        else:
            raise AdapterError(f"no value at JSON pointer {pointer!r}")
    return value


def _number(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise AdapterError(f"{what} is {value!r}, not a finite number")
    return float(value)


class HttpAdapter(Adapter):
    """One ``GET`` per sample over a kept-alive connection."""

    def __init__(
        self,
        url: str,
        *,
        state: str = "/state",
        state_map: dict[str, InstrumentState] | None = None,
        utilization: str = "",
        utilization_scale: float = 1.0,
        metrics: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        timeout_s: float = 5.0,
        interlock: HttpInterlock | None = None,
    ) -> None:
        self.url = url
        self.state = state
        self.state_map = dict(state_map or {})
        self.utilization = utilization
        self.utilization_scale = utilization_scale
        self.metrics = dict(metrics or {})
        self._client = httpx.AsyncClient(headers=headers or {}, timeout=timeout_s)
        self.interlock = interlock
        if interlock is not None:
            self.switches_interlock = True
            self.interlock_policy = interlock

    async def read(self, now: datetime) -> Sample:
        try:
            response = await self._client.get(self.url)
            response.raise_for_status()
            document = response.json()
        except httpx.HTTPError as exc:
            raise AdapterError(f"GET {self.url}: {exc}") from None
        except ValueError:
            raise AdapterError(f"GET {self.url}: the answer is not JSON") from None
        raw = resolve_pointer(document, self.state)
        word = self.state_map.get(str(raw).lower() if isinstance(raw, bool) else str(raw), raw)
        try:
            state = InstrumentState(word)
        except ValueError:
            raise AdapterError(f"state {raw!r} is not a state and not in state_map") from None
        utilization = None
        if self.utilization:
            value = _number(resolve_pointer(document, self.utilization), "utilization")
            utilization = min(1.0, max(0.0, value * self.utilization_scale))
        metrics = {
            name: _number(resolve_pointer(document, pointer), name)
            for name, pointer in self.metrics.items()
        }
        return Sample(ts=now, state=state, utilization=utilization, metrics=metrics)

    async def command(self, cmd: Command, now: datetime) -> None:  # noqa: ARG002 - no clock
        """Send the ``lock`` or ``unlock`` request; a 2xx answer confirms the switch."""
        lock = self.interlock
        if lock is None:
            return
        body = (lock.lock_body if cmd.cmd == "lock" else lock.unlock_body).encode()
        headers = httpx.Headers({"Content-Type": "application/json"})
        headers.update(lock.headers)  # case-insensitively: a configured content-type wins
        try:
            response = await self._client.request(
                lock.method,
                lock.url,
                content=body or encode(cmd),
                headers=headers,
                timeout=lock.timeout_s,
            )
        except httpx.HTTPError as exc:
            raise AdapterError(f"{lock.method} {lock.url}: {exc}") from None
        if not response.is_success:
            raise AdapterError(
                f"{lock.method} {lock.url} answered {response.status_code}: "
                f"{response.text.strip()[:200]}"
            )

    async def aclose(self) -> None:
        await self._client.aclose()
