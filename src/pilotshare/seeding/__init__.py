"""What the demo seeds: the city's pilot-test network and a simulated past of it, stored as
the backend would hold it (weeks of telemetry, state intervals, learned behaviour and settled
bookings of every outcome), so that utilisation, MTBF/MTTR, hours served, on-time and no-show
shares have something to say from the first minute.

``network`` holds the network's organisations, sites and instruments; ``past`` (pure)
simulates their history; ``load`` stores it through the ingest's own writer; ``store`` holds
the past bookings' SQL. ``platforms`` writes the platforms' profiles and service items,
``programme`` the clients' requests with offers and the operator's vouchers.
"""

from pilotshare.seeding.load import Stored, store_past
from pilotshare.seeding.network import (
    ALL_CLIENTS,
    DEMO_INSTRUMENTS,
    HISTORY,
    KEYS,
    ORGANISATIONS,
    SITES,
    DemoInstrument,
    past_instruments,
    seed_history,
    seed_network,
)
from pilotshare.seeding.past import InstrumentPast, PastBooking, PastInstrument, simulate
from pilotshare.seeding.platforms import PROFILES, SERVICE_ITEMS, seed_platforms
from pilotshare.seeding.programme import REQUESTS, VOUCHERS, seed_requests, seed_vouchers

__all__ = [
    "ALL_CLIENTS",
    "DEMO_INSTRUMENTS",
    "HISTORY",
    "KEYS",
    "ORGANISATIONS",
    "PROFILES",
    "REQUESTS",
    "SERVICE_ITEMS",
    "SITES",
    "VOUCHERS",
    "DemoInstrument",
    "InstrumentPast",
    "PastBooking",
    "PastInstrument",
    "Stored",
    "past_instruments",
    "seed_history",
    "seed_network",
    "seed_platforms",
    "seed_requests",
    "seed_vouchers",
    "simulate",
    "store_past",
]
