"""``pilotshare mqtt-credentials``: Mosquitto password and ACL files from the instruments.

Each instrument gets its own broker user, ``agent-<instrument>``, allowed to publish only its
own ``pilotshare/v1/<site>/<instrument>/telemetry`` and ``…/status`` (its last will included)
and to read only its own ``…/ack`` and ``…/cmd``. The backend user (``ingest`` by
default) reads every telemetry and status topic and writes every ack and cmd topic. Anything
not granted is denied: an agent's password opens no other instrument's topics.

Running it again keeps the passwords of users that still exist (their hashes are copied from
the old file), creates passwords only for new users and drops users whose instrument is gone.
The new passwords are returned, to be printed once: the file keeps only PBKDF2-SHA512 hashes in
Mosquitto 2's ``$7$`` format. After writing, tell Mosquitto to reload (``kill -HUP``).
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from pilotshare.core.contract import Channel, subscription
from pilotshare.core.db import connect
from pilotshare.core.errors import ConfigError, PilotshareError
from pilotshare.core.settings import Settings

#: Mosquitto 2's own choice for ``mosquitto_passwd`` (PBKDF2-SHA512, 101 rounds, 12-byte salt).
ITERATIONS = 101


@dataclass(frozen=True, slots=True)
class Instrument:
    site: str
    id: str


def agent_user(instrument: str) -> str:
    """The broker user name of an instrument's agent."""
    return f"agent-{instrument}"


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    """A Mosquitto 2 password hash, ``$7$101$<salt>$<hash>`` (as ``mosquitto_passwd`` writes)."""
    salt = salt if salt is not None else secrets.token_bytes(12)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, ITERATIONS)
    return f"$7${ITERATIONS}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def read_passwd(path: Path) -> dict[str, str]:
    """User → hash of an existing password file (empty when there is none)."""
    if not path.exists():
        return {}
    users: dict[str, str] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        user, sep, hashed = line.partition(":")
        if not sep or not hashed.startswith("$"):
            raise ConfigError(f"{path}:{number}: not a Mosquitto password line")
        users[user] = hashed
    return users


def acl_text(instruments: list[Instrument], backend_user: str) -> str:
    """The ACL: the backend's rights, then one block per agent, nothing else allowed."""
    lines = [
        "# Written by `pilotshare mqtt-credentials`; edits here are overwritten.",
        "",
        f"user {backend_user}",
        f"topic read {subscription(Channel.TELEMETRY)}",
        f"topic read {subscription(Channel.STATUS)}",
        f"topic write {subscription(Channel.ACK)}",
        f"topic write {subscription(Channel.CMD)}",
    ]
    for inst in instruments:
        own = {c: subscription(c, site=inst.site, instrument=inst.id) for c in Channel}
        lines += [
            "",
            f"user {agent_user(inst.id)}",
            f"topic write {own[Channel.TELEMETRY]}",
            f"topic write {own[Channel.STATUS]}",
            f"topic read {own[Channel.ACK]}",
            f"topic read {own[Channel.CMD]}",
        ]
    return "\n".join(lines) + "\n"


def plan(
    instruments: list[Instrument], existing: dict[str, str], backend_user: str
) -> tuple[dict[str, str], list[tuple[str, str]]]:
    """The new user → hash map, and the (user, password) pairs created for new users."""
    users = [backend_user, *(agent_user(i.id) for i in instruments)]
    hashes: dict[str, str] = {}
    created: list[tuple[str, str]] = []
    for user in users:
        if user in existing:
            hashes[user] = existing[user]
        else:
            password = secrets.token_urlsafe(24)
            hashes[user] = hash_password(password)
            created.append((user, password))
    return hashes, created


def _write(path: Path, text: str) -> None:
    """Replace ``path`` atomically, readable by its owner only (it holds hashes)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(path)


async def registered_instruments(database_url: str, site: str | None) -> list[Instrument]:
    import asyncpg

    from pilotshare.api.catalog import list_instruments

    conn = await connect(database_url)
    try:
        # retired instruments keep their agents: their telemetry is still stored (history)
        registered = await list_instruments(conn, site=site, include_retired=True)
    except asyncpg.UndefinedTableError:
        raise PilotshareError("the database has no schema yet: run `pilotshare migrate`") from None
    finally:
        await conn.close()
    return sorted((Instrument(i.site, i.id) for i in registered), key=lambda i: (i.site, i.id))


async def write_credentials(
    settings: Settings,
    *,
    passwd: Path,
    acl: Path,
    backend_user: str = "ingest",
    site: str | None = None,
) -> list[tuple[str, str]]:
    """Write both files from the database; returns the new users' passwords."""
    from pilotshare.runtime import database

    if not backend_user or any(c in backend_user for c in ": \t\n"):
        raise ConfigError(f"--backend-user {backend_user!r}: not a usable broker user name")
    existing = read_passwd(passwd)
    async with database(settings) as (url, _):
        instruments = await registered_instruments(url, site)
    hashes, created = plan(instruments, existing, backend_user)
    _write(passwd, "".join(f"{user}:{hashed}\n" for user, hashed in hashes.items()))
    _write(acl, acl_text(instruments, backend_user))
    return created
