"""``GET /api/v1/scenarios`` and ``GET /api/v1/scenarios/{name}``: the what-if scenarios
shipped with pilotshare (``simulations.bundled``), to pick one, read or change it, and POST
it to ``/api/v1/simulations`` as it is (``Content-Type: application/yaml``). Planners and up,
like the simulations they feed.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Path, Response
from pydantic import BaseModel, Field

from pilotshare.api.deps import PlannerKey
from pilotshare.api.schemas import problems
from pilotshare.core.errors import NotFound
from pilotshare.simulations import bundled

router = APIRouter(prefix="/api/v1/scenarios", tags=["simulations"])


class ScenarioListed(BaseModel):
    """A bundled scenario: fetch ``/api/v1/scenarios/{name}`` for its YAML."""

    name: str = Field(description="its name in the path")
    title: str | None = Field(description="the question it asks (its opening comment)")
    description: str
    horizon_days: float
    replications: int


@router.get("", response_model=list[ScenarioListed], responses=problems(401, 403))
async def list_scenarios(_principal: PlannerKey) -> list[ScenarioListed]:
    """The bundled what-if scenarios, by name."""
    found = await asyncio.to_thread(bundled.listing)  # parsing them is CPU work
    return [
        ScenarioListed(
            name=s.name,
            title=s.title,
            description=s.description,
            horizon_days=s.horizon_days,
            replications=s.replications,
        )
        for s in found
    ]


@router.get(
    "/{name}",
    response_class=Response,
    responses={
        200: {
            # The YAML text is one mapping (a scenario document), so a client that parses
            # the body by its media type gets an object, as the schema says.
            "content": {"application/yaml": {"schema": {"type": "object"}}},
            "description": "the scenario's YAML text, as shipped: one mapping with "
            "description, horizon_days, replications, base and changes",
        },
        **problems(401, 403, 404),
    },
)
async def get_scenario(
    name: Annotated[str, Path(max_length=100, description="a name from the listing")],
    _principal: PlannerKey,
) -> Response:
    """A bundled scenario's YAML text (``application/yaml``), to POST to
    ``/api/v1/simulations`` as it is or changed."""
    body = await asyncio.to_thread(bundled.text, name)
    if body is None:
        raise NotFound("no_scenario", f"no bundled scenario {name!r}")
    return Response(body, media_type="application/yaml")
