"""The programme's accounts of its vouchers: per voucher what was issued, redeemed, lapsed and
is left, and the period report by client and by platform (pure).

A voucher's value is in exactly one of three places at any instant ``as_of``: redeemed (paid
of final lines of bookings starting before ``as_of``), lapsed (what was left when its
validity ended or it was revoked, once that has happened) or remaining. So issued = redeemed
+ lapsed + remaining, per voucher, per client and in total. A booking that started inside the
validity and had not ended when it lapsed still draws on the voucher once it ends: that moves
value from lapsed to redeemed (the report says what is known at the time it is read).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Final, Literal

from pilotshare.billing.redemption import ZERO, Redemptions, Terms, lapses_at, redeem
from pilotshare.billing.statements import Line
from pilotshare.core.periods import month_of

Status = Literal["valid", "used", "lapsed", "revoked"]
STATUSES: Final[tuple[Status, ...]] = ("valid", "used", "lapsed", "revoked")
Programme = Literal["pilot", "testing"]


@dataclass(frozen=True, slots=True)
class Voucher:
    """A voucher as issued: 中试服务券 (``pilot``) or 检验检测服务券 (``testing``)."""

    id: int
    org: str  # the client
    amount: Decimal  # face value, CNY
    note: str
    granted_at: datetime  # issued at
    programme: Programme = "pilot"
    share: Decimal = Decimal(1)
    cap: Decimal | None = None  # at most this of any one line; None: the face value
    valid_from: date | None = None
    valid_until: date | None = None
    platforms: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()
    service_items: tuple[str, ...] = ()
    issued_by: str | None = None
    revoked_at: datetime | None = None

    def terms(self) -> Terms:
        """What redemption needs of it."""
        return Terms(
            id=self.id,
            face=self.amount,
            share=self.share,
            cap=self.cap,
            valid_from=self.valid_from,
            valid_until=self.valid_until,
            issued_at=self.granted_at,
            revoked_at=self.revoked_at,
            platforms=frozenset(self.platforms),
            kinds=frozenset(self.kinds),
            service_items=frozenset(self.service_items),
        )


@dataclass(frozen=True, slots=True)
class Use:
    """One line a voucher paid of."""

    booking: str
    instrument: str
    platform: str | None
    start: datetime
    month: str
    amount: Decimal


@dataclass(frozen=True, slots=True)
class Account:
    """A voucher with its figures at ``as_of``."""

    voucher: Voucher
    status: Status
    redeemed: Decimal
    lapsed: Decimal
    remaining: Decimal
    uses: tuple[Use, ...]


def status_of(voucher: Voucher, left: Decimal, as_of: datetime, zones: Iterable[str]) -> Status:
    """revoked, lapsed (its validity has ended), used (nothing left) or valid."""
    if voucher.revoked_at is not None and voucher.revoked_at <= as_of:
        return "revoked"
    lapse = lapses_at(voucher.terms(), zones)
    if lapse is not None and lapse <= as_of:
        return "lapsed"
    return "used" if left <= ZERO else "valid"


def _month(line: Line) -> str:
    return month_of(line.start, line.timezone)


def accounts(
    vouchers: Sequence[Voucher], lines: Sequence[Line], as_of: datetime, zones: Iterable[str]
) -> list[Account]:
    """One client's vouchers (issued up to ``as_of``) and their figures, from its billed
    ``lines`` (those starting before ``as_of`` count)."""
    zones = set(zones)
    issued = [v for v in vouchers if v.granted_at <= as_of]
    lines = [line for line in lines if line.start < as_of]
    done = redeem(lines, [v.terms() for v in issued])
    by_booking = {line.booking: line for line in lines}
    out = []
    for v in issued:
        left = done.left[v.id]
        status = status_of(v, left, as_of, zones)
        gone = status in {"lapsed", "revoked"}
        uses = tuple(
            Use(
                p.booking,
                (line := by_booking[p.booking]).instrument,
                line.platform,
                line.start,
                _month(line),
                p.amount,
            )
            for p in done.by_voucher[v.id]
        )
        out.append(
            Account(
                v, status, v.amount - left, left if gone else ZERO, ZERO if gone else left, uses
            )
        )
    return out


def by_platform(lines: Iterable[Line], done: Redemptions, months: set[str]) -> dict[str, Decimal]:
    """What vouchers paid of each platform's lines billed in ``months``: platforms they paid
    nothing of are absent, and so are lines of instruments no platform owns."""
    out: dict[str, Decimal] = {}
    for line in lines:
        paid = done.paid(line.booking)
        if line.platform is not None and paid > ZERO and _month(line) in months:
            out[line.platform] = out.get(line.platform, ZERO) + paid
    return out


@dataclass(frozen=True, slots=True)
class Figures:
    """Issued = redeemed + lapsed + remaining; ``in_period``: redeemed of the period's lines."""

    issued: Decimal = ZERO
    redeemed: Decimal = ZERO
    in_period: Decimal = ZERO
    lapsed: Decimal = ZERO
    remaining: Decimal = ZERO

    def __add__(self, other: Figures) -> Figures:
        return Figures(
            self.issued + other.issued,
            self.redeemed + other.redeemed,
            self.in_period + other.in_period,
            self.lapsed + other.lapsed,
            self.remaining + other.remaining,
        )


