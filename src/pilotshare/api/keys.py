"""API keys: generation, hashing and lookup.

A key is ``ps_<id>_<secret>``: the id is a public prefix for listings and logs, the secret 32
random bytes. Only SHA-256 of the whole key is stored; with 256 bits of entropy a slow password
hash would add latency to every request and no protection.
"""

from __future__ import annotations

import hashlib
import secrets
from collections import OrderedDict
from dataclasses import dataclass

import asyncpg

from pilotshare import registry
from pilotshare.core.db import Connection
from pilotshare.core.domain import Role, is_slug
from pilotshare.core.errors import ConfigError

PREFIX = "ps"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the key's organisation and role."""

    org: str
    role: Role
    key_id: str


def _hash(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


def new_key() -> tuple[str, str]:
    """A fresh ``(key_id, key)``."""
    key_id = secrets.token_hex(4)
    return key_id, f"{PREFIX}_{key_id}_{secrets.token_urlsafe(32)}"


async def create_key(conn: Connection, *, org: str, role: Role | str) -> str:
    """Store a new key for ``org`` (created if new); returns the key, which is never stored."""
    if not is_slug(org):
        raise ConfigError(f"--org {org!r} is not a slug (lowercase letters, digits, - and _)")
    role = Role(role)
    key_id, key = new_key()
    await registry.insert_key(conn, key_id=key_id, org=org, role=role.value, secret_hash=_hash(key))
    return key


class KeyCache:
    """Keys verified in the last ``ttl_s`` seconds, so most requests need no key lookup.

    Only keys that were valid are kept (a flood of bad keys cannot fill it), at most ``size``
    of them; a revoked key stops working within ``ttl_s`` in every API process.
    """

    def __init__(self, *, ttl_s: float = 10.0, size: int = 10_000) -> None:
        self.ttl_s = ttl_s
        self._size = size
        self._entries: OrderedDict[bytes, tuple[float, Principal]] = OrderedDict()

    async def authenticate(self, pool: asyncpg.Pool, key: str, now: float) -> Principal | None:
        """The principal of a presented key (None: unknown or revoked), from the cache while
        its entry is fresh."""
        digest = _hash(key)
        hit = self._entries.get(digest)
        if hit is not None and now - hit[0] < self.ttl_s:
            return hit[1]
        principal = await _lookup(pool, key, digest)
        if principal is None:
            self._entries.pop(digest, None)
            return None
        self._entries[digest] = (now, principal)
        self._entries.move_to_end(digest)
        while len(self._entries) > self._size:
            self._entries.popitem(last=False)
        return principal


async def _lookup(pool: asyncpg.Pool, key: str, digest: bytes) -> Principal | None:
    if not key.startswith(f"{PREFIX}_"):
        return None
    found = await registry.live_key(pool, digest)
    if found is None:
        return None
    key_id, org, role = found
    return Principal(org=org, role=Role(role), key_id=key_id)
