"""The odds that an instrument serves a request before its deadline (pure: numpy only).

Theory of operation. The instrument alternates between up and down: time to the next failure
from ``FailureSpec.up``, repairs from ``FailureSpec.repair``, the fitted distributions the
forecast's site model draws from (``scheduler.forecast.inputs.failure_spec`` makes them from
the twin's learned behaviour). The request needs ``need`` of continuous up time inside one of
the instrument's free windows (the availability search's slots, between the request's
earliest start and its deadline). Each replication walks forward from ``now``:

1. find the first moment ``s >= t`` at which a free window still holds ``need``; none left:
   not served;
2. the failure clock runs until ``s`` (on the ``running`` clock only at the share of the
   time the instrument ran in its history, as ``FailureSpec.availability`` assumes); a
   failure before ``s`` means a repair, and the walk starts again after it;
3. from ``s`` the client's run wears the instrument at the full rate (calendar time on the
   calendar clock; running time, which is all of it, on the running clock): when the next
   failure comes later than ``s + need`` the request is served; otherwise the run is lost,
   the repair follows, and the walk starts again after it (another slot may still fit).

An instrument that is down at ``now`` starts with a repair. The remaining up time at ``now``
is a fresh draw: exact for the exponential times between failures the forecast uses (they
are memoryless), an approximation for other families. Replications are vectorised: each
step advances every unsettled replication at once, so the cost is a few numpy operations per
failure in the window, not per replication; after ``MAX_STEPS`` the unsettled ones count as
not served (the odds err low, never high).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Final

import numpy as np

from pilotshare.twin.stats import wilson

if TYPE_CHECKING:
    from pilotshare.twin.model import FailureSpec

#: Replications of a match's odds: a 90 % interval of about ±0.02 at p = 0.5.
REPLICATIONS: Final = 1000
#: Steps of the walk (failures in the window) before the unsettled count as not served: only
#: an instrument failing far more often than the need lasts gets there, whose odds are ~0.
MAX_STEPS: Final = 2000


@dataclass(frozen=True, slots=True)
class Odds:
    """The share of replications in which the request was served, with its 90 % (Wilson)
    interval and how many replications it rests on."""

    p: float
    interval: tuple[float, float]
    replications: int


def served_odds(
    failures: FailureSpec,
    windows: Sequence[tuple[datetime, datetime]],
    need: timedelta,
    *,
    now: datetime,
    rng: np.random.Generator,
    down_now: bool = False,
    replications: int = REPLICATIONS,
) -> Odds:
    """The odds of ``need`` of continuous up time inside one of ``windows`` (free, disjoint,
    by start); see the module docstring."""
    n = replications
    need_s = need.total_seconds()
    starts = np.array([(a - now).total_seconds() for a, _ in windows], dtype=float)
    ends = np.array([(b - now).total_seconds() for _, b in windows], dtype=float)
    fits = ends - starts >= need_s
    starts, ends = starts[fits], ends[fits]
    latest = ends - need_s  # the last start each window allows (ascending: disjoint windows)
    if starts.size == 0 or n == 0:
        return Odds(0.0, wilson(0, n), n)
    share = max(failures.running_share, 1e-9) if failures.clock == "running" else 1.0
    t = np.zeros(n)
    if down_now:
        t += failures.repair.sample(rng, n)
    left = failures.up.sample(rng, n)  # failure-clock seconds to the next failure
    active = np.arange(n)
    served = np.zeros(n, dtype=bool)
    for _ in range(MAX_STEPS):
        if active.size == 0:
            break
        ta, ra = t[active], left[active]
        k = np.searchsorted(latest, ta, side="left")
        has = k < latest.size
        # the slot's start (where none is left: ta itself, and the replication settles)
        s = np.where(has, np.maximum(ta, starts[np.minimum(k, latest.size - 1)]), ta)
        worn = (s - ta) * share
        fails_before = has & (ra < worn)
        ok = has & ~fails_before & (ra - worn >= need_s)
        served[active[ok]] = True
        # a failure: before the slot (at ta + ra / share) or during the run (at s + ra - worn)
        broke = has & ~ok
        at = np.where(fails_before, ta + ra / share, s + (ra - worn))
        idx = active[broke]
        m = idx.size
        if m:
            t[idx] = at[broke] + failures.repair.sample(rng, m)
            left[idx] = failures.up.sample(rng, m)
        active = idx
    p = float(served.mean())
    return Odds(p, wilson(int(served.sum()), n), n)
