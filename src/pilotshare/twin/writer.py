"""The ingest's write path: one transaction per flush of many MQTT messages.

In one transaction a flush

1. COPYs its samples into a per-connection temporary staging table (binary COPY: the fastest
   way in, measured in benchmarks/ingest.py),
2. moves them into ``telemetry`` with ``INSERT … ON CONFLICT DO NOTHING RETURNING``, so a
   resent batch stores nothing twice, and, on plain PostgreSQL, adds exactly the rows that
   were new to the ``telemetry_hourly`` rollup (TimescaleDB's continuous aggregate does that
   itself),
3. locks the live rows of its instruments (sorted, so two writers never deadlock), applies
   the pure transitions of ``twin.state`` and writes them back,
4. stores the rejects, and ``NOTIFY twin_changes`` for every instrument whose online flag or
   effective state changed (delivered by PostgreSQL only if the transaction commits).

Locks are always taken in the order telemetry → rollup → live rows, each sorted by key.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from operator import itemgetter
from typing import Any

import asyncpg
import msgspec

from pilotshare.core.contract import Channel, Status, TelemetryBatch, Topic
from pilotshare.core.domain import InstrumentState
from pilotshare.twin.state import Live, apply_samples, apply_silence, apply_status

CHANNEL = "twin_changes"

_STAGE = """CREATE TEMP TABLE IF NOT EXISTS ingest_stage (
    instrument_id text, ts timestamptz, state text, utilization real, metrics jsonb,
    batch bigint) ON COMMIT DELETE ROWS"""
_COLUMNS = ("instrument_id", "ts", "state", "utilization", "metrics", "batch")

_MOVE = """INSERT INTO telemetry (instrument_id, ts, state, utilization, metrics, batch)
    SELECT instrument_id, ts, state, utilization, metrics, batch FROM ingest_stage
    ORDER BY instrument_id, ts
    ON CONFLICT DO NOTHING"""

_MOVE_TIMESCALE = f"WITH ins AS ({_MOVE} RETURNING 1) SELECT count(*) FROM ins"

_STATES = [s.value for s in InstrumentState]
_MOVE_AND_ROLL = f"""WITH ins AS ({_MOVE} RETURNING instrument_id, ts, state, utilization),
roll AS (
    INSERT INTO telemetry_hourly AS h (instrument_id, bucket, samples, utilization,
        {", ".join(f"n_{s}" for s in _STATES)}, first_ts, last_ts, utilization_sum,
        utilization_n)
    SELECT instrument_id, date_trunc('hour', ts, 'UTC'), count(*), avg(utilization),
        {", ".join(f"count(*) FILTER (WHERE state = '{s}')" for s in _STATES)},
        min(ts), max(ts), coalesce(sum(utilization::float8), 0), count(utilization)
    FROM ins GROUP BY 1, 2 ORDER BY 1, 2
    ON CONFLICT (instrument_id, bucket) DO UPDATE SET
        samples = h.samples + excluded.samples,
        {", ".join(f"n_{s} = h.n_{s} + excluded.n_{s}" for s in _STATES)},
        first_ts = least(h.first_ts, excluded.first_ts),
        last_ts = greatest(h.last_ts, excluded.last_ts),
        utilization_sum = h.utilization_sum + excluded.utilization_sum,
        utilization_n = h.utilization_n + excluded.utilization_n,
        utilization = (h.utilization_sum + excluded.utilization_sum)
                      / nullif(h.utilization_n + excluded.utilization_n, 0)
    RETURNING 1)
