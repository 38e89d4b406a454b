"""The ``pilotshare`` command (CONTRACT §4).

Each command builds its settings and services here, in the composition root, and hands them to
the package that does the work. Errors reach the user as one line on standard error: exit 2 for
bad arguments or configuration, 1 for anything else; ``PILOTSHARE_DEBUG=1`` adds the traceback.
Secrets alone go to standard output, so ``KEY=$(pilotshare keys create …)`` works.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import warnings
from collections.abc import Awaitable, Callable, Coroutine
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, TypeVar

import typer

from pilotshare.core.domain import is_slug
from pilotshare.core.errors import ConfigError, PilotshareError
from pilotshare.core.settings import Settings, load_settings

if TYPE_CHECKING:
    from pilotshare.core.db import Connection
    from pilotshare.registry import KeyRecord

T = TypeVar("T")

app = typer.Typer(
    name="pilotshare",
    help="Backend for shared pilot-line instruments: telemetry, twin, bookings, forecasts.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
keys_app = typer.Typer(help="API keys.", no_args_is_help=True, rich_markup_mode=None)
app.add_typer(keys_app, name="keys")


class RoleChoice(StrEnum):
    admin = "admin"
    planner = "planner"
    operator = "operator"


def _settings() -> Settings:
    # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI); harmless for us
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
    settings = load_settings()
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    return settings


def _run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine; Ctrl-C ends it cleanly (the coroutine's finally blocks run)."""
    try:
        return asyncio.run(coro)
    except KeyboardInterrupt:
        print("stopped", file=sys.stderr)
        raise SystemExit(130) from None


@app.command()
def migrate() -> None:
    """Bring the database to the current schema (idempotent)."""
    from pilotshare.core.db import apply_policies, connect, uses_timescale
    from pilotshare.core.db.migrate import migrate as apply
    from pilotshare.runtime import database

    settings = _settings()

    async def main() -> None:
        async with database(settings) as (url, _):
            conn = await connect(url)
            try:
                applied = await apply(conn)
                backend = "TimescaleDB" if await uses_timescale(conn) else "PostgreSQL"
                policies = await apply_policies(
                    conn,
                    compress_after_days=settings.compress_after_days,
                    retention_days=settings.retention_days,
                )
            finally:
                await conn.close()
        names = ", ".join(f"{m.version:04d}_{m.name}" for m in applied) or "nothing to apply"
        print(f"schema current on {backend}: {names}", file=sys.stderr)
        if policies is not None:
            print(f"telemetry policies: {policies.describe()}", file=sys.stderr)

    _run(main())


@keys_app.command("create")
def keys_create(
    org: Annotated[str, typer.Option(help="organisation slug; created if new")],
    role: Annotated[RoleChoice, typer.Option(help="admin, planner or operator")],
    expires_in: Annotated[
        str | None, typer.Option(help="expire after this long: 30d, 12h, 90m, 2w")
    ] = None,
    expires_at: Annotated[
        str | None, typer.Option(help="expire at this RFC 3339 time, e.g. 2027-01-01T00:00:00Z")
    ] = None,
) -> None:
    """Create an API key; prints the secret alone on standard output, once."""
    from datetime import UTC, datetime

    from pilotshare.api.keys import IssuedKey, expiry, issue_key

    settings = _settings()
    until = expiry(datetime.now(UTC), expires_in=expires_in, expires_at=expires_at)

    async def main(conn: Connection) -> IssuedKey:
        return await issue_key(conn, org=org, role=role.value, expires_at=until)

    issued = _run(_on_database(settings, main))
    if issued.created_organisation:
        print(f"created organisation {org} (a client, named {org})", file=sys.stderr)
    until_text = f", valid until {until.isoformat()}" if until else ""
    print(
        f"created a {role.value} key for organisation {org}{until_text}; it is shown once",
        file=sys.stderr,
    )
    print(issued.key)


@keys_app.command("list")
def keys_list(
    org: Annotated[str | None, typer.Option(help="only this organisation's keys")] = None,
) -> None:
    """List unrevoked keys (never their secrets): id, organisation, role, created, last used
    (to the minute), expires."""
    from pilotshare.registry import list_keys, require_organisation

    if org is not None and not is_slug(org):
        raise ConfigError(f"--org {org!r} is not a slug (lowercase letters, digits, - and _)")
    settings = _settings()

    async def main(conn: Connection) -> list[KeyRecord]:
        if org is not None:
            await require_organisation(conn, org)
        return await list_keys(conn, org)

    def when(value: datetime | None) -> str:
        return value.isoformat(timespec="seconds") if value else "-"

    found = _run(_on_database(settings, main))
    print("id\torg\trole\tcreated_at\tlast_used_at\texpires_at")
    for k in found:
        print(
            f"{k.id}\t{k.org}\t{k.role}\t{when(k.created_at)}\t{when(k.last_used_at)}"
            f"\t{when(k.expires_at)}"
        )


