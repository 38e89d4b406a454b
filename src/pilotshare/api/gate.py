"""The gate of every public route (``/api/v1/public/…``, no key): a rate limit per client
address and a short-lived answer cache with single flight.

Theory of operation. A public route takes ``Public`` (``Depends(public_access)``), which first
takes a token from the caller's bucket (``PILOTSHARE_PUBLIC_BURST`` tokens, refilled at
``PILOTSHARE_PUBLIC_RATE_PER_MIN`` a minute; none left: 429 ``rate_limited`` with
``Retry-After``), then hands the route a ``PublicAnswer`` keyed by the path and the sorted
query. The route passes it a function producing its models (``PublicAnswer.answer``; or the
bytes of another format such as a CSV export, ``PublicAnswer.body``); the gate serves the bytes
stored under the key while it is younger than ``PILOTSHARE_PUBLIC_CACHE_S``, else runs the
function once, however many identical requests arrive meanwhile: they all await the same task
(single flight), so a burst of identical requests makes one round of database queries. The
task is shielded, so a client that disconnects cancels only its own wait. Whatever is shown
(a live status too) is at most the cache's age old. The client address is the socket's peer,
or what the server's proxy-header handling makes it (uvicorn ``--proxy-headers``).

Everything is in-process and per API process; time is the app's monotonic clock.
"""

from __future__ import annotations

import asyncio
import math
import weakref
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Final
from urllib.parse import urlencode

from fastapi import Depends, Request, Response
from prometheus_client import CollectorRegistry, Counter
from pydantic import BaseModel

from pilotshare.core.clock import Clock
from pilotshare.core.errors import TooManyRequests
from pilotshare.core.settings import Settings

#: At most this many client buckets and cached answers are kept (the idlest go first).
MAX_CLIENTS: Final = 10_000
MAX_ANSWERS: Final = 1_024

#: What a public route answers: its models (as JSON), or the bytes of another format (CSV).
Produce = Callable[[], Awaitable[BaseModel | Sequence[BaseModel]]]
ProduceBytes = Callable[[], Awaitable[bytes]]


class GateMetrics:
    """Cache hits and misses and refused requests of the public routes, by route."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.hits = Counter(
            "pilotshare_public_cache_hits",
            "Public answers served from the cache (or from a query already running)",
            ["route"],
            registry=registry,
        )
        self.misses = Counter(
            "pilotshare_public_cache_misses",
            "Public answers that queried the database",
            ["route"],
            registry=registry,
        )
        self.limited = Counter(
            "pilotshare_public_rate_limited",
            "Public requests refused with 429: the client's bucket was empty",
            ["route"],
            registry=registry,
        )


_BY_REGISTRY: weakref.WeakKeyDictionary[CollectorRegistry, GateMetrics] = (
    weakref.WeakKeyDictionary()
)


def gate_metrics(registry: CollectorRegistry) -> GateMetrics:
    """The gate's metrics of ``registry``, created on first use."""
    found = _BY_REGISTRY.get(registry)
    if found is None:
        found = _BY_REGISTRY[registry] = GateMetrics(registry)
    return found


@dataclass(slots=True)
class _Bucket:
    tokens: float
    at: float


class RateLimiter:
    """Token buckets by client: ``burst`` at once, refilled at ``per_min`` a minute."""

    def __init__(self, per_min: float, burst: int, max_clients: int = MAX_CLIENTS) -> None:
        self._rate = per_min / 60.0
        self._burst = float(burst)
        self._max = max_clients
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def take(self, client: str, now: float) -> float:
        """Take a token for ``client`` at ``now``: 0 when admitted, else the seconds until
        one is there."""
        bucket = self._buckets.pop(client, None) or _Bucket(self._burst, now)
        bucket.tokens = min(self._burst, bucket.tokens + (now - bucket.at) * self._rate)
        bucket.at = now
        self._buckets[client] = bucket  # the most recent last
        while len(self._buckets) > self._max:
            self._buckets.popitem(last=False)
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0.0
        return (1.0 - bucket.tokens) / self._rate


