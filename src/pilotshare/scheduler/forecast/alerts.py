"""A finished forecast's bookings at risk, told to each organisation that may see the job.

When a forecast job is done, the database announces it (``JOB_CHANGES``, migration 0045);
the API's event streams call ``at_risk_alerts`` and send each alert as an ``at_risk`` event
to its organisation's streams (and admins'). An organisation is told only of its own
bookings, and only when at least one of them is at risk: the job's own organisation and its
audience (the organisations the risk watch shared it with) each get their own alert, and
nobody else one. ``alerts`` is the pure part.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final
from uuid import UUID

from pilotshare.core import jobs
from pilotshare.core.db import Executor
from pilotshare.scheduler.forecast import store

#: What an ``at_risk`` event says of each booking (nothing else of the forecast's row).
FIELDS: Final = ("booking", "instrument", "start", "end", "p_served", "cause")


@dataclass(frozen=True, slots=True)
class AtRiskAlert:
    """One organisation's bookings at risk in one forecast; each booking says its ``site``."""

    org: str
    job: UUID
    bookings: tuple[Mapping[str, Any], ...]

    @property
    def href(self) -> str:
        """Where the forecast is read (its result holds the alternatives)."""
        return f"/api/v1/forecasts/{self.job}"

    def as_event(self, bookings: Iterable[Mapping[str, Any]] | None = None) -> dict[str, Any]:
        """The event's data, with ``bookings`` (default: all of the alert's)."""
        rows = self.bookings if bookings is None else bookings
        return {
            "job": str(self.job),
            "href": self.href,
            "org": self.org,
            "bookings": [dict(r) for r in rows],
        }


def alerts(
    job: UUID,
    viewers: Iterable[str],
    at_risk: Iterable[Mapping[str, Any]],
    sites: Mapping[str, str],
) -> list[AtRiskAlert]:
    """Per organisation of ``viewers`` with at least one row of ``at_risk``, its rows (the
    fields of ``FIELDS`` and the instrument's site); in ``viewers``' order."""
    rows = list(at_risk)
    out = []
    for org in dict.fromkeys(viewers):
        mine = tuple(
            {
                **{k: r.get(k) for k in FIELDS},
                "site": sites.get(str(r.get("instrument"))),
            }
            for r in rows
            if r.get("org") == org
        )
        if mine:
            out.append(AtRiskAlert(org, job, mine))
    return out


async def at_risk_alerts(conn: Executor, job_id: UUID) -> list[AtRiskAlert]:
    """The alerts of a finished forecast (none for any other job, or a job not done)."""
    job = await jobs.get(conn, job_id, kind="forecast")
    if job is None or job.result is None:
        return []
    rows = job.result.get("at_risk")
    if not isinstance(rows, list) or not rows:
        return []
    sites = await store.instrument_sites(conn, {str(r.get("instrument")) for r in rows})
    return alerts(job.id, job.viewers, rows, sites)
