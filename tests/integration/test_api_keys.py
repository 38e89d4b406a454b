"""Listing and revoking API keys, expiry and last use (CONTRACT §6 "Keys")."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx

from pilotshare.api.keys import create_key
from pilotshare.core.clock import FakeClock, SystemClock
from pilotshare.core.db import create_pool
from tests.support.api import api_client, auth

SHAPE = {"id", "org", "role", "created_at", "last_used_at", "expires_at"}


def _id(headers: dict[str, str]) -> str:
    return headers["Authorization"].removeprefix("Bearer ").split("_")[1]


async def test_an_admin_lists_its_own_keys_the_operator_everyones(pool: asyncpg.Pool) -> None:
    network = await auth(pool, "platform", "admin")
    acme_admin = await auth(pool, "acme", "admin")
    acme_ops = await auth(pool, "acme", "operator")
    globex = await auth(pool, "globex", "admin")
    async with api_client(pool) as client:
        own = await client.get("/api/v1/keys", headers=acme_admin)
        assert own.status_code == 200, own.text
        assert all(set(k) == SHAPE for k in own.json())  # never the secret or its hash
        assert {(k["id"], k["org"], k["role"]) for k in own.json()} == {
            (_id(acme_admin), "acme", "admin"),
            (_id(acme_ops), "acme", "operator"),
        }
        every = (await client.get("/api/v1/keys", headers=network)).json()
        assert {k["id"] for k in every} == {_id(h) for h in (network, acme_admin, acme_ops, globex)}
        refused = await client.get("/api/v1/keys", headers=acme_ops)
        assert (refused.status_code, refused.json()["reason"]) == (403, "forbidden_role")


async def test_a_revoked_key_answers_401_and_another_orgs_key_is_404(pool: asyncpg.Pool) -> None:
    network = await auth(pool, "platform", "admin")
    acme_admin = await auth(pool, "acme", "admin")
    acme_ops = await auth(pool, "acme", "operator")
    globex = await auth(pool, "globex", "operator")
    async with api_client(pool) as client:
        assert (await client.get("/api/v1/instruments", headers=acme_ops)).status_code == 200
        other = await client.delete(f"/api/v1/keys/{_id(globex)}", headers=acme_admin)
        assert (other.status_code, other.json()["reason"]) == (404, "no_such_key")
        gone = await client.delete(f"/api/v1/keys/{_id(acme_ops)}", headers=acme_admin)
        assert gone.status_code == 204
        r = await client.get("/api/v1/instruments", headers=acme_ops)  # cached a moment ago
        assert (r.status_code, r.json()["reason"]) == (401, "bad_key")
        again = await client.delete(f"/api/v1/keys/{_id(acme_ops)}", headers=acme_admin)
        assert again.status_code == 404
        assert _id(acme_ops) not in {
            k["id"] for k in (await client.get("/api/v1/keys", headers=network)).json()
        }
        # the network operator revokes anyone's
        assert (
            await client.delete(f"/api/v1/keys/{_id(globex)}", headers=network)
        ).status_code == 204
        assert (await client.get("/api/v1/instruments", headers=globex)).status_code == 401
        assert (await client.get("/api/v1/instruments", headers=acme_admin)).status_code == 200


async def test_a_revocation_reaches_another_api_process_within_10_s(
    pool: asyncpg.Pool, db_url: str
) -> None:
    """Two app instances, each with its own pool and key cache, as two processes have."""
    admin = await auth(pool, "acme", "admin")
    ops = await auth(pool, "acme", "operator")
    other_pool = await create_pool(db_url, min_size=1, max_size=2)
    try:
        async with (
            api_client(pool, clock=SystemClock()) as one,
            api_client(other_pool, clock=SystemClock()) as two,
        ):
            assert (await two.get("/api/v1/instruments", headers=ops)).status_code == 200
            assert (await one.delete(f"/api/v1/keys/{_id(ops)}", headers=admin)).status_code == 204
            revoked = time.monotonic()
            while (await two.get("/api/v1/instruments", headers=ops)).status_code == 200:
                assert time.monotonic() - revoked < 10.0
                await asyncio.sleep(0.2)
            waited = time.monotonic() - revoked
            r = await two.get("/api/v1/instruments", headers=ops)
            assert (r.status_code, r.json()["reason"]) == (401, "bad_key")
            assert waited < 10.0
    finally:
        await other_pool.close()


async def test_an_expired_key_answers_401_with_its_own_reason(pool: asyncpg.Pool) -> None:
    clock = FakeClock(datetime(2026, 12, 1, 9, tzinfo=UTC))
    async with pool.acquire() as conn:
        key = await create_key(
            conn, org="acme", role="operator", expires_at=clock.now() + timedelta(hours=1)
        )
    headers = {"Authorization": f"Bearer {key}"}
    async with api_client(pool, clock=clock) as client:
        assert (await client.get("/api/v1/instruments", headers=headers)).status_code == 200
        clock.advance(3600)  # the cache still holds it: expiry is checked anyway
        r = await client.get("/api/v1/instruments", headers=headers)
        assert (r.status_code, r.json()["reason"]) == (401, "expired_key")
        clock.advance(60)
        r = await client.get("/api/v1/instruments", headers=headers)
        assert (r.status_code, r.json()["reason"]) == (401, "expired_key")


async def test_last_use_is_kept_to_the_minute_not_per_request(pool: asyncpg.Pool) -> None:
    start = datetime(2026, 12, 1, 9, tzinfo=UTC)
    clock = FakeClock(start)
    admin = await auth(pool, "acme", "admin")

    async def last_used(client: httpx.AsyncClient) -> str | None:
        (key,) = (await client.get("/api/v1/keys", headers=admin)).json()
        used: str | None = key["last_used_at"]
        return used

    async with api_client(pool, clock=clock) as client:
        assert await last_used(client) == start.isoformat().replace("+00:00", "Z")
        writes = await pool.fetchval(
            "SELECT n_tup_upd FROM pg_stat_user_tables WHERE relname = 'api_keys'"
        )
        for _ in range(20):  # 20 requests over 40 s: no new write
            clock.advance(2)
            await client.get("/api/v1/instruments", headers=admin)
        assert await last_used(client) == start.isoformat().replace("+00:00", "Z")
        clock.advance(25)  # 65 s after the first use: recorded again
        assert await last_used(client) == (start + timedelta(seconds=65)).isoformat().replace(
            "+00:00", "Z"
        )
    assert await pool.fetchval(
        "SELECT n_tup_upd FROM pg_stat_user_tables WHERE relname = 'api_keys'"
    ) in (writes, writes + 1)  # statistics lag; never one write per request
