"""The web console: the built single-page app at ``/console/``, reading the public API only.

The page holds no secret and needs none to load; everything it shows comes from the same
``/api/v1`` endpoints as any client, with the key the user signs in with (kept in the
browser tab's session storage). Its sources and build are in ``api/console`` (docs/console.md).
"""

from __future__ import annotations

from importlib.resources import files

from fastapi import APIRouter, FastAPI
from fastapi.responses import PlainTextResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

router = APIRouter(include_in_schema=False)

#: Where ``make console`` puts the built files, inside the installed package.
BUILT = files("pilotshare.api.console") / "dist"


@router.get("/")
async def root() -> RedirectResponse:
    """The console is the front door; the API lives under ``/api/v1`` and ``/docs``."""
    return RedirectResponse("/console/")


@router.get("/console")
async def bare() -> RedirectResponse:
    """``/console`` without its slash: the app's relative asset paths need the slash."""
    return RedirectResponse("/console/")


@router.get("/dashboard")
@router.get("/dashboard/{rest:path}")
async def dashboard(rest: str = "") -> RedirectResponse:  # noqa: ARG001 - any path under it
    """The earlier live board's address: its cards are the console's board now, so old
    bookmarks land there (permanently moved)."""
    return RedirectResponse("/console/#/board", status_code=301)


async def _not_built() -> PlainTextResponse:
    return PlainTextResponse(
        "The web console is not built in this installation: run `make console`.\n"
        "控制台尚未构建：请运行 `make console`。\n",
        status_code=503,
    )


def mount(app: FastAPI) -> None:
    """Serve the built console, or say how to build it (the API works either way)."""
    if BUILT.joinpath("index.html").is_file():
        app.mount(
            "/console",
            StaticFiles(packages=[("pilotshare.api.console", "dist")], html=True),
            name="console",
        )
    else:
        app.add_api_route("/console/{rest:path}", _not_built, include_in_schema=False)
