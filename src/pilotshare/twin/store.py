"""Reading the twin back: state intervals, learned behaviour, and the live view of one instrument.

``load_intervals`` does in SQL exactly what ``twin.stats.intervals`` does in Python for a
window (a new interval at every state change and after every silence longer than the gap),
so a month of 1 Hz samples reaches Python as a few thousand intervals rather than millions
of rows; a booking's measured usage is read from it too.
Behaviour is expensive to learn from raw samples, so the ingest keeps each instrument's
intervals in ``state_intervals`` incrementally (``sync_intervals``) and refreshes the learned
behaviour from them in the background (``refresh_behaviour``) into ``instrument_behaviour``;
readers take that row.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from collections.abc import AsyncIterator, Sequence
from datetime import datetime, timedelta
from typing import Any, Final

import asyncpg

from pilotshare.core.db import Connection, Executor
from pilotshare.core.domain import InstrumentState
from pilotshare.twin.state import Live, apply_silence
from pilotshare.twin.stats import Behaviour, DistributionFit, Interval, learn

log = logging.getLogger(__name__)

#: The history a behaviour is learned from, by default.
BEHAVIOUR_WINDOW = timedelta(days=30)
#: Stored intervals are recomputed this far back on every refresh (late backlogs).
LOOKBACK = timedelta(days=1)

#: ``twin.stats.intervals`` over the window [$2, $3) with gap $4: the last sample before $2
#: carries its state in, the last one before $3 lasts until $3 while $3 - ts <= $4.
_INTERVALS = """
WITH s AS (
    SELECT ts, state, lag(state) OVER w AS prev_state, lag(ts) OVER w AS prev_ts
    FROM telemetry
    WHERE instrument_id = $1 AND ts < $3  -- from the carry-in on: one ordered range scan
      AND ts >= coalesce((SELECT max(ts) FROM telemetry WHERE instrument_id = $1 AND ts < $2), $2)
    WINDOW w AS (ORDER BY ts)
), m AS (
    SELECT ts, state,
           prev_ts IS NULL OR ts - prev_ts > $4 AS after_gap,
           prev_state IS NULL OR prev_state <> state OR ts - prev_ts > $4 AS starts
    FROM s
), g AS (
    SELECT ts, state, after_gap, sum(starts::int) OVER (ORDER BY ts) AS seg FROM m
), seg AS (
    SELECT seg, min(state) AS state, min(ts) AS first_ts, max(ts) AS last_ts,
           bool_or(after_gap) AS after_gap
    FROM g GROUP BY seg
), ends AS (
    SELECT state, first_ts,
           CASE WHEN lead(seg) OVER o IS NULL THEN
                    CASE WHEN $3 - last_ts <= $4 THEN $3 ELSE last_ts END
                WHEN NOT lead(after_gap) OVER o THEN lead(first_ts) OVER o
                ELSE last_ts END AS end_ts
    FROM seg WINDOW o AS (ORDER BY seg)
)
SELECT state, greatest(first_ts, $2) AS start_ts, end_ts FROM ends
WHERE end_ts > greatest(first_ts, $2) ORDER BY first_ts"""


async def load_intervals(
    conn: Executor,
    instrument: str,
    since: datetime,
    until: datetime,
    *,
    gap: timedelta,
) -> list[Interval]:
    """The instrument's state intervals in ``[since, until)``, by ``twin.stats.intervals``'
    rule for a window (the sample before ``since`` carries in; silence > gap ends one)."""
    rows = await conn.fetch(_INTERVALS, instrument, since, until, gap)
    return [Interval(InstrumentState(r["state"]), r["start_ts"], r["end_ts"]) for r in rows]


async def behaviour(
    pool: Executor,
    instrument: str,
    since: datetime,
    until: datetime,
    *,
    gap: timedelta,
) -> Behaviour:
    """Learn the instrument's behaviour from its history between ``since`` and ``until``."""
    return learn(await load_intervals(pool, instrument, since, until, gap=gap))


