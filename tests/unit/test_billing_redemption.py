"""What vouchers pay of statement lines (``billing.redemption``) and the programme's accounts
(``billing.accounts``): properties of the arithmetic, and the edges of validity in the site's
time zone."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from pilotshare.billing.accounts import Voucher, accounts, months_between, report, report_csv
from pilotshare.billing.redemption import Terms, eligible, lapses_at, redeem
from pilotshare.billing.statements import Line
from pilotshare.core.domain import BookingStatus

D = Decimal
SH = "Asia/Shanghai"
JAN = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Charge:
    """A line as redemption reads it."""

    booking: str
    start: datetime
    amount: Decimal
    final: bool = True
    instrument: str = "sem-1"
    timezone: str = SH
    platform: str | None = "lab-a"
    kind: str = "sem"
    service_item: str | None = None


def line(booking: str, start: datetime, amount: str, **kw: object) -> Line:
    """A statement line (as billing builds them) of ``amount``."""
    fields: dict[str, object] = {
        "instrument": "sem-1",
        "end": start + timedelta(hours=1),
        "status": BookingStatus.COMPLETED,
        "billing": "booked",
        "hours": D(1),
        "rate": D(amount),
        "amount": D(amount),
        "final": True,
        "timezone": SH,
        "platform": "lab-a",
        "kind": "sem",
        "service_item": None,
    }
    fields.update(kw)
    return Line(booking, start=start, **fields)  # type: ignore[arg-type]


money = st.decimals(min_value=0, max_value=5_000, places=2)
positive = st.decimals(min_value=D("0.01"), max_value=5_000, places=2)
shares = st.sampled_from([D("0.1"), D("0.25"), D("0.3333"), D("0.5"), D("0.7"), D(1)])
days = st.integers(min_value=0, max_value=90)


@st.composite
def charges(draw: st.DrawFn) -> list[Charge]:
    n = draw(st.integers(min_value=0, max_value=25))
    out = []
    for i in range(n):
        start = JAN + timedelta(minutes=draw(st.integers(min_value=0, max_value=90 * 24 * 60)))
        out.append(
            Charge(
                f"b{i:03d}",
                start,
                draw(money),
                final=draw(st.booleans()) or draw(st.booleans()),
                platform=draw(st.sampled_from(["lab-a", "lab-b", None])),
                kind=draw(st.sampled_from(["sem", "oven"])),
            )
        )
    return out


@st.composite
def terms(draw: st.DrawFn, i: int) -> Terms:
    face = draw(positive)
    cap = draw(st.none() | st.decimals(min_value=D("0.01"), max_value=face, places=2))
    start = draw(st.none() | days.map(lambda d: date(2026, 1, 1) + timedelta(days=d)))
    length = draw(st.none() | st.integers(min_value=0, max_value=60))
    until = None if length is None else (start or date(2026, 1, 1)) + timedelta(days=length)
    issued = JAN + timedelta(days=draw(st.integers(min_value=-30, max_value=80)))
    return Terms(
        id=i,
        face=face,
        share=draw(shares),
        cap=cap,
        valid_from=start,
        valid_until=until,
        issued_at=issued,
        platforms=frozenset(draw(st.sets(st.sampled_from(["lab-a", "lab-b"]), max_size=1))),
        kinds=frozenset(draw(st.sets(st.sampled_from(["sem", "oven"]), max_size=1))),
    )


vouchers = st.integers(min_value=0, max_value=5).flatmap(
    lambda n: st.tuples(*[terms(i + 1) for i in range(n)])
)


@settings(max_examples=200)
@given(charges(), vouchers)
def test_vouchers_pay_within_share_cap_face_value_and_line_and_never_below_zero(
    lines: list[Charge], vs: tuple[Terms, ...]
) -> None:
    done = redeem(lines, vs)
    by_id = {v.id: v for v in vs}
    for c in lines:
        paid = done.by_line.get(c.booking, ())
        assert sum((p.amount for p in paid), D(0)) <= c.amount  # never more than the line
        assert len({p.voucher for p in paid}) == len(paid)  # each voucher once per line
        for p in paid:
            v = by_id[p.voucher]
            assert D(0) < p.amount <= v.share * c.amount
            assert p.amount <= (v.cap if v.cap is not None else v.face)
            assert eligible(v, c)
        if not c.final:
            assert paid == ()
    for v in vs:
        redeemed = done.redeemed(v.id)
        assert D(0) <= redeemed <= v.face
        assert done.left[v.id] == v.face - redeemed >= D(0)


@given(charges(), vouchers)
def test_redemptions_plus_due_are_the_total_and_reordering_changes_nothing(
    lines: list[Charge], vs: tuple[Terms, ...]
) -> None:
    done = redeem(lines, vs)
    total = sum((c.amount for c in lines), D(0))
    paid = sum((done.paid(c.booking) for c in lines), D(0))
    due = sum((c.amount - done.paid(c.booking) for c in lines), D(0))
    assert paid + due == total
    assert paid == sum((done.redeemed(v.id) for v in vs), D(0))
    again = redeem(list(reversed(lines)), tuple(reversed(vs)))  # deterministic: order of input
    assert again == done


@given(charges(), vouchers, st.integers(min_value=0, max_value=25))
def test_later_lines_never_change_what_earlier_lines_were_paid(
    lines: list[Charge], vs: tuple[Terms, ...], keep: int
) -> None:
    ordered = sorted(lines, key=lambda c: (c.start, c.instrument, c.booking))
    early = redeem(ordered[:keep], vs)
    full = redeem(ordered, vs)
    for c in ordered[:keep]:
        assert early.by_line.get(c.booking) == full.by_line.get(c.booking)


def test_a_voucher_lapses_at_midnight_in_the_sites_zone_not_in_utc() -> None:
    v = Terms(1, D(1000), valid_from=date(2026, 3, 1), valid_until=date(2026, 3, 31))
    # 23:30 on 31 March in Shanghai is 15:30 UTC: in; 00:30 on 1 April is 16:30 UTC on
    # 31 March: out, though UTC still says 31 March.
    late = Charge("in", datetime(2026, 3, 31, 15, 30, tzinfo=UTC), D(100))
    after = Charge("out", datetime(2026, 3, 31, 16, 30, tzinfo=UTC), D(100))
    assert eligible(v, late)
    assert not eligible(v, after)
    assert eligible(v, replace(after, timezone="UTC"))  # on a UTC site it is still 31 March
    # it starts at local midnight too: 23:30 UTC on 28 Feb is 07:30 on 1 March in Shanghai
    assert eligible(v, Charge("first", datetime(2026, 2, 28, 23, 30, tzinfo=UTC), D(1)))
    assert not eligible(v, Charge("before", datetime(2026, 2, 28, 15, 30, tzinfo=UTC), D(1)))
    done = redeem([late, after], [v])
    assert done.paid("in") == D(100)
    assert done.paid("out") == D(0)
    assert lapses_at(v, {SH}) == datetime(2026, 3, 31, 16, tzinfo=UTC)
    assert lapses_at(v, {SH, "UTC"}) == datetime(2026, 4, 1, tzinfo=UTC)  # the last zone


@given(
    st.integers(min_value=0, max_value=120 * 24 * 60),
    days,
    st.sampled_from([SH, "UTC", "America/New_York", "Pacific/Kiritimati"]),
)
def test_validity_is_read_in_the_sites_zone_for_any_start(
    minutes: int, last: int, timezone: str
) -> None:
    start = JAN + timedelta(minutes=minutes)
    until = date(2026, 1, 1) + timedelta(days=last)
    v = Terms(1, D(100), valid_until=until)
    local_day = start.astimezone(ZoneInfo(timezone)).date()
    c = Charge("x", start, D(10), timezone=timezone)
    assert eligible(v, c) == (local_day <= until)
    lapse = lapses_at(v, {timezone})
    assert lapse is not None
    assert eligible(v, c) == (start < lapse)


def test_share_cap_order_and_the_month_close() -> None:
    day = datetime(2026, 2, 10, 2, tzinfo=UTC)
    later = Terms(1, D(1000), share=D("0.5"), cap=D(80), issued_at=JAN)
    soon = Terms(2, D(300), share=D("0.5"), valid_until=date(2026, 2, 28), issued_at=JAN)
    lines = [Charge("a", day, D(400)), Charge("b", day + timedelta(days=1), D(400))]
    done = redeem(lines, [later, soon])
    # soonest expiring pays first: half of 400; then the other half, capped at 80 per line
    assert [(p.voucher, p.amount) for p in done.by_line["a"]] == [(2, D(200)), (1, D(80))]
    assert [(p.voucher, p.amount) for p in done.by_line["b"]] == [(2, D(100)), (1, D(80))]
    assert done.left == {2: D(0), 1: D(840)}
    # issued on 1 March (Shanghai) after February closed: it pays no February line
    march = Terms(3, D(500), issued_at=datetime(2026, 2, 28, 16, 30, tzinfo=UTC))
    assert redeem(lines, [march]).by_line == {}
    # issued at 23:30 on 28 February in Shanghai: February was still open
    open_feb = replace(march, issued_at=datetime(2026, 2, 28, 15, 30, tzinfo=UTC))
    assert redeem(lines, [open_feb]).paid("a") == D(400)
    # revoked: bookings starting after the revocation get nothing, earlier ones keep theirs
    revoked = replace(open_feb, revoked_at=day + timedelta(hours=12))
    assert (redeem(lines, [revoked]).paid("a"), redeem(lines, [revoked]).paid("b")) == (
        D(400),
        D(0),
    )
    # a share that does not divide the cent pays down, never more than the share
    third = Terms(4, D(100), share=D("0.3333"))
    assert redeem([Charge("c", day, D("10.00"))], [third]).paid("c") == D("3.33")


def test_scope_names_platforms_kinds_and_service_items() -> None:
    day = datetime(2026, 2, 10, 2, tzinfo=UTC)
    v = Terms(1, D(1000), platforms=frozenset({"lab-a"}), kinds=frozenset({"sem"}))
    assert eligible(v, Charge("a", day, D(1)))
    assert not eligible(v, Charge("b", day, D(1), platform="lab-b"))
    assert not eligible(v, Charge("c", day, D(1), kind="oven"))
    assert not eligible(v, Charge("d", day, D(1), platform=None))
    items = Terms(2, D(1000), service_items=frozenset({"xrd-scan"}))
    assert eligible(items, Charge("e", day, D(1), service_item="xrd-scan"))
    assert not eligible(items, Charge("f", day, D(1)))


def _voucher(i: int, amount: str, **kw: object) -> Voucher:
    fields: dict[str, object] = {"granted_at": JAN, **kw}
    return Voucher(i, "acme", D(amount), "", **fields)  # type: ignore[arg-type]


def test_accounts_tie_out_issued_is_redeemed_plus_lapsed_plus_remaining() -> None:
    lines = [
        line("jan", datetime(2026, 1, 10, 2, tzinfo=UTC), "300"),
        line("feb", datetime(2026, 2, 10, 2, tzinfo=UTC), "300", platform="lab-b"),
        line("mar", datetime(2026, 3, 10, 2, tzinfo=UTC), "300", final=False),
    ]
    vs = [
        _voucher(1, "500", share=D("0.5"), valid_until=date(2026, 1, 31)),
        _voucher(2, "1000", share=D("0.5")),
    ]
    as_of = datetime(2026, 3, 15, tzinfo=UTC)
    got = {a.voucher.id: a for a in accounts(vs, lines, as_of, {SH})}
    assert (got[1].status, got[1].redeemed, got[1].lapsed, got[1].remaining) == (
        "lapsed",
        D(150),
        D(350),
        D(0),
    )
    assert (got[2].status, got[2].redeemed, got[2].lapsed, got[2].remaining) == (
        "valid",
        D(300),
        D(0),
        D(700),
    )
    body = report("2026-02", "2026-02", as_of, {"acme": (vs, lines)}, {SH})
    assert body.total.issued == body.total.redeemed + body.total.lapsed + body.total.remaining
    assert body.total.in_period == D(150)  # February's line only
    assert body.platforms["lab-b"].in_period == D(150)
    assert body.platforms["lab-a"].redeemed == D(300)
    table = report_csv(body).splitlines()
    assert table[0].startswith("row,id,client")
    assert len({len(r.split(",")) for r in table}) == 1  # every row has every column
    assert table[-1].startswith("total,")


@given(charges(), vouchers, st.integers(min_value=0, max_value=100))
def test_report_ties_out_for_any_lines_and_vouchers(
    cs: list[Charge], vs: tuple[Terms, ...], at_day: int
) -> None:
    lines = [
        line(c.booking, c.start, str(c.amount), final=c.final, platform=c.platform) for c in cs
    ]
    issued = [
        _voucher(
            v.id,
            str(v.face),
            share=v.share,
            cap=v.cap,
            valid_until=v.valid_until,
            granted_at=v.issued_at,
        )
        for v in vs
    ]
    as_of = JAN + timedelta(days=at_day)
    body = report("2026-01", "2026-02", as_of, {"acme": (issued, lines)}, {SH})
    for r in body.vouchers:
        f = r.figures
        assert f.issued == f.redeemed + f.lapsed + f.remaining
        assert D(0) <= f.in_period <= f.redeemed
    t = body.total
    assert t.issued == t.redeemed + t.lapsed + t.remaining
    assert sum((p.redeemed for p in body.platforms.values()), D(0)) <= t.redeemed


def test_months_between() -> None:
    assert months_between("2025-11", "2026-02") == {"2025-11", "2025-12", "2026-01", "2026-02"}
    assert months_between("2026-03", "2026-02") == set()
