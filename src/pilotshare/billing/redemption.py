"""What vouchers pay of statement lines, line by line (pure).

Theory of operation. A voucher (``Terms``) is issued to one client with a face value, a
co-pay share, a per-line cap, a validity and a scope. Redemption walks the client's lines in
booking order (start, instrument, booking) and, for each, the vouchers that may pay it in a
fixed order (``voucher_order``: soonest expiring first, then oldest issued, then lowest id).
Each voucher pays ``min(share × line amount (rounded down to the cent), cap, what is left of
its face value, what is still due on the line)``, so it never pays more than its share of a
line, more than its cap on one line or more than its face value in all, never below zero, and
the line's vouchers never pay more than the line.

A line is eligible for a voucher (``eligible``) when:

- it is final (the booking has happened: completed, no-show, released);
- its booking started inside the validity, read as dates in the booking's site's zone (a
  booking at 23:30 Asia/Shanghai on the last valid day is in; one at 00:30 the next day is
  not, though it is still that day in UTC), and before the voucher was revoked;
- the voucher was issued before the line's month closed (local midnight on the 1st of the
  next month, in the line's site's zone): a month's statement, once closed, never changes
  when a voucher is issued later;
- it is on a platform, instrument kind and service item of the scope (each empty: any).

Lines are taken oldest first, so later lines never change what earlier ones were paid: the
whole computation is a function of the lines and the terms, and reading it never changes
anything.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_DOWN, Decimal
from typing import Final, Protocol

from pilotshare.core.periods import month_bounds, month_of, period_of, zone

CENT: Final = Decimal("0.01")
ZERO: Final = Decimal(0)


@dataclass(frozen=True, slots=True)
class Terms:
    """A voucher as redemption needs it (``billing.store.Voucher`` carries the rest)."""

    id: int
    face: Decimal
    share: Decimal = Decimal(1)
    cap: Decimal | None = None  # at most this of any one line; None: the face value
    valid_from: date | None = None
    valid_until: date | None = None
    issued_at: datetime | None = None  # None: before any month closed
    revoked_at: datetime | None = None
    platforms: frozenset[str] = field(default_factory=frozenset)
    kinds: frozenset[str] = field(default_factory=frozenset)
    service_items: frozenset[str] = field(default_factory=frozenset)


class Charge(Protocol):
    """A statement line as redemption reads it."""

    @property
    def booking(self) -> str: ...
    @property
    def instrument(self) -> str: ...
    @property
    def start(self) -> datetime: ...
    @property
    def timezone(self) -> str: ...
    @property
    def amount(self) -> Decimal: ...
    @property
    def final(self) -> bool: ...
    @property
    def platform(self) -> str | None: ...
    @property
    def kind(self) -> str: ...
    @property
    def service_item(self) -> str | None: ...


@dataclass(frozen=True, slots=True)
class Paid:
    """What one voucher paid of one line."""

    voucher: int
    booking: str
    amount: Decimal


@dataclass(frozen=True, slots=True)
class Redemptions:
    """Every payment, by line (``booking``) and by voucher, and what is left of each voucher."""

    by_line: dict[str, tuple[Paid, ...]]
    by_voucher: dict[int, tuple[Paid, ...]]
    left: dict[int, Decimal]

    def paid(self, booking: str) -> Decimal:
        """What vouchers paid of one line."""
        return sum((p.amount for p in self.by_line.get(booking, ())), ZERO)

    def redeemed(self, voucher: int) -> Decimal:
        """What one voucher paid in all."""
        return sum((p.amount for p in self.by_voucher.get(voucher, ())), ZERO)


def voucher_order(terms: Terms) -> tuple[date, float, int]:
    """The order vouchers pay a line in: soonest expiring first, then oldest issued, then
    lowest id (deterministic: ids are unique)."""
    issued = terms.issued_at.timestamp() if terms.issued_at is not None else float("-inf")
    return (terms.valid_until or date.max, issued, terms.id)


def line_order(line: Charge) -> tuple[datetime, str, str]:
    """The order lines draw on vouchers: by booking start, then instrument and booking."""
    return (line.start, line.instrument, line.booking)


def in_validity(terms: Terms, start: datetime, timezone: str) -> bool:
    """Whether a booking starting at ``start`` on a site of ``timezone`` starts inside the
    voucher's validity (its dates in that zone) and before its revocation."""
    day = start.astimezone(zone(timezone)).date()
    if terms.valid_from is not None and day < terms.valid_from:
        return False
    if terms.valid_until is not None and day > terms.valid_until:
        return False
    return terms.revoked_at is None or start < terms.revoked_at


