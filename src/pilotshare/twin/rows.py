"""Samples as database rows: binary COPY records, the idempotent staging path, the rollup.

A flush is first COPYed straight into ``telemetry``; if it holds a sample stored before (a
resent batch) the COPY fails on the primary key and the flush goes through a per-connection
temporary staging table and ``INSERT … ON CONFLICT DO NOTHING RETURNING``, so nothing is
stored twice. On plain PostgreSQL, ``telemetry_hourly`` and ``telemetry_metrics_hourly`` get
exactly the new rows: counted in Python on the fast path, from ``RETURNING`` on the slow one
(TimescaleDB's continuous aggregates need neither). So a resent or duplicated sample is never
counted twice, and a late one is added to its own hour.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from operator import attrgetter
from typing import Any

import asyncpg
import msgspec

from pilotshare.core.contract import Sample
from pilotshare.core.db import Connection
from pilotshare.core.domain import InstrumentState
from pilotshare.twin.items import StatusItem, TelemetryItem

STAGE = """CREATE TEMP TABLE IF NOT EXISTS ingest_stage (
    instrument_id text, ts timestamptz, state text, utilization real, metrics jsonb,
    batch bigint) ON COMMIT DELETE ROWS"""
COLUMNS = ("instrument_id", "ts", "state", "utilization", "metrics", "batch")

_MOVE = """INSERT INTO telemetry (instrument_id, ts, state, utilization, metrics, batch)
    SELECT instrument_id, ts, state, utilization, metrics, batch FROM ingest_stage
    ORDER BY instrument_id, ts
    ON CONFLICT DO NOTHING"""

MOVE_TIMESCALE = f"WITH ins AS ({_MOVE} RETURNING 1) SELECT count(*) FROM ins"

_STATES = [s.value for s in InstrumentState]
_N_STATES = ", ".join(f"n_{s}" for s in _STATES)


def _roll_up(select: str) -> str:
    """Add ``select``'s hourly rows to ``telemetry_hourly``: the one rollup upsert.

    ``select`` yields the columns in this order: instrument, bucket, samples, one count per
    state, first and last ts, utilisation sum and count, and the bucket's utilisation.
    """
    return f"""INSERT INTO telemetry_hourly AS h (instrument_id, bucket, samples, {_N_STATES},
        first_ts, last_ts, utilization_sum, utilization_n, utilization)
    {select}
    ON CONFLICT (instrument_id, bucket) DO UPDATE SET
        samples = h.samples + excluded.samples,
        {", ".join(f"n_{s} = h.n_{s} + excluded.n_{s}" for s in _STATES)},
        first_ts = least(h.first_ts, excluded.first_ts),
        last_ts = greatest(h.last_ts, excluded.last_ts),
        utilization_sum = h.utilization_sum + excluded.utilization_sum,
        utilization_n = h.utilization_n + excluded.utilization_n,
        utilization = (h.utilization_sum + excluded.utilization_sum)
                      / nullif(h.utilization_n + excluded.utilization_n, 0)"""


_FROM_INSERTED = f"""SELECT instrument_id, date_trunc('hour', ts, 'UTC'), count(*),
        {", ".join(f"count(*) FILTER (WHERE state = '{s}')" for s in _STATES)},
        min(ts), max(ts), coalesce(sum(utilization::float8), 0), count(utilization),
        avg(utilization)
    FROM ins GROUP BY 1, 2 ORDER BY 1, 2"""


def _roll_up_metrics(select: str) -> str:
    """Add ``select``'s rows (instrument, hour, name, count, sum, least, greatest) to
    ``telemetry_metrics_hourly``: the one metric rollup upsert."""
    return f"""INSERT INTO telemetry_metrics_hourly AS h (instrument_id, bucket, name, n, total,
        lo, hi)
    {select}
    ON CONFLICT (instrument_id, bucket, name) DO UPDATE SET
        n = h.n + excluded.n, total = h.total + excluded.total,
        lo = least(h.lo, excluded.lo), hi = greatest(h.hi, excluded.hi)"""


_METRICS_INSERTED = """SELECT instrument_id, date_trunc('hour', ts, 'UTC'), m.name, count(*),
        sum((m.value)::float8), min((m.value)::float8), max((m.value)::float8)
    FROM ins CROSS JOIN LATERAL jsonb_each(ins.metrics) AS m(name, value)
    WHERE ins.metrics IS NOT NULL GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"""

MOVE_AND_ROLL = f"""WITH ins AS ({_MOVE} RETURNING instrument_id, ts, state, utilization, metrics),
roll AS ({_roll_up(_FROM_INSERTED)} RETURNING 1),
mroll AS ({_roll_up_metrics(_METRICS_INSERTED)} RETURNING 1)
SELECT count(*) FROM ins"""

_FROM_ARRAYS = f"""SELECT *, CASE WHEN u_n > 0 THEN u_sum / u_n END FROM unnest($1::text[],
        $2::timestamptz[], $3::bigint[], {", ".join(f"${i}::bigint[]" for i in range(4, 9))},
        $9::timestamptz[], $10::timestamptz[], $11::float8[], $12::bigint[])
        AS u(id, bucket, samples, {_N_STATES}, first_ts, last_ts, u_sum, u_n)
    ORDER BY 1, 2"""

ROLL_UP = _roll_up(_FROM_ARRAYS)

#: Both rollups of a flush in one statement (one round trip): ``ROLL_UP``'s twelve arrays,
#: then the metric rollup's seven as $13 to $19.
ROLL_UP_BOTH = f"""WITH states AS ({ROLL_UP} RETURNING 1),
metrics AS ({
    _roll_up_metrics('''SELECT * FROM unnest($13::text[], $14::timestamptz[],
        $15::text[], $16::bigint[], $17::float8[], $18::float8[], $19::float8[])
    ORDER BY 1, 2, 3''')
} RETURNING 1)
SELECT (SELECT count(*) FROM states), (SELECT count(*) FROM metrics)"""


async def binary_jsonb(conn: Connection) -> None:
    """Give the connection a binary jsonb codec, which binary COPY needs.

    The pool's codec is text (json.dumps / json.loads); this one reads and writes the same
    Python values (version byte 1, then the JSON text), so other users of the connection see
    no difference. One catalog round trip per flush, on purpose: it survives reconnections.
    """
    await conn.set_type_codec(
        "jsonb",
        schema="pg_catalog",
        encoder=_jsonb_encode,
        decoder=_jsonb_decode,
        format="binary",
    )


def _jsonb_encode(value: object) -> bytes:
    return b"\x01" + _json.encode(value)


def _jsonb_decode(data: bytes) -> object:
    return json.loads(data[1:])


_json = msgspec.json.Encoder()

Record = tuple[str, datetime, InstrumentState, float | None, dict[str, float] | None, int]


class Rows:
    """A flush's samples as COPY records, and their hourly rollup counted on the way."""

    __slots__ = ("_acc", "_groups", "records")

    def __init__(self, items: list[TelemetryItem | StatusItem]) -> None:
        records: list[Record] = []
        self._acc: dict[tuple[str, int], list[Any]] = {}
        #: (instrument, hour, samples) of each batch, or each sample of a batch across hours:
        #: the metric rollup is counted from them only when asked (plain PostgreSQL)
        self._groups: list[tuple[str, int, Sequence[Sample]]] = []
        batches = [i for i in items if isinstance(i, TelemetryItem)]
        # one order of rows for every writer (instrument, batch), so two flushes that hold
        # the same resent batches lock their keys in the same order
        batches.sort(key=_batch_key)
        for item in batches:
            instrument = item.topic.instrument
            number = item.batch.batch
            samples = item.batch.samples
            # the state is a StrEnum, a str: passed as is (``.value`` costs more)
            records += [
                (instrument, s.ts, s.state, s.utilization, s.metrics or None, number)
                for s in samples
            ]
            first, last = min(map(_ts, samples)), max(map(_ts, samples))
            hour = _hour(first)
            if _hour(last) == hour:  # the usual case: one batch, one hour
                self._count(instrument, hour, samples, first, last)
                self._groups.append((instrument, hour, samples))
            else:
                for s in samples:
                    self._count(instrument, _hour(s.ts), (s,), s.ts, s.ts)
                    self._groups.append((instrument, _hour(s.ts), (s,)))
        self.records = records

    def _count(
        self,
        instrument: str,
        hour: int,
        samples: Sequence[Sample],
        first: datetime,
        last: datetime,
    ) -> None:
        row = self._acc.get((instrument, hour))
        if row is None:
            row = self._acc[(instrument, hour)] = [0, 0, 0, 0, 0, 0, first, last, 0.0, 0]
        row[0] += len(samples)
        for state, n in Counter(map(_state, samples)).items():
            row[1 + _STATE_INDEX[state]] += n
        row[6] = min(row[6], first)
        row[7] = max(row[7], last)
        reported = [u for u in map(_utilization, samples) if u is not None]
        row[8] += sum(reported)
        row[9] += len(reported)

    def hourly_metrics(self) -> list[list[object]]:
        """The metric rollup rows, as the unnest arrays ($13 to $19) of ``ROLL_UP_BOTH``.

        Counted per batch (one instrument, one hour: values gathered per name, then ``len``,
        ``sum``, ``min`` and ``max`` once each), and only when asked (plain PostgreSQL):
        TimescaleDB's flushes do not pay for it.
        """
        acc: dict[tuple[str, int, str], list[float]] = {}
        for instrument, hour, samples in self._groups:
            values: dict[str, list[float]] = {}
            for sample in samples:
                if sample.metrics:
                    for name, value in sample.metrics.items():
                        found = values.get(name)
                        if found is None:
                            values[name] = [value]
                        else:
                            found.append(value)
            for name, vs in values.items():
                key = (instrument, hour, name)
                row = acc.get(key)
                if row is None:
                    acc[key] = [len(vs), sum(vs), min(vs), max(vs)]
                else:
                    row[0] += len(vs)
                    row[1] += sum(vs)
                    row[2] = min(row[2], *vs)
                    row[3] = max(row[3], *vs)
        columns: list[list[object]] = [[] for _ in range(7)]
        for (instrument, hour, name), (n, total, lo, hi) in sorted(acc.items()):
            columns[0].append(instrument)
            columns[1].append(datetime.fromtimestamp(hour, UTC))
            columns[2].append(name)
            columns[3].append(int(n))
            columns[4].append(float(total))
            columns[5].append(float(lo))
            columns[6].append(float(hi))
        return columns

    def hourly(self) -> list[list[object]]:
        """The rollup rows, as the unnest arrays of ``ROLL_UP``."""
        columns: list[list[object]] = [[] for _ in range(12)]
        for (instrument, hour), row in self._acc.items():
            columns[0].append(instrument)
            columns[1].append(datetime.fromtimestamp(hour, UTC))
            for i, value in enumerate(row):
                columns[2 + i].append(value)
        return columns