def behaviour_json(b: Behaviour) -> dict[str, Any]:
    """A JSON-ready dict of a ``Behaviour`` (with its availability)."""
    out = dataclasses.asdict(b)
    out["availability"] = b.availability
    return out


def behaviour_from_json(data: dict[str, Any]) -> Behaviour:
    """The inverse of ``behaviour_json``."""

    def dist(d: dict[str, Any] | None) -> DistributionFit | None:
        return DistributionFit(**d) if d else None

    def pair(v: list[float] | None) -> tuple[float, float] | None:
        return (v[0], v[1]) if v else None

    fields = {f.name for f in dataclasses.fields(Behaviour)}
    kw = {k: v for k, v in data.items() if k in fields}
    for name in ("run_length", "idle_length", "repair_length"):
        kw[name] = dist(kw.get(name))
    for name in ("mtbf_ci", "mttr_ci", "running_mtbf_ci"):
        kw[name] = pair(kw.get(name))
    kw["hourly_profile"] = tuple(kw.get("hourly_profile", ()))
    return Behaviour(**kw)


async def sync_intervals(
    conn: Executor,
    instrument: str,
    now: datetime,
    *,
    gap: timedelta,
    window: timedelta = BEHAVIOUR_WINDOW,
    lookback: timedelta = LOOKBACK,
) -> None:
    """Bring the instrument's stored intervals up to ``now``.

    It recomputes from the start of the interval in progress ``lookback`` ago (so a backlog
    an agent delivers late is still counted, and that interval is not split), or from
    ``now - window`` the first time.
    """
    async with _connection(conn) as c, c.transaction():
        await c.execute(
            "SELECT pg_advisory_xact_lock(hashtext('state_intervals:' || $1))", instrument
        )
        anchor = await c.fetchval(
            "SELECT max(start_ts) FROM state_intervals WHERE instrument_id = $1 AND start_ts <= $2",
            instrument,
            now - lookback,
        )
        since = anchor if anchor is not None else now - window
        await c.execute(
            "DELETE FROM state_intervals WHERE instrument_id = $1 AND start_ts >= $2",
            instrument,
            since,
        )
        fresh = await load_intervals(c, instrument, since, now, gap=gap)
        await c.copy_records_to_table(
            "state_intervals",
            records=[(instrument, iv.state.value, iv.start, iv.end) for iv in fresh],
            columns=("instrument_id", "state", "start_ts", "end_ts"),
        )


async def stored_intervals(
    conn: Executor, instrument: str, since: datetime, until: datetime
) -> list[Interval]:
    """The stored intervals overlapping [since, until), clipped to it."""
    rows = await conn.fetch(
        """SELECT state, greatest(start_ts, $2) AS s, least(end_ts, $3) AS e
           FROM state_intervals WHERE instrument_id = $1 AND end_ts > $2 AND start_ts < $3
           ORDER BY start_ts""",
        instrument,
        since,
        until,
    )
    return [Interval(InstrumentState(r["state"]), r["s"], r["e"]) for r in rows]


@contextlib.asynccontextmanager
async def _connection(
    conn: Executor,
) -> AsyncIterator[Connection]:
    if isinstance(conn, asyncpg.Pool):
        async with conn.acquire() as c:
            yield c
    else:
        yield conn