SELECT count(*) FROM ins"""

_ROLL_UP = f"""INSERT INTO telemetry_hourly AS h (instrument_id, bucket, samples,
        {", ".join(f"n_{s}" for s in _STATES)}, first_ts, last_ts, utilization_sum,
        utilization_n, utilization)
    SELECT *, CASE WHEN u_n > 0 THEN u_sum / u_n END FROM unnest($1::text[],
        $2::timestamptz[], $3::bigint[], {", ".join(f"${i}::bigint[]" for i in range(4, 9))},
        $9::timestamptz[], $10::timestamptz[], $11::float8[], $12::bigint[])
        AS u(id, bucket, samples, {", ".join(f"n_{s}" for s in _STATES)}, first_ts, last_ts,
             u_sum, u_n)
    ORDER BY 1, 2
    ON CONFLICT (instrument_id, bucket) DO UPDATE SET
        samples = h.samples + excluded.samples,
        {", ".join(f"n_{s} = h.n_{s} + excluded.n_{s}" for s in _STATES)},
        first_ts = least(h.first_ts, excluded.first_ts),
        last_ts = greatest(h.last_ts, excluded.last_ts),
        utilization_sum = h.utilization_sum + excluded.utilization_sum,
        utilization_n = h.utilization_n + excluded.utilization_n,
        utilization = (h.utilization_sum + excluded.utilization_sum)
                      / nullif(h.utilization_n + excluded.utilization_n, 0)"""

_LIVE_COLUMNS = """l.instrument_id, i.site_id, l.online, l.state, l.since, l.last_seen,
    l.utilization, l.last_batch, l.agent, l.agent_version"""

_LIVE_UPDATE = """UPDATE instrument_live l SET online = u.online, state = u.state,
    since = u.since, last_seen = u.last_seen, utilization = u.utilization,
    last_batch = u.last_batch, agent = u.agent, agent_version = u.agent_version,
    status_at = coalesce(u.status_at, l.status_at), updated_at = now()
FROM unnest($1::text[], $2::bool[], $3::text[], $4::timestamptz[], $5::timestamptz[],
            $6::real[], $7::bigint[], $8::text[], $9::text[], $10::timestamptz[])
     AS u(id, online, state, since, last_seen, utilization, last_batch, agent,
          agent_version, status_at)
WHERE l.instrument_id = u.id"""

_NOTIFY = f"SELECT pg_notify('{CHANNEL}', x) FROM unnest($1::text[]) AS x"

_REJECTS = """INSERT INTO rejects (received_at, topic, reason, detail, payload)
SELECT * FROM unnest($1::timestamptz[], $2::text[], $3::text[], $4::text[], $5::bytea[])"""


@dataclass(slots=True)
class TelemetryItem:
    """A valid telemetry message waiting to be stored."""

    topic: Topic
    batch: TelemetryBatch
    raw: bytes
    received_at: datetime
    received: float  # monotonic seconds

    @property
    def weight(self) -> int:
        return len(self.batch.samples)


@dataclass(slots=True)
class StatusItem:
    """An agent's status (or last will) waiting to be applied."""

    topic: Topic
    status: Status
    raw: bytes
    received_at: datetime
    received: float
    weight: int = 1


@dataclass(slots=True)
class RejectItem:
    """A message that failed validation, kept whole with why."""

    topic: str
    reason: str
    detail: str
    payload: bytes
    received_at: datetime
    received: float
    weight: int = 1


Item = TelemetryItem | StatusItem | RejectItem


@dataclass(slots=True)
class FlushResult:
    """What a committed flush did."""

    stored: int = 0
    samples: int = 0
    acks: dict[Topic, list[int]] = field(default_factory=dict)
    changes: list[Live] = field(default_factory=list)
    rejects: dict[str, int] = field(default_factory=dict)


def _clean(text: str) -> str:
    return text.replace("\x00", "\\x00")


