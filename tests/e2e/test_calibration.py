"""Bookings given p are served about p of the time: a short calibration backtest.

Three worlds of ``tests.support.backtest`` with different true parameters, each forecast from
two origins of its continuing run (day 28 and day 35), every forecast from a database of its
own holding only what the backend would hold. The long run (20 worlds, decile table, Brier
against a baseline) is ``benchmarks/calibration.py``; this one is sized to judge what a few
hundred bookings can judge, with tests whose false alarm rate under a calibrated forecast is
known:

- *calibration in the large*: the number served minus the sum of predictions, over its
  standard deviation (sqrt of the sum of p(1 - p)), is within ±3;
- *Spiegelhalter's z*: sum of (served - p)(1 - 2p) over its standard deviation under
  calibration, sqrt(sum (1 - 2p)^2 p (1 - p)), is within ±3 (this one also sees predictions
  too extreme or not extreme enough);
- *resolution*: bookings given under 0.85 are served less often than those given 0.95 or
  more (a two-proportion z above 3), so the forecast says more than the base rate.

Each holds by chance with probability about 0.997 for a calibrated forecast; the
replications' own noise (p estimated from 100 replications) adds about 1% to the variance.
"""

from __future__ import annotations

import math
import random

import numpy as np

from pilotshare.scheduler.forecast import ForecastParams
from tests.support import backtest as tb

WORLDS = (1, 3, 7)
ORIGINS = 2


async def _outcomes(admin_url: str) -> tuple[list[float], list[bool]]:
    predicted: list[float] = []
    served: list[bool] = []
    for n in WORLDS:
        variant = tb.VARIANTS[(n - 1) % len(tb.VARIANTS)]
        world = tb.World.build(seed=n, truth=variant.truth(), load=variant.load)
        rng = random.Random(n)
        world.run(tb.T0, tb.NOW, rng)
        for k in range(ORIGINS):
            now = tb.NOW + k * 7 * tb.DAY
            result = await tb.forecast_in_scratch(
                admin_url, world, now, ForecastParams(7, 100, 10 * n + k), workers=2
            )
            world.run(now, now + 7 * tb.DAY, rng)
            for p, s in tb.truth_figures(world, result, now)["outcomes"]:
                predicted.append(p)
                served.append(s)
    return predicted, served


async def test_bookings_are_served_as_often_as_predicted(pg_admin_url: str) -> None:
    predicted, served = await _outcomes(pg_admin_url)
    p = np.array(predicted)
    s = np.array(served, dtype=float)
    assert p.size >= 250, p.size
    assert 0.05 < float((p < 0.85).mean()) < 0.6  # the worlds spread the predictions

    in_the_large = (s - p).sum() / math.sqrt((p * (1 - p)).sum())
    assert abs(in_the_large) < 3, (in_the_large, s.mean(), p.mean())

    spiegelhalter = ((s - p) * (1 - 2 * p)).sum() / math.sqrt(
        ((1 - 2 * p) ** 2 * p * (1 - p)).sum()
    )
    assert abs(spiegelhalter) < 3, spiegelhalter

    low, high = s[p < 0.85], s[p >= 0.95]
    pooled = np.concatenate([low, high]).mean()
    se = math.sqrt(pooled * (1 - pooled) * (1 / low.size + 1 / high.size))
    assert (high.mean() - low.mean()) / se > 3, (low.mean(), high.mean(), low.size, high.size)