async def refresh_behaviour(
    pool: asyncpg.Pool,
    instrument: str,
    now: datetime,
    *,
    gap: timedelta,
    window: timedelta = BEHAVIOUR_WINDOW,
) -> Behaviour:
    """Learn the instrument's behaviour over ``window`` up to ``now`` and store it.

    Reads the stored intervals (brought up to date first), not the raw samples; the
    hour-of-week profile is in the site's time zone.
    """
    since = now - window
    await sync_intervals(pool, instrument, now, gap=gap, window=window)
    zone = await pool.fetchval(
        "SELECT s.timezone FROM instruments i JOIN sites s ON s.id = i.site_id WHERE i.id = $1",
        instrument,
    )
    learned = learn(await stored_intervals(pool, instrument, since, now), timezone=zone or "UTC")
    await pool.execute(
        """INSERT INTO instrument_behaviour AS b (instrument_id, window_start, window_end,
               mtbf_hours, mttr_hours, availability, failures, observed_hours, detail,
               computed_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, now())
           ON CONFLICT (instrument_id) DO UPDATE SET window_start = excluded.window_start,
               window_end = excluded.window_end, mtbf_hours = excluded.mtbf_hours,
               mttr_hours = excluded.mttr_hours, availability = excluded.availability,
               failures = excluded.failures, observed_hours = excluded.observed_hours,
               detail = excluded.detail, computed_at = excluded.computed_at""",
        instrument,
        since,
        now,
        learned.mtbf_hours,
        learned.mttr_hours,
        learned.availability,
        learned.failures,
        learned.observed_hours,
        behaviour_json(learned),
    )
    return learned


async def stored_behaviour(pool: asyncpg.Pool, instrument: str) -> Behaviour | None:
    """The last learned behaviour of an instrument (None: never learned yet)."""
    return (await stored_behaviours(pool, [instrument])).get(instrument)


async def stored_behaviours(conn: Executor, instruments: Sequence[str]) -> dict[str, Behaviour]:
    """The last learned behaviour of each of ``instruments`` that has one."""
    rows = await conn.fetch(
        """SELECT instrument_id, detail FROM instrument_behaviour
           WHERE instrument_id = ANY($1::text[]) AND detail IS NOT NULL""",
        list(instruments),
    )
    return {r["instrument_id"]: behaviour_from_json(r["detail"]) for r in rows}


async def refresh_all_behaviours(
    pool: asyncpg.Pool, now: datetime, *, gap: timedelta, older_than: timedelta
) -> int:
    """Refresh every instrument whose stored behaviour is missing or older than ``older_than``.

    One process at a time does it (advisory lock), however many ingests run.
    """
    async with pool.acquire() as conn:
        if not await conn.fetchval("SELECT pg_try_advisory_lock(hashtext('twin_behaviour'))"):
            return 0
        try:
            ids = await conn.fetch(
                """SELECT l.instrument_id FROM instrument_live l
                   LEFT JOIN instrument_behaviour b USING (instrument_id)
                   WHERE l.last_seen IS NOT NULL
                     AND (b.computed_at IS NULL OR b.computed_at < $1)
                   ORDER BY b.computed_at NULLS FIRST""",
                now - older_than,
            )
            for row in ids:
                await refresh_behaviour(pool, row["instrument_id"], now, gap=gap)
            return len(ids)
        finally:
            await conn.execute("SELECT pg_advisory_unlock(hashtext('twin_behaviour'))")


#: The columns a ``Live`` is read from: ``instrument_live l`` with its ``instruments i``.
LIVE_COLUMNS = """i.id AS instrument_id, i.site_id, coalesce(l.online, false) AS online, l.state,
    l.since, l.last_seen, l.utilization, l.last_batch, l.agent, l.agent_version,
    l.interlock_state, l.interlock_seq"""


#: ``Live.current_state`` of the row ``instrument_live l``, in SQL for conditional updates
#: over many rows at once: the reported state while the agent is online, else NULL.
CURRENT_STATE_SQL: Final = "(CASE WHEN l.online THEN l.state END)"
#: The instrument of ``instrument_live l`` is running now.
RUNNING_NOW_SQL: Final = f"{CURRENT_STATE_SQL} = '{InstrumentState.RUNNING.value}'"


def live_from_row(row: asyncpg.Record) -> Live:
    """A ``Live`` from a row of ``LIVE_COLUMNS``."""
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
        interlock_state=row["interlock_state"],
        interlock_seq=row["interlock_seq"],
    )


