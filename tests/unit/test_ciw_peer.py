"""The site model agrees with Ciw, a second and independent discrete-event simulator, on the
same site (``benchmarks.ciw_peer``: three kinds, nine instruments, exponential and lognormal
lengths, the scheduler's desk in the model).

Tolerances come from the replications: a difference must lie within 4.5 combined standard
errors of the two means (``z``, t-distributed with about 14 degrees of freedom from 8
replications each). There are 18 comparisons with noise here (without breakdowns both are
always up); the chance that any of them fails by noise alone is below 1%
(18 × 2 × P(t₁₄ > 4.5) = 0.009), so a failure means the two simulators compute different
things; a utilisation error of 0.03 would fail.

Without breakdowns they must agree on everything. With breakdowns they must agree on
utilisation, time up and sessions, but not on the wait: the model books each request on one
instrument at arrival, without knowing of repairs, and reports the wait until the booked
slot, while Ciw's queue is shared (docs/validation.md, "A
second simulator: Ciw").
"""

from __future__ import annotations

import math

import pytest

from benchmarks import ciw_peer

REPLICATIONS = 8
HOURS = 400.0
Z = 4.5


@pytest.mark.parametrize(
    ("breakdowns", "metrics"),
    [
        (False, ciw_peer.METRICS),
        (True, ("utilisation", "up_share", "sessions_per_h")),
    ],
)
def test_the_model_and_ciw_agree_within_their_standard_errors(
    breakdowns: bool, metrics: tuple[str, ...]
) -> None:
    spec = ciw_peer.site(breakdowns=breakdowns, hours=HOURS)
    result = ciw_peer.compare(spec, *ciw_peer.run(spec, REPLICATIONS, seed=3))
    assert set(result["kinds"]) == {"furnace", "press", "sem"}
    for kind, row in result["kinds"].items():
        for m in metrics:
            r = row[m]
            assert math.isfinite(r["model"]["mean"])
            assert math.isfinite(r["ciw"]["mean"])
            assert abs(r["z"]) < Z, (kind, m, r)
    if breakdowns:
        # Availability of the sampled schedules: exponential breakdowns and repairs, 60/4,
        # 40/3 and 100/6 hours, so 0.94, 0.93 and 0.94 of the time up; the per-replication
        # noise over 400 h is a few tenths of a percent.
        for kind, a in (("furnace", 60 / 64), ("press", 40 / 43), ("sem", 100 / 106)):
            for who in ("model", "ciw"):
                assert result["kinds"][kind]["up_share"][who]["mean"] == pytest.approx(a, abs=0.02)