class TelemetryWriter:
    """Stores flushes of ingest items; knows which instruments exist (cached, refreshed)."""

    def __init__(self, pool: asyncpg.Pool, *, timescale: bool, offline_after: timedelta) -> None:
        self._pool = pool
        self._timescale = timescale
        self._offline_after = offline_after
        self._sites: dict[str, str] = {}

    async def _resolve(self, conn: asyncpg.Connection, instruments: set[str]) -> dict[str, str]:
        missing = [i for i in instruments if i not in self._sites]
        if missing:
            rows = await conn.fetch(
                "SELECT id, site_id FROM instruments WHERE id = ANY($1::text[])", missing
            )
            self._sites.update({r["id"]: r["site_id"] for r in rows})
        return self._sites

    def forget(self) -> None:
        """Drop the instrument cache (instruments were added, moved or removed)."""
        self._sites.clear()

    async def write(self, items: list[Item], now: datetime) -> FlushResult:
        """Store ``items`` in one transaction; raises on database errors (nothing stored)."""
        result = FlushResult()
        names = {i.topic.instrument for i in items if not isinstance(i, RejectItem)}
        async with self._pool.acquire() as conn:
            sites = await self._resolve(conn, names)
            rejects = [i for i in items if isinstance(i, RejectItem)]
            accepted: list[TelemetryItem | StatusItem] = []
            for item in items:
                if isinstance(item, RejectItem):
                    continue
                if sites.get(item.topic.instrument) != item.topic.site:
                    rejects.append(_unknown(item))
                else:
                    accepted.append(item)
            records = _records(accepted)
            async with conn.transaction():
                if records:
                    result.stored = await self._store(conn, records)
                    result.samples = len(records)
                if accepted:
                    result.changes = await self._apply_live(conn, accepted, now)
                if rejects:
                    await _store_rejects(conn, rejects)
        for item in accepted:
            if isinstance(item, TelemetryItem):
                result.acks.setdefault(item.topic.sibling(Channel.ACK), []).append(item.batch.batch)
        for r in rejects:
            result.rejects[r.reason] = result.rejects.get(r.reason, 0) + 1
        return result

    async def _store(self, conn: asyncpg.Connection, records: list[Record]) -> int:
        """Store samples once; returns how many were new.

        Fast path: COPY straight into ``telemetry`` (and the rollup from Python's counts),
        which is all a flush needs when nothing in it was stored before. A resent batch makes
        the COPY fail on the primary key; then the flush goes through the staging table and
        ``ON CONFLICT DO NOTHING``, which costs several times more but stores nothing twice.
        """
        records.sort(key=_record_key)  # one lock order for every writer
        await _binary_jsonb(conn)
        try:
            async with conn.transaction():  # a savepoint: the slow path follows a failure
                await conn.copy_records_to_table("telemetry", records=records, columns=_COLUMNS)
                if not self._timescale:
                    await conn.execute(_ROLL_UP, *_hourly(records))
        except asyncpg.UniqueViolationError:
            await conn.execute(_STAGE)
            await conn.copy_records_to_table("ingest_stage", records=records, columns=_COLUMNS)
            sql = _MOVE_TIMESCALE if self._timescale else _MOVE_AND_ROLL
            return int(await conn.fetchval(sql))
        return len(records)

    async def _apply_live(
        self, conn: asyncpg.Connection, items: list[TelemetryItem | StatusItem], now: datetime
    ) -> list[Live]:
        by_instrument: dict[str, list[TelemetryItem | StatusItem]] = defaultdict(list)
        for item in items:
            by_instrument[item.topic.instrument].append(item)
        ids = sorted(by_instrument)
        await conn.execute(
            "INSERT INTO instrument_live (instrument_id) SELECT unnest($1::text[]) "
            "ON CONFLICT DO NOTHING",
            ids,
        )
        rows = await conn.fetch(
            f"""SELECT {_LIVE_COLUMNS} FROM instrument_live l
                JOIN instruments i ON i.id = l.instrument_id
                WHERE l.instrument_id = ANY($1::text[]) ORDER BY l.instrument_id
                FOR UPDATE OF l""",
            ids,
        )
        after: list[Live] = []
        status_at: list[datetime | None] = []
        changes: list[Live] = []
        for row in rows:
            before = live_from_row(row)
            live = before
            seen_status: datetime | None = None
            for item in by_instrument[before.instrument]:
                if isinstance(item, TelemetryItem):
                    live = apply_samples(
                        live,
                        item.batch.samples,
                        batch=item.batch.batch,
                        now=now,
                        offline_after=self._offline_after,
                    )
                else:
                    live = apply_status(
                        live,
                        online=item.status.online,
                        ts=item.status.ts,
                        now=item.received_at,
                        agent=item.status.agent,
                        agent_version=item.status.agent_version,
                    )
                    seen_status = item.received_at
            after.append(live)
            status_at.append(seen_status)
            if live.change_key() != before.change_key():
                changes.append(live)
        await _update_live(conn, after, status_at)
        if changes:
            await conn.execute(_NOTIFY, [json.dumps(c.as_event()) for c in changes])
        return changes

    async def sweep(self, now: datetime) -> list[Live]:
        """Mark instruments silent for longer than ``offline_after`` offline; notify."""
        cutoff = now - self._offline_after
        async with self._pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                f"""SELECT {_LIVE_COLUMNS} FROM instrument_live l
                    JOIN instruments i ON i.id = l.instrument_id
                    WHERE l.online AND (l.last_seen IS NULL OR l.last_seen < $1)
                    ORDER BY l.instrument_id FOR UPDATE OF l SKIP LOCKED""",
                cutoff,
            )
            changes = [
                apply_silence(live_from_row(r), now=now, offline_after=self._offline_after)
                for r in rows
            ]
            changes = [c for c in changes if not c.online]
            if changes:
                await _update_live(conn, changes, [None] * len(changes))
                await conn.execute(_NOTIFY, [json.dumps(c.as_event()) for c in changes])
        return changes


