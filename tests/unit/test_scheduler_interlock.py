"""How often the lifecycle re-sends a desired interlock state, and what it sends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID

from hypothesis import given
from hypothesis import strategies as st

from pilotshare.core.contract import decode_command, encode
from pilotshare.scheduler.interlock import command_of, resend_delay
from pilotshare.scheduler.store import Desired

S = timedelta(seconds=1)


def test_resends_back_off_from_the_interval_to_the_cap() -> None:
    delays = [resend_delay(n, resend=5 * S, resend_max=300 * S) for n in range(1, 10)]
    assert delays[:4] == [5 * S, 10 * S, 20 * S, 40 * S]
    assert delays[-1] == 300 * S


@given(st.integers(0, 10_000))
def test_a_resend_is_never_sooner_than_the_interval_nor_later_than_the_cap(sends: int) -> None:
    assert 5 * S <= resend_delay(sends, resend=5 * S, resend_max=300 * S) <= 300 * S


def test_the_desired_state_goes_out_with_its_seq_and_nulls_where_there_is_no_booking() -> None:
    until = datetime(2026, 11, 28, 5, tzinfo=UTC)
    booking = UUID("0b5c8a52-3f0e-4c1a-9d7e-2f6a1c9e4b71")
    unlock = Desired("oven-1", "demo", 17, "unlock", booking, until, 0)
    assert encode(command_of(unlock)) == (
        b'{"v":1,"cmd":"unlock","booking":"0b5c8a52-3f0e-4c1a-9d7e-2f6a1c9e4b71",'
        b'"until":"2026-11-28T05:00:00Z","seq":17}'
    )
    bare = command_of(Desired("oven-1", "demo", 19, "lock", None, None, 3))
    assert decode_command(encode(bare)) == bare
    assert encode(bare) == b'{"v":1,"cmd":"lock","booking":null,"until":null,"seq":19}'
