"""Metric series: the samples' ``metrics`` per name, downsampled to min/mean/max per bucket.

A bucket is one of ``BUCKETS`` (PT1M … P1D, or 1m … 1d). Buckets of an hour and more are
answered from ``telemetry_metrics_hourly`` (a continuous aggregate on TimescaleDB, the
ingest's rollup on plain PostgreSQL: count, sum, least and greatest per instrument, UTC hour
and name), so a year of hourly points costs ~9K rollup rows per name whatever the sampling
rate. Finer buckets read the raw samples, and are bounded: at most ``MAX_RAW_SPAN`` of range
and ``MAX_RAW_SAMPLES`` samples per query. Buckets follow the site's wall clock (its
``sites.timezone``): a day starts at local midnight, also across a change of daylight saving
time; the first bucket is the one holding ``start``. Only buckets with samples are answered.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from pilotshare.core.contract import MAX_METRICS, METRIC_NAME
from pilotshare.core.db import Executor
from pilotshare.core.errors import BadInput
from pilotshare.twin.history import check_buckets, check_range

MINUTE: Final = timedelta(minutes=1)
HOUR: Final = timedelta(hours=1)
#: The buckets a client may ask for, by their ISO 8601 spelling.
BUCKETS: Final = {
    "PT1M": MINUTE,
    "PT5M": 5 * MINUTE,
    "PT15M": 15 * MINUTE,
    "PT1H": HOUR,
    "PT6H": 6 * HOUR,
    "P1D": 24 * HOUR,
}
_SHORT: Final = re.compile(r"^(\d+)([mhd])$")
_SHORT_UNIT: Final = {"m": "PT{}M", "h": "PT{}H", "d": "P{}D"}
MAX_BUCKETS: Final = 1500
#: Finer buckets than an hour read raw samples: at most a day of range, and of samples …
MAX_RAW_SPAN: Final = timedelta(days=1)
#: … at most this many (a day at 2 Hz); more is a 422 asking for a coarser bucket.
MAX_RAW_SAMPLES: Final = 200_000
#: Local wall-clock bins start here (a Monday, so 6-hour buckets start at 00, 06, 12, 18).
ORIGIN: Final = datetime(2000, 1, 3)  # noqa: DTZ001 - a local wall-clock time, on purpose


def parse_bucket(text: str) -> timedelta:
    """A bucket from its ISO 8601 (``PT5M``, ``P1D``) or short (``5m``, ``1d``) spelling."""
    word = text.strip()
    short = _SHORT.match(word.lower())
    key = _SHORT_UNIT[short.group(2)].format(int(short.group(1))) if short else word.upper()
    if key not in BUCKETS:
        raise BadInput(
            "bad_bucket",
            f"bucket {text!r} is not offered; use one of {', '.join(BUCKETS)}"
            " (or 1m, 5m, 15m, 1h, 6h, 1d)",
        )
    return BUCKETS[key]


def parse_names(text: str | None) -> tuple[str, ...] | None:
    """Metric names from ``a,b,c`` (None or empty: every name seen in the range)."""
    if text is None or not text.strip():
        return None
    names = tuple(dict.fromkeys(n.strip() for n in text.split(",")))
    bad = [n for n in names if METRIC_NAME.match(n) is None]
    if bad:
        raise BadInput(
            "bad_metric_name",
            f"metric name {bad[0]!r} is malformed: names match ^[a-z][a-z0-9_]{{0,63}}$",
        )
    if len(names) > MAX_METRICS:
        raise BadInput("bad_metric_name", f"{len(names)} names given, at most {MAX_METRICS}")
    return names


@dataclass(frozen=True, slots=True)
class SeriesQuery:
    """A validated metric series query."""

    instrument: str
    start: datetime
    end: datetime
    bucket: timedelta
    names: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        check_range(self.start, self.end)
        if self.bucket not in BUCKETS.values():
            raise BadInput("bad_bucket", f"bucket must be one of {', '.join(BUCKETS)}")
        if not self.from_rollup and self.end - self.start > MAX_RAW_SPAN:
            raise BadInput(
                "bad_query",
                f"buckets under an hour read raw samples: at most {MAX_RAW_SPAN.days} day of"
                " range; use PT1H or more for longer ranges",
            )
        check_buckets(self.start, self.end, self.bucket, MAX_BUCKETS)

    @property
    def from_rollup(self) -> bool:
        """Whether whole hourly rollup rows make up each bucket."""
        return self.bucket >= HOUR


@dataclass(frozen=True, slots=True)
class Point:
    """One bucket of one metric: its start, samples reporting it, and their min/mean/max."""

    bucket: datetime
    n: int
    min: float
    mean: float
    max: float


@dataclass(frozen=True, slots=True)
class Series:
    """The site's time zone the buckets follow, and the points per name."""

    timezone: str
    series: dict[str, list[Point]]


