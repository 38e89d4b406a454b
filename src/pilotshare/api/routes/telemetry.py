"""``GET /api/v1/instruments/{id}/telemetry``: history in buckets (CONTRACT §3)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from pilotshare.api.deps import ClockDep, CurrentKey, Pool
from pilotshare.api.schemas import Duration, Instant, problems
from pilotshare.registry import require_instrument
from pilotshare.twin.history import EARLIEST, MAX_BUCKETS, BucketQuery, buckets

DAY = timedelta(hours=24)

router = APIRouter(prefix="/api/v1/instruments", tags=["twin"])


class TelemetryBucket(BaseModel):
    """One bucket of an instrument's history."""

    bucket: datetime = Field(description="start of the bucket")
    samples: int = Field(description="stored samples in the bucket")
    utilization: float | None = Field(description="mean reported utilisation (null: none)")
    state_seconds: dict[str, float] = Field(
        description="seconds in each state: samples in the state times their spacing"
    )


@router.get(
    "/{instrument}/telemetry",
    response_model=list[TelemetryBucket],
    responses=problems(401, 403, 404, 422),
)
async def get_telemetry(
    instrument: str,
    *,
    pool: Pool,
    clock: ClockDep,
    _: CurrentKey,
    start: Annotated[Instant | None, Query(description="RFC 3339; default end - 24 h")] = None,
    end: Annotated[Instant | None, Query(description="RFC 3339; default now")] = None,
    bucket: Annotated[
        Duration,
        Query(
            description="ISO 8601 duration (PT1H, P1D, PT5M); whole hours are answered from the"
            f" hourly rollup; at most {MAX_BUCKETS} buckets per query"
        ),
    ] = timedelta(hours=1),
) -> list[TelemetryBucket]:
    """Samples, mean utilisation and seconds per state, per bucket, aligned on Monday 00:00 UTC."""
    end = end or clock.now()
    # never below the earliest time a query may name: no overflow, BucketQuery says what is wrong
    start = start or max(end, EARLIEST + DAY) - DAY
    query = BucketQuery(instrument, start, end, bucket)
    await require_instrument(pool, instrument)
    return [
        TelemetryBucket.model_validate(b, from_attributes=True) for b in await buckets(pool, query)
    ]
