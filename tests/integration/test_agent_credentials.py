"""``pilotshare mqtt-credentials`` against a real database: files, secrets on stdout, reruns."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import asyncpg

from pilotshare.api.catalog import retire_instrument
from pilotshare.credentials import Instrument, acl_text, hash_password, read_passwd
from tests.support.instruments import add_instrument


def run(db_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PILOTSHARE_DATABASE_URL": db_url, "PILOTSHARE_LOG_LEVEL": "WARNING"}
    return subprocess.run(
        [sys.executable, "-m", "pilotshare.cli", "mqtt-credentials", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def test_writes_users_and_acl_and_prints_new_secrets_once(
    tmp_path: Path, pool: asyncpg.Pool, db_url: str
) -> None:
    for inst, site in (("oven-1", "north"), ("sem-1", "south")):
        await add_instrument(pool, inst, site=site, kind="k")
    passwd, acl = tmp_path / "auth" / "passwd", tmp_path / "auth" / "acl"
    first = run(db_url, "--passwd", str(passwd), "--acl", str(acl))
    assert first.returncode == 0, first.stderr
    secrets = dict(line.split(" ") for line in first.stdout.splitlines())
    assert set(secrets) == {"ingest", "agent-oven-1", "agent-sem-1"}
    assert "3 new user(s)" in first.stderr
    assert stat.S_IMODE(passwd.stat().st_mode) == 0o600
    hashes = read_passwd(passwd)
    assert set(hashes) == set(secrets)
    assert all(h.startswith("$7$101$") for h in hashes.values())
    text = acl.read_text()
    assert "user agent-oven-1\ntopic write pilotshare/v1/north/oven-1/telemetry\n" in text
    assert "topic read pilotshare/v1/south/sem-1/cmd" in text

    again = run(db_url, "--passwd", str(passwd), "--acl", str(acl))
    assert again.returncode == 0
    assert again.stdout == ""  # nothing new: no secret printed, every hash kept
    assert read_passwd(passwd) == hashes

    only = run(db_url, "--passwd", str(passwd), "--acl", str(acl), "--site", "south")
    assert set(read_passwd(passwd)) == {"ingest", "agent-sem-1"}
    assert "oven-1" not in acl.read_text()
    assert only.stdout == ""


async def test_a_retired_instruments_agent_keeps_its_credentials(
    tmp_path: Path, pool: asyncpg.Pool, db_url: str
) -> None:
    """Its telemetry is still stored as history, so its agent may still publish it."""
    await add_instrument(pool, "oven-1", site="north", kind="k")
    async with pool.acquire() as conn:
        await retire_instrument(conn, "oven-1", datetime.now(UTC))
    passwd, acl = tmp_path / "passwd", tmp_path / "acl"
    result = run(db_url, "--passwd", str(passwd), "--acl", str(acl))
    assert result.returncode == 0, result.stderr
    assert set(read_passwd(passwd)) == {"ingest", "agent-oven-1"}
    assert "topic write pilotshare/v1/north/oven-1/telemetry" in acl.read_text()


def test_a_broken_passwd_file_is_exit_2(tmp_path: Path) -> None:
    passwd = tmp_path / "passwd"
    passwd.write_text("not a password line\n")
    result = run(
        "postgresql://127.0.0.1:1/x", "--passwd", str(passwd), "--acl", str(tmp_path / "a")
    )
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert "passwd:1: not a Mosquitto password line" in result.stderr


def test_acl_gives_each_agent_only_its_own_topics() -> None:
    text = acl_text([Instrument("s", "a"), Instrument("s", "b")], "ingest")
    blocks = {b.splitlines()[0]: b.splitlines()[1:] for b in text.split("\n\n")[1:]}
    assert blocks["user agent-a"] == [
        "topic write pilotshare/v1/s/a/telemetry",
        "topic write pilotshare/v1/s/a/status",
        "topic read pilotshare/v1/s/a/ack",
        "topic read pilotshare/v1/s/a/cmd",
    ]
    assert blocks["user ingest"] == [
        "topic read pilotshare/v1/+/+/telemetry",
        "topic read pilotshare/v1/+/+/status",
        "topic write pilotshare/v1/+/+/ack",
        "topic write pilotshare/v1/+/+/cmd",
    ]


def test_hash_matches_mosquitto_passwd_format() -> None:
    salt = bytes(range(12))
    hashed = hash_password("secret", salt=salt)
    kind, rounds, salt64, digest64 = hashed.split("$")[1:]
    assert (kind, rounds, salt64) == ("7", "101", "AAECAwQFBgcICQoL")
    assert len(digest64) == 88  # 64 bytes of PBKDF2-SHA512, base64
