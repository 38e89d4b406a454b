"""The API's models are built from the typed values services answer, in the shape CONTRACT §3
pins (the integration tests pin it through HTTP; these pin the conversions alone)."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

import pytest

from pilotshare.api.job_views import job_public
from pilotshare.api.routes.twin import TwinPublic
from pilotshare.core.domain import JobStatus
from pilotshare.core.jobs import Job
from pilotshare.twin.store import TwinView, Utilization

NOW = datetime(2025, 3, 3, 12, tzinfo=UTC)


def _job(status: JobStatus) -> Job:
    result = {"a": 1} if status is JobStatus.DONE else None
    return Job(uuid4(), "forecast", "acme", status, 0.123456, {}, result, "why", NOW, None, None)


@pytest.mark.parametrize("status", list(JobStatus))
def test_a_job_answers_its_detail_only_once_it_failed(status: JobStatus) -> None:
    job = _job(status)
    shown = job_public(job).model_dump(mode="json", exclude_unset=True)
    expected = {"id": str(job.id), "status": status.value, "progress": 0.1235, "result": job.result}
    if status is JobStatus.FAILED:
        expected["detail"] = "why"
    assert shown == expected


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
        "learned_at", "agent", "agent_version",
    ]  # fmt: skip