@keys_app.command("revoke")
def keys_revoke(
    key_id: Annotated[str, typer.Argument(help="the key's id (from keys list)")],
) -> None:
    """Revoke a key: every API process refuses it within seconds (401)."""
    from datetime import UTC, datetime

    from pilotshare.api.keys import is_key_id
    from pilotshare.core.audit import SYSTEM
    from pilotshare.registry import revoke_key

    if not is_key_id(key_id):
        raise ConfigError(f"{key_id!r} is not a key id (8 hexadecimal digits, from keys list)")
    settings = _settings()

    async def main(conn: Connection) -> None:
        await revoke_key(conn, key_id, datetime.now(UTC), actor=SYSTEM)

    _run(_on_database(settings, main))
    print(f"revoked key {key_id}", file=sys.stderr)


async def _on_database(settings: Settings, work: Callable[[Connection], Awaitable[T]]) -> T:
    """Run ``work`` on one connection to the (migrated) database of ``settings``."""
    from pilotshare.core.db import connect
    from pilotshare.core.db.migrate import migrate as apply
    from pilotshare.runtime import database

    async with database(settings) as (url, _):
        conn = await connect(url)
        try:
            await apply(conn)
            return await work(conn)
        finally:
            await conn.close()


@app.command()
def api(
    host: Annotated[str | None, typer.Option(help="listen address")] = None,
    port: Annotated[int | None, typer.Option(help="listen port", min=0, max=65535)] = None,
) -> None:
    """Serve the HTTP API."""
    from pilotshare.runtime import stop_on_signals
    from pilotshare.services import serve_api

    settings = _settings()

    async def main() -> None:
        await serve_api(
            settings,
            host=host or settings.api_host,
            port=port or settings.api_port,
            stop=stop_on_signals(),
        )

    _run(main())


@app.command()
def ingest(
    metrics_port: Annotated[
        int, typer.Option(help="serve Prometheus /metrics on this port (0: none)", min=0, max=65535)
    ] = 9109,
) -> None:
    """Ingest telemetry from MQTT into the database and keep the live twin."""
    from pilotshare.services import run_ingest

    _run(run_ingest(_settings(), metrics_port=metrics_port))


@app.command()
def agent(
    config: Annotated[
        Path, typer.Option("--config", help="agent TOML file", exists=True, dir_okay=False)
    ],
) -> None:
    """Run an edge agent beside one instrument."""
    from pilotshare.edge_agent.runner import run_from_config

    logging.basicConfig(
        level=os.environ.get("PILOTSHARE_LOG_LEVEL", "INFO").upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    _run(run_from_config(config))


@app.command()
def sparkplug(
    config: Annotated[
        Path,
        typer.Option("--config", help="mapping TOML file (docs/sparkplug.md)", dir_okay=False),
    ],
) -> None:
    """Run a Sparkplug B host application: mapped metrics become instruments' telemetry."""
    from pilotshare.services import run_sparkplug

    if not config.is_file():
        raise ConfigError(f"--config {config}: no such file")
    _run(run_sparkplug(_settings(), config))


@app.command("mqtt-credentials")
def mqtt_credentials(
    passwd: Annotated[Path, typer.Option("--passwd", help="Mosquitto password file to write")],
    acl: Annotated[Path, typer.Option("--acl", help="Mosquitto ACL file to write")],
    site: Annotated[str | None, typer.Option(help="only this site's instruments")] = None,
    backend_user: Annotated[
        str, typer.Option(help="broker user of the ingest (reads telemetry, writes ack/cmd)")
    ] = "ingest",
) -> None:
    """Write broker users and ACL: one user per registered instrument, one for the backend.

    New users' passwords are printed once on standard output as "user password" lines.
    """
    from pilotshare.credentials import write_credentials

    settings = _settings()
    created = _run(
        write_credentials(settings, passwd=passwd, acl=acl, backend_user=backend_user, site=site)
    )
    for user, password in created:
        print(f"{user} {password}")
    print(
        f"wrote {passwd} and {acl}; {len(created)} new user(s); reload mosquitto (kill -HUP)",
        file=sys.stderr,
    )


@app.command()
def demo(
    host: Annotated[str, typer.Option(help="API listen address")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="API listen port", min=1, max=65535)] = 8000,
) -> None:
    """Everything in one process on embedded defaults, with a seeded demo network."""
    from pilotshare.demo import run_demo

    _run(run_demo(_settings(), host=host, port=port))