def _hour(ts: datetime) -> int:
    """The start of the UTC hour of ``ts``, in whole seconds since the epoch (exact)."""
    return int(ts.timestamp() // 3600) * 3600


def _batch_key(item: TelemetryItem) -> tuple[str, int]:
    return (item.topic.instrument, item.batch.batch)


_STATE_INDEX = {s: i for i, s in enumerate(InstrumentState)}
_ts = attrgetter("ts")
_state = attrgetter("state")
_utilization = attrgetter("utilization")


async def store(conn: Connection, rows: Rows, *, timescale: bool) -> int:
    """Store samples once; returns how many were new.

    Fast path: COPY straight into ``telemetry`` (and the rollup from Python's counts),
    which is all a flush needs when nothing in it was stored before. A resent batch makes
    the COPY fail on the primary key; then the flush goes through the staging table and
    ``ON CONFLICT DO NOTHING``, which costs several times more but stores nothing twice.
    """
    records = rows.records
    await binary_jsonb(conn)
    try:
        async with conn.transaction():  # a savepoint: the slow path follows a failure
            await conn.copy_records_to_table("telemetry", records=records, columns=COLUMNS)
            if not timescale:
                metrics = rows.hourly_metrics()
                if metrics[0]:
                    await conn.execute(ROLL_UP_BOTH, *rows.hourly(), *metrics)
                else:
                    await conn.execute(ROLL_UP, *rows.hourly())
    except asyncpg.UniqueViolationError:
        await conn.execute(STAGE)
        await conn.copy_records_to_table("ingest_stage", records=records, columns=COLUMNS)
        sql = MOVE_TIMESCALE if timescale else MOVE_AND_ROLL
        return int(await conn.fetchval(sql))
    return len(records)
