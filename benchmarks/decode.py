"""Decoding and validating telemetry: the ingest's largest CPU cost per sample.

Compares, on the same batches, the contract's decoder (msgspec in C, then the rules it cannot
state) with the alternatives NOTES.md measured: ``json.loads`` and ``orjson.loads`` (parsing
only, no validation: the floor) and a pydantic model of the same rules. Prints microseconds
per sample, medians of several repeats, and each one's ratio to ``json.loads`` in this run.

    python -m benchmarks.decode [--samples 100] [--repeats 7]
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from pilotshare.core.contract import Sample, TelemetryBatch, decode_telemetry, encode
from pilotshare.core.domain import InstrumentState

try:
    import orjson
except ImportError:  # optional: not a dependency of pilotshare
    orjson = None


class PSample(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ts: AwareDatetime
    state: InstrumentState
    utilization: Annotated[float, Field(ge=0, le=1)] | None = None
    metrics: Annotated[
        dict[Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")], float], Field(max_length=64)
    ] = {}

    @field_validator("metrics")
    @classmethod
    def _finite(cls, value: dict[str, float]) -> dict[str, float]:
        if not all(math.isfinite(v) for v in value.values()):
            raise ValueError("not finite")
        return value


class PBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    v: int
    agent: str
    batch: Annotated[int, Field(ge=0)]
    samples: list[PSample]


def batch_bytes(n: int, now: datetime) -> bytes:
    samples = tuple(
        Sample(
            ts=now - timedelta(seconds=n - i),
            state=InstrumentState.RUNNING if i % 7 else InstrumentState.IDLE,
            utilization=0.83,
            metrics={"power_w": 1520.5 + i, "chamber_c": 241.0, "vacuum_pa": 0.0012},
        )
        for i in range(n)
    )
    return encode(TelemetryBatch(agent="oven-3-agent", batch=1042, samples=samples))


def per_sample_us(fn: Callable[[bytes], object], raw: bytes, n: int, repeats: int) -> float:
    loops = max(1, 20_000 // n)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(loops):
            fn(raw)
        times.append((time.perf_counter() - start) / loops / n * 1e6)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=100, help="samples per batch")
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    now = datetime.now(UTC)
    raw = batch_bytes(args.samples, now)
    candidates: dict[str, Callable[[bytes], object]] = {
        "json.loads (parse only)": json.loads,
        "pydantic model_validate_json": PBatch.model_validate_json,
        "pilotshare decode_telemetry (msgspec)": lambda r: decode_telemetry(r, now),
    }
    if orjson is not None:
        candidates["orjson.loads (parse only)"] = orjson.loads
    print(f"{args.samples} samples per batch, {len(raw)} bytes; µs per sample (median)")
    base = per_sample_us(json.loads, raw, args.samples, args.repeats)
    for name, fn in candidates.items():
        us = per_sample_us(fn, raw, args.samples, args.repeats)
        print(f"  {name:<40} {us:7.2f} µs   {base / us:5.2f}× json.loads   {1e6 / us:>10,.0f}/s")


if __name__ == "__main__":
    main()
