"""A request's candidates, each with its first free slot and its odds, best first (pure).

The store finds the instruments able to serve a request (``store.CAPABLE``), the scheduler
their free slots (``scheduler.service.BookingService.free_windows``: the availability search)
and the forecast's rule their failures (``scheduler.forecast.inputs.failure_spec`` over the
twin's learned behaviour). This module turns each into a ``Match``: an instrument the twin
has learned gets its odds (``odds.served_odds``); one it has not learned (no agent ever
reported, or not yet learned) gets none, and says why, rather than odds made up from a prior.
Matches are ranked by their odds, then by how soon they can start.

What a request must say is checked here too (``check_request``), with one reason per rule.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Final

import numpy as np

from pilotshare.core.errors import BadInput
from pilotshare.network.requests.odds import REPLICATIONS, Odds, served_odds

if TYPE_CHECKING:
    from pilotshare.twin.model import FailureSpec

#: Why a candidate has no odds.
NO_TELEMETRY: Final = "no_telemetry"
NOT_LEARNED: Final = "not_learned"
WHY: Final = {
    NO_TELEMETRY: "no agent has ever reported for this instrument: the twin knows nothing "
    "of its failures, so no odds are given",
    NOT_LEARNED: "its agent reports, but the twin has not learned its behaviour yet",
}


@dataclass(frozen=True, slots=True)
class Candidate:
    """An instrument able to serve the request, and what the twin knows of it."""

    instrument: str
    platform: str | None
    site: str
    kind: str
    #: The forecast's failures for it; None: the twin has not learned it (``reason`` says why).
    failures: FailureSpec | None
    reason: str | None = None
    down_now: bool = False


@dataclass(frozen=True, slots=True)
class Match:
    """A candidate with its first free slot of the needed length and its odds."""

    instrument: str
    platform: str | None
    site: str
    kind: str
    need: timedelta
    first_slot: tuple[datetime, datetime] | None
    free_hours: float
    twin: bool
    odds: Odds | None
    prior: bool  # the odds rest on the forecast's prior failures (too few learned)
    basis: str  # where the failures come from, in words; or why there are no odds
    reason: str | None  # why there are no odds (``NO_TELEMETRY``, ``NOT_LEARNED``)


def check_request(
    *,
    title: str,
    kind: str | None,
    capabilities: Sequence[str],
    hours: Decimal | None,
    samples: int | None,
    deadline: datetime,
    now: datetime,
) -> None:
    """The rules of a request's shape that types cannot say (a ``BadInput`` each)."""
    if not title.strip():
        raise BadInput("bad_request", "a request needs a title")
    if kind is None and not capabilities:
        raise BadInput("kind_or_capabilities", "give a 'kind', 'capabilities', or both")
    if hours is None and samples is None:
        raise BadInput("hours_or_samples", "give the instrument time ('hours'), 'samples', or both")
    if deadline <= now:
        raise BadInput("deadline_passed", "the deadline has passed already")


def rng_for(seed: int, instrument: str) -> np.random.Generator:
    """The generator of one candidate's odds: the same request and instrument always draw
    the same numbers, so an unchanged world gives unchanged odds."""
    return np.random.default_rng(np.random.SeedSequence([seed, zlib.crc32(instrument.encode())]))


def match(
    cand: Candidate,
    *,
    need: timedelta,
    windows: Sequence[tuple[datetime, datetime]],
    now: datetime,
    rng: np.random.Generator,
    replications: int = REPLICATIONS,
) -> Match:
    """One candidate's match (see the module docstring)."""
    first = (windows[0][0], windows[0][0] + need) if windows else None
    free = sum((b - a).total_seconds() for a, b in windows) / 3600
    where = (cand.instrument, cand.platform, cand.site, cand.kind, need, first, free)
    if cand.failures is None:
        reason = cand.reason or NO_TELEMETRY
        return Match(*where, twin=False, odds=None, prior=False, basis=WHY[reason], reason=reason)
    odds = served_odds(
        cand.failures,
        windows,
        need,
        now=now,
        rng=rng,
        down_now=cand.down_now,
        replications=replications,
    )
    return Match(
        *where,
        twin=True,
        odds=odds,
        prior=cand.failures.prior,
        basis=cand.failures.note,
        reason=None,
    )


def ranked(matches: Iterable[Match]) -> list[Match]:
    """Best odds first; those without odds last; then the earliest first slot, then by id."""

    def key(m: Match) -> tuple[float, float, str]:
        p = m.odds.p if m.odds is not None else -1.0
        start = m.first_slot[0].timestamp() if m.first_slot is not None else float("inf")
        return (-p, start, m.instrument)

    return sorted(matches, key=key)
