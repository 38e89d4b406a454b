"""The command line (CONTRACT §4) as a user meets it: a real process, a real database."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer.main

from pilotshare.cli import app
from pilotshare.core.db.pool import connect


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pilotshare.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
        check=False,
    )


def _command_paths() -> list[list[str]]:
    root = typer.main.get_command(app)
    paths: list[list[str]] = []

    def walk(command: object, path: list[str]) -> None:
        paths.append(path)
        for name, sub in getattr(command, "commands", {}).items():
            walk(sub, [*path, name])

    walk(root, [])
    return paths


@pytest.mark.parametrize("path", _command_paths(), ids=lambda p: " ".join(p) or "pilotshare")
def test_every_command_answers_help(path: list[str]) -> None:
    result = _run(*path, "--help")
    assert result.returncode == 0, result.stderr
    assert "Usage:" in result.stdout


def test_the_contract_commands_exist() -> None:
    names = {" ".join(p) for p in _command_paths()}
    assert {"demo", "api", "ingest", "agent", "migrate", "keys create"} <= names


@pytest.mark.parametrize(
    "args",
    [
        ["migrate", "--bogus"],
        ["keys", "create", "--org", "acme", "--role", "boss"],
        ["keys", "create", "--role", "admin"],
        ["agent", "--config", "/nonexistent/agent.toml"],
        ["api", "--port", "99999"],
        ["sparkplug", "--config", "/nonexistent/sparkplug.toml"],
        ["sparkplug"],
        ["no-such-command"],
    ],
)
def test_bad_arguments_exit_2_with_one_line(args: list[str]) -> None:
    result = _run(*args)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("pilotshare: error: ")
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_a_bad_sparkplug_mapping_exits_2_naming_the_key(tmp_path: Path) -> None:
    mapping = tmp_path / "sparkplug.toml"
    mapping.write_text('[host]\nhost_id = "a/b"\n', encoding="utf-8")
    result = _run("sparkplug", "--config", str(mapping))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith("pilotshare: error: ")
    assert "host_id" in result.stderr
    assert "Traceback" not in result.stderr


def test_bad_setting_exits_2_naming_the_variable() -> None:
    result = _run("migrate", env={"PILOTSHARE_SITE": "Not A Slug"})
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "PILOTSHARE_SITE" in lines[0]


async def test_migrate_then_keys_create_prints_the_secret_alone(db_url: str) -> None:
    env = {"PILOTSHARE_DATABASE_URL": db_url, "PILOTSHARE_LOG_LEVEL": "WARNING"}
    first = _run("migrate", env=env)
    assert first.returncode == 0, first.stderr
    assert "nothing to apply" in first.stderr
    assert first.stdout == ""

    created = _run("keys", "create", "--org", "newco", "--role", "planner", env=env)
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip()
    assert created.stdout == key + "\n"
    assert key.startswith("ps_")
    conn = await connect(db_url)
    try:
        row = await conn.fetchrow(
            "SELECT k.role, o.id FROM api_keys k JOIN organisations o ON o.id = k.org_id"
        )
        stored = await conn.fetchval(
            "SELECT count(*) FROM api_keys WHERE secret_hash::text LIKE $1", f"%{key}%"
        )
    finally:
        await conn.close()
    assert row is not None
    assert (row["role"], row["id"]) == ("planner", "newco")
    assert stored == 0  # only a hash is kept


def _lines(result: subprocess.CompletedProcess[str]) -> list[str]:
    return result.stderr.strip().splitlines()


async def test_keys_create_says_when_it_creates_the_organisation(db_url: str) -> None:
    env = {"PILOTSHARE_DATABASE_URL": db_url, "PILOTSHARE_LOG_LEVEL": "WARNING"}
    first = _run("keys", "create", "--org", "newco", "--role", "admin", env=env)
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip().startswith("ps_")
    assert len(first.stdout.splitlines()) == 1  # the secret alone
    assert next(line for line in _lines(first) if "organisation newco" in line).startswith(
        "created organisation newco"
    )
    second = _run("keys", "create", "--org", "newco", "--role", "planner", env=env)
    assert second.returncode == 0, second.stderr
    assert not any(line.startswith("created organisation") for line in _lines(second))


async def test_keys_list_revoke_and_expiry_on_the_command_line(db_url: str) -> None:
    env = {"PILOTSHARE_DATABASE_URL": db_url, "PILOTSHARE_LOG_LEVEL": "WARNING"}
    acme = _run("keys", "create", "--org", "acme", "--role", "operator", env=env)
    globex = _run(
        "keys", "create", "--org", "globex", "--role", "planner", "--expires-in", "30d", env=env
    )
    assert acme.returncode == globex.returncode == 0, acme.stderr + globex.stderr
    acme_id = acme.stdout.split("_")[1]
    globex_id = globex.stdout.split("_")[1]

    listed = _run("keys", "list", env=env)
    assert listed.returncode == 0, listed.stderr
    rows = [line.split("\t") for line in listed.stdout.splitlines()]
    assert rows[0] == ["id", "org", "role", "created_at", "last_used_at", "expires_at"]
    by_id = {r[0]: r for r in rows[1:]}
    assert set(by_id) == {acme_id, globex_id}
    assert by_id[acme_id][1:3] == ["acme", "operator"]
    assert by_id[acme_id][5] == "-"
    assert by_id[globex_id][5] != "-"
    assert acme.stdout.strip() not in listed.stdout  # never the secret

    only = _run("keys", "list", "--org", "globex", env=env)
    assert [line.split("\t")[0] for line in only.stdout.splitlines()[1:]] == [globex_id]

    revoked = _run("keys", "revoke", acme_id, env=env)
    assert revoked.returncode == 0, revoked.stderr
    after = _run("keys", "list", env=env)
    assert acme_id not in after.stdout
    assert globex_id in after.stdout

    for args, code in [
        (["keys", "revoke", acme_id], 1),  # revoked already: unknown
        (["keys", "revoke", "0000beef"], 1),
        (["keys", "list", "--org", "nobody"], 1),
        (["keys", "revoke", "not-an-id"], 2),
        (["keys", "list", "--org", "Not A Slug"], 2),
        (["keys", "create", "--org", "acme", "--role", "admin", "--expires-in", "soon"], 2),
        (["keys", "create", "--org", "acme", "--role", "admin", "--expires-at", "2001-01-01Z"], 2),
        (
            [
                "keys", "create", "--org", "acme", "--role", "admin",
                "--expires-at", "2030-01-01T00:00:00",
            ],
            2,
        ),
        (
            [
                "keys", "create", "--org", "acme", "--role", "admin",
                "--expires-in", "1d", "--expires-at", "2030-01-01T00:00:00Z",
            ],
            2,
        ),
    ]:  # fmt: skip
        result = _run(*args, env=env)
        assert result.returncode == code, (args, result.stderr)
        assert len(_lines(result)) == 1, (args, result.stderr)
        assert _lines(result)[0].startswith("pilotshare: error: ")
        assert result.stdout == ""
