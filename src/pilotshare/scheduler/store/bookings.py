"""Bookings and the instruments they are made on, in PostgreSQL.

Holding bookings are found through the ``hold`` range of migration 0020, so a query uses the
exclusion constraint's GiST index.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Final
from uuid import UUID

import asyncpg

from pilotshare.core.db import Connection, Executor
from pilotshare.core.domain import BookingStatus, InstrumentState
from pilotshare.core.errors import Conflict, NotFound
from pilotshare.scheduler.policy import BookingRules, Interval
from pilotshare.scheduler.states import FINAL, HELD_SQL, Event, apply
from pilotshare.twin import store as twin_store

BOOKING_COLUMNS: Final = """b.id, b.instrument_id, b.org_id, lower(b.period) AS start,
    upper(b.period) AS "end", b.status, b.purpose, b.flags, b.created_at, b.activated_at,
    b.ended_at, b.used_s, b.running_s, b.billing, b.hourly_rate, i.site_id, b.freed_at,
    b.interlock_seq, b.service_item_id,
    CASE WHEN b.locked_at IS NOT NULL THEN 'locked' WHEN b.unlocked_at IS NOT NULL THEN 'unlocked'
    END AS interlock_desired,
    (SELECT CASE WHEN l.interlock_seq <= b.interlock_seq THEN l.interlock_state
                 ELSE b.interlock_reported END
     FROM instrument_live l WHERE l.instrument_id = b.instrument_id) AS interlock_reported"""


@dataclass(frozen=True, slots=True)
class Booking:
    """A booking as stored."""

    id: UUID
    instrument: str
    org: str
    start: datetime
    end: datetime
    status: BookingStatus
    purpose: str
    flags: tuple[str, ...]
    site: str
    billing: str
    hourly_rate: Decimal
    created_at: datetime
    activated_at: datetime | None = None
    ended_at: datetime | None = None
    used_s: float | None = None
    running_s: float | None = None
    #: A delayed booking's instrument stopped running the carried-over run (its grace starts).
    freed_at: datetime | None = None
    #: The interlock state the lifecycle wants for it (None: never opened), the ``seq`` of
    #: that change, and what the agent reports (at that seq, or still at an older one).
    interlock_desired: str | None = None
    interlock_reported: str | None = None
    interlock_seq: int | None = None
    #: The priced service item it was booked for (None: plain instrument time).
    service_item: str | None = None


def booking_from(row: asyncpg.Record) -> Booking:
    return Booking(
        id=row["id"],
        instrument=row["instrument_id"],
        org=row["org_id"],
        start=row["start"],
        end=row["end"],
        status=BookingStatus(row["status"]),
        purpose=row["purpose"],
        flags=tuple(row["flags"]),
        site=row["site_id"],
        billing=row["billing"],
        hourly_rate=row["hourly_rate"],
        created_at=row["created_at"],
        activated_at=row["activated_at"],
        ended_at=row["ended_at"],
        used_s=row["used_s"],
        running_s=row["running_s"],
        freed_at=row["freed_at"],
        interlock_desired=row["interlock_desired"],
        interlock_reported=row["interlock_reported"],
        interlock_seq=row["interlock_seq"],
        service_item=row["service_item_id"],
    )


#: The hint migration 0044's trigger raises a booking of a retired instrument with.
_RETIRED_HINT: Final = "instrument_retired"


class InstrumentRetired(Conflict):
    """The instrument is retired: it keeps its history but takes no new bookings (409)."""

    def __init__(self, instrument: str) -> None:
        super().__init__(
            "instrument_retired", f"instrument {instrument!r} is retired: it takes no bookings"
        )


@dataclass(frozen=True, slots=True)
class Instrument:
    """What the scheduler needs to know of an instrument."""

    id: str
    site: str
    kind: str
    capabilities: frozenset[str]
    requires_qualification: bool
    qualified: bool  # for the organisation it was loaded for
    rules: BookingRules
    timezone: str = "UTC"  # its site's: quota periods are cut in it
    retired_at: datetime | None = None  # retired: it takes no new bookings
    has_quota: bool = False  # the organisation it was loaded for has quotas
    closures: tuple[tuple[str, str, datetime, datetime], ...] = ()  # (kind, reason, a, b)
    owner: str | None = None  # the platform owning it


_INSTRUMENT_SQL: Final = """
    SELECT i.id, i.site_id, i.kind, i.capabilities, i.requires_qualification, i.operating_hours,
           i.setup_buffer_s, i.min_booking_s, i.max_booking_s, i.min_notice_s, i.max_horizon_s,
           s.timezone, i.retired_at, i.owner_org_id,
           EXISTS (SELECT 1 FROM qualifications q
                   WHERE q.instrument_id = i.id AND q.org_id = $1) AS qualified,
           EXISTS (SELECT 1 FROM booking_quotas bq WHERE bq.org_id = $1) AS has_quota
    FROM instruments i JOIN sites s ON s.id = i.site_id"""

# The same, with the maintenance windows and blackouts overlapping one slot ($3, $4): an
# explicit booking needs one round trip before its INSERT.
_INSTRUMENT_FOR_SLOT_SQL: Final = _INSTRUMENT_SQL.replace(
    "AS has_quota",
    """AS has_quota,
           (SELECT json_agg(json_build_array(m.kind, m.reason,
                   extract(epoch FROM coalesce(lower(m.period), $3)),
                   extract(epoch FROM coalesce(upper(m.period), $4)))
                   ORDER BY lower(m.period))
            FROM maintenance_windows m
            WHERE m.instrument_id = i.id AND m.period && tstzrange($3, $4)) AS closures""",
)


def _closures(raw: list[list[Any]] | None) -> tuple[tuple[str, str, datetime, datetime], ...]:
    return tuple(
        (k, r, datetime.fromtimestamp(a, UTC), datetime.fromtimestamp(b, UTC))
        for k, r, a, b in raw or ()
    )


def _instrument(row: asyncpg.Record) -> Instrument:
    return Instrument(
        id=row["id"],
        site=row["site_id"],
        kind=row["kind"],
        capabilities=frozenset(row["capabilities"]),
        requires_qualification=row["requires_qualification"],
        qualified=row["qualified"],
        rules=BookingRules.from_row(row, row["timezone"]),
        timezone=row["timezone"],
        retired_at=row["retired_at"],
        has_quota=row["has_quota"],
        closures=_closures(row["closures"]) if "closures" in row else (),
        owner=row["owner_org_id"],
    )


async def instrument(conn: Executor, instrument_id: str, *, org: str) -> Instrument | None:
    """One instrument and whether ``org`` is qualified for it."""
    row = await conn.fetchrow(_INSTRUMENT_SQL + " WHERE i.id = $2", org, instrument_id)
    return None if row is None else _instrument(row)


async def instrument_for_slot(
    conn: Executor, instrument_id: str, *, org: str, slot: Interval
) -> Instrument | None:
    """One instrument, with the closures overlapping ``slot``, in one round trip."""
    row = await conn.fetchrow(
        _INSTRUMENT_FOR_SLOT_SQL + " WHERE i.id = $2", org, instrument_id, slot[0], slot[1]
    )
    return None if row is None else _instrument(row)


async def instruments_of_kind(
    conn: Executor, kind: str, capabilities: frozenset[str], *, org: str
) -> list[Instrument]:
    """Instruments of ``kind`` having every one of ``capabilities``, by id; retired ones are
    never offered nor chosen."""
    rows = await conn.fetch(
        _INSTRUMENT_SQL + " WHERE i.kind = $2 AND i.capabilities @> $3::text[]"
        " AND i.retired_at IS NULL ORDER BY i.id",
        org,
        kind,
        sorted(capabilities),
    )
    return [_instrument(r) for r in rows]


async def instruments_by_id(conn: Executor, ids: Sequence[str], *, org: str) -> list[Instrument]:
    """The instruments of ``ids`` that exist (retired ones included: callers decide), by id,
    each with whether ``org`` is qualified for it."""
    rows = await conn.fetch(
        _INSTRUMENT_SQL + " WHERE i.id = ANY($2::text[]) ORDER BY i.id", org, list(ids)
    )
    return [_instrument(r) for r in rows]


async def busy(
    conn: Executor, instruments: list[str], window: Interval
) -> tuple[dict[str, list[Interval]], dict[str, list[Interval]]]:
    """Holding bookings' periods and maintenance/blackouts overlapping ``window``, per instrument.

    The window is widened by a day each side so that buffers of neighbours are seen.
    """
    lo, hi = window[0] - timedelta(days=1), window[1] + timedelta(days=1)
    booked: dict[str, list[Interval]] = defaultdict(list)
    closed: dict[str, list[Interval]] = defaultdict(list)
    rows = await conn.fetch(
        f"""SELECT instrument_id, lower(period) AS a, upper(period) AS b FROM bookings
            WHERE instrument_id = ANY($1::text[]) AND hold && tstzrange($2, $3)
              AND status IN {HELD_SQL}""",
        instruments,
        lo,
        hi,
    )
    for r in rows:
        booked[r["instrument_id"]].append((r["a"], r["b"]))
    rows = await conn.fetch(
        """SELECT instrument_id, lower(period) AS a, upper(period) AS b FROM maintenance_windows
           WHERE instrument_id = ANY($1::text[]) AND period && tstzrange($2, $3)""",
        instruments,
        lo,
        hi,
    )
    for r in rows:
        closed[r["instrument_id"]].append((r["a"] or lo, r["b"] or hi))
    return booked, closed


async def p_up(conn: Executor, instruments: list[str], since: datetime) -> dict[str, float]:
    """Each instrument's availability, MTBF / (MTBF + MTTR), where the twin knows it.

    The twin's learned behaviour (``twin.store.stored_behaviours``) comes first; otherwise
    the share of observed time not ``down`` since ``since`` from the hourly rollup, the same
    quantity in steady state (planned maintenance left out of both sides). Instruments never
    observed are missing (callers assume 1).
    """
    learned = await twin_store.stored_behaviours(conn, instruments)
    found = {i: b.availability for i, b in learned.items() if b.availability is not None}
    rest = [i for i in instruments if i not in found]
    if rest:
        rows = await conn.fetch(
            """SELECT instrument_id,
                      sum(n_down)::float8 AS down,
                      sum(n_running + n_idle + n_setup + n_down)::float8 AS seen
               FROM telemetry_hourly WHERE instrument_id = ANY($1::text[]) AND bucket >= $2
               GROUP BY instrument_id""",
            rest,
            since,
        )
        found.update({r["instrument_id"]: 1.0 - r["down"] / r["seen"] for r in rows if r["seen"]})
    return found


async def lock_allocation(conn: Connection, key: str) -> None:
    """Serialise allocations of ``key`` (a kind or an instrument) until the transaction ends."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", key)


