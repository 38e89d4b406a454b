"""How often a job's progress is announced to the event streams (``core.jobs.ProgressThrottle``):
at most once a second per job, and only after a step of at least 1%."""

from __future__ import annotations

import itertools

from pilotshare.core.jobs import PROGRESS_EVERY_S, PROGRESS_STEP, ProgressThrottle


def test_a_step_is_announced_once_a_second_has_passed() -> None:
    throttle = ProgressThrottle(at=100.0)
    assert not throttle.due(0.5, 100.5)  # too soon after the claim
    assert throttle.due(0.5, 101.0)
    assert not throttle.due(0.9, 101.9)  # too soon after the last
    assert throttle.due(0.9, 102.0)


def test_less_than_a_step_is_never_announced_however_long_it_took() -> None:
    throttle = ProgressThrottle(at=0.0)
    assert throttle.due(0.2, 5.0)
    assert not throttle.due(0.2 + PROGRESS_STEP / 2, 500.0)
    assert throttle.due(0.2 + PROGRESS_STEP, 501.0)


def test_a_chatty_handler_gets_at_most_one_announcement_a_second() -> None:
    throttle = ProgressThrottle(at=0.0)
    reports = [(n / 10_000, n / 1000) for n in range(1, 10_001)]  # 1000 reports a second
    announced = [t for p, t in reports if throttle.due(p, t)]
    assert len(announced) == 10
    assert all(b - a >= PROGRESS_EVERY_S for a, b in itertools.pairwise(announced))