# $1 instrument, $2 start, $3 end, $4 bucket, $5 local origin, $6 names (null: all)
_ZONE = """zone AS (SELECT s.timezone AS tz FROM instruments i JOIN sites s ON s.id = i.site_id
                WHERE i.id = $1),
lo AS (SELECT date_bin($4::interval, $2::timestamptz AT TIME ZONE tz, $5::timestamp)
              AT TIME ZONE tz AS t FROM zone)"""

_BIN = "date_bin($4::interval, {col} AT TIME ZONE zone.tz, $5::timestamp) AT TIME ZONE zone.tz"

_FROM_ROLLUP = f"""WITH {_ZONE}
SELECT {_BIN.format(col="h.bucket")} AS bucket, h.name, sum(h.n)::bigint AS n, min(h.lo) AS lo,
       sum(h.total) / sum(h.n) AS mean, max(h.hi) AS hi
FROM telemetry_metrics_hourly h, zone, lo
WHERE h.instrument_id = $1 AND h.bucket >= lo.t AND h.bucket < $3
  AND ($6::text[] IS NULL OR h.name = ANY($6::text[]))
GROUP BY 1, 2 ORDER BY 2, 1"""

_FROM_RAW = f"""WITH {_ZONE}
SELECT {_BIN.format(col="t.ts")} AS bucket, m.name, count(*)::bigint AS n,
       min((m.value)::float8) AS lo, avg((m.value)::float8) AS mean, max((m.value)::float8) AS hi
FROM telemetry t CROSS JOIN LATERAL jsonb_each(t.metrics) AS m(name, value), zone, lo
WHERE t.instrument_id = $1 AND t.ts >= lo.t AND t.ts < $3 AND t.metrics IS NOT NULL
  AND ($6::text[] IS NULL OR m.name = ANY($6::text[]))
GROUP BY 1, 2 ORDER BY 2, 1"""

_RAW_COUNT = f"""WITH {_ZONE}
SELECT count(*) FROM (SELECT 1 FROM telemetry t, lo
    WHERE t.instrument_id = $1 AND t.ts >= lo.t AND t.ts < $3 LIMIT $6) AS x"""

_TIMEZONE = """SELECT s.timezone FROM instruments i JOIN sites s ON s.id = i.site_id
    WHERE i.id = $1"""


async def series(pool: Executor, q: SeriesQuery) -> Series:
    """The query's points per name, oldest first; a requested name without samples has none."""
    timezone = await pool.fetchval(_TIMEZONE, q.instrument)
    args = (q.instrument, q.start, q.end, q.bucket, ORIGIN)
    if not q.from_rollup:
        scanned = await pool.fetchval(_RAW_COUNT, *args, MAX_RAW_SAMPLES + 1)
        if scanned > MAX_RAW_SAMPLES:
            raise BadInput(
                "bad_query",
                f"more than {MAX_RAW_SAMPLES} samples in the range: use a larger bucket"
                " (PT1H or more reads the hourly rollup) or a shorter range",
            )
    names = list(q.names) if q.names is not None else None
    rows = await pool.fetch(_FROM_ROLLUP if q.from_rollup else _FROM_RAW, *args, names)
    out: dict[str, list[Point]] = {n: [] for n in q.names or ()}
    for r in rows:
        out.setdefault(r["name"], []).append(
            Point(r["bucket"], r["n"], r["lo"], r["mean"], r["hi"])
        )
    return Series(timezone or "UTC", dict(sorted(out.items())))