async def online_count(conn: Executor) -> int:
    """How many instruments the twin holds online."""
    n: int = await conn.fetchval("SELECT count(*) FROM instrument_live WHERE online")
    return n


async def lives(
    conn: Executor,
    *,
    site: str | None = None,
    instrument: str | None = None,
    current: InstrumentState | None = None,
) -> list[Live]:
    """The stored live twins (of one site, of one instrument, or whose ``current_state`` is
    ``current``), by instrument id.

    Instruments never heard of have no live row and are left out.
    """
    rows = await conn.fetch(
        f"""SELECT {LIVE_COLUMNS}
            FROM instrument_live l JOIN instruments i ON i.id = l.instrument_id
            WHERE ($1::text IS NULL OR i.site_id = $1) AND ($2::text IS NULL OR i.id = $2)
              AND ($3::text IS NULL OR {CURRENT_STATE_SQL} = $3)
            ORDER BY l.instrument_id""",
        site,
        instrument,
        current,
    )
    return [live_from_row(r) for r in rows]


async def stored_live(conn: Executor, instrument: str) -> Live | None:
    """The instrument's stored live twin (never heard: offline, no state; None: no such
    instrument). As stored: the sweep marks silence offline, ``apply_silence`` at once."""
    row = await conn.fetchrow(
        f"""SELECT {LIVE_COLUMNS} FROM instruments i
            LEFT JOIN instrument_live l ON l.instrument_id = i.id WHERE i.id = $1""",
        instrument,
    )
    return live_from_row(row) if row is not None else None


@dataclasses.dataclass(frozen=True, slots=True)
class Utilization:
    """Mean reported utilisation over the last hour and day (None: nothing reported)."""

    one_hour: float | None
    one_day: float | None


@dataclasses.dataclass(frozen=True, slots=True)
class LearnedView:
    """The stored learned behaviour with the window it was learned over."""

    window_start: datetime
    window_end: datetime
    learned: Behaviour


@dataclasses.dataclass(frozen=True, slots=True)
class TwinView:
    """The twin of CONTRACT §3 for one instrument: live state (silence applied), reported
    use, and learned behaviour (None where not learned yet)."""

    instrument: str
    site: str
    online: bool
    state: str | None
    since: datetime | None
    last_seen: datetime | None
    utilization: Utilization
    state_seconds_24h: dict[str, float]
    mtbf_hours: float | None
    mttr_hours: float | None
    availability: float | None
    failures: int | None
    learned_at: datetime | None
    agent: str | None
    agent_version: str | None
    behaviour: LearnedView | None = None


async def twin_view(
    pool: asyncpg.Pool, instrument: str, now: datetime, *, offline_after: timedelta
) -> TwinView | None:
    """The twin of CONTRACT §3 for one instrument (None: no such instrument)."""
    stored = await stored_live(pool, instrument)
    if stored is None:
        return None
    # the sweep marks silence offline within seconds; do not wait for it to say so
    live = apply_silence(stored, now=now, offline_after=offline_after)
    row = await pool.fetchrow(
        """SELECT mtbf_hours, mttr_hours, availability, failures, computed_at, window_start,
                  window_end, detail
           FROM instrument_behaviour WHERE instrument_id = $1""",
        instrument,
    )
    learned: dict[str, Any] = dict(row) if row is not None else {}
    detail = learned.get("detail")
    hour = await pool.fetchval(
        "SELECT avg(utilization)::float8 FROM telemetry WHERE instrument_id = $1 AND ts > $2",
        instrument,
        now - timedelta(hours=1),
    )
    day = await pool.fetchrow(
        f"""SELECT sum(utilization * samples) FILTER (WHERE utilization IS NOT NULL)
                   / nullif(sum(samples) FILTER (WHERE utilization IS NOT NULL), 0) AS u,
                   {_STATE_SECONDS_SUMS}
            FROM telemetry_hourly WHERE instrument_id = $1 AND bucket > $2 AND bucket <= $3""",
        instrument,
        now - timedelta(hours=24),
        now,
    )
    assert day is not None  # noqa: S101 - an aggregate without GROUP BY is one row
    return TwinView(
        instrument=instrument,
        site=live.site,
        online=live.online,
        state=live.effective_state,
        since=live.since,
        last_seen=live.last_seen,
        utilization=Utilization(one_hour=hour, one_day=day["u"]),
        state_seconds_24h={s.value: float(day[s.value] or 0.0) for s in InstrumentState},
        mtbf_hours=learned.get("mtbf_hours"),
        mttr_hours=learned.get("mttr_hours"),
        availability=learned.get("availability"),
        failures=learned.get("failures"),
        learned_at=learned.get("computed_at"),
        agent=live.agent,
        agent_version=live.agent_version,
        behaviour=LearnedView(
            learned["window_start"], learned["window_end"], behaviour_from_json(detail)
        )
        if detail
        else None,
    )


