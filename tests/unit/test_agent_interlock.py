"""The agent applies the newest desired interlock state only, and remembers it across restarts."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from pilotshare.core.contract import Command, Interlock
from pilotshare.edge_agent.interlock import InterlockMemory, should_apply, state_after

UNTIL = datetime(2026, 11, 28, 5, 0, tzinfo=UTC)


def cmd(seq: int | None, what: str = "unlock") -> Command:
    return Command(cmd=what, booking="b-1", until=UNTIL, seq=seq)  # type: ignore[arg-type]


@given(st.lists(st.integers(0, 50), max_size=40))
def test_of_any_delivery_order_only_ever_newer_seqs_are_applied(offered: list[int]) -> None:
    """Re-sends, retained copies and races deliver seqs in any order, some twice."""
    applied: list[int] = []
    last: int | None = None
    for seq in offered:
        if should_apply(last, cmd(seq)):
            applied.append(seq)
            last = seq
    assert applied == sorted(set(applied))  # strictly rising: nothing older, nothing twice
    assert last == (max(offered) if offered else None)  # and the newest always wins


def test_equal_and_older_seqs_are_ignored_and_a_newer_one_applied() -> None:
    assert should_apply(None, cmd(1))
    assert not should_apply(17, cmd(17))
    assert not should_apply(17, cmd(16))
    assert should_apply(17, cmd(18))


def test_a_command_without_seq_from_an_older_backend_is_always_applied() -> None:
    assert should_apply(None, cmd(None))
    assert should_apply(17, cmd(None))


def test_the_applied_seq_survives_a_restart_and_its_retained_copy_is_applied_once_more(
    tmp_path: Path,
) -> None:
    """The device may have lost the state while the agent was away: the retained copy is
    applied again once; nothing older ever is, and nothing is claimed before it is."""
    path = tmp_path / "oven.outbox.sqlite"
    memory = InterlockMemory(path)
    assert memory.report() is None  # nothing seen: the status says nothing about it
    memory.record(cmd(17), "unlocked")
    memory.close()

    again = InterlockMemory(path)
    assert again.seq == 17
    assert again.applied is not None
    assert again.applied.command == cmd(17)
    assert again.report() is None  # not confirmed in this run: nothing claimed
    assert again.wants(cmd(17))  # the retained copy arrives on subscribing: applied again
    assert not again.wants(cmd(12))  # a late re-send of an older state: ignored
    again.record(cmd(17), "unlocked")
    assert not again.wants(cmd(17))  # confirmed now: its re-sends are ignored
    assert again.wants(cmd(18, "lock"))
    assert again.report() == Interlock(state="unlocked", seq=17)
    again.record(cmd(18, "lock"), "locked")
    assert again.report() == Interlock(state="locked", seq=18)
    again.close()


def test_a_command_without_seq_is_reported_but_not_remembered(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite"
    memory = InterlockMemory(path)
    memory.record(cmd(5), "unlocked")
    memory.record(cmd(None, "lock"), "locked")
    assert memory.report() == Interlock(state="locked", seq=5)
    memory.close()
    again = InterlockMemory(path)
    assert again.applied is not None
    assert again.applied.state == "unlocked"
    assert again.seq == 5


def test_the_fail_safe_lock_is_reported_without_a_seq_and_not_remembered(
    tmp_path: Path,
) -> None:
    path = tmp_path / "o.sqlite"
    memory = InterlockMemory(path)
    memory.record(cmd(5), "unlocked")
    memory.failed_safe()
    assert memory.report() == Interlock(state="locked", seq=None)
    assert memory.wants(cmd(5))
    assert memory.wants(cmd(6))
    memory.close()
    assert InterlockMemory(path).seq == 5


def test_an_adapter_that_cannot_switch_reports_unsupported() -> None:
    assert state_after(cmd(3), switches=False) == "unsupported"
    assert state_after(cmd(3, "lock"), switches=True) == "locked"
    assert state_after(cmd(3, "unlock"), switches=True) == "unlocked"