def live_from_row(row: asyncpg.Record) -> Live:
    """A ``Live`` from a row of ``instrument_live`` joined with the instrument's site."""
    return Live(
        instrument=row["instrument_id"],
        site=row["site_id"],
        online=row["online"],
        state=InstrumentState(row["state"]) if row["state"] else None,
        since=row["since"],
        last_seen=row["last_seen"],
        utilization=row["utilization"],
        last_batch=row["last_batch"],
        agent=row["agent"],
        agent_version=row["agent_version"],
    )


async def _update_live(
    conn: asyncpg.Connection, lives: list[Live], status_at: list[datetime | None]
) -> None:
    await conn.execute(
        _LIVE_UPDATE,
        [x.instrument for x in lives],
        [x.online for x in lives],
        [x.state.value if x.state else None for x in lives],
        [x.since for x in lives],
        [x.last_seen for x in lives],
        [x.utilization for x in lives],
        [x.last_batch for x in lives],
        [x.agent for x in lives],
        [x.agent_version for x in lives],
        status_at,
    )


async def _binary_jsonb(conn: asyncpg.Connection) -> None:
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


_record_key = itemgetter(0, 1)


def _records(items: list[TelemetryItem | StatusItem]) -> list[Record]:
    records: list[Record] = []
    append = records.append
    for item in items:
        if not isinstance(item, TelemetryItem):
            continue
        instrument = item.topic.instrument
        number = item.batch.batch
        for s in item.batch.samples:
            # the state is a StrEnum, a str: passed as is (``.value`` costs more than the rest)
            append((instrument, s.ts, s.state, s.utilization, s.metrics or None, number))
    return records


_STATE_INDEX = {s: i for i, s in enumerate(InstrumentState)}


def _hourly(records: list[Record]) -> list[list[object]]:
    """The rollup rows of new samples, as the unnest arrays of ``_ROLL_UP``."""
    acc: dict[tuple[str, float], list[Any]] = {}
    index = _STATE_INDEX
    for instrument, ts, state, utilization, _metrics, _batch in records:
        epoch = ts.timestamp()
        key = (instrument, epoch - epoch % 3600)
        row = acc.get(key)
        if row is None:
            row = acc[key] = [0, 0, 0, 0, 0, 0, ts, ts, 0.0, 0]
        row[0] += 1
        row[1 + index[state]] += 1
        row[6] = min(row[6], ts)
        row[7] = max(row[7], ts)
        if utilization is not None:
            row[8] += utilization
            row[9] += 1
    columns: list[list[object]] = [[] for _ in range(12)]
    for (instrument, hour), row in acc.items():
        columns[0].append(instrument)
        columns[1].append(datetime.fromtimestamp(hour, UTC))
        for i, value in enumerate(row):
            columns[2 + i].append(value)
    return columns


def _unknown(item: TelemetryItem | StatusItem) -> RejectItem:
    return RejectItem(
        topic=str(item.topic),
        reason="unknown_instrument",
        detail=f"instrument {item.topic.instrument!r} is not registered at site "
        f"{item.topic.site!r}",
        payload=item.raw,
        received_at=item.received_at,
        received=item.received,
    )


async def _store_rejects(conn: asyncpg.Connection, rejects: list[RejectItem]) -> None:
    await conn.execute(
        _REJECTS,
        [r.received_at for r in rejects],
        [_clean(r.topic) for r in rejects],
        [r.reason for r in rejects],
        [_clean(r.detail) for r in rejects],
        [r.payload for r in rejects],
    )