def json_bytes(value: BaseModel | Sequence[BaseModel]) -> bytes:
    """Models as the JSON a public answer holds: one model, or a list of them."""
    if isinstance(value, BaseModel):
        return value.model_dump_json().encode()
    return b"[" + b",".join(m.model_dump_json().encode() for m in value) + b"]"


class AnswerCache:
    """JSON answers by key for ``ttl`` seconds, each produced once at a time (single flight)."""

    def __init__(self, ttl: float, max_answers: int = MAX_ANSWERS) -> None:
        self.ttl = ttl
        self._max = max_answers
        self._answers: OrderedDict[str, tuple[float, bytes]] = OrderedDict()
        self._flights: dict[str, asyncio.Task[bytes]] = {}

    async def get(self, key: str, produce: ProduceBytes, clock: Clock) -> tuple[bytes, bool]:
        """The answer under ``key`` and whether it was there (or being produced) already."""
        if self.ttl <= 0:
            return await produce(), False
        found = self._answers.get(key)
        if found is not None and clock.monotonic() < found[0]:
            return found[1], True
        flight = self._flights.get(key)
        if flight is not None:
            return await asyncio.shield(flight), True
        flight = asyncio.ensure_future(self._fly(key, produce, clock))
        # a failure is its awaiters' to answer; with none left (all gone), it is dropped
        flight.add_done_callback(lambda t: t.cancelled() or t.exception())
        self._flights[key] = flight
        return await asyncio.shield(flight), False

    async def _fly(self, key: str, produce: ProduceBytes, clock: Clock) -> bytes:
        try:
            body = await produce()
            self._answers.pop(key, None)
            self._answers[key] = (clock.monotonic() + self.ttl, body)
            while len(self._answers) > self._max:
                self._answers.popitem(last=False)
            return body
        finally:
            self._flights.pop(key, None)


class PublicGate:
    """The rate limiter, the cache and their metrics of one app (``app.state.public_gate``)."""

    def __init__(self, settings: Settings, clock: Clock, registry: CollectorRegistry) -> None:
        self.limiter = RateLimiter(settings.public_rate_per_min, settings.public_burst)
        self.cache = AnswerCache(settings.public_cache_s)
        self.clock = clock
        self.metrics = gate_metrics(registry)


@dataclass(frozen=True, slots=True)
class PublicAnswer:
    """What a public route answers through: its cache key and route."""

    gate: PublicGate
    key: str
    route: str

    async def answer(self, produce: Produce) -> Response:
        """The JSON of ``produce()``'s models, from the cache while it is fresh."""

        async def as_json() -> bytes:
            return json_bytes(await produce())

        return await self.body(as_json, "application/json")

    async def body(self, produce: ProduceBytes, media_type: str) -> Response:
        """The bytes ``produce()`` makes (a CSV export), from the cache while it is fresh."""
        body, hit = await self.gate.cache.get(self.key, produce, self.gate.clock)
        (self.gate.metrics.hits if hit else self.gate.metrics.misses).labels(self.route).inc()
        age = math.ceil(self.gate.cache.ttl)
        return Response(
            body, media_type=media_type, headers={"Cache-Control": f"public, max-age={age}"}
        )


async def public_access(request: Request) -> PublicAnswer:
    """Admit a public request (429 ``rate_limited`` past the client's rate) and key its answer."""
    gate: PublicGate = request.app.state.public_gate
    route = getattr(request.scope.get("route"), "path", request.url.path)
    client = request.client.host if request.client is not None else "unknown"
    wait = gate.limiter.take(client, gate.clock.monotonic())
    if wait > 0:
        gate.metrics.limited.labels(route).inc()
        seconds = max(1, math.ceil(wait))
        raise TooManyRequests(
            "rate_limited",
            f"too many requests from this address: try again in {seconds} s",
            retry_after=seconds,
        )
    query = urlencode(sorted(request.query_params.multi_items()))
    return PublicAnswer(gate, f"{request.url.path}?{query}", route)


Public = Annotated[PublicAnswer, Depends(public_access)]
