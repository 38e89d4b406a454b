"""From replication arrays to the forecast result (CONTRACT §3), plus at-risk bookings.

Conventions of the result, documented in docs/forecasting.md:

- *Utilisation* is running time inside open time (operating hours minus maintenance) over
  open time, so downtime lowers it. Per replication it is a ratio of sums; ``mean`` is the
  mean over replications and ``p05``/``p95`` their 5th and 95th percentiles (a 90% interval
  of what the period may bring, not of the mean). Days or weeks with no open time: ``null``.
- *Weeks* are 7-day blocks from the forecast's start (the last may be shorter).
- *p_served* of a booking is the share of replications in which its instrument was up and
  free at its start; ``interval`` is the 90% Wilson score interval of that share. Only
  bookings that start before the horizon's end have one (the run stops there); a booking
  its instrument is closed over (``BookingSpec.closed``) has 0, ``[0, 0]`` and the
  ``reason``.
- *Wait* is the time from a new request's earliest start to the start it was given, over
  every placed request of every replication; ``placed_share`` is the share placed in the
  request's window at all.
- A week is *overloaded* for a kind when the hours asked of it (bookings held plus new
  requests made that week) exceed its up, open hours; a held booking a closure covers
  (``BookingSpec.closed``) is not run by the model and asks nothing; ``p_exceeds`` is the share of
  replications where that happened, reported when at least one half.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, Final, TypedDict

import numpy as np
import numpy.typing as npt

from pilotshare.scheduler.allocation import Candidate, Request, allocate, take
from pilotshare.twin.model import Replication, SiteSpec, open_seconds
from pilotshare.twin.stats import wilson
from pilotshare.twin.timeline import WEEK

AT_RISK_BELOW: Final = 0.8
ALTERNATIVES: Final = 3
ALTERNATIVE_WINDOW: Final = timedelta(days=7)
DURATION_BUCKETS_H: Final = (0.0, 2.0, 8.0, 24.0, math.inf)

FloatArray = npt.NDArray[np.float64]


def _band(values: FloatArray) -> dict[str, float] | None:
    v = values[np.isfinite(values)]
    if v.size == 0:
        return None
    return {
        "mean": round(float(v.mean()), 4),
        "p05": round(float(np.quantile(v, 0.05)), 4),
        "p95": round(float(np.quantile(v, 0.95)), 4),
    }


def _ratio(num: FloatArray, den: FloatArray) -> FloatArray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def _weeks(days: int) -> list[slice]:
    return [slice(w * 7, min(days, w * 7 + 7)) for w in range(math.ceil(days / 7))]


def _series(run: FloatArray, opened: FloatArray, origin: datetime) -> dict[str, Any]:
    """Daily and weekly bands from ``run`` (reps, days) and ``opened`` (days)."""
    days = opened.size
    daily = [
        {
            "date": (origin + timedelta(days=d)).date().isoformat(),
            "utilization": _band(_ratio(run[:, d], np.full(run.shape[0], opened[d]))),
        }
        for d in range(days)
    ]
    weekly = [
        {
            "week_start": (origin + timedelta(days=w.start)).isoformat(),
            "utilization": _band(
                _ratio(run[:, w].sum(axis=1), np.full(run.shape[0], opened[w].sum()))
            ),
        }
        for w in _weeks(days)
    ]
    return {"daily": daily, "weekly": weekly}


class Summary(TypedDict):
    """What ``summarise`` answers (JSON): per instrument, per kind, per booking and per
    overloaded week, and which inputs were priors rather than history."""

    origin: str
    horizon_end: str
    replications: int
    instruments: list[dict[str, Any]]
    kinds: list[dict[str, Any]]
    bookings: list[dict[str, Any]]
    overloaded_weeks: list[dict[str, Any]]
    priors: dict[str, list[str]]
    events: int


def summarise(site: SiteSpec, reps: Sequence[Replication]) -> Summary:
    """The forecast result from the replications of ``site`` (pure)."""
    n = len(reps)
    origin = site.origin
    opened = open_seconds(site)  # (instruments, days)
    run = np.stack([r.run_s for r in reps])  # (reps, instruments, days)
    up = np.stack([r.up_s for r in reps])
    kinds = site.kinds
    instruments = []
    for i, spec in enumerate(site.instruments):
        instruments.append(
            {
                "instrument": spec.id,
                "kind": spec.kind,
                "utilization": _band(_ratio(run[:, i].sum(axis=1), np.full(n, opened[i].sum()))),
                "availability": _band(_ratio(up[:, i].sum(axis=1), np.full(n, opened[i].sum()))),
                "down_at_start": spec.down_at_start,
                "failure_model": "prior"
                if spec.failures and spec.failures.prior
                else "learned"
                if spec.failures
                else "none",
                "failure_clock": spec.failures.clock if spec.failures else None,
                "failure_note": spec.failures.note if spec.failures else None,
                **_series(run[:, i], opened[i], origin),
            }
        )
    kind_rows = []
    req_kind = np.concatenate([r.req_kind for r in reps]) if reps else np.zeros(0, np.int16)
    req_wait = np.concatenate([r.req_wait for r in reps]) if reps else np.zeros(0)
    req_dur = np.concatenate([r.req_duration for r in reps]) if reps else np.zeros(0)
    for k, kind in enumerate(kinds):
        members = [i for i, s in enumerate(site.instruments) if s.kind == kind]
        krun = run[:, members].sum(axis=1)
        kopen = opened[members].sum(axis=0)
        mine = req_kind == k
        by_duration = []
        for lo, hi in itertools.pairwise(DURATION_BUCKETS_H):
            sel = mine & (req_dur >= lo * 3600) & (req_dur < hi * 3600)
            if sel.any():
                by_duration.append(
                    {
                        "duration_hours": [lo, None if math.isinf(hi) else hi],
                        **_waits(req_wait[sel], n),
                    }
                )
        kind_rows.append(
            {
                "kind": kind,
                "instruments": len(members),
                "utilization": _band(_ratio(krun.sum(axis=1), np.full(n, kopen.sum()))),
                **_waits(req_wait[mine], n),
                "by_duration": by_duration,
                "rebooked_per_replication": round(float(np.mean([r.rebooked[k] for r in reps])), 3)
                if reps
                else 0.0,
                **_series(krun, kopen, origin),
            }
        )
    bookings = []
    served = np.stack([r.served for r in reps]) if reps else np.zeros((0, 0), bool)
    for b, held in enumerate(site.bookings):
        if held.end <= 0 or held.start >= site.horizon_s:
            continue  # over, or not simulated (the service lists it as out of range)
        hits = int(served[:, b].sum())
        lo, hi = (0.0, 0.0) if held.closed else wilson(hits, n)
        row: dict[str, Any] = {
            "booking": held.id,
            "instrument": held.instrument,
            "start": (origin + timedelta(seconds=held.start)).isoformat(),
            "end": (origin + timedelta(seconds=held.end)).isoformat(),
            "p_served": 0.0 if held.closed else round(hits / n, 4) if n else None,
            "interval": [round(lo, 4), round(hi, 4)],
        }
        if held.closed:
            row["reason"] = held.closed
        bookings.append(row)
    return {
        "origin": origin.isoformat(),
        "horizon_end": (origin + timedelta(seconds=site.horizon_s)).isoformat(),
        "replications": n,
        "instruments": instruments,
        "kinds": kind_rows,
        "bookings": bookings,
        "overloaded_weeks": _overloaded(site, reps, up),
        "priors": {
            "failures": [s.id for s in site.instruments if s.failures and s.failures.prior],
            "usage": [u.kind for u in site.usage if u.prior],
            "demand_kinds_without_history": [
                k for k in kinds if k not in {d.kind for d in site.demand}
            ],
        },
        "events": int(sum(r.events for r in reps)),
    }


def _waits(waits: FloatArray, reps: int) -> dict[str, Any]:
    placed = waits[np.isfinite(waits)]
    hours = placed / 3600
    return {
        "requests_per_replication": round(waits.size / reps, 2) if reps else 0.0,
        "placed_share": round(placed.size / waits.size, 4) if waits.size else None,
        "wait_hours": {
            "mean": round(float(hours.mean()), 3),
            "p95": round(float(np.quantile(hours, 0.95)), 3),
        }
        if hours.size
        else None,
    }


def _overloaded(
    site: SiteSpec, reps: Sequence[Replication], up: FloatArray
) -> list[dict[str, Any]]:
    kinds = site.kinds
    days = site.days
    weeks = _weeks(days)
    held = np.zeros((len(kinds), len(weeks)))
    kind_of = {s.id: kinds.index(s.kind) for s in site.instruments}
    for b in site.bookings:
        if b.closed:
            continue  # the model does not run it: it asks nothing of the week's capacity
        w = int(max(b.start, 0.0) // WEEK)
        if 0 <= w < len(weeks):
            held[kind_of[b.instrument], w] += b.end - max(b.start, 0.0)
    out = []
    for k, kind in enumerate(kinds):
        members = [i for i, s in enumerate(site.instruments) if s.kind == kind]
        for w, sl in enumerate(weeks):
            cap = up[:, members, sl].sum(axis=(1, 2))
            asked = np.array(
                [
                    r.req_duration[
                        (r.req_kind == k) & (r.req_time >= w * WEEK) & (r.req_time < (w + 1) * WEEK)
                    ].sum()
                    for r in reps
                ]
            )
            demand = held[k, w] + asked
            p = float(np.mean(demand > cap)) if reps else 0.0
            if p >= 0.5:
                out.append(
                    {
                        "kind": kind,
                        "week_start": (site.origin + timedelta(days=7 * w)).isoformat(),
                        "demand_hours": round(float(demand.mean()) / 3600, 1),
                        "capacity_hours": round(float(cap.mean()) / 3600, 1),
                        "p_exceeds": round(p, 3),
                    }
                )
    return out


def alternatives(
    booking: tuple[str, str, datetime, datetime],
    candidates: Sequence[Candidate],
    now: datetime,
) -> list[dict[str, str]]:
    """Up to ``ALTERNATIVES`` slots from the scheduler for a booking at risk: same kind,
    same length, another instrument, from its start to a week later, best first."""
    _, instrument, start, end = booking
    pool = [c for c in candidates if c.instrument != instrument]
    if not pool:
        return []
    kind = pool[0].kind
    request = Request(
        f"alt-{booking[0]}",
        kind,
        end - start,
        max(start, now),
        max(start, now) + ALTERNATIVE_WINDOW + (end - start),
    )
    out = []
    state = {c.instrument: c for c in pool}
    for _ in range(ALTERNATIVES):
        got = allocate(request, state.values(), now)
        if got is None:
            break
        out.append(
            {
                "instrument": got.instrument,
                "start": got.start.isoformat(),
                "end": got.end.isoformat(),
            }
        )
        state[got.instrument] = take(state[got.instrument], got.start, got.end)
    return out
