"""The booking state machine: the table's properties, the migrations agree, no stray literals."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pilotshare.core.domain import BookingStatus
from pilotshare.scheduler import states
from pilotshare.scheduler.states import (
    FINAL,
    HELD,
    HELD_SQL,
    INITIAL,
    TRANSITIONS,
    Event,
    IllegalTransition,
    apply,
    sql_set,
)

SRC = Path(__file__).resolve().parents[2] / "src" / "pilotshare"
MIGRATIONS = SRC / "core" / "db" / "migrations"
STATUS_VALUES = frozenset(s.value for s in BookingStatus)


def _sets(sql: str, pattern: str) -> list[frozenset[str]]:
    """The quoted words of each ``status IN (…)`` that follows ``pattern`` in ``sql``."""
    found = re.findall(pattern + r"[^;]*?status IN\s*\(([^)]*)\)", sql, flags=re.DOTALL)
    return [frozenset(re.findall(r"'([a-z_]+)'", group)) for group in found]


def _migrations() -> str:
    return "\n".join(p.read_text() for p in sorted(MIGRATIONS.glob("*.sql")))


def _latest(sql: str, pattern: str) -> dict[str, frozenset[str]]:
    """Per name (``pattern``'s first group), the ``status IN (…)`` set of its last definition
    in migration order: a later migration redefines a constraint or index by its name."""
    found = {}
    for m in re.finditer(pattern, sql):
        statuses = re.match(r"[^;]*?status IN\s*\(([^)]*)\)", sql[m.start() :], flags=re.DOTALL)
        assert statuses is not None, m.group(0)
        found[m.group(1)] = frozenset(re.findall(r"'([a-z_]+)'", statuses.group(1)))
    return found


def test_the_migrations_check_allows_exactly_the_enums_statuses() -> None:
    sql = _migrations()
    checks = _latest(sql, r"(status)\s+text NOT NULL DEFAULT 'confirmed' CHECK \(")
    checks |= _latest(sql, r"ADD CONSTRAINT bookings_(status)_check CHECK \(")
    assert checks == {"status": STATUS_VALUES}
    assert re.search(rf"status\s+text NOT NULL DEFAULT '{INITIAL.value}'", sql)


def test_the_exclusion_constraints_and_holding_indexes_use_the_held_set() -> None:
    sql = _migrations()
    held = frozenset(s.value for s in HELD)
    excludes = _latest(sql, r"CONSTRAINT (\w+) EXCLUDE USING gist")
    indexes = _latest(sql, r"CREATE INDEX (bookings_holding_\w+)")
    # on period (0001) and on the held range (0020); the timers' indexes by start and end
    assert sorted(excludes) == ["bookings_hold_no_overlap", "bookings_no_overlap"]
    assert sorted(indexes) == ["bookings_holding_end", "bookings_holding_start"]
    assert set(excludes.values()) | set(indexes.values()) == {held}


def test_sql_fragments_are_generated_from_the_sets() -> None:
    assert HELD_SQL == "('confirmed', 'active', 'delayed')"
    assert sql_set([BookingStatus.RELEASED, BookingStatus.CANCELLED]) == "('cancelled', 'released')"


def test_the_named_sets_partition_as_documented() -> None:
    assert HELD.isdisjoint(FINAL)
    assert frozenset(BookingStatus) == HELD | FINAL
    assert INITIAL in HELD
    assert (
        states.UNSTARTED
        == states.sources(Event.MISS)
        == {
            BookingStatus.CONFIRMED,
            BookingStatus.DELAYED,
        }
    )
    assert BookingStatus.DELAYED in HELD
    assert BookingStatus.DELAYED in states.BILLABLE
    assert BookingStatus.DELAYED in states.QUOTA_COUNTED
    assert {BookingStatus.CANCELLED, BookingStatus.RELEASED} == states.GIVEN_BACK
    assert frozenset(BookingStatus) - {BookingStatus.CANCELLED} == states.BILLABLE
    assert states.ATTENDANCE <= FINAL
    assert states.ON_CALENDAR <= states.BILLABLE


def test_cancel_releases_an_active_booking_and_refuses_a_settled_one() -> None:
    assert apply(BookingStatus.CONFIRMED, Event.CANCEL) is BookingStatus.CANCELLED
    assert apply(BookingStatus.ACTIVE, Event.CANCEL) is BookingStatus.RELEASED
    with pytest.raises(IllegalTransition, match="completed cannot take the event cancel"):
        apply(BookingStatus.COMPLETED, Event.CANCEL)


def test_delayed_is_reached_only_from_confirmed_and_leaves_as_confirmed_would() -> None:
    assert states.sources(Event.DELAY) == {BookingStatus.CONFIRMED}
    assert apply(BookingStatus.CONFIRMED, Event.DELAY) is BookingStatus.DELAYED
    assert apply(BookingStatus.DELAYED, Event.CHECK_IN) is BookingStatus.ACTIVE
    assert apply(BookingStatus.DELAYED, Event.MISS) is BookingStatus.NO_SHOW
    assert apply(BookingStatus.DELAYED, Event.COMPLETE) is BookingStatus.COMPLETED
    # its slot has begun: given back, the rest is released (billed until then)
    assert apply(BookingStatus.DELAYED, Event.CANCEL) is BookingStatus.RELEASED
    with pytest.raises(IllegalTransition, match="delayed cannot take the event delay"):
        apply(BookingStatus.DELAYED, Event.DELAY)
    for status in (BookingStatus.ACTIVE, *FINAL):
        with pytest.raises(IllegalTransition):
            apply(status, Event.DELAY)


@given(st.sampled_from(sorted(FINAL)), st.sampled_from(list(Event)))
def test_no_transition_leaves_a_final_status(status: BookingStatus, event: Event) -> None:
    with pytest.raises(IllegalTransition):
        apply(status, event)


@given(st.lists(st.sampled_from(list(Event)), max_size=12))
def test_any_run_of_events_stays_in_the_table(events: list[Event]) -> None:
    """Legal events move along the table; illegal ones change nothing and say so."""
    status = INITIAL
    for event in events:
        if (status, event) not in TRANSITIONS:
            with pytest.raises(IllegalTransition) as refused:
                apply(status, event)
            assert refused.value.from_status is status
            continue
        nxt = apply(status, event)
        assert TRANSITIONS[status, event] is nxt
        assert status not in FINAL
        status = nxt
    assert status in BookingStatus


def test_every_status_is_reachable_from_confirmed_and_every_path_ends_final() -> None:
    seen, frontier = {INITIAL}, [INITIAL]
    while frontier:
        status = frontier.pop()
        for (src, _), dst in TRANSITIONS.items():
            if src is status and dst not in seen:
                seen.add(dst)
                frontier.append(dst)
    assert seen == set(BookingStatus)
    # no cycles: at most len(statuses) - 1 steps from the start to a final status
    longest = dict.fromkeys(FINAL, 0)
    for _ in BookingStatus:
        for (src, _), dst in TRANSITIONS.items():
            if dst in longest:
                longest[src] = max(longest.get(src, 0), longest[dst] + 1)
    assert longest[INITIAL] < len(BookingStatus)


def _stray_literals(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    vocabulary = {  # the enum's own definition is where the words are spelt
        id(n)
        for cls in ast.walk(tree)
        # (a request's or an offer's statuses are their own words, spelt in their enums)
        if isinstance(cls, ast.ClassDef)
        and cls.name in {"BookingStatus", "RequestStatus", "OfferStatus"}
        for n in ast.walk(cls)
    }
    quoted = re.compile("'(" + "|".join(sorted(STATUS_VALUES)) + ")'")
    return [
        f"{path.relative_to(SRC)}:{n.lineno}: {n.value[:60]!r}"
        for n in ast.walk(tree)
        if isinstance(n, ast.Constant)
        and isinstance(n.value, str)
        and id(n) not in vocabulary
        and (n.value in STATUS_VALUES or quoted.search(n.value))
    ]


def test_no_status_literal_outside_the_enum_and_states_py() -> None:
    """A status spelt as a string (Python ``"active"`` or SQL ``'active'``) outside
    ``core.domain.BookingStatus`` and ``scheduler/states.py`` drifts: use the enum or a
    ``states.*_SQL`` fragment."""
    stray = [
        hit
        for path in sorted(SRC.rglob("*.py"))
        if path != SRC / "scheduler" / "states.py"
        for hit in _stray_literals(path)
    ]
    assert stray == []
