"""``GET /api/v1/instruments/{id}/twin``: the instrument's live twin (CONTRACT §3)."""

from __future__ import annotations

from datetime import datetime, timedelta

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from pilotshare.api.deps import ClockDep, CurrentKey, Pool, SettingsDep
from pilotshare.api.schemas import problems
from pilotshare.core.errors import NotFound
from pilotshare.twin.store import refresh_behaviour, twin_view

router = APIRouter(prefix="/api/v1/instruments", tags=["twin"])


class Utilization(BaseModel):
    """Mean reported utilisation over the last hour and day (null: nothing reported)."""

    model_config = ConfigDict(from_attributes=True, validate_by_name=True)
    one_hour: float | None = Field(alias="1h", serialization_alias="1h")
    one_day: float | None = Field(alias="24h", serialization_alias="24h")


class TwinPublic(BaseModel):
    """The live twin of one instrument."""

    model_config = ConfigDict(from_attributes=True)
    instrument: str
    site: str
    online: bool = Field(description="the agent is connected and was heard recently")
    state: str | None = Field(
        description="running, idle, setup, down, maintenance; offline when the agent is gone;"
        " null when never heard"
    )
    since: datetime | None = Field(description="when the current state began")
    last_seen: datetime | None = Field(description="newest sample or status")
    utilization: Utilization
    state_seconds_24h: dict[str, float] = Field(description="seconds in each state, last 24 h")
    mtbf_hours: float | None = Field(description="operating hours per failure (null: unknown)")
    mttr_hours: float | None = Field(description="mean hours to repair (null: unknown)")
    availability: float | None = Field(description="MTBF / (MTBF + MTTR)")
    failures: int | None = Field(description="failures the MTBF and MTTR rest on")
    learned_at: datetime | None = Field(description="when MTBF and MTTR were last learned")
    agent: str | None
    agent_version: str | None


@router.get(
    "/{instrument}/twin",
    response_model=TwinPublic,
    response_model_by_alias=True,
    responses=problems(401, 403, 404, 422),
)
async def get_twin(
    instrument: str, pool: Pool, clock: ClockDep, settings: SettingsDep, _: CurrentKey
) -> TwinPublic:
    """Online flag, state and since when, last seen, utilisation, MTBF and MTTR."""
    gap = timedelta(seconds=settings.offline_after_s)
    now = clock.now()
    view = await twin_view(pool, instrument, now, offline_after=gap)
    if view is None:
        raise NotFound("no_instrument", f"no instrument {instrument!r}")
    if view.learned_at is None and view.last_seen is not None:
        # never learned yet (no ingest has refreshed it): learn now, once
        await refresh_behaviour(pool, instrument, now, gap=gap)
        view = await twin_view(pool, instrument, now, offline_after=gap)
        assert view is not None  # noqa: S101 - it existed a moment ago
    return TwinPublic.model_validate(view)
