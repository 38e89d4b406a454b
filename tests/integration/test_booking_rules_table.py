"""Booking rules at their boundaries, as one table of scenarios through the HTTP API.

The boundaries follow the established booking systems for shared instruments (NEMO,
LibreBooking): intervals are half-open, so touching is no conflict; a gap exactly as long as
the setup buffer is allowed; length and quota limits are inclusive, and quotas count the part
of a booking that lies in each period; minimum notice applies to a move as to a new booking;
nothing lies across a maintenance window or blackout. Every scenario starts from the same
Monday 08:00 on one instrument, with the bookings it lists stored first.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from pilotshare.core.clock import FakeClock
from tests.support.api import auth as key
from tests.support.api import iso

MON = datetime(2026, 1, 5, tzinfo=UTC)  # a Monday; the clock stands at 08:00
H = timedelta(hours=1)
MIN = 1 / 60  # a minute, in hours
OFFICE = {d: [["08:00", "18:00"]] for d in ("mon", "tue", "wed", "thu", "fri")}
SUN = 6 * 24  # hours from MON to the Sunday of its week
NEXT_MON = 7 * 24


@dataclass(frozen=True)
class Case:
    """One scenario: the instrument's rules, what is stored, one request and its answer.

    Times are hours after Monday 00:00. ``existing`` are the caller's (acme's) bookings,
    ``others`` another organisation's; ``move`` PATCHes ``existing[move]`` to ``request``
    instead of POSTing a new booking.
    """

    name: str
    request: tuple[float, float]
    status: int
    reason: str | None = None
    rules: dict[str, Any] = field(default_factory=dict)
    existing: tuple[tuple[float, float], ...] = ()
    others: tuple[tuple[float, float], ...] = ()
    cancelled: tuple[tuple[float, float], ...] = ()
    closures: tuple[tuple[float, float], ...] = ()
    quotas: dict[str, float] = field(default_factory=dict)
    move: int | None = None


BUFFER = {"setup_buffer_s": 1800}
NOTICE = {"min_notice_s": 7200}
DAY_3H = {"day": 3.0}

CASES = [
    # Half-open intervals: touching is no conflict, any overlap is.
    Case("touching_after_a_booking", (12, 13), 201, existing=((10, 12),)),
    Case("touching_before_a_booking", (9, 10), 201, existing=((10, 12),)),
    Case("overlapping_by_a_minute", (12 - MIN, 13), 409, "slot_taken", existing=((10, 12),)),
    Case("inside_a_booking", (10.5, 11.5), 409, "slot_taken", existing=((10, 12),)),
    Case("around_a_booking", (9, 13), 409, "slot_taken", existing=((10, 12),)),
    Case("the_same_slot", (10, 12), 409, "slot_taken", existing=((10, 12),)),
    Case("another_organisations_booking", (11, 13), 409, "slot_taken", others=((10, 12),)),
    Case("a_cancelled_booking_holds_nothing", (10, 12), 201, cancelled=((10, 12),)),
    # The setup buffer follows every booking; a gap of exactly the buffer is allowed.
    Case("gap_equal_to_the_buffer_after", (12.5, 13.5), 201, rules=BUFFER, existing=((10, 12),)),
    Case(
        "gap_a_minute_short_after",
        (12.5 - MIN, 13.5),
        409,
        "slot_taken",
        rules=BUFFER,
        existing=((10, 12),),
    ),
    Case("gap_equal_to_the_buffer_before", (8.5, 9.5), 201, rules=BUFFER, existing=((10, 12),)),
    Case(
        "gap_a_minute_short_before",
        (8.5, 9.5 + MIN),
        409,
        "slot_taken",
        rules=BUFFER,
        existing=((10, 12),),
    ),
    Case(
        "the_buffer_may_run_past_closing",
        (17, 18),
        201,
        rules={**BUFFER, "operating_hours": OFFICE},
    ),
    # Length limits are inclusive.
    Case("exactly_the_minimum_length", (10, 10.25), 201),
    Case("a_minute_under_the_minimum", (10, 10.25 - MIN), 422, "too_short"),
    Case("exactly_the_maximum_length", (10, 14), 201, rules={"max_booking_s": 4 * 3600}),
    Case("a_minute_over_the_maximum", (10, 14 + MIN), 422, "too_long", {"max_booking_s": 4 * 3600}),
    Case("zero_length", (10, 10), 422, "bad_period"),
    Case("end_before_start", (11, 10), 422, "bad_period"),
    # Minimum notice (now is 08:00) and the horizon; no booking in the past.
    Case("exactly_at_the_minimum_notice", (10, 11), 201, rules=NOTICE),
    Case("two_minutes_inside_the_notice", (10 - 2 * MIN, 11), 422, "too_soon", NOTICE),
    Case("in_the_past", (6, 7), 422, "too_soon"),
    Case("started_an_hour_ago", (7, 9), 422, "too_soon"),
    Case("ending_exactly_at_the_horizon", (55, 56), 201, rules={"max_horizon_s": 48 * 3600}),
    Case("a_minute_past_the_horizon", (55, 56 + MIN), 422, "too_far", {"max_horizon_s": 48 * 3600}),
    # Operating hours, also across midnight.
    Case("a_whole_opening_day", (24 + 8, 24 + 18), 201, rules={"operating_hours": OFFICE}),
    Case("past_closing_time", (24 + 17, 24 + 19), 422, "closed", {"operating_hours": OFFICE}),
    Case(
        "overnight_hours_across_midnight",
        (23, 24 + 5),
        201,
        rules={"operating_hours": {"mon": [["22:00", "06:00"]]}},
    ),
    Case(
        "across_midnight_into_a_closed_day",
        (23, 25),
        422,
        "closed",
        {"operating_hours": {"mon": [["08:00", "24:00"]]}},
    ),
    Case(
        "across_midnight_between_two_open_days",
        (23, 25),
        201,
        rules={"operating_hours": {"mon": [["08:00", "24:00"]], "tue": [["00:00", "12:00"]]}},
    ),
    # Never across a closure; touching one is fine.
    Case("across_a_closure", (11, 15), 409, "closure", closures=((12, 14),)),
    Case("ending_as_a_closure_starts", (11, 12), 201, closures=((12, 14),)),
    Case("starting_as_a_closure_ends", (14, 15), 201, closures=((12, 14),)),
    Case("a_minute_into_a_closure", (11, 12 + MIN), 409, "closure", closures=((12, 14),)),
    Case("a_minute_before_a_closure_ends", (14 - MIN, 15), 409, "closure", closures=((12, 14),)),
    # Quotas are inclusive, count only the organisation's own bookings, and split at period
    # boundaries (each period counts the part of a booking inside it).
    Case("exactly_at_the_quota", (13, 14), 201, quotas=DAY_3H, existing=((10, 12),)),
    Case(
        "a_minute_over_the_quota",
        (13, 14 + MIN),
        409,
        "quota_exceeded",
        quotas=DAY_3H,
        existing=((10, 12),),
    ),
    Case("others_do_not_count", (14, 17), 201, quotas=DAY_3H, others=((10, 13),)),
    Case(
        "yesterdays_booking_counts_its_hours_after_midnight",
        (24 + 10, 24 + 11.5),
        409,
        "quota_exceeded",
        quotas=DAY_3H,
        existing=((23, 24 + 2),),
    ),
    Case(
        "yesterdays_booking_leaves_room_up_to_the_quota",
        (24 + 10, 24 + 11),
        201,
        quotas=DAY_3H,
        existing=((23, 24 + 2),),
    ),
    Case("a_booking_across_midnight_counts_per_day", (21, 24 + 3), 201, quotas=DAY_3H),
    Case(
        "a_booking_across_midnight_over_on_its_second_day",
        (21, 24 + 3 + MIN),
        409,
        "quota_exceeded",
        quotas=DAY_3H,
    ),
    Case(
        "a_new_iso_week_is_a_new_quota",
        (NEXT_MON + 8, NEXT_MON + 14),
        201,
        quotas={"week": 10.0},
        existing=((SUN + 10, SUN + 18),),
    ),
    Case(
        "the_last_day_of_the_week_counts_in_it",
        (SUN + 19, SUN + 22),
        409,
        "quota_exceeded",
        quotas={"week": 10.0},
        existing=((SUN + 10, SUN + 18),),
    ),
    # A move or resize (PATCH) meets the same rules; its own old slot is no obstacle.
    Case("move_into_the_notice", (9, 10), 422, "too_soon", NOTICE, existing=((12, 13),), move=0),
    Case("move_to_a_day_in_the_past", (6, 7), 422, "too_soon", existing=((12, 13),), move=0),
    Case("move_touching_another", (12, 13), 200, existing=((10, 12), (14, 15)), move=1),
    Case(
        "move_overlapping_another",
        (11.5, 12.5),
        409,
        "slot_taken",
        existing=((10, 12), (14, 15)),
        move=1,
    ),
    Case(
        "move_into_anothers_buffer",
        (12 + 20 * MIN, 13),
        409,
        "slot_taken",
        rules=BUFFER,
        existing=((10, 12), (14, 15)),
        move=1,
    ),
    Case("move_overlapping_its_own_old_slot", (11, 13), 200, existing=((10, 12),), move=0),
    Case("shorten_to_the_minimum", (10, 10.25), 200, existing=((10, 12),), move=0),
    Case("shorten_under_the_minimum", (10, 10.2), 422, "too_short", existing=((10, 12),), move=0),
    Case("resize_to_zero_length", (10, 10), 422, "bad_period", existing=((10, 12),), move=0),
    Case(
        "extend_past_the_maximum",
        (10, 15),
        422,
        "too_long",
        {"max_booking_s": 4 * 3600},
        existing=((10, 12),),
        move=0,
    ),
    Case(
        "extend_across_a_closure",
        (10, 15),
        409,
        "closure",
        closures=((13, 14),),
        existing=((10, 12),),
        move=0,
    ),
    Case(
        "extend_past_closing",
        (16, 19),
        422,
        "closed",
        {"operating_hours": OFFICE},
        existing=((16, 17),),
        move=0,
    ),
    Case("extend_up_to_the_quota", (10, 13), 200, quotas=DAY_3H, existing=((10, 12),), move=0),
    Case(
        "extend_a_minute_over_the_quota",
        (10, 13 + MIN),
        409,
        "quota_exceeded",
        quotas=DAY_3H,
        existing=((10, 12),),
        move=0,
    ),
    Case("extend_a_booking_in_its_grace", (7, 11), 200, existing=((7, 10),), move=0),
    Case("shorten_into_the_past", (7, 7.5), 422, "ends_in_past", existing=((7, 10),), move=0),
    Case(
        "extend_keeping_a_start_inside_the_notice",
        (9, 11),
        200,
        rules=NOTICE,
        existing=((9, 10),),
        move=0,
    ),
]


def at(hours: float) -> datetime:
    return MON + timedelta(hours=hours)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(MON + 8 * H)


async def store(
    pool: asyncpg.Pool, org: str, slots: tuple[tuple[float, float], ...], status: str
) -> list[str]:
    """Bookings stored as they are, whatever the rules say now (made before they changed)."""
    rows = await pool.fetch(
        """INSERT INTO bookings (instrument_id, org_id, period, status)
           SELECT 'sem-1', $1, tstzrange(a, b), $4
           FROM unnest($2::timestamptz[], $3::timestamptz[]) AS s(a, b)
           RETURNING id::text""",
        org,
        [at(a) for a, _ in slots],
        [at(b) for _, b in slots],
        status,
    )
    return [r["id"] for r in rows]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
async def test_booking_rules_at_their_boundaries(
    case: Case, client: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    admin = await key(pool, "platform", "admin")
    acme = await key(pool, "acme", "operator")
    await key(pool, "globex", "operator")
    body = {"id": "sem-1", "site": "lab", "kind": "sem", **case.rules}
    assert (await client.post("/api/v1/instruments", json=body, headers=admin)).status_code == 201
    for period, hours in case.quotas.items():
        path = f"/api/v1/organisations/acme/quotas/{period}"
        r = await client.put(path, json={"max_hours": hours}, headers=admin)
        assert r.status_code == 204, r.text
    mine = await store(pool, "acme", case.existing, "confirmed")
    await store(pool, "globex", case.others, "confirmed")
    await store(pool, "acme", case.cancelled, "cancelled")
    for a, b in case.closures:
        window = {"start": iso(at(a)), "end": iso(at(b)), "kind": "maintenance"}
        r = await client.post("/api/v1/instruments/sem-1/closures", json=window, headers=admin)
        assert r.status_code == 201, r.text
    slot = {"start": iso(at(case.request[0])), "end": iso(at(case.request[1]))}
    if case.move is None:
        r = await client.post(
            "/api/v1/bookings", json={"instrument": "sem-1", **slot}, headers=acme
        )
    else:
        r = await client.patch(f"/api/v1/bookings/{mine[case.move]}", json=slot, headers=acme)
    assert r.status_code == case.status, r.text
    if case.reason is not None:
        assert r.json()["reason"] == case.reason, r.text
    else:
        got = r.json()
        assert (got["start"], got["end"]) == (slot["start"], slot["end"])
        assert got["status"] == "confirmed"
