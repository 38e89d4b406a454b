"""The city's pilot-test network (中试平台网络) the demo seeds, and its seeded past.

``seed_network`` registers the network operator (``PILOTSHARE_OPERATOR_ORG``), three
platforms at two sites of Dongguan (Songshan Lake 松山湖 and Binhaiwan 滨海湾, both
Asia/Shanghai), their instruments, four client organisations with their qualifications, and
one key per role of ``KEYS``. ``seed_history`` adds ``HISTORY`` of telemetry and settled
bookings (``seeding.past`` simulates, ``seeding.load`` stores). Names people read carry both
中文 and English.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

import asyncpg
import numpy as np

from pilotshare.api.catalog import create_instrument, list_instruments
from pilotshare.api.keys import create_key
from pilotshare.api.schemas import InstrumentCreate
from pilotshare.core.audit import SYSTEM
from pilotshare.core.db import Connection
from pilotshare.core.domain import Role
from pilotshare.edge_agent.adapters import SimulatedParams
from pilotshare.registry import OrgKind, ensure_organisation, grant_qualification
from pilotshare.seeding.load import Stored, store_past
from pilotshare.seeding.past import PastInstrument, simulate

WEEKDAYS_8_TO_20 = {d: [("08:00", "20:00")] for d in ("mon", "tue", "wed", "thu", "fri")}
ALWAYS = None
ZONE = "Asia/Shanghai"
SONGSHAN_LAKE = "songshan-lake"  # 松山湖
BINHAIWAN = "binhaiwan"  # 滨海湾
SITES: tuple[str, ...] = (SONGSHAN_LAKE, BINHAIWAN)
#: The history seeded on first start: enough weeks for the statistics to say something.
HISTORY = timedelta(weeks=8)
HISTORY_SEED = 13

#: The organisations of the network; the operator's slug is ``PILOTSHARE_OPERATOR_ORG``.
OPERATOR_NAME = "东莞市中试平台网络办公室 Dongguan Pilot Network Office"
ORGANISATIONS: tuple[tuple[str, str, OrgKind], ...] = (
    ("ssl-materials", "松山湖材料中试平台 Songshan Lake Materials Pilot Platform", "platform"),
    (
        "ssl-electronics",
        "松山湖电子制造中试平台 Songshan Lake Electronics Pilot Platform",
        "platform",
    ),
    ("bhw-biopharma", "滨海湾生物医药中试平台 Binhaiwan Biopharma Pilot Platform", "platform"),
    ("acme-electronics", "艾克美电子 Acme Electronics", "client"),
    ("greenbio", "绿源生物实验室 GreenBio Lab", "client"),
    ("dg-newenergy", "东莞新能源科技 Dongguan New Energy Tech", "client"),
    ("pearl-robotics", "珠江机器人 Pearl River Robotics", "client"),
)
ALL_CLIENTS = ("acme-electronics", "greenbio", "dg-newenergy", "pearl-robotics")


@dataclass(frozen=True, slots=True)
class DemoInstrument:
    """One seeded instrument: where it is, whose it is, who books it, how its simulated twin
    behaves live (demo-fast dynamics) and how it behaved in the seeded past (hours)."""

    id: str
    name: str
    kind: str
    capabilities: tuple[str, ...]
    hourly_rate: int
    run_mean_s: float
    idle_mean_s: float
    mtbf_s: float
    mttr_s: float
    requires_qualification: bool = False
    operating_hours: dict[str, list[tuple[str, str]]] | None = ALWAYS
    platform: str = "ssl-materials"
    site: str = SONGSHAN_LAKE
    clients: tuple[str, ...] = ALL_CLIENTS  # the qualified ones where qualification is needed
    session_hours: tuple[float, ...] = (2.0, 3.0, 4.0)
    past_mtbf_h: float = 40.0  # running hours between failures, in the seeded past
    past_mttr_h: float = 3.0
    model: str = ""  # the maker's model designation, shown in the public directory
    public: bool = True  # listed in the public directory (its platform's profile is public)


DEMO_INSTRUMENTS: tuple[DemoInstrument, ...] = (
    DemoInstrument(
        "sem-1",
        "场发射扫描电镜 Field-emission SEM",
        "sem",
        ("eds", "ebsd"),
        650,
        90,
        40,
        1800,
        120,
        past_mtbf_h=30.0,
        past_mttr_h=4.0,
        model="ZEISS GeminiSEM 460",
    ),
    DemoInstrument(
        "sem-2",
        "台式扫描电镜 Tabletop SEM",
        "sem",
        ("eds",),
        380,
        60,
        60,
        2400,
        90,
        session_hours=(1.0, 2.0, 3.0),
        past_mtbf_h=50.0,
        past_mttr_h=2.0,
        model="Hitachi TM4000Plus II",
    ),
    DemoInstrument(
        "printer-1",
        "金属3D打印机 Metal 3D printer (LPBF)",
        "3d-printer",
        ("metal",),
        420,
        120,
        30,
        2700,
        150,
        requires_qualification=True,
        clients=("acme-electronics", "pearl-robotics"),
        session_hours=(4.0, 6.0, 8.0),
        past_mtbf_h=25.0,
        past_mttr_h=6.0,
        model="EOS M 290",
    ),
    DemoInstrument(
        "printer-2",
        "尼龙3D打印机 Polymer 3D printer (SLS)",
        "3d-printer",
        ("polymer",),
        160,
        100,
        40,
        3600,
        90,
        session_hours=(3.0, 5.0),
        past_mtbf_h=60.0,
        past_mttr_h=2.5,
        model="EOS FORMIGA P 110 Velocis",
    ),
    DemoInstrument(
        "reflow-1",
        "十温区回流焊 Reflow oven, 10 zones",
        "reflow-oven",
        ("nitrogen",),
        180,
        45,
        30,
        3600,
        60,
        platform="ssl-electronics",
        past_mtbf_h=45.0,
        past_mttr_h=2.0,
        model="Heller 1936 MK7",
    ),
    DemoInstrument(
        "reflow-2",
        "八温区回流焊 Reflow oven, 8 zones",
        "reflow-oven",
        (),
        150,
        45,
        45,
        3000,
        60,
        platform="ssl-electronics",
        site=BINHAIWAN,
        past_mtbf_h=35.0,
        past_mttr_h=3.0,
        model="JT NS-800II",
    ),
    DemoInstrument(
        "coater-1",
        "卷对卷涂布线 Roll-to-roll coating line",
        "coating-line",
        ("slot-die",),
        520,
        80,
        50,
        2000,
        180,
        operating_hours=WEEKDAYS_8_TO_20,
        platform="bhw-biopharma",
        site=BINHAIWAN,
        session_hours=(3.0, 4.0, 6.0),
        past_mtbf_h=20.0,
        past_mttr_h=5.0,
        model="Coatema Smartcoater",
    ),
    DemoInstrument(
        "bioreactor-1",
        "50升生物反应器 50 L bioreactor",
        "bioreactor",
        ("gmp",),
        300,
        150,
        30,
        5400,
        240,
        requires_qualification=True,
        platform="bhw-biopharma",
        site=BINHAIWAN,
        clients=("greenbio", "dg-newenergy"),
        session_hours=(8.0, 10.0, 12.0),
        past_mtbf_h=80.0,
        past_mttr_h=8.0,
        model="Sartorius BIOSTAT STR 50",
    ),
    DemoInstrument(
        "bioreactor-2",
        "200升生物反应器 200 L bioreactor",
        "bioreactor",
        ("gmp", "perfusion"),
        480,
        150,
        40,
        4800,
        240,
        requires_qualification=True,
        platform="bhw-biopharma",
        site=BINHAIWAN,
        clients=("greenbio",),
        session_hours=(10.0, 12.0),
        past_mtbf_h=70.0,
        past_mttr_h=6.0,
        model="Sartorius BIOSTAT STR 200",
        public=False,  # reserved for a partner programme: not in the directory
    ),
)
PURPOSES: dict[str, tuple[str, ...]] = {
    "sem": ("失效分析 failure analysis", "焊点截面 solder-joint cross sections"),
    "3d-printer": ("夹具打印 fixture prints", "样件试制 prototype parts"),
    "reflow-oven": ("回流曲线试验 reflow profile trials", "小批量试产 pilot batch"),
    "coating-line": ("阻隔涂层试验 barrier coating trial", "电极涂布 electrode coating"),
    "bioreactor": ("补料分批培养 fed-batch run", "工艺放大 process scale-up"),
}
#: The keys printed once, on first seeding: (label, 中文, org (None: the operator), role).
KEYS: tuple[tuple[str, str, str | None, Role], ...] = (
    ("network-admin", "网络管理员", None, Role.ADMIN),
    ("platform-admin", "平台管理员", "ssl-materials", Role.ADMIN),
    ("planner", "计划员", "acme-electronics", Role.PLANNER),
    ("operator", "操作员", "greenbio", Role.OPERATOR),
)


async def seed_network(conn: Connection, *, operator: str, now: datetime) -> dict[str, str] | None:
    """Seed the network once: the operator, its platforms at two sites, their instruments,
    clients and qualifications (granted at ``now``), and one key per role of ``KEYS``;
    returns the new keys by label, or None when already seeded."""
    if await list_instruments(conn, include_retired=True):
        return None
    await ensure_organisation(conn, operator, OPERATOR_NAME, "operator")
    for org, name, kind in ORGANISATIONS:
        await ensure_organisation(conn, org, name, kind)
    for spec in DEMO_INSTRUMENTS:
        await create_instrument(
            conn,
            InstrumentCreate(
                id=spec.id,
                site=spec.site,
                site_timezone=ZONE,
                kind=spec.kind,
                name=spec.name,
                capabilities=list(spec.capabilities),
                hourly_rate=Decimal(spec.hourly_rate),
                owner_org=spec.platform,
                requires_qualification=spec.requires_qualification,
                operating_hours=spec.operating_hours,
                setup_buffer_s=600,
                model=spec.model or None,
                public=spec.public,
            ),
        )
        if spec.requires_qualification:
            for org in spec.clients:
                await grant_qualification(conn, spec.id, org, actor=SYSTEM, at=now)
    return {
        label: await create_key(conn, org=org or operator, role=role)
        for label, _, org, role in KEYS
    }


def past_instruments() -> list[PastInstrument]:
    """The seeded instruments as they behaved in the past: hour-scale runs inside bookings,
    failures while running, late starts, no-shows and overruns."""
    return [
        PastInstrument(
            id=spec.id,
            timezone=ZONE,
            operating_hours=spec.operating_hours,
            clients=spec.clients,
            purposes=PURPOSES[spec.kind],
            session_hours=spec.session_hours,
            params=SimulatedParams(
                run_mean_s=max(spec.session_hours) * 3600 * 0.6,
                run_sigma=0.4,
                idle_mean_s=1200.0,
                setup_mean_s=120.0,
                mtbf_s=spec.past_mtbf_h * 3600,
                mttr_s=spec.past_mttr_h * 3600,
                p_no_show=0.07,
                late_start_mean_s=180.0,
                p_overrun=0.15,
                overrun_mean_s=1200.0,
            ),
        )
        for spec in DEMO_INSTRUMENTS
    ]


async def seed_history(pool: asyncpg.Pool, now: datetime, *, offline_after: timedelta) -> Stored:
    """``HISTORY`` of telemetry and settled bookings up to ``now`` (seeded, deterministic)."""
    start = now - HISTORY
    past = simulate(
        past_instruments(), start=start, now=now, rng=np.random.default_rng(HISTORY_SEED)
    )
    sites = {spec.id: spec.site for spec in DEMO_INSTRUMENTS}
    return await store_past(
        pool, past, sites=sites, start=start, now=now, offline_after=offline_after
    )
