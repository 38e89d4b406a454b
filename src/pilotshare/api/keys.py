"""API keys: generation, hashing and lookup.

A key is ``ps_<id>_<secret>``: the id is a public prefix for listings and logs, the secret 32
random bytes. Only SHA-256 of the whole key is stored; with 256 bits of entropy a slow password
hash would add latency to every request and no protection.

Checking a key: ``KeyCache`` answers from memory for ``CACHE_TTL_S`` after a lookup, so a
revoked key (``DELETE /api/v1/keys/{id}``, ``pilotshare keys revoke``) stops working at once in
the process that revoked it and within ``CACHE_TTL_S`` (under the contract's 10 s) in every
other API process, with no channel between them to lose. Expiry is checked on every request
against the wall clock, cached or not. ``last_used_at`` is written by the lookup itself at most
once a minute per key (``registry.TOUCH_EVERY_S``), and only when the row it read says the
last recorded use is older than that: never a write per request.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import secrets
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

import asyncpg

from pilotshare import registry
from pilotshare.core.audit import SYSTEM, Actor, record
from pilotshare.core.db import RETRY_IN_TRANSACTION, Connection
from pilotshare.core.domain import Role, is_slug
from pilotshare.core.errors import ConfigError

PREFIX = "ps"

#: How long a verified key is trusted from memory; a revocation reaches every process by then.
CACHE_TTL_S: Final = 5.0


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the key's organisation and role (and when the key expires); ``network``
    when it is an admin key of the network operator (``PILOTSHARE_OPERATOR_ORG``), which sees
    and administers everything (``core.scope``)."""

    org: str
    role: Role
    key_id: str
    expires_at: datetime | None = None
    network: bool = False

    @property
    def admin(self) -> bool:
        """Whether it is an admin key (of the network operator, or of its own platform)."""
        return self.role is Role.ADMIN

    def expired(self, now: datetime) -> bool:
        """Whether the key has expired by ``now``."""
        return self.expires_at is not None and self.expires_at <= now


_KEY_ID = re.compile(r"^[0-9a-f]{8}$")
_SPAN = re.compile(r"^([1-9][0-9]{0,5})([smhdw])$")
_UNIT_S: Final = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def is_key_id(value: str) -> bool:
    """Whether ``value`` has the shape of a key's public id."""
    return bool(_KEY_ID.match(value))


def expiry(now: datetime, *, expires_in: str | None, expires_at: str | None) -> datetime | None:
    """When a new key expires, from ``--expires-in 30d`` or ``--expires-at <RFC 3339>`` (at
    most one; neither: never); ``ConfigError`` naming the option for anything else."""
    if expires_in is not None and expires_at is not None:
        raise ConfigError("give --expires-in or --expires-at, not both")
    if expires_in is not None:
        span = _SPAN.match(expires_in.strip())
        if span is None:
            raise ConfigError(f"--expires-in {expires_in!r}: a number and s, m, h, d or w (30d)")
        return now + timedelta(seconds=int(span[1]) * _UNIT_S[span[2]])
    if expires_at is None:
        return None
    try:
        until = datetime.fromisoformat(expires_at)
    except ValueError:
        raise ConfigError(f"--expires-at {expires_at!r} is not an RFC 3339 time") from None
    if until.tzinfo is None:
        raise ConfigError(f"--expires-at {expires_at!r} has no UTC offset (add Z or +08:00)")
    if until <= now:
        raise ConfigError(f"--expires-at {expires_at!r} is in the past")
    return until


