"""Offered slots and listing cursors (pure): rounding of offered starts, the notice tolerance,
the opaque keyset cursor and the status filter of ``GET /api/v1/bookings``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pilotshare.core.domain import BookingStatus
from pilotshare.core.errors import BadInput
from pilotshare.scheduler.policy import NOTICE_TOLERANCE, BookingRules, check_slot
from pilotshare.scheduler.requests import decode_cursor, encode_cursor, statuses
from pilotshare.scheduler.search import rounded_start

MON = datetime(2026, 1, 5, tzinfo=UTC)
times = st.datetimes(
    min_value=datetime(2020, 1, 1), max_value=datetime(2040, 1, 1), timezones=st.just(UTC)
)
lengths = st.timedeltas(min_value=timedelta(seconds=1), max_value=timedelta(hours=3))


@given(times, lengths, lengths)
def test_offered_starts_round_up_to_a_minute_or_a_second_and_still_fit(
    start: datetime, room: timedelta, need: timedelta
) -> None:
    end = start + room + need + timedelta(seconds=1)  # room for need after a whole second
    got = rounded_start(start, end, need)
    assert start <= got < start + timedelta(minutes=1)
    assert got.microsecond == 0
    assert end - got >= need
    if end - (got.replace(second=0) + timedelta(minutes=1)) >= need and got.second:
        pytest.fail("a whole minute would have fitted")


@given(times, st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=2)))
def test_an_offered_start_passes_the_notice_check_for_the_tolerance(
    now: datetime, notice: timedelta
) -> None:
    rules = BookingRules(min_notice=notice, min_length=timedelta(seconds=1))
    start = rounded_start(now + notice, now + notice + timedelta(hours=2), timedelta(hours=1))
    for later in (timedelta(0), NOTICE_TOLERANCE / 2, NOTICE_TOLERANCE):
        check_slot(rules, start, start + timedelta(hours=1), now=now + later)


def test_the_tolerance_is_bounded_and_keep_start_skips_the_notice() -> None:
    rules = BookingRules(min_notice=timedelta(hours=1))
    start = MON + timedelta(hours=1) - NOTICE_TOLERANCE - timedelta(seconds=1)
    with pytest.raises(BadInput) as err:
        check_slot(rules, start, start + timedelta(hours=1), now=MON)
    assert err.value.reason == "too_soon"
    check_slot(rules, start, start + timedelta(hours=1), now=MON, keep_start=True)


@given(times, st.uuids())
def test_a_cursor_decodes_to_the_position_it_encodes(start: datetime, ident: UUID) -> None:
    cursor = encode_cursor(start, ident)
    assert cursor.isascii()
    assert "=" not in cursor
    assert decode_cursor(cursor) == (start, ident)


@pytest.mark.parametrize("text", ["", "x", "MjAyNg", "bm90fGF8Y3Vyc29y", "2026-01-05|nope"])
def test_anything_else_is_a_bad_cursor(text: str) -> None:
    with pytest.raises(BadInput) as err:
        decode_cursor(text)
    assert err.value.reason == "bad_cursor"


def test_statuses_repeat_or_separate_by_commas() -> None:
    assert statuses([]) is None
    assert statuses(["", " "]) is None
    assert statuses(["confirmed,active", "active", " cancelled "]) == {
        BookingStatus.CONFIRMED,
        BookingStatus.ACTIVE,
        BookingStatus.CANCELLED,
    }
    with pytest.raises(BadInput) as err:
        statuses(["confirmed,done"])
    assert err.value.reason == "bad_status"