def in_scope(terms: Terms, line: Charge) -> bool:
    """Whether the line is on a platform, kind and service item the voucher covers."""
    return (
        (not terms.platforms or line.platform in terms.platforms)
        and (not terms.kinds or line.kind in terms.kinds)
        and (not terms.service_items or line.service_item in terms.service_items)
    )


def issued_in_time(terms: Terms, line: Charge) -> bool:
    """Whether the voucher was issued before the line's month closed in its site's zone."""
    if terms.issued_at is None:
        return True
    closes = month_bounds(month_of(line.start, line.timezone), line.timezone)[1]
    return terms.issued_at < closes


def eligible(terms: Terms, line: Charge) -> bool:
    """Whether the voucher may pay the line (the rules of the module's docstring)."""
    return (
        line.final
        and in_validity(terms, line.start, line.timezone)
        and issued_in_time(terms, line)
        and in_scope(terms, line)
    )


def pays(terms: Terms, amount: Decimal, left: Decimal, due: Decimal) -> Decimal:
    """What a voucher with ``left`` of its face value pays of a line of ``amount`` of which
    ``due`` is still unpaid: its share (down to the cent), within its cap, never below zero."""
    share = (terms.share * amount).quantize(CENT, ROUND_DOWN)
    cap = terms.face if terms.cap is None else terms.cap
    return max(min(share, cap, left, due), ZERO)


def redeem(lines: Iterable[Charge], vouchers: Sequence[Terms]) -> Redemptions:
    """Apply ``vouchers`` (one client's) to its ``lines``, oldest line first."""
    order = sorted(vouchers, key=voucher_order)
    left = {v.id: v.face for v in order}
    by_line: dict[str, tuple[Paid, ...]] = {}
    by_voucher: dict[int, list[Paid]] = {v.id: [] for v in order}
    for line in sorted(lines, key=line_order):
        due, paid = line.amount, []
        for terms in order:
            if due <= ZERO:
                break
            if left[terms.id] <= ZERO or not eligible(terms, line):
                continue
            amount = pays(terms, line.amount, left[terms.id], due)
            if amount <= ZERO:
                continue
            left[terms.id] -= amount
            due -= amount
            payment = Paid(terms.id, line.booking, amount)
            paid.append(payment)
            by_voucher[terms.id].append(payment)
        if paid:
            by_line[line.booking] = tuple(paid)
    return Redemptions(by_line, {k: tuple(v) for k, v in by_voucher.items()}, left)


def lapses_at(terms: Terms, zones: Iterable[str]) -> datetime | None:
    """When the voucher can pay no later booking: its revocation, or local midnight after
    ``valid_until`` in the last of ``zones`` (the sites' zones) to reach it; None: never."""
    ends: list[datetime] = []
    if terms.valid_until is not None:
        noon = datetime.combine(terms.valid_until, datetime.min.time()).replace(hour=12)
        ends.append(
            max(period_of("day", noon.replace(tzinfo=zone(z)), z)[1] for z in set(zones) or {"UTC"})
        )
    if terms.revoked_at is not None:
        ends.append(terms.revoked_at)
    return min(ends) if ends else None