async def insert_booking(
    conn: Connection,
    *,
    instrument: str,
    org: str,
    slot: Interval,
    purpose: str,
    key_id: str | None,
    service_item: str | None = None,
) -> Booking:
    """Insert a confirmed booking (for ``service_item``, if given); the exclusion constraints
    may raise, and ``InstrumentRetired`` when the instrument was retired meanwhile (migration
    0044)."""
    try:
        row = await conn.fetchrow(
            f"""WITH b AS (
                    INSERT INTO bookings (instrument_id, org_id, period, purpose, created_by,
                                          service_item_id)
                    VALUES ($1, $2, tstzrange($3, $4), $5, $6, $7) RETURNING *)
                SELECT {BOOKING_COLUMNS} FROM b JOIN instruments i ON i.id = b.instrument_id""",
            instrument,
            org,
            slot[0],
            slot[1],
            purpose,
            key_id,
            service_item,
        )
    except asyncpg.RaiseError as exc:
        if getattr(exc, "hint", None) == _RETIRED_HINT:
            raise InstrumentRetired(instrument) from None
        raise
    except asyncpg.ForeignKeyViolationError:
        # the service item was deleted since the service checked it (nothing else can go)
        raise NotFound("no_service_item", f"no service item {service_item!r}") from None
    assert row is not None  # noqa: S101 - INSERT … RETURNING gives one row
    return booking_from(row)


