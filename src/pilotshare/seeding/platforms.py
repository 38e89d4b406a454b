"""What the demo's platforms publish: their profiles (names and descriptions in 中文 and
English, a Dongguan address, contact, accreditations) and their priced service items (服务项目).

Written through the API's own functions (``api.platforms``: validated and audited as a
platform's admin's changes are), as pilotshare itself (``core.audit.SYSTEM``). Everything is
public but one item of each of two platforms, so the public directory shows the flag at work;
the private instrument is ``DemoInstrument.public``'s (``seeding.network``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from pilotshare.api.platforms import Contact, ProfileBody, ServiceItemCreate, put_profile
from pilotshare.api.platforms import create_item as create_service_item
from pilotshare.core.audit import SYSTEM
from pilotshare.core.db import Connection
from pilotshare.seeding.network import BINHAIWAN, SONGSHAN_LAKE

PROFILES: dict[str, ProfileBody] = {
    "ssl-materials": ProfileBody(
        name_zh="松山湖材料中试平台",
        name_en="Songshan Lake Materials Pilot Platform",
        site=SONGSHAN_LAKE,
        address="广东省东莞市松山湖高新区大学创新城A1栋 "
        "Building A1, University Innovation City, Songshan Lake, Dongguan",
        description_zh="电子显微、成分分析与金属/尼龙增材制造中试服务。",
        description_en="Electron microscopy, elemental analysis and metal/polymer additive "
        "manufacturing at pilot scale.",
        contact=Contact(
            name="陈工 Chen Gong",
            phone="+86 769 2288 0101",
            email="materials@ssl-pilot.example.cn",
            url="https://ssl-pilot.example.cn/materials",
        ),
        accreditations=["CMA", "CNAS"],
        public=True,
    ),
    "ssl-electronics": ProfileBody(
        name_zh="松山湖电子制造中试平台",
        name_en="Songshan Lake Electronics Pilot Platform",
        site=SONGSHAN_LAKE,
        address="广东省东莞市松山湖高新区工业西路 Gongye West Road, Songshan Lake, Dongguan",
        description_zh="表面贴装与回流焊工艺验证、小批量试产，松山湖与滨海湾两地产线。",
        description_en="SMT and reflow process validation and pilot batches, on lines at "
        "Songshan Lake and Binhaiwan.",
        contact=Contact(
            name="李工 Li Gong", phone="+86 769 2288 0202", email="smt@ssl-pilot.example.cn"
        ),
        accreditations=["CNAS", "IATF 16949"],
        public=True,
    ),
    "bhw-biopharma": ProfileBody(
        name_zh="滨海湾生物医药中试平台",
        name_en="Binhaiwan Biopharma Pilot Platform",
        site=BINHAIWAN,
        address="广东省东莞市滨海湾新区湾区大道 Wanqu Avenue, Binhaiwan New Area, Dongguan",
        description_zh="GMP生物反应器工艺放大与卷对卷涂布中试。",
        description_en="GMP bioreactor scale-up and roll-to-roll coating at pilot scale.",
        contact=Contact(
            name="王博士 Dr Wang",
            phone="+86 769 2288 0303",
            email="pilot@bhw-bio.example.cn",
            url="https://bhw-bio.example.cn",
        ),
        accreditations=["CMA", "GMP"],
        public=True,
    ),
}


@dataclass(frozen=True, slots=True)
class DemoItem:
    """One seeded service item: its platform, names, unit and CNY price, what it is done on."""

    id: str
    platform: str
    name_zh: str
    name_en: str
    unit: str
    price: str
    kind: str | None = None
    instrument: str | None = None
    public: bool = True


SERVICE_ITEMS: tuple[DemoItem, ...] = (
    DemoItem(
        "sem-imaging",
        "ssl-materials",
        "扫描电镜成像（每样品）",
        "SEM imaging, per sample",
        "sample",
        "350.00",
        kind="sem",
    ),
    DemoItem(
        "eds-mapping",
        "ssl-materials",
        "能谱面扫分析（每样品）",
        "EDS elemental mapping, per sample",
        "sample",
        "480.00",
        instrument="sem-1",
    ),
    DemoItem(
        "metal-printing",
        "ssl-materials",
        "金属3D打印（每小时）",
        "Metal 3D printing (LPBF), per hour",
        "hour",
        "520.00",
        instrument="printer-1",
    ),
    DemoItem(
        "failure-report",
        "ssl-materials",
        "失效分析报告（每份）",
        "Failure analysis report, each",
        "report",
        "2800.00",
        kind="sem",
        public=False,
    ),
    DemoItem(
        "reflow-validation",
        "ssl-electronics",
        "回流焊工艺验证（每批）",
        "Reflow process validation, per batch",
        "batch",
        "1800.00",
        kind="reflow-oven",
    ),
    DemoItem(
        "reflow-profiling",
        "ssl-electronics",
        "回流曲线测试（每次）",
        "Reflow profile measurement, per run",
        "run",
        "600.00",
        instrument="reflow-1",
    ),
    DemoItem(
        "bioreactor-day",
        "bhw-biopharma",
        "生物反应器中试（每天）",
        "Bioreactor pilot run, per day",
        "day",
        "6800.00",
        kind="bioreactor",
    ),
    DemoItem(
        "coating-trial",
        "bhw-biopharma",
        "涂布工艺试验（每小时）",
        "Coating process trial, per hour",
        "hour",
        "650.00",
        instrument="coater-1",
    ),
    DemoItem(
        "gmp-batch-review",
        "bhw-biopharma",
        "GMP批记录审核（每批）",
        "GMP batch record review, per batch",
        "batch",
        "3500.00",
        kind="bioreactor",
        public=False,
    ),
)


def _anyone(_: str) -> None:
    """Nothing to refuse: the seed writes each platform's own things as pilotshare."""


async def seed_platforms(conn: Connection, now: datetime) -> int:
    """Write each platform's profile, then its service items; returns how many items."""
    for org, body in PROFILES.items():
        await put_profile(conn, org, body, actor=SYSTEM, now=now)
    for item in SERVICE_ITEMS:
        await create_service_item(
            conn,
            ServiceItemCreate(
                id=item.id,
                platform=item.platform,
                name_zh=item.name_zh,
                name_en=item.name_en,
                unit=item.unit,
                price=Decimal(item.price),
                kind=item.kind,
                instrument=item.instrument,
                public=item.public,
            ),
            authorise=_anyone,
            actor=SYSTEM,
            now=now,
        )
    return len(SERVICE_ITEMS)
