"""Telemetry history in buckets: samples, mean utilisation and seconds in each state.

Buckets of a whole number of hours are answered from ``telemetry_hourly`` (a continuous
aggregate on TimescaleDB, the ingest's rollup on plain PostgreSQL): a month of one instrument
is ~720 rows whatever the sampling rate. Finer buckets read the raw samples. Both compute a
state's seconds the same way: samples in the state times the samples' spacing within each
hour (or bucket), so the two paths agree. Buckets are aligned to a Monday 00:00 UTC origin
and every bucket of the range is answered, empty ones with zero samples.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

from pilotshare.core.db import Executor
from pilotshare.core.domain import InstrumentState
from pilotshare.core.errors import BadInput

ORIGIN: Final = datetime(2000, 1, 3, tzinfo=UTC)  # a Monday
MIN_BUCKET: Final = timedelta(seconds=1)
MAX_BUCKET: Final = timedelta(days=366)
MAX_BUCKETS: Final = 10_000
#: The times a query may name: far outside them, date arithmetic in Python and PostgreSQL
#: overflows (a 500) or bins millennia of empty buckets.
EARLIEST: Final = datetime(2000, 1, 1, tzinfo=UTC)
LATEST: Final = datetime(2200, 1, 1, tzinfo=UTC)


def check_range(start: datetime, end: datetime) -> None:
    """The rule every stored-history query applies to its window (``bad_query``): aware
    times, between ``EARLIEST`` and ``LATEST``, ``end`` after ``start``."""
    if start.tzinfo is None or end.tzinfo is None:
        raise BadInput("bad_query", "start and end need a time zone offset")
    for name, t in (("start", start), ("end", end)):
        if not EARLIEST <= t <= LATEST:
            raise BadInput(
                "bad_query", f"{name} must be between {EARLIEST:%Y-%m-%d} and {LATEST:%Y-%m-%d}"
            )
    if end <= start:
        raise BadInput("bad_query", "end must be after start")


def check_buckets(start: datetime, end: datetime, bucket: timedelta, most: int) -> None:
    """At most ``most`` buckets of ``bucket`` in ``[start, end)`` (``bad_query``): what bounds
    the work of one history query."""
    n = (end - start) / bucket
    if n > most:
        raise BadInput(
            "bad_query", f"{int(n)} buckets asked for, at most {most}: use a larger bucket"
        )


HOUR: Final = timedelta(hours=1)

_STATES = [s.value for s in InstrumentState]
_SPACING = "(extract(epoch FROM last_ts - first_ts) / nullif(samples - 1, 0))"

_FROM_HOURLY = f"""
WITH agg AS (
    SELECT date_bin($4::interval, bucket, $5) AS b,
           sum(samples)::bigint AS samples,
           sum(utilization * samples) FILTER (WHERE utilization IS NOT NULL)
               / nullif(sum(samples) FILTER (WHERE utilization IS NOT NULL), 0) AS utilization,
           {", ".join(f"coalesce(sum(n_{s} * {_SPACING}), 0)::float8 AS {s}" for s in _STATES)}
    FROM telemetry_hourly
    WHERE instrument_id = $1 AND bucket >= date_bin($4::interval, $2, $5) AND bucket < $3
    GROUP BY 1
)
SELECT g.b AS bucket, coalesce(agg.samples, 0) AS samples, agg.utilization,
       {", ".join(f"coalesce(agg.{s}, 0) AS {s}" for s in _STATES)}
FROM generate_series(date_bin($4::interval, $2, $5), $3 - interval '1 microsecond', $4::interval)
     AS g(b)
LEFT JOIN agg ON agg.b = g.b ORDER BY g.b"""

_FROM_RAW = f"""
WITH rows AS (
    SELECT date_bin($4::interval, ts, $5) AS b, count(*)::bigint AS samples,
           avg(utilization)::float8 AS utilization, min(ts) AS first_ts, max(ts) AS last_ts,
           {", ".join(f"count(*) FILTER (WHERE state = '{s}') AS n_{s}" for s in _STATES)}
    FROM telemetry
    WHERE instrument_id = $1 AND ts >= date_bin($4::interval, $2, $5) AND ts < $3
    GROUP BY 1
)
SELECT g.b AS bucket, coalesce(rows.samples, 0) AS samples, rows.utilization,
       {", ".join(f"coalesce(rows.n_{s} * {_SPACING}, 0)::float8 AS {s}" for s in _STATES)}
FROM generate_series(date_bin($4::interval, $2, $5), $3 - interval '1 microsecond', $4::interval)
     AS g(b)
LEFT JOIN rows ON rows.b = g.b ORDER BY g.b"""


@dataclass(frozen=True, slots=True)
class BucketQuery:
    """A validated history query."""

    instrument: str
    start: datetime
    end: datetime
    bucket: timedelta

    def __post_init__(self) -> None:
        check_range(self.start, self.end)
        if self.bucket < MIN_BUCKET:
            raise BadInput("bad_query", f"bucket must be at least {MIN_BUCKET.total_seconds():g} s")
        if self.bucket > MAX_BUCKET:
            raise BadInput("bad_query", f"bucket must be at most {MAX_BUCKET.days} days")
        check_buckets(self.start, self.end, self.bucket, MAX_BUCKETS)

    @property
    def from_rollup(self) -> bool:
        """Whether whole hourly rows make up each bucket."""
        return self.bucket >= HOUR and self.bucket % HOUR == timedelta(0)


@dataclass(frozen=True, slots=True)
class Bucket:
    """One bucket of history: its start, stored samples, mean utilisation (None: none
    reported) and seconds in each state."""

    bucket: datetime
    samples: int
    utilization: float | None
    state_seconds: dict[str, float]


async def buckets(pool: Executor, q: BucketQuery) -> list[Bucket]:
    """Every bucket of the query's range, oldest first."""
    sql = _FROM_HOURLY if q.from_rollup else _FROM_RAW
    rows = await pool.fetch(sql, q.instrument, q.start, q.end, q.bucket, ORIGIN)
    return [
        Bucket(r["bucket"], r["samples"], r["utilization"], {s: r[s] for s in _STATES})
        for r in rows
    ]