async def held_from(conn: Executor, instrument: str, now: datetime) -> int:
    """How many bookings hold ``instrument`` at or after ``now`` (confirmed or active)."""
    value = await conn.fetchval(
        f"""SELECT count(*) FROM bookings
            WHERE instrument_id = $1 AND status IN {HELD_SQL} AND upper(period) > $2""",
        instrument,
        now,
    )
    return int(value)


async def update_period(
    conn: Executor, booking_id: UUID, status: BookingStatus, slot: Interval, *, at: datetime
) -> Booking | None:
    """Move a booking that is still ``status`` to ``slot``; None if it no longer was.

    One UPDATE: the trigger of migration 0020 recomputes its held range, and the exclusion
    constraints may raise, so a booking inserted concurrently into the new slot and this move
    cannot both commit.
    """
    row = await conn.fetchrow(
        f"""WITH b AS (
                UPDATE bookings SET period = tstzrange($2, $3), updated_at = $5
                WHERE id = $1 AND status = $4 RETURNING *)
            SELECT {BOOKING_COLUMNS} FROM b JOIN instruments i ON i.id = b.instrument_id""",
        booking_id,
        slot[0],
        slot[1],
        status.value,
        at,
    )
    return None if row is None else booking_from(row)


async def holder_of(
    conn: Executor, instrument: str, slot: Interval, *, exclude: UUID | None = None
) -> Booking | None:
    """The holding booking (but ``exclude``) whose held range (with buffer) meets ``slot``."""
    row = await conn.fetchrow(
        f"""SELECT {BOOKING_COLUMNS} FROM bookings b JOIN instruments i ON i.id = b.instrument_id
            WHERE b.instrument_id = $1 AND b.status IN {HELD_SQL}
              AND b.hold && tstzrange($2::timestamptz,
                                      $3::timestamptz + make_interval(secs => i.setup_buffer_s))
              AND ($4::uuid IS NULL OR b.id <> $4)
            ORDER BY lower(b.period) LIMIT 1""",
        instrument,
        slot[0],
        slot[1],
        exclude,
    )
    return None if row is None else booking_from(row)


