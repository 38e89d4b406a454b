"""``api.booking_tail.Cursor``: each ``booking_events`` id sent once, ids skipped over (their
transactions commit later) read again for a while, and its memory bounded."""

from __future__ import annotations

from pilotshare.api.booking_tail import GAP_S, MAX_GAPS, Cursor


def test_new_ids_are_taken_once_in_order() -> None:
    cursor = Cursor(10)
    assert cursor.take([12, 11, 11], 0.0) == [11, 12]
    assert cursor.take([11, 12, 13], 0.5) == [13]  # a re-read sends nothing twice
    assert cursor.last == 13
    assert cursor.missing() == []


def test_an_id_committed_after_a_higher_one_is_sent_when_it_appears() -> None:
    cursor = Cursor(10)
    assert cursor.take([11, 14], 0.0) == [11, 14]
    assert cursor.missing() == [12, 13]
    assert cursor.take([13, 15], 1.0) == [13, 15]
    assert cursor.missing() == [12]
    assert cursor.take([13], 2.0) == []  # already sent
    assert cursor.take([12], 3.0) == [12]
    assert cursor.missing() == []


def test_a_gap_is_given_up_after_a_while() -> None:
    cursor = Cursor(0)
    cursor.take([2], 0.0)
    assert cursor.missing() == [1]
    cursor.take([], GAP_S)
    assert cursor.missing() == [1]  # not yet
    cursor.take([], GAP_S + 0.1)
    assert cursor.missing() == []  # rolled back, or too late
    assert cursor.take([1], GAP_S + 0.2) == []


def test_the_memory_of_gaps_is_bounded() -> None:
    cursor = Cursor(0)
    cursor.take([MAX_GAPS * 3], 0.0)
    assert len(cursor.missing()) == MAX_GAPS
    cursor.take([MAX_GAPS * 5], 1.0)
    gaps = cursor.missing()
    assert len(gaps) == MAX_GAPS
    assert gaps[0] > MAX_GAPS * 3  # the oldest forgotten first
