"""The request and offer state machines: the tables say every move, nothing else moves, and
the migration's CHECK constraints allow exactly the statuses of the enums."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pilotshare.network.requests.states import (
    OFFER,
    OFFER_FINAL,
    PENDING,
    PENDING_SQL,
    REQUEST,
    REQUEST_FINAL,
    Event,
    IllegalStep,
    OfferStatus,
    RequestStatus,
    after_offer_gone,
    apply_offer,
    apply_request,
    due,
    lapsed,
)

R = RequestStatus
O = OfferStatus  # noqa: E741 - one letter per machine, as in the module
MIGRATION = (
    Path(__file__).resolve().parents[2]
    / "src/pilotshare/core/db/migrations/0050_requests_and_offers.sql"
)
T = datetime(2026, 12, 1, 8, tzinfo=UTC)


def test_a_request_goes_open_offered_then_accepted_cancelled_or_expired() -> None:
    assert apply_request(R.OPEN, Event.OFFER) is R.OFFERED
    assert apply_request(R.OFFERED, Event.OFFER) is R.OFFERED
    assert apply_request(R.OFFERED, Event.ACCEPT) is R.ACCEPTED
    for s in (R.OPEN, R.OFFERED):
        assert apply_request(s, Event.CANCEL) is R.CANCELLED
        assert apply_request(s, Event.EXPIRE) is R.EXPIRED
    assert apply_request(R.OFFERED, Event.REOPEN) is R.OPEN


def test_an_open_request_cannot_be_accepted_and_an_ended_one_takes_nothing() -> None:
    with pytest.raises(IllegalStep) as refused:
        apply_request(R.OPEN, Event.ACCEPT)
    assert refused.value.reason == "request_closed"
    assert refused.value.status == 409
    for s in REQUEST_FINAL:
        for e in Event:
            with pytest.raises(IllegalStep):
                apply_request(s, e)


def test_an_offer_ends_once_and_only_from_open() -> None:
    allowed = {e: apply_offer(O.OPEN, e) for e in Event if (O.OPEN, e) in OFFER}
    assert allowed == {
        Event.ACCEPT: O.ACCEPTED,
        Event.DECLINE: O.DECLINED,
        Event.WITHDRAW: O.WITHDRAWN,
        Event.EXPIRE: O.EXPIRED,
    }
    assert frozenset(O) - {O.OPEN} == OFFER_FINAL
    for s in OFFER_FINAL:
        with pytest.raises(IllegalStep) as refused:
            apply_offer(s, Event.WITHDRAW)
        assert refused.value.reason == "offer_closed"


@given(st.lists(st.sampled_from(list(Event)), max_size=30))
def test_any_sequence_of_events_follows_the_table(events: list[Event]) -> None:
    """Applying whatever the table allows: an ended request never moves again, and one is
    only ever accepted from offered."""
    s = R.OPEN
    for e in events:
        before = s
        try:
            s = apply_request(s, e)
        except IllegalStep:
            assert (before, e) not in REQUEST
            continue
        assert before in PENDING
        if s is R.ACCEPTED:
            assert before is R.OFFERED


def test_expiry_is_due_at_the_deadline_for_pending_requests_only() -> None:
    assert not due(R.OPEN, T, T - timedelta(seconds=1))
    assert due(R.OPEN, T, T)
    assert due(R.OFFERED, T, T + timedelta(days=1))
    assert not due(R.ACCEPTED, T, T + timedelta(days=1))
    assert lapsed(O.OPEN, T, T)
    assert not lapsed(O.OPEN, T, T - timedelta(seconds=1))
    assert not lapsed(O.ACCEPTED, T, T + timedelta(days=1))


def test_the_last_offer_gone_reopens_an_offered_request() -> None:
    assert after_offer_gone(R.OFFERED, 0) is R.OPEN
    assert after_offer_gone(R.OFFERED, 1) is R.OFFERED
    assert after_offer_gone(R.ACCEPTED, 0) is R.ACCEPTED


def test_the_migration_allows_exactly_the_enums_statuses() -> None:
    sql = MIGRATION.read_text()
    checks = re.findall(r"CHECK \(status IN \(([^)]*)\)\)", sql)
    found = [{v.strip().strip("'") for v in c.split(",")} for c in checks]
    assert found == [{s.value for s in R}, {s.value for s in O}]
    pending = re.search(r"pilot_requests_pending .*?WHERE status IN (\([^)]*\))", sql, re.DOTALL)
    assert pending is not None
    assert pending.group(1) == PENDING_SQL