async def get_booking(conn: Executor, booking_id: UUID) -> Booking | None:
    row = await conn.fetchrow(
        f"""SELECT {BOOKING_COLUMNS} FROM bookings b JOIN instruments i ON i.id = b.instrument_id
            WHERE b.id = $1""",
        booking_id,
    )
    return None if row is None else booking_from(row)


#: ``list_bookings``' keyset step and order by direction (fixed texts, never caller input).
_PAGE_SQL: Final = {
    False: ("(lower(b.period), b.id) > ($6, $7)", "lower(b.period), b.id"),
    True: ("(lower(b.period), b.id) < ($6, $7)", "lower(b.period) DESC, b.id DESC"),
}


async def list_bookings(
    conn: Executor,
    *,
    org: str | None,
    window: Interval | None,
    instrument: str | None,
    limit: int,
    statuses: frozenset[BookingStatus] | None = None,
    after: tuple[datetime, UUID] | None = None,
    descending: bool = False,
) -> list[Booking]:
    """Bookings of ``org`` (None: every organisation) by (start, id), oldest first unless
    ``descending``; ``after`` is the keyset position of the last one a page showed (the
    ``bookings_*_start_id`` indexes of migration 0043 serve it)."""
    step, order = _PAGE_SQL[descending]
    rows = await conn.fetch(
        f"""SELECT {BOOKING_COLUMNS} FROM bookings b JOIN instruments i ON i.id = b.instrument_id
            WHERE ($1::text IS NULL OR b.org_id = $1)
              AND ($2::timestamptz IS NULL OR b.period && tstzrange($2, $3))
              AND ($4::text IS NULL OR b.instrument_id = $4)
              AND ($8::text[] IS NULL OR b.status = ANY($8::text[]))
              AND ($6::timestamptz IS NULL OR {step})
            ORDER BY {order} LIMIT $5""",
        org,
        window[0] if window else None,
        window[1] if window else None,
        instrument,
        limit,
        after[0] if after else None,
        after[1] if after else None,
        sorted(s.value for s in statuses) if statuses is not None else None,
    )
    return [booking_from(r) for r in rows]


async def transition(
    conn: Executor,
    booking_id: UUID,
    status: BookingStatus,
    event: Event,
    *,
    at: datetime,
    usage: tuple[float, float] | None = None,
    flag: str | None = None,
) -> Booking | None:
    """Apply ``event`` to a booking that is ``status``; None if it no longer was.

    The next status comes from ``states.apply`` (``IllegalTransition`` before any SQL); the
    UPDATE is conditional on ``status``, so of two racing transitions one wins.
    """
    to = apply(status, event)
    row = await conn.fetchrow(
        f"""WITH b AS (
                UPDATE bookings SET status = $2, updated_at = $4,
                    activated_at = CASE WHEN $9 THEN $4 ELSE activated_at END,
                    ended_at = CASE WHEN $5 THEN $4 ELSE ended_at END,
                    used_s = coalesce($6, used_s), running_s = coalesce($7, running_s),
                    flags = CASE WHEN $8::text IS NULL OR $8 = ANY(flags) THEN flags
                                 ELSE array_append(flags, $8) END
                WHERE id = $1 AND status = $3 RETURNING *)
            SELECT {BOOKING_COLUMNS} FROM b JOIN instruments i ON i.id = b.instrument_id""",
        booking_id,
        to.value,
        status.value,
        at,
        to in FINAL,
        usage[0] if usage else None,
        usage[1] if usage else None,
        flag,
        event is Event.CHECK_IN,
    )
    return None if row is None else booking_from(row)


#: The states a booking's measured usage counts (billing bills them when it is measured).
USED: Final = frozenset({InstrumentState.RUNNING, InstrumentState.SETUP})


async def measure(
    conn: Executor, instrument: str, start: datetime, until: datetime, max_gap: timedelta
) -> tuple[float, float]:
    """(used, running) seconds of ``[start, until)`` from telemetry.

    The twin's state intervals of the window (``twin.store.load_intervals``): silence longer
    than ``max_gap`` counts nothing from the last sample before it on, as the twin dates the
    instrument offline from there; used time is running plus setup.
    """
    if until <= start:
        return 0.0, 0.0
    ivs = await twin_store.load_intervals(conn, instrument, start, until, gap=max_gap)
    used = sum(iv.seconds for iv in ivs if iv.state in USED)
    running = sum(iv.seconds for iv in ivs if iv.state is InstrumentState.RUNNING)
    return float(used), float(running)


async def live_state(conn: Executor, instrument: str) -> tuple[str | None, datetime | None]:
    """The twin's reported state of an instrument and since when (None when unknown/offline)."""
    live = await twin_store.stored_live(conn, instrument)
    state = live.current_state if live is not None else None
    if live is None or state is None:
        return None, None
    return state.value, live.since
