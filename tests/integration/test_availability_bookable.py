"""An offered slot can be booked as offered, for at least a minute after it was offered."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from pilotshare.core.clock import FakeClock
from tests.support.api import api_client, iso
from tests.support.api import auth as key

# Not a whole minute: the first free slot starts "now", to the microsecond, unless rounded.
NOW = datetime(2026, 1, 5, 8, 0, 12, 345678, tzinfo=UTC)


@pytest.mark.parametrize("notice_s", [0, 3600])
@pytest.mark.parametrize("wait_s", [0.0, 1.0, 30.0, 59.999, 60.0])
async def test_the_first_offered_slot_is_bookable_as_offered_for_a_minute(
    pool: asyncpg.Pool, notice_s: int, wait_s: float
) -> None:
    clock = FakeClock(NOW)
    admin = await key(pool, "platform", "admin")
    acme = await key(pool, "acme", "operator")
    globex = await key(pool, "globex", "operator")
    async with api_client(pool, clock=clock) as client:
        body = {"id": "sem-1", "site": "lab", "kind": "sem", "min_notice_s": notice_s}
        assert (await client.post("/api/v1/instruments", json=body, headers=admin)).is_success
        r = await client.get("/api/v1/availability", params={"instrument": "sem-1"}, headers=acme)
        assert r.status_code == 200, r.text
        first = r.json()[0]
        start = datetime.fromisoformat(first["start"])
        assert start >= NOW + timedelta(seconds=notice_s)
        assert (start.second, start.microsecond) == (0, 0), "offered starts are whole minutes"
        assert start - (NOW + timedelta(seconds=notice_s)) < timedelta(minutes=1)
        clock.advance(wait_s)
        slot = {
            "instrument": "sem-1",
            "start": first["start"],
            "end": iso(start + timedelta(hours=1)),
        }
        booked = await client.post("/api/v1/bookings", json=slot, headers=acme)
        assert booked.status_code == 201, booked.text
        assert booked.json()["start"] == first["start"]
        # The tolerance is bounded: three minutes later the same start is too soon.
        assert (
            await client.delete(f"/api/v1/bookings/{booked.json()['id']}", headers=acme)
        ).status_code == 204
        clock.advance(180 - wait_s)
        late = await client.post("/api/v1/bookings", json=slot, headers=globex)
        assert late.status_code == 422, late.text
        assert late.json()["reason"] == "too_soon"