def _hash(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


def new_key() -> tuple[str, str]:
    """A fresh ``(key_id, key)``."""
    key_id = secrets.token_hex(4)
    return key_id, f"{PREFIX}_{key_id}_{secrets.token_urlsafe(32)}"


async def create_key(
    conn: Connection,
    *,
    org: str,
    role: Role | str,
    expires_at: datetime | None = None,
    actor: Actor = SYSTEM,
) -> str:
    """Store a new key for ``org`` (created if new: the command line's and test set-up's way,
    never the API's); returns the key, which is never stored."""
    issued = await issue_key(conn, org=org, role=role, expires_at=expires_at, actor=actor)
    return issued.key


@dataclass(frozen=True, slots=True)
class IssuedKey:
    """A key just made: its secret (shown once, never stored), the key as listed, and
    whether its organisation was created with it."""

    key: str
    record: registry.KeyRecord
    created_organisation: bool


async def issue_key(
    conn: Connection,
    *,
    org: str,
    role: Role | str,
    expires_at: datetime | None = None,
    actor: Actor = SYSTEM,
    create_organisation: bool = True,
    now: datetime | None = None,
) -> IssuedKey:
    """The one way a key is made (``pilotshare keys create``, ``POST /api/v1/keys``, test
    set-up): store it for ``org``, which is created if new when ``create_organisation`` (the
    command line's way; the API's is ``NotFound``), and write both changes to the audit log by
    ``actor`` (the command line's is pilotshare itself) in their transaction, at ``now``."""
    if not is_slug(org):
        raise ConfigError(f"--org {org!r} is not a slug (lowercase letters, digits, - and _)")
    role = Role(role)
    key_id, key = new_key()
    now = now or datetime.now(UTC)
    async with conn.transaction():
        created = create_organisation and await registry.ensure_organisation(conn, org)
        if created:
            made = {"id": org, "name": org, "kind": "client"}
            await record(
                conn,
                actor,
                "organisation.create",
                "organisation",
                org,
                owners=[org],
                at=now,
                after=made,
            )
        stored = await registry.insert_key(
            conn,
            key_id=key_id,
            org=org,
            role=role.value,
            secret_hash=_hash(key),
            expires_at=expires_at,
        )
        after = {"id": key_id, "org": org, "role": role.value, "expires_at": expires_at}
        await record(conn, actor, "key.create", "key", key_id, owners=[org], at=now, after=after)
    return IssuedKey(key, stored, created)


class KeyCache:
    """Keys verified in the last ``ttl_s`` seconds, so most requests need no key lookup.

    Only keys that were valid are kept (a flood of bad keys cannot fill it), at most ``size``
    of them; a revoked key stops working within ``ttl_s`` in every API process.
    """

    def __init__(self, *, ttl_s: float = CACHE_TTL_S, size: int = 10_000) -> None:
        self.ttl_s = ttl_s
        self._size = size
        self._entries: OrderedDict[bytes, tuple[float, Principal]] = OrderedDict()

    async def authenticate(
        self, pool: asyncpg.Pool, key: str, now: float, wall: datetime
    ) -> Principal | None:
        """The principal of a presented key (None: unknown or revoked), from the cache while
        its entry is fresh (``now``: monotonic seconds; ``wall``: the time a lookup records as
        last use). Expiry is the caller's to check (``Principal.expired``)."""
        digest = _hash(key)
        hit = self._entries.get(digest)
        if hit is not None and now - hit[0] < self.ttl_s:
            return hit[1]
        principal = await _lookup(pool, key, digest, wall)
        if principal is None:
            self._entries.pop(digest, None)
            return None
        self._entries[digest] = (now, principal)
        self._entries.move_to_end(digest)
        while len(self._entries) > self._size:
            self._entries.popitem(last=False)
        return principal

    def forget(self, key_id: str) -> None:
        """Drop a key from this process's cache at once (it was revoked here)."""
        for digest in [d for d, (_, p) in self._entries.items() if p.key_id == key_id]:
            del self._entries[digest]


async def _lookup(pool: asyncpg.Pool, key: str, digest: bytes, wall: datetime) -> Principal | None:
    if not key.startswith(f"{PREFIX}_"):
        return None
    found = await registry.live_key(pool, digest)
    if found is None:
        return None
    key_id, org, role, expires_at, last_used = found
    principal = Principal(org=org, role=Role(role), key_id=key_id, expires_at=expires_at)
    if not principal.expired(wall) and (
        last_used is None or (wall - last_used).total_seconds() >= registry.TOUCH_EVERY_S
    ):
        # Best effort: on a serializable database two processes touching the same key at
        # once make one fail, and the other's time is as good; the request goes on.
        with contextlib.suppress(*RETRY_IN_TRANSACTION):
            await registry.touch_key(pool, key_id, wall)
    return principal