#: Seconds in each state per hourly row: the count of samples in the state times the
#: samples' spacing in that hour (a row of one sample has no spacing: 0 s).
SPACING = "(extract(epoch FROM last_ts - first_ts) / nullif(samples - 1, 0))"
_STATE_SECONDS_SUMS = ", ".join(
    f"coalesce(sum(n_{s.value} * {SPACING}), 0)::float8 AS {s.value}" for s in InstrumentState
)


@dataclasses.dataclass(frozen=True, slots=True)
class StoredReject:
    """A kept reject, its payload cut to the first bytes asked for."""

    id: int
    received_at: datetime
    topic: str
    reason: str
    detail: str
    payload: bytes
    size: int  # of the whole payload


def _reject(r: asyncpg.Record) -> StoredReject:
    """A ``rejects`` row as read by both listings (``payload`` whole or cut, ``size`` whole)."""
    return StoredReject(
        r["id"],
        r["received_at"],
        r["topic"],
        r["reason"],
        r["detail"],
        bytes(r["payload"]),
        r["size"],
    )


async def recent_rejects(
    conn: Executor, *, limit: int, shown_bytes: int, reason: str | None, owner: str | None = None
) -> list[StoredReject]:
    """The newest rejects first (only of ``reason``, when given; only those whose topic names
    an instrument ``owner`` owns, when given)."""
    rows = await conn.fetch(
        """SELECT id, received_at, topic, reason, detail, substring(payload FROM 1 FOR $2)
                  AS payload, length(payload) AS size
           FROM rejects WHERE ($3::text IS NULL OR reason = $3)
             AND ($4::text IS NULL OR split_part(topic, '/', 4) IN
                  (SELECT id FROM instruments WHERE owner_org_id = $4))
           ORDER BY received_at DESC, id DESC LIMIT $1""",
        limit,
        shown_bytes,
        reason,
        owner,
    )
    return [_reject(r) for r in rows]


async def topic_rejects(
    conn: Executor, topic: str, *, after_id: int, limit: int
) -> list[StoredReject]:
    """The rejects of one topic, oldest first, whole, after ``after_id``.

    Matched as text, so the rejects of an instrument not registered when they came are found
    once it is.
    """
    rows = await conn.fetch(
        """SELECT id, received_at, topic, reason, detail, payload, length(payload) AS size
           FROM rejects WHERE topic = $1 AND id > $2 ORDER BY id LIMIT $3""",
        topic,
        after_id,
        limit,
    )
    return [_reject(r) for r in rows]


async def delete_rejects(conn: Executor, ids: Sequence[int]) -> None:
    """Remove rejects whose messages have been stored after all (a replay)."""
    await conn.execute("DELETE FROM rejects WHERE id = ANY($1::bigint[])", list(ids))
