"""The demo network's programme at work: requests (中试需求) with offers, and vouchers.

``seed_requests`` posts a few clients' requests through ``RequestService`` (the rules and
history of the API's): one answered by two offers, one whose offer the client accepted (so a
booking exists from it), one still open. Offers take the slot matching found first.
``seed_vouchers`` issues the network operator's vouchers through ``billing.grant_voucher``,
dated at the start of the seeded history so the past weeks' statements show what they paid
(a voucher pays only lines of months that closed after it was issued).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

import asyncpg

from pilotshare.billing import Programme, grant_voucher
from pilotshare.core.audit import SYSTEM
from pilotshare.core.clock import Clock
from pilotshare.core.db import Connection
from pilotshare.core.periods import zone
from pilotshare.network.requests.service import NewOffer, NewRequest, RequestService, Who
from pilotshare.scheduler.service import BookingService
from pilotshare.seeding.network import HISTORY, ZONE

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DemoRequest:
    """A client's request; ``offers``: the instruments (of their platforms) offered with
    each offer's CNY price, and whether the client accepted the first."""

    client: str
    title: str
    description: str
    kind: str
    capabilities: tuple[str, ...]
    hours: int
    samples: int | None
    service_item: str | None
    earliest_days: int
    deadline_days: int
    offers: tuple[tuple[str, str, str], ...] = ()  # (instrument, price, conditions)
    accept: bool = False


REQUESTS: tuple[DemoRequest, ...] = (
    DemoRequest(
        "acme-electronics",
        "焊点失效分析 Solder-joint failure analysis",
        "20个BGA焊点截面，需EDS成分 20 BGA joint cross sections, with EDS",
        "sem",
        ("eds",),
        6,
        20,
        "sem-imaging",
        2,
        16,
        offers=(
            ("sem-1", "7000.00", "场发射电镜，含EDS面扫 FE-SEM, EDS maps included"),
            ("sem-2", "5200.00", "台式电镜，EDS点分析 tabletop SEM, EDS point analysis"),
        ),
    ),
    DemoRequest(
        "greenbio",
        "50升补料分批中试 50 L fed-batch pilot run",
        "CHO细胞补料分批培养一批 one fed-batch run of CHO cells",
        "bioreactor",
        ("gmp",),
        10,
        None,
        "bioreactor-day",
        3,
        21,
        offers=(("bioreactor-1", "6800.00", "含灭菌与批记录 sterilisation and batch record"),),
        accept=True,
    ),
    DemoRequest(
        "dg-newenergy",
        "电极涂布工艺放大 Electrode coating scale-up",
        "狭缝涂布正极浆料，宽300毫米 slot-die cathode slurry, 300 mm web",
        "coating-line",
        ("slot-die",),
        4,
        None,
        "coating-trial",
        5,
        25,
    ),
)


async def seed_requests(pool: asyncpg.Pool, clock: Clock) -> int:
    """Post ``REQUESTS`` as their clients, offer each offered instrument's first matched
    slot as its platform's admin, and accept where told; returns how many offers."""
    service = RequestService(pool, clock, BookingService(pool, clock))
    now = clock.now().replace(second=0, microsecond=0)
    made = 0
    for spec in REQUESTS:
        client = Who(spec.client)
        view = await service.post(
            client,
            NewRequest(
                title=spec.title,
                description=spec.description,
                kind=spec.kind,
                capabilities=spec.capabilities,
                hours=Decimal(spec.hours),
                samples=spec.samples,
                service_item=spec.service_item,
                earliest=now + timedelta(days=spec.earliest_days),
                deadline=now + timedelta(days=spec.deadline_days),
            ),
        )
        if not spec.offers:
            continue
        slots = {
            m.instrument: (m.platform, m.first_slot)
            for m in await service.matches(client, view.request.id, seed=0)
        }
        offers = []
        for instrument, price, conditions in spec.offers:
            platform, slot = slots.get(instrument, (None, None))
            if platform is None or slot is None:  # nothing free before the deadline
                log.info("demo offer of %s not made: no free slot", instrument)
                continue
            offers.append(
                await service.offer(
                    Who(platform, admin=True),
                    view.request.id,
                    NewOffer(instrument, *slot, Decimal(price), conditions, None),
                )
            )
        made += len(offers)
        if spec.accept and offers:
            await service.accept(client, view.request.id, offers[0].id)
    return made


@dataclass(frozen=True, slots=True)
class DemoVoucher:
    """A voucher the network operator issues: client, programme, face value (CNY), co-pay
    share, cap per line and scope (empty: any)."""

    client: str
    programme: Programme
    amount: str
    share: str
    cap: str | None
    note: str
    platforms: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()


VOUCHERS: tuple[DemoVoucher, ...] = (
    DemoVoucher(
        "acme-electronics",
        "pilot",
        "100000.00",
        "0.5",
        "800.00",
        "中试服务券 本季度 Pilot-test service voucher, this quarter",
        platforms=("ssl-materials", "ssl-electronics"),
    ),
    DemoVoucher(
        "greenbio",
        "testing",
        "20000.00",
        "0.3",
        "300.00",
        "检验检测服务券 扫描电镜 Testing and inspection voucher, SEM only",
        kinds=("sem",),
    ),
    DemoVoucher(
        "dg-newenergy",
        "pilot",
        "30000.00",
        "0.3",
        None,
        "中试服务券 涂布 Pilot-test service voucher, coating",
        platforms=("bhw-biopharma",),
    ),
)


def quarter_end(day: date) -> date:
    """The last day of ``day``'s quarter."""
    month = (day.month - 1) // 3 * 3 + 4
    first_next = date(day.year + month // 13, (month - 1) % 12 + 1, 1)
    return first_next - timedelta(days=1)


async def seed_vouchers(conn: Connection, now: datetime) -> int:
    """Issue ``VOUCHERS`` as of the history's start, valid from then to the end of the
    current quarter (in Dongguan's zone); returns how many."""
    issued = now - HISTORY
    tz = zone(ZONE)
    valid_from, valid_until = issued.astimezone(tz).date(), quarter_end(now.astimezone(tz).date())
    for v in VOUCHERS:
        await grant_voucher(
            conn,
            v.client,
            Decimal(v.amount),
            v.note,
            issued,
            actor=SYSTEM,
            programme=v.programme,
            share=Decimal(v.share),
            cap=None if v.cap is None else Decimal(v.cap),
            valid_from=valid_from,
            valid_until=valid_until,
            platforms=v.platforms,
            kinds=v.kinds,
        )
    return len(VOUCHERS)
