"""The ingest's write path: one transaction per flush of many MQTT messages.

In one transaction a flush

1. stores its samples once, and on plain PostgreSQL adds exactly the new ones to the
   ``telemetry_hourly`` rollup (``twin.rows``: binary COPY, with a staging table and
   ``ON CONFLICT DO NOTHING`` when the flush holds resent samples),
2. locks the live rows of its instruments (sorted, so two writers never deadlock), applies
   the pure transitions of ``twin.state`` and writes them back,
3. stores the rejects, and ``NOTIFY twin_changes`` for every instrument whose online flag or
   effective state changed (delivered by PostgreSQL only if the transaction commits).

Locks are always taken in the order telemetry (rows in instrument, batch order) → rollup →
live rows (sorted), so concurrent writers and ingests wait for each other but never deadlock
on the usual paths (a deadlock the database does detect is retried like any transient error).
"""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import datetime, timedelta

import asyncpg

from pilotshare.core.contract import TWIN_CHANGES, Channel, Interlock, Rejection
from pilotshare.core.db import Connection
from pilotshare.twin import rows
from pilotshare.twin.items import FlushResult, Item, RejectItem, StatusItem, TelemetryItem
from pilotshare.twin.state import Live, apply_samples, apply_silence, apply_status
from pilotshare.twin.store import LIVE_COLUMNS, live_from_row

__all__ = [
    "FlushResult",
    "Item",
    "RejectItem",
    "StatusItem",
    "TelemetryItem",
    "TelemetryWriter",
]

_LIVE_UPDATE = """UPDATE instrument_live l SET online = u.online, state = u.state,
    since = u.since, last_seen = u.last_seen, utilization = u.utilization,
    last_batch = u.last_batch, agent = u.agent, agent_version = u.agent_version,
    status_at = coalesce(u.status_at, l.status_at), interlock_state = u.interlock_state,
    interlock_seq = u.interlock_seq, updated_at = now()
FROM unnest($1::text[], $2::bool[], $3::text[], $4::timestamptz[], $5::timestamptz[],
            $6::real[], $7::bigint[], $8::text[], $9::text[], $10::timestamptz[],
            $11::text[], $12::bigint[])
     AS u(id, online, state, since, last_seen, utilization, last_batch, agent,
          agent_version, status_at, interlock_state, interlock_seq)
WHERE l.instrument_id = u.id"""

_NOTIFY = f"SELECT pg_notify('{TWIN_CHANGES}', x) FROM unnest($1::text[]) AS x"

#: A batch's reject is kept once per (topic, batch, reason): a resend counts on the same row.
_REJECTS = """INSERT INTO rejects AS r (received_at, topic, reason, detail, payload, batch, repeats,
    last_received_at)
SELECT u.*, CASE WHEN u.repeats > 0 THEN u.received_at END
FROM unnest($1::timestamptz[], $2::text[], $3::text[], $4::text[], $5::bytea[], $6::bigint[],
            $7::int[]) AS u(received_at, topic, reason, detail, payload, batch, repeats)
ON CONFLICT (topic, batch, reason) WHERE batch IS NOT NULL DO UPDATE SET
    detail = excluded.detail, repeats = r.repeats + excluded.repeats + 1,
    last_received_at = excluded.received_at"""


def _clean(text: str) -> str:
    return text.replace("\x00", "\\x00")


class TelemetryWriter:
    """Stores flushes of ingest items; knows which instruments exist (cached, refreshed)."""

    def __init__(self, pool: asyncpg.Pool, *, timescale: bool, offline_after: timedelta) -> None:
        self._pool = pool
        self._timescale = timescale
        self._offline_after = offline_after
        self._sites: dict[str, str] = {}

    async def _resolve(self, conn: Connection, instruments: set[str]) -> dict[str, str]:
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
                    if isinstance(item, TelemetryItem) and item.refused is not None:
                        rejects.append(item.refused)  # its other samples are stored
            flush = rows.Rows(accepted)
            async with conn.transaction():
                if flush.records:
                    result.stored = await rows.store(conn, flush, timescale=self._timescale)
                    result.samples = len(flush.records)
                if accepted:
                    result.changes = await self._apply_live(conn, accepted, now)
                if rejects:
                    await _store_rejects(conn, rejects)
        for item in accepted:
            if isinstance(item, TelemetryItem):
                result.acks.setdefault(item.topic.sibling(Channel.ACK), []).append(item.batch.batch)
        for r in rejects:
            result.rejects[r.reason] = result.rejects.get(r.reason, 0) + 1
            if r.ack is not None and r.batch is not None:
                refused = Rejection(batch=r.batch, reason=r.reason)
                result.rejected.setdefault(r.ack, []).append(refused)
        return result

    async def _apply_live(
        self, conn: Connection, items: list[TelemetryItem | StatusItem], now: datetime
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
            f"""SELECT {LIVE_COLUMNS} FROM instrument_live l
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
                        interlock=_interlock(item),
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
                f"""SELECT {LIVE_COLUMNS} FROM instrument_live l
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


async def _update_live(
    conn: Connection, lives: list[Live], status_at: list[datetime | None]
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
        [x.interlock_state for x in lives],
        [x.interlock_seq for x in lives],
    )


def _interlock(item: StatusItem) -> tuple[str, int | None] | None:
    reported = item.status.interlock
    return (reported.state, reported.seq) if isinstance(reported, Interlock) else None


def _unknown(item: TelemetryItem | StatusItem) -> RejectItem:
    """The reject of a message for an instrument not registered at its site.

    A telemetry batch keeps its whole message (not only its valid part), so a replay once
    the instrument is registered stores all of it; and it is acknowledged as rejected.
    """
    return RejectItem.whole(
        item,
        "unknown_instrument",
        f"instrument {item.topic.instrument!r} is not registered at site {item.topic.site!r}",
        item.received_at,
    )


async def _store_rejects(conn: Connection, rejects: list[RejectItem]) -> None:
    """Insert the rejects; one row per (topic, batch, reason), the last of a flush winning."""
    last: dict[object, RejectItem] = {}
    repeats: dict[object, int] = {}
    for i, r in enumerate(rejects):
        key = i if r.batch is None else (_clean(r.topic), r.batch, r.reason)
        repeats[key] = repeats.get(key, -1) + 1
        last[key] = r
    kept = list(last.values())
    await conn.execute(
        _REJECTS,
        [r.received_at for r in kept],
        [_clean(r.topic) for r in kept],
        [r.reason for r in kept],
        [_clean(r.detail) for r in kept],
        [r.payload for r in kept],
        [r.batch for r in kept],
        list(repeats.values()),
    )


#: Rows deleted per statement by ``prune_rejects``: short transactions, however many are due.
PRUNE_CHUNK = 5000


async def prune_rejects(pool: asyncpg.Pool, before: datetime) -> int:
    """Delete the rejects first received before ``before`` (the retention); returns how many.

    In chunks along the ``received_at`` index, so a large backlog never holds one long
    transaction against the writers.
    """
    total = 0
    while True:
        status = await pool.execute(
            """DELETE FROM rejects WHERE id IN (
                   SELECT id FROM rejects WHERE received_at < $1 LIMIT $2)""",
            before,
            PRUNE_CHUNK,
        )
        n = int(status.split()[-1])
        total += n
        if n < PRUNE_CHUNK:
            return total
