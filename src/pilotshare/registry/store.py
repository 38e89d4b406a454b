"""SQL of the registry: organisations, sites, the instrument catalogue, qualifications and
API keys."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Final, Literal

import asyncpg

from pilotshare.core.audit import Actor, record
from pilotshare.core.db import Connection, Executor
from pilotshare.core.errors import Conflict, NotFound

#: Anything that runs a statement: a connection (inside a transaction) or the pool.
#: The catalogue's columns, as ``catalogue_rows`` and ``catalogue_row`` answer them.
_CATALOGUE = """i.id, i.site_id, i.name, i.kind, i.capabilities, i.owner_org_id, i.hourly_rate,
    i.billing, i.requires_qualification, i.operating_hours, i.setup_buffer_s, i.min_booking_s,
    i.max_booking_s, i.min_notice_s, i.max_horizon_s, i.retired_at, i.public, i.model,
    s.timezone AS site_timezone
    FROM instruments i JOIN sites s ON s.id = i.site_id"""


OrgKind = Literal["operator", "platform", "client"]

#: A key lookup records ``last_used_at`` only when the stored value is older than this: one
#: write per key per minute at most, however many requests it serves.
TOUCH_EVERY_S: Final = 60


@dataclass(frozen=True, slots=True)
class Organisation:
    """An organisation as registered."""

    id: str
    name: str
    kind: OrgKind
    created_at: datetime


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """An API key as listed: never its secret nor its hash."""

    id: str
    org: str
    role: str
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None


def _organisation(row: asyncpg.Record) -> Organisation:
    return Organisation(row["id"], row["name"], row["kind"], row["created_at"])


async def ensure_organisation(
    conn: Executor, org: str, name: str | None = None, kind: OrgKind = "client"
) -> bool:
    """Create the organisation if it is new (its name defaults to its id); whether it was.

    Only for the command line, the demo and test set-up: the API creates organisations
    explicitly (``create_organisation``) and answers 404 for unknown ones.
    """
    status = await conn.execute(
        "INSERT INTO organisations (id, name, kind) VALUES ($1, $2, $3) "
        "ON CONFLICT (id) DO NOTHING",
        org,
        name or org,
        kind,
    )
    return bool(status == "INSERT 0 1")


async def create_organisation(
    conn: Connection, org: str, name: str, kind: OrgKind, *, actor: Actor, at: datetime
) -> Organisation:
    """Register an organisation, with its audit line; ``Conflict`` when the id exists."""
    async with conn.transaction():
        row = await conn.fetchrow(
            "INSERT INTO organisations (id, name, kind) VALUES ($1, $2, $3) "
            "ON CONFLICT (id) DO NOTHING RETURNING id, name, kind, created_at",
            org,
            name,
            kind,
        )
        if row is None:
            raise Conflict("organisation_exists", f"organisation {org!r} already exists")
        made = _organisation(row)
        await record(
            conn, actor, "organisation.create", "organisation", org, owners=[org], at=at, after=made
        )
    return made


async def organisations(conn: Executor) -> list[Organisation]:
    """Every organisation, by id."""
    rows = await conn.fetch("SELECT id, name, kind, created_at FROM organisations ORDER BY id")
    return [_organisation(r) for r in rows]


async def require_organisation(conn: Executor, org: str) -> None:
    """``NotFound`` unless the organisation is registered."""
    if not await conn.fetchval("SELECT true FROM organisations WHERE id = $1", org):
        raise NotFound("no_organisation", f"no organisation {org!r}")


async def ensure_site(conn: Executor, site: str, timezone: str) -> None:
    """Create the site if it is new (named by its id); an existing site keeps its zone."""
    await conn.execute(
        "INSERT INTO sites (id, name, timezone) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING",
        site,
        site,
        timezone,
    )


async def instrument_exists(conn: Executor, instrument: str) -> bool:
    """Whether an instrument of this id is registered."""
    return bool(await conn.fetchval("SELECT true FROM instruments WHERE id = $1", instrument))


async def require_instrument(conn: Executor, instrument: str) -> None:
    """``NotFound`` unless the instrument is registered."""
    if not await instrument_exists(conn, instrument):
        raise NotFound("no_instrument", f"no instrument {instrument!r}")


async def instruments_owned(conn: Executor, org: str) -> frozenset[str]:
    """The ids of the instruments ``org`` owns (its platform runs them), retired ones too."""
    rows = await conn.fetch("SELECT id FROM instruments WHERE owner_org_id = $1", org)
    return frozenset(r["id"] for r in rows)


async def instrument_owner(conn: Executor, instrument: str) -> str | None:
    """The platform owning an instrument (None: nobody's, the network's); ``NotFound`` when
    the instrument is not registered."""
    row = await conn.fetchrow("SELECT owner_org_id FROM instruments WHERE id = $1", instrument)
    if row is None:
        raise NotFound("no_instrument", f"no instrument {instrument!r}")
    owner: str | None = row["owner_org_id"]
    return owner


@dataclass(frozen=True, slots=True)
class InstrumentTerms:
    """An instrument's editable fields: what registering sets and an edit replaces, in the
    column order of ``_TERMS`` (its id, site, kind and owner are fixed once registered)."""

    name: str
    capabilities: list[str]
    hourly_rate: Decimal
    billing: str
    requires_qualification: bool
    operating_hours: dict[str, Any] | None
    setup_buffer_s: int
    min_booking_s: int
    max_booking_s: int
    min_notice_s: int
    max_horizon_s: int
    #: Shown in the public directory (when its platform's profile is public too).
    public: bool = False
    #: The maker's model designation ("JSM-7900F"), for the directory.
    model: str | None = None

    def values(self) -> tuple[Any, ...]:
        """The fields as statement arguments, in ``_TERMS`` order."""
        return tuple(getattr(self, f) for f in _TERMS)


#: The editable columns, named as ``InstrumentTerms``' fields.
_TERMS: Final = (
    "name",
    "capabilities",
    "hourly_rate",
    "billing",
    "requires_qualification",
    "operating_hours",
    "setup_buffer_s",
    "min_booking_s",
    "max_booking_s",
    "min_notice_s",
    "max_horizon_s",
    "public",
    "model",
)


#: The placeholders of the editable columns after id, site, kind and owner.
_TERM_MARKS: Final = ", ".join(f"${n}" for n in range(5, len(_TERMS) + 5))


async def insert_instrument(
    conn: Connection,
    *,
    instrument: str,
    site: str,
    kind: str,
    owner_org: str | None,
    terms: InstrumentTerms,
) -> None:
    """Add an instrument and its (empty) live row; ``Conflict`` when the id exists."""
    try:
        await conn.execute(
            f"""INSERT INTO instruments (id, site_id, kind, owner_org_id, {", ".join(_TERMS)})
               VALUES ($1, $2, $3, $4, {_TERM_MARKS})""",
            instrument,
            site,
            kind,
            owner_org,
            *terms.values(),
        )
    except asyncpg.UniqueViolationError:
        raise Conflict("instrument_exists", f"instrument {instrument!r} already exists") from None
    await conn.execute(
        "INSERT INTO instrument_live (instrument_id) VALUES ($1) ON CONFLICT DO NOTHING",
        instrument,
    )


async def catalogue_rows(
    conn: Executor,
    *,
    site: str | None = None,
    kind: str | None = None,
    include_retired: bool = False,
) -> list[asyncpg.Record]:
    """Every instrument's catalogue row, optionally of one site or kind, ordered by id;
    retired instruments only when asked for."""
    rows: list[asyncpg.Record] = await conn.fetch(
        f"""SELECT {_CATALOGUE}
            WHERE ($1::text IS NULL OR i.site_id = $1) AND ($2::text IS NULL OR i.kind = $2)
              AND ($3 OR i.retired_at IS NULL)
            ORDER BY i.id""",
        site,
        kind,
        include_retired,
    )
    return rows


async def catalogue_row(
    conn: Executor, instrument: str, *, for_update: bool = False
) -> asyncpg.Record:
    """One instrument's catalogue row (retired or not); ``NotFound`` when there is none.

    ``for_update`` locks the instrument's row until the transaction ends: an edit or a
    retirement then waits for bookings being made on it (migration 0044), and they for it.
    """
    lock = " FOR UPDATE OF i" if for_update else ""
    row = await conn.fetchrow(f"SELECT {_CATALOGUE} WHERE i.id = $1{lock}", instrument)
    if row is None:
        raise NotFound("no_instrument", f"no instrument {instrument!r}")
    return row


async def update_instrument(conn: Executor, *, instrument: str, terms: InstrumentTerms) -> None:
    """Replace an instrument's editable fields (its id, site, kind and owner stay).

    Bookings already made keep the rate, billing policy and setup buffer they were made with.
    """
    sets = ", ".join(f"{column} = ${n}" for n, column in enumerate(_TERMS, start=2))
    await conn.execute(f"UPDATE instruments SET {sets} WHERE id = $1", instrument, *terms.values())


async def retire_instrument(conn: Executor, instrument: str, now: datetime) -> None:
    """Mark an instrument retired from ``now`` (an already retired one keeps its time)."""
    await conn.execute(
        "UPDATE instruments SET retired_at = coalesce(retired_at, $2) WHERE id = $1",
        instrument,
        now,
    )


async def _qualify(
    conn: Connection, instrument: str, org: str, *, grant: bool, actor: Actor, at: datetime
) -> None:
    """Grant or withdraw a qualification, with its audit line when it changed anything."""
    async with conn.transaction():
        owner = await instrument_owner(conn, instrument)
        await require_organisation(conn, org)
        if grant:
            status = await conn.execute(
                "INSERT INTO qualifications (instrument_id, org_id) VALUES ($1, $2) "
                "ON CONFLICT DO NOTHING",
                instrument,
                org,
            )
        else:
            status = await conn.execute(
                "DELETE FROM qualifications WHERE instrument_id = $1 AND org_id = $2",
                instrument,
                org,
            )
        if status.endswith(" 0"):
            return  # granted or withdrawn already: nothing changed, nothing to audit
        line = {"instrument": instrument, "org": org}
        await record(
            conn,
            actor,
            "qualification.grant" if grant else "qualification.revoke",
            "qualification",
            f"{instrument}/{org}",
            owners=[org, owner],
            at=at,
            before=None if grant else line,
            after=line if grant else None,
        )


@dataclass(frozen=True, slots=True)
class Qualification:
    """An organisation qualified to book an instrument, since when."""

    org: str
    name: str
    granted_at: datetime


async def qualifications(conn: Executor, instrument: str) -> list[Qualification]:
    """Who is qualified for ``instrument``, by organisation id; ``NotFound`` when unknown."""
    await require_instrument(conn, instrument)
    rows = await conn.fetch(
        "SELECT q.org_id, o.name, q.granted_at FROM qualifications q "
        "JOIN organisations o ON o.id = q.org_id WHERE q.instrument_id = $1 ORDER BY q.org_id",
        instrument,
    )
    return [Qualification(r["org_id"], r["name"], r["granted_at"]) for r in rows]


async def grant_qualification(
    conn: Connection, instrument: str, org: str, *, actor: Actor, at: datetime
) -> None:
    """Qualify ``org`` for ``instrument`` (idempotent); ``NotFound`` for an unknown either."""
    await _qualify(conn, instrument, org, grant=True, actor=actor, at=at)


async def revoke_qualification(
    conn: Connection, instrument: str, org: str, *, actor: Actor, at: datetime
) -> None:
    """Withdraw a qualification, if it was granted; ``NotFound`` for an unknown either."""
    await _qualify(conn, instrument, org, grant=False, actor=actor, at=at)


async def insert_key(
    conn: Executor,
    *,
    key_id: str,
    org: str,
    role: str,
    secret_hash: bytes,
    expires_at: datetime | None = None,
) -> KeyRecord:
    """Store an API key's hash for ``org``; the key as listed. ``NotFound`` for an unknown
    organisation."""
    try:
        row = await conn.fetchrow(
            "INSERT INTO api_keys (id, org_id, role, secret_hash, expires_at) "
            "VALUES ($1, $2, $3, $4, $5) RETURNING id, org_id, role, created_at, last_used_at, "
            "expires_at",
            key_id,
            org,
            role,
            secret_hash,
            expires_at,
        )
    except asyncpg.ForeignKeyViolationError:
        raise NotFound("no_organisation", f"no organisation {org!r}") from None
    assert row is not None  # noqa: S101 - INSERT … RETURNING
    return _key(row)


def _key(row: asyncpg.Record) -> KeyRecord:
    return KeyRecord(
        row["id"],
        row["org_id"],
        row["role"],
        row["created_at"],
        row["last_used_at"],
        row["expires_at"],
    )


@dataclass(frozen=True, slots=True)
class KeyHolder:
    """Who holds a key: the key as listed, its organisation, and the site the organisation
    names in its profile (a platform's) with that site's time zone."""

    key: KeyRecord
    organisation: Organisation
    site: str | None
    site_timezone: str | None


async def key_holder(conn: Executor, key_id: str) -> KeyHolder | None:
    """The unrevoked key ``key_id`` with its organisation (None: no such key)."""
    row = await conn.fetchrow(
        """SELECT k.id, k.org_id, k.role, k.created_at, k.last_used_at, k.expires_at,
                  o.id AS org, o.name, o.kind, o.created_at AS org_created_at,
                  o.site_id, s.timezone
           FROM api_keys k JOIN organisations o ON o.id = k.org_id
           LEFT JOIN sites s ON s.id = o.site_id
           WHERE k.id = $1 AND k.revoked_at IS NULL""",
        key_id,
    )
    if row is None:
        return None
    org = Organisation(row["org"], row["name"], row["kind"], row["org_created_at"])
    return KeyHolder(_key(row), org, row["site_id"], row["timezone"])


async def live_key(
    conn: Executor, secret_hash: bytes
) -> tuple[str, str, str, datetime | None, datetime | None] | None:
    """``(key id, organisation, role, expiry, last use)`` of the unrevoked key with this hash."""
    row = await conn.fetchrow(
        "SELECT id, org_id, role, expires_at, last_used_at FROM api_keys "
        "WHERE secret_hash = $1 AND revoked_at IS NULL",
        secret_hash,
    )
    if row is None:
        return None
    return row["id"], row["org_id"], row["role"], row["expires_at"], row["last_used_at"]


async def touch_key(conn: Executor, key_id: str, now: datetime) -> None:
    """Record ``now`` as the key's last use, unless a use less than ``TOUCH_EVERY_S`` ago is
    recorded already (another process may have just done it)."""
    await conn.execute(
        f"""UPDATE api_keys SET last_used_at = $2::timestamptz WHERE id = $1
            AND (last_used_at IS NULL
                 OR last_used_at < $2::timestamptz - interval '{TOUCH_EVERY_S} seconds')""",
        key_id,
        now,
    )


async def list_keys(conn: Executor, org: str | None = None) -> list[KeyRecord]:
    """Unrevoked keys, of one organisation or (None) of all, by organisation and creation."""
    rows = await conn.fetch(
        """SELECT id, org_id, role, created_at, last_used_at, expires_at FROM api_keys
           WHERE revoked_at IS NULL AND ($1::text IS NULL OR org_id = $1)
           ORDER BY org_id, created_at, id""",
        org,
    )
    return [_key(r) for r in rows]


async def revoke_key(
    conn: Connection, key_id: str, now: datetime, org: str | None = None, *, actor: Actor
) -> None:
    """Revoke an unrevoked key (of ``org``, unless None), with its audit line; ``NotFound``
    when there is none."""
    async with conn.transaction():
        row = await conn.fetchrow(
            "UPDATE api_keys SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL "
            "AND ($3::text IS NULL OR org_id = $3) "
            "RETURNING id, org_id, role, created_at, expires_at, revoked_at",
            key_id,
            now,
            org,
        )
        if row is None:
            raise NotFound("no_such_key", f"no key {key_id!r}")
        after = dict(row)
        before = {**after, "revoked_at": None}
        await record(
            conn,
            actor,
            "key.revoke",
            "key",
            key_id,
            owners=[row["org_id"]],
            at=now,
            before=before,
            after=after,
        )