@app.command()
def simulate(
    scenario: Annotated[Path, typer.Argument(help="scenario YAML file", dir_okay=False)],
    dask: Annotated[
        str | None,
        typer.Option(help="run on an existing Dask cluster, e.g. tls://host:8786 (docs/deploy.md)"),
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="report directory (default: simulations/NAME)")
    ] = None,
    replications: Annotated[
        int | None, typer.Option(help="paired replications (default: the file's)", min=2)
    ] = None,
    seed: Annotated[int | None, typer.Option(help="root seed (default: the file's)", min=0)] = None,
    workers: Annotated[
        int | None, typer.Option(help="local worker processes (default: one per core)", min=1)
    ] = None,
) -> None:
    """Run a what-if scenario against its baseline; writes report.json, report.html and PNGs."""
    from pilotshare.runtime import database
    from pilotshare.simulations.command import simulate as run_simulation

    settings = _settings()
    tls = None
    if settings.dask_tls_ca_file and settings.dask_tls_cert and settings.dask_tls_key:
        tls = (settings.dask_tls_ca_file, settings.dask_tls_cert, settings.dask_tls_key)
    run_simulation(
        scenario,
        dask=dask,
        tls=tls,
        out=out,
        replications=replications,
        seed=seed,
        workers=workers,
        database=lambda: database(settings),
    )


@app.command()
def forecast(
    horizon_days: Annotated[int, typer.Option(help="days ahead (1-92)", min=1, max=92)] = 14,
    replications: Annotated[
        int, typer.Option(help="independent runs (2-1000)", min=2, max=1000)
    ] = 100,
    seed: Annotated[int | None, typer.Option(help="root seed (default: drawn)", min=0)] = None,
    workers: Annotated[int, typer.Option(help="worker processes", min=1, max=64)] = 2,
    output: Annotated[
        Path | None, typer.Option(help="write the JSON here (default: standard output)")
    ] = None,
) -> None:
    """Forecast capacity from the live state now: utilisation, waits, booking odds (JSON)."""
    import json

    from pilotshare.core.clock import SystemClock
    from pilotshare.core.db import connect
    from pilotshare.core.db.migrate import migrate as apply
    from pilotshare.runtime import database
    from pilotshare.scheduler.forecast import ForecastParams, ForecastResult, run_once

    settings = _settings()
    params = ForecastParams.parse(
        {"horizon_days": horizon_days, "replications": replications, "seed": seed}
    )

    def progress(fraction: float) -> None:
        if sys.stderr.isatty():
            print(f"\rforecast: {fraction:4.0%}", end="", file=sys.stderr, flush=True)

    async def main() -> ForecastResult:
        async with database(settings) as (url, _):
            conn = await connect(url)
            try:
                await apply(conn)
            finally:
                await conn.close()
            return await run_once(
                url, params, SystemClock().now(), workers=workers, progress=progress
            )

    result = _run(main())
    text = json.dumps(result, indent=2)
    if output is None:
        print(text)
    else:
        output.write_text(text + "\n", encoding="utf-8")
    print(
        f"\rforecast: {params.horizon_days} days, {params.replications} replications, "
        f"seed {params.seed}: {len(result['instruments'])} instruments, "
        f"{len(result['at_risk'])} bookings at risk, {result['elapsed_s']} s",
        file=sys.stderr,
    )


def _fail(message: str, code: int) -> NoReturn:
    print(f"pilotshare: error: {message}", file=sys.stderr)
    raise SystemExit(code)


def main(argv: list[str] | None = None) -> None:
    """Entry point: one-line errors, never a traceback unless PILOTSHARE_DEBUG is set."""
    try:
        app(args=argv, standalone_mode=False)
    except typer.Abort:
        _fail("aborted", 130)
    except typer.TyperException as exc:  # usage errors (exit 2) and other argument errors
        text = exc.format_message() if hasattr(exc, "format_message") else str(exc)
        _fail(" ".join(text.split()), int(getattr(exc, "exit_code", 2)))
    except ConfigError as exc:
        _fail(str(exc), 2)
    except PilotshareError as exc:
        _fail(str(exc), 1)
    except SystemExit:
        raise
    except Exception as exc:
        if os.environ.get("PILOTSHARE_DEBUG"):
            raise
        _fail(f"{type(exc).__name__}: {exc} (set PILOTSHARE_DEBUG=1 for the traceback)", 1)


if __name__ == "__main__":
    main()
