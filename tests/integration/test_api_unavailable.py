"""A database error that says nothing about the request answers 503, never 500.

``core.db.errors.TRANSIENT`` is the one set of such errors: the loops retry them, and the API
answers them ``503 database_unavailable`` so a client (or a load balancer) tries again.
"""

from __future__ import annotations

import asyncpg

from pilotshare.core.db.pool import create_pool
from tests.support.api import api_client, auth


async def test_a_cancelled_statement_answers_503_database_unavailable(
    pool: asyncpg.Pool, db_url: str
) -> None:
    """A statement cancelled by the server (class 57, as an admin shutdown or a deadlock's
    class 40 would be) is the database's trouble, not the request's."""
    headers = await auth(pool, "acme", "operator")
    impatient = await create_pool(db_url, server_settings={"statement_timeout": "200"})
    try:
        async with api_client(impatient) as client, pool.acquire() as holder:
            assert (await client.get("/api/v1/instruments", headers=headers)).status_code == 200
            async with holder.transaction():
                await holder.execute("LOCK TABLE instruments IN ACCESS EXCLUSIVE MODE")
                r = await client.get("/api/v1/instruments", headers=headers)
            assert r.status_code == 503, r.text
            assert r.json()["reason"] == "database_unavailable"
            assert "QueryCanceledError" in r.json()["detail"]
    finally:
        await impatient.close()
