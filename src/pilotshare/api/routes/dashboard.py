"""The live dashboard: a static page at ``/dashboard/`` that reads the API with the user's key.

The page holds no secret and needs none to load; everything it shows comes from the same
``/api/v1`` endpoints as any client, with the key the user types in.
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI
from fastapi.staticfiles import StaticFiles

router = APIRouter(include_in_schema=False)


def mount(app: FastAPI) -> None:
    """Serve the packaged page and its assets."""
    app.mount(
        "/dashboard",
        StaticFiles(packages=[("pilotshare.api", "dashboard")], html=True),
        name="dashboard",
    )
