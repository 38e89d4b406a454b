"""``GET /api/v1/instruments/{id}/telemetry``: history in buckets (CONTRACT §3), and
``GET /api/v1/instruments/{id}/metrics``: the samples' metrics as min/mean/max per bucket."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from pilotshare.api.deps import ClockDep, CurrentKey, Pool
from pilotshare.api.schemas import Duration, Instant, problems
from pilotshare.registry import require_instrument
from pilotshare.twin import series as metric_series
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


class MetricPoint(BaseModel):
    """One bucket of one metric (only buckets with samples are answered)."""

    bucket: datetime = Field(description="start of the bucket, in the site's wall clock")
    n: int = Field(description="stored samples reporting the metric in the bucket")
    min: float
    mean: float
    max: float


class MetricSeries(BaseModel):
    """An instrument's metrics downsampled per bucket."""

    instrument: str
    bucket: str = Field(description="the bucket, ISO 8601 (PT1M, PT5M, PT15M, PT1H, PT6H, P1D)")
    timezone: str = Field(description="the site's IANA time zone the buckets follow")
    start: datetime
    end: datetime
    series: dict[str, list[MetricPoint]] = Field(
        description="metric name -> points, oldest first; a requested name without samples has none"
    )


@router.get(
    "/{instrument}/metrics",
    response_model=MetricSeries,
    responses=problems(401, 403, 404, 422),
)
async def get_metrics(
    instrument: str,
    *,
    pool: Pool,
    clock: ClockDep,
    _: CurrentKey,
    names: Annotated[
        str | None,
        Query(description="comma-separated metric names (power_w,chamber_c); default: all seen"),
    ] = None,
    start: Annotated[Instant | None, Query(description="RFC 3339; default end - 24 h")] = None,
    end: Annotated[Instant | None, Query(description="RFC 3339; default now")] = None,
    bucket: Annotated[
        str,
        Query(
            description="PT1M, PT5M, PT15M (raw samples, at most one day of range), PT1H, PT6H,"
            " P1D (the hourly rollup); or 1m, 5m, 15m, 1h, 6h, 1d"
        ),
    ] = "PT1H",
) -> MetricSeries:
    """Min, mean and max of each metric per bucket, in the site's wall clock."""
    end = end or clock.now()
    start = start or max(end, EARLIEST + DAY) - DAY
    width = metric_series.parse_bucket(bucket)
    wanted = metric_series.parse_names(names)
    query = metric_series.SeriesQuery(instrument, start, end, width, wanted)
    await require_instrument(pool, instrument)
    found = await metric_series.series(pool, query)
    label = next(k for k, v in metric_series.BUCKETS.items() if v == width)
    return MetricSeries(
        instrument=instrument,
        bucket=label,
        timezone=found.timezone,
        start=start,
        end=end,
        series={
            name: [MetricPoint.model_validate(p, from_attributes=True) for p in points]
            for name, points in found.series.items()
        },
    )
