"""``GET /api/v1/instruments/{id}/twin``: the instrument's live state (CONTRACT §3)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import APIRouter

from pilotshare.api.deps import ClockDep, CurrentKey, Pool, SettingsDep
from pilotshare.api.schemas import Problem
from pilotshare.core.domain import OFFLINE
from pilotshare.core.errors import NotFound

router = APIRouter(prefix="/api/v1/instruments", tags=["twin"])


@router.get("/{instrument}/twin", responses={404: {"model": Problem}})
async def get_twin(
    instrument: str, pool: Pool, clock: ClockDep, settings: SettingsDep, _: CurrentKey
) -> dict[str, Any]:
    """Online flag, current state and since when, last seen, utilisation over 1 h and 24 h."""
    row = await pool.fetchrow(
        """SELECT l.online, l.state, l.since, l.last_seen FROM instruments i
           LEFT JOIN instrument_live l ON l.instrument_id = i.id WHERE i.id = $1""",
        instrument,
    )
    if row is None:
        raise NotFound(f"no instrument {instrument!r}")
    now = clock.now()
    last_seen = row["last_seen"]
    online = (
        bool(row["online"])
        and last_seen is not None
        and (now - last_seen < timedelta(seconds=settings.offline_after_s))
    )
    utilization = {}
    for label, span in (("1h", timedelta(hours=1)), ("24h", timedelta(hours=24))):
        utilization[label] = await pool.fetchval(
            "SELECT avg(utilization)::float8 FROM telemetry WHERE instrument_id = $1 AND ts >= $2",
            instrument,
            now - span,
        )
    return {
        "instrument": instrument,
        "online": online,
        "state": row["state"] if online else OFFLINE,
        "since": row["since"],
        "last_seen": last_seen,
        "utilization": utilization,
        "mtbf_hours": None,
        "mttr_hours": None,
    }
