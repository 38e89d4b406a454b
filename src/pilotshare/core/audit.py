"""The audit log: one line per change, who made it, and the object before and after.

``record`` runs on the connection of the change, inside its transaction, so the line commits
or rolls back with the change. Values are made JSON-ready here (datetimes as RFC 3339,
decimals as strings, UUIDs as text), so callers pass their rows or dataclasses as they are.
Reading is scoped by ``owner``: the organisations whose object a line is about (None reads
every line: the network operator).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any
from uuid import UUID

from pilotshare.core.db import Executor


@dataclass(frozen=True, slots=True)
class Actor:
    """Who made a change: a key's organisation and public id; both None for pilotshare itself
    (the lifecycle, a timer)."""

    org: str | None
    key: str | None


SYSTEM = Actor(None, None)


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """One audited change."""

    id: int
    at: datetime
    actor_org: str | None
    actor_key: str | None
    action: str
    object_kind: str
    object_id: str
    owners: list[str]
    before: Any
    after: Any


def plain(value: object) -> Any:
    """``value`` as JSON-ready data: mappings, dataclasses and sequences recursively."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal | UUID):
        return str(value)
    if isinstance(value, Enum):
        return plain(value.value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, Sequence | set | frozenset):
        return [plain(v) for v in value]
    return str(value)


async def record(
    conn: Executor,
    actor: Actor,
    action: str,
    kind: str,
    object_id: str,
    *,
    owners: Sequence[str | None],
    at: datetime,
    before: object = None,
    after: object = None,
) -> None:
    """Append one line: ``actor`` did ``action`` (``"booking.cancel"``) to the ``kind`` object
    ``object_id``, owned by ``owners``, at ``at``."""
    await conn.execute(
        "INSERT INTO audit_events (at, actor_org, actor_key, action, object_kind, object_id, "
        "owners, before, after) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        at,
        actor.org,
        actor.key,
        action,
        kind,
        object_id,
        sorted({o for o in owners if o is not None}),
        plain(before),
        plain(after),
    )


async def events(
    conn: Executor,
    *,
    owner: str | None,
    kind: str | None = None,
    object_id: str | None = None,
    before_id: int | None = None,
    limit: int = 100,
) -> list[AuditEvent]:
    """The newest lines first (older than ``before_id``, the cursor of the next page), those
    about ``owner``'s objects (None: all), optionally of one object kind or object."""
    rows = await conn.fetch(
        "SELECT id, at, actor_org, actor_key, action, object_kind, object_id, owners, before, "
        "after FROM audit_events WHERE ($1::text IS NULL OR $1 = ANY(owners)) "
        "AND ($2::text IS NULL OR object_kind = $2) AND ($3::text IS NULL OR object_id = $3) "
        "AND ($4::bigint IS NULL OR id < $4) ORDER BY id DESC LIMIT $5",
        owner,
        kind,
        object_id,
        before_id,
        limit,
    )
    return [AuditEvent(**dict(r)) for r in rows]
