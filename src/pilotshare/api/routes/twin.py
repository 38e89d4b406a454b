"""``GET /api/v1/instruments/{id}/twin``: the instrument's live twin (CONTRACT §3)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, field_validator

from pilotshare.api.deps import ClockDep, CurrentKey, Pool, SettingsDep
from pilotshare.api.schemas import problems
from pilotshare.core.errors import NotFound
from pilotshare.twin.stats import HOURS_OF_WEEK, DistributionFit
from pilotshare.twin.store import LearnedView, refresh_behaviour, twin_view

router = APIRouter(prefix="/api/v1/instruments", tags=["twin"])


class Utilization(BaseModel):
    """Mean reported utilisation over the last hour and day (null: nothing reported)."""

    model_config = ConfigDict(from_attributes=True, validate_by_name=True)
    one_hour: float | None = Field(alias="1h", serialization_alias="1h")
    one_day: float | None = Field(alias="24h", serialization_alias="24h")


class Estimate(BaseModel):
    """A learned figure in hours with its confidence interval (null: not enough data)."""

    hours: float | None
    interval: tuple[float, float] | None = Field(
        description="[low, high] hours, holding the truth with the stated confidence"
    )
    confidence: float = Field(description="the interval's confidence level, e.g. 0.9")


class DurationFit(BaseModel):
    """A fitted length distribution (seconds): the best family by AIC, location 0."""

    family: Literal["exponential", "weibull", "lognormal", "gamma"]
    params: dict[str, float] = Field(
        description="scipy's parameters in seconds: exponential scale; weibull shape, scale;"
        " lognormal sigma, scale (the median); gamma shape, scale"
    )
    mean_s: float = Field(description="the fitted distribution's mean")
    n: int = Field(description="whole episodes fitted (both ends observed)")
    ks_pvalue: float | None = Field(description="Kolmogorov-Smirnov p-value of the fit")
    aic: float | None

    @classmethod
    def of(cls, f: DistributionFit | None) -> DurationFit | None:
        if f is None:
            return None
        return cls(
            family=f.family,
            params=f.params,
            mean_s=f.mean_s,
            n=f.n,
            ks_pvalue=f.ks_pvalue,
            aic=f.aic,
        )


class HourOfWeek(BaseModel):
    """Share of observed time running in each hour of the week."""

    timezone: str = Field(description="the site's IANA time zone the hours are read in")
    values: list[float] = Field(
        min_length=HOURS_OF_WEEK,
        max_length=HOURS_OF_WEEK,
        description="168 shares in [0, 1]: index weekday * 24 + hour, Monday 00:00 first;"
        " an hour never observed holds the overall share",
    )


class LearnedBehaviour(BaseModel):
    """What the instrument's history over the window says about it."""

    window_start: datetime
    window_end: datetime
    observed_hours: float = Field(description="hours with telemetry in the window")
    operating_hours: float = Field(description="hours running, idle or in setup")
    state_hours: dict[str, float] = Field(description="observed hours in each state")
    failures: int = Field(description="failures whose onset was observed")
    repairs: int = Field(description="whole repairs (both ends observed): what MTTR rests on")
    mtbf: Estimate = Field(description="operating hours per failure (Garwood chi-square)")
    running_mtbf: Estimate = Field(description="running hours per failure (Garwood chi-square)")
    mttr: Estimate = Field(description="mean hours to repair (gamma and Student-t hull)")
    availability: float | None = Field(description="MTBF / (MTBF + MTTR)")
    run_length: DurationFit | None
    idle_length: DurationFit | None
    repair_length: DurationFit | None
    hour_of_week: HourOfWeek

    @classmethod
    def of(cls, view: LearnedView) -> LearnedBehaviour:
        b = view.learned
        return cls(
            window_start=view.window_start,
            window_end=view.window_end,
            observed_hours=b.observed_hours,
            operating_hours=b.operating_hours,
            state_hours=b.state_hours,
            failures=b.failures,
            repairs=b.repairs,
            mtbf=Estimate(hours=b.mtbf_hours, interval=b.mtbf_ci, confidence=b.confidence),
            running_mtbf=Estimate(
                hours=b.running_mtbf_hours, interval=b.running_mtbf_ci, confidence=b.confidence
            ),
            mttr=Estimate(hours=b.mttr_hours, interval=b.mttr_ci, confidence=b.confidence),
            availability=b.availability,
            run_length=DurationFit.of(b.run_length),
            idle_length=DurationFit.of(b.idle_length),
            repair_length=DurationFit.of(b.repair_length),
            hour_of_week=HourOfWeek(timezone=b.profile_timezone, values=list(b.hourly_profile)),
        )


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
    behaviour: LearnedBehaviour | None = Field(
        default=None,
        description="the learned behaviour in full: intervals, fitted lengths, hour-of-week"
        " profile (null: not learned yet)",
    )

    @field_validator("behaviour", mode="before")
    @classmethod
    def _learned(cls, v: Any) -> Any:
        return LearnedBehaviour.of(v) if isinstance(v, LearnedView) else v


@router.get(
    "/{instrument}/twin",
    response_model=TwinPublic,
    response_model_by_alias=True,
    responses=problems(401, 403, 404, 422),
)
async def get_twin(
    instrument: str, pool: Pool, clock: ClockDep, settings: SettingsDep, _: CurrentKey
) -> TwinPublic:
    """Online flag, state and since when, last seen, utilisation, MTBF and MTTR; and the
    learned behaviour in full (intervals, fitted lengths, hour-of-week profile)."""
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