@dataclass(frozen=True, slots=True)
class VoucherRow:
    """One voucher's line of the report."""

    voucher: Voucher
    status: Status
    figures: Figures


@dataclass(frozen=True, slots=True)
class Report:
    """The vouchers' accounts for the months ``first``..``last``, as of ``as_of``."""

    first: str
    last: str
    as_of: datetime
    vouchers: list[VoucherRow]
    clients: dict[str, Figures]
    platforms: dict[str, Figures]  # redeemed and in_period only: value is not a platform's
    total: Figures


def months_between(first: str, last: str) -> set[str]:
    """Every ``YYYY-MM`` from ``first`` to ``last``, both included."""
    y, m = int(first[:4]), int(first[5:7])
    out = set()
    while f"{y:04d}-{m:02d}" <= last:
        out.add(f"{y:04d}-{m:02d}")
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


def report(
    first: str,
    last: str,
    as_of: datetime,
    ledger: Mapping[str, tuple[Sequence[Voucher], Sequence[Line]]],
    zones: Iterable[str],
) -> Report:
    """The report from each client's vouchers and billed lines (``ledger``)."""
    zones, months = set(zones), months_between(first, last)
    rows: list[VoucherRow] = []
    clients: dict[str, Figures] = {}
    platforms: dict[str, Figures] = {}
    for client in sorted(ledger):
        vouchers, lines = ledger[client]
        lines = [line for line in lines if line.start < as_of and _month(line) <= last]
        for account in accounts(vouchers, lines, as_of, zones):
            in_period = sum((u.amount for u in account.uses if u.month in months), ZERO)
            figures = Figures(
                account.voucher.amount,
                account.redeemed,
                in_period,
                account.lapsed,
                account.remaining,
            )
            rows.append(VoucherRow(account.voucher, account.status, figures))
            clients[client] = clients.get(client, Figures()) + figures
            for u in account.uses:  # the uses are the redemption ``accounts`` already ran
                if u.platform is not None:
                    add = Figures(
                        redeemed=u.amount, in_period=u.amount if u.month in months else ZERO
                    )
                    platforms[u.platform] = platforms.get(u.platform, Figures()) + add
    total = sum((r.figures for r in rows), Figures())
    return Report(first, last, as_of, rows, clients, dict(sorted(platforms.items())), total)


_COLUMNS: Final = (
    "row",
    "id",
    "client",
    "programme",
    "status",
    "issued_at",
    "valid_from",
    "valid_until",
    "share",
    "issued",
    "redeemed",
    "redeemed_in_period",
    "lapsed",
    "remaining",
)


def _figures(f: Figures) -> list[object]:
    return [f.issued, f.redeemed, f.in_period, f.lapsed, f.remaining]


def report_csv(body: Report) -> str:
    """The report as CSV: a ``voucher`` row each, then ``client``, ``platform`` and ``total``
    rows (a platform's issued, lapsed and remaining are empty: value is not a platform's)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(_COLUMNS)
    for r in body.vouchers:
        v = r.voucher
        writer.writerow(
            [
                "voucher",
                v.id,
                v.org,
                v.programme,
                r.status,
                v.granted_at.isoformat(),
                v.valid_from or "",
                v.valid_until or "",
                v.share,
                *_figures(r.figures),
            ]
        )
    blank = ["", "", "", "", "", ""]
    for client, f in body.clients.items():
        writer.writerow(["client", "", client, *blank, *_figures(f)])
    for platform, f in body.platforms.items():
        writer.writerow(["platform", platform, "", *blank, "", f.redeemed, f.in_period, "", ""])
    writer.writerow(["total", "", "", *blank, *_figures(body.total)])
    return out.getvalue()
