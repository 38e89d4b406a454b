"""The API's models are built from the typed values services answer, in the shape CONTRACT §3
pins (the integration tests pin it through HTTP; these pin the conversions alone)."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

import pytest

from pilotshare.api.job_views import job_public, redacted
from pilotshare.api.keys import Principal
from pilotshare.api.routes.twin import TwinPublic
from pilotshare.core.domain import JobStatus, Role
from pilotshare.core.jobs import Job
from pilotshare.twin.store import TwinView, Utilization

NOW = datetime(2025, 3, 3, 12, tzinfo=UTC)
ADMIN = Principal("platform", Role.ADMIN, "k1", network=True)  # the network operator's admin
ACME = Principal("acme", Role.PLANNER, "k2")


def _job(status: JobStatus) -> Job:
    result = {"a": 1} if status is JobStatus.DONE else None
    return Job(uuid4(), "forecast", "acme", status, 0.123456, {}, result, "why", NOW, None, None)


@pytest.mark.parametrize("status", list(JobStatus))
def test_a_job_answers_its_detail_only_once_it_failed(status: JobStatus) -> None:
    job = _job(status)
    shown = job_public(job, ADMIN).model_dump(mode="json", exclude_unset=True)
    expected = {"id": str(job.id), "status": status.value, "progress": 0.1235, "result": job.result}
    if status is JobStatus.FAILED:
        expected["detail"] = "why"
    assert shown == expected


def test_a_shared_result_shows_a_planner_only_its_own_booking_rows() -> None:
    stored = {
        "kinds": [{"kind": "sem", "utilization": {"mean": 0.5}}],
        "bookings": [
            {"booking": "b1", "org": "acme", "p_served": 0.9},
            {"booking": "b2", "org": "globex", "p_served": 0.4},
            {"booking": "b3", "p_served": 0.5},  # says no owner: an admin's only
        ],
        "at_risk": [{"booking": "b2", "org": "globex", "alternatives": []}],
    }
    shown = redacted(stored, ACME)
    assert shown == {
        "kinds": stored["kinds"],
        "bookings": [{"booking": "b1", "org": "acme", "p_served": 0.9}],
        "at_risk": [],
        "other_organisations": {"bookings": 2},
    }
    assert len(stored["bookings"]) == 3  # the stored result is left as it was
    assert redacted(stored, ADMIN) is stored
    assert redacted({"echo": 1}, ACME) == {"echo": 1, "other_organisations": {"bookings": 0}}


def test_a_platforms_admin_also_sees_the_rows_of_bookings_on_its_instruments() -> None:
    """As the API shares a booking with the platform running its instrument (``run_by``)."""
    stored = {
        "bookings": [
            {"booking": "b1", "org": "acme", "instrument": "sem-a", "p_served": 0.9},
            {"booking": "b2", "org": "globex", "instrument": "sem-b", "p_served": 0.4},
            {"booking": "b3", "org": "lab-a", "instrument": "sem-b", "p_served": 0.5},
        ],
    }
    lab_a = Principal("lab-a", Role.ADMIN, "k3")
    shown = redacted(stored, lab_a, frozenset({"sem-a"}))
    assert [r["booking"] for r in shown["bookings"]] == ["b1", "b3"]
    assert shown["other_organisations"] == {"bookings": 1}
    assert [r["booking"] for r in redacted(stored, lab_a)["bookings"]] == ["b3"]


def test_the_twin_answers_utilisation_by_its_contract_keys() -> None:
    view = TwinView(
        instrument="sem-1",
        site="lab",
        online=True,
        state="running",
        since=NOW,
        last_seen=NOW,
        utilization=Utilization(one_hour=0.5, one_day=None),
        state_seconds_24h={"running": 60.0},
        mtbf_hours=None,
        mttr_hours=None,
        availability=None,
        failures=None,
        learned_at=None,
        agent="a",
        agent_version="1",
    )
    shown = TwinPublic.model_validate(view).model_dump(mode="json", by_alias=True)
    assert shown["utilization"] == {"1h": 0.5, "24h": None}
    assert list(shown) == [
        "instrument", "site", "online", "state", "since", "last_seen", "utilization",
        "state_seconds_24h", "mtbf_hours", "mttr_hours", "availability", "failures",
        "learned_at", "agent", "agent_version", "behaviour",
    ]  # fmt: skip
    assert shown["behaviour"] is None
