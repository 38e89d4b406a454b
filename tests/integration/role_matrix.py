"""The expectations of the role matrix (``test_role_matrix.py``): one row per route.

Each row says which status each of the five callers gets, in the order of ``CALLERS``:

- ``none``: no key;
- ``other``: an admin of the other platform (``lab-b``, owning ``sem-b``);
- ``own``: an admin of the platform owning the subject (``lab-a``, owning ``sem-a``);
- ``client``: an operator key of the client ``acme``, whose bookings on ``sem-a`` the rows use;
- ``network``: an admin of the network operator (``platform``).

and how to make the request for a caller: ``fixed(path, body)`` when every caller sends the
same, or a function of the world and the caller when each needs its own target (a booking to
cancel, a key to revoke), so that one caller's success does not change another's answer.

A new route needs a row here; the test fails naming the route until it has one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.support.scenarios import lab_scenario

CALLERS = ("none", "other", "own", "client", "network")

MON = datetime(2026, 1, 5, tzinfo=UTC)  # a Monday; the clock stands at 08:00
H = timedelta(hours=1)


def iso(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


@dataclass
class World:
    """What the rows name: made once by the test, per caller where a row needs its own."""

    booking: str = ""  # acme's booking on sem-a
    per_caller: dict[str, dict[str, str]] = field(default_factory=dict)  # who -> name -> id
    slots: list[datetime] = field(default_factory=list)  # free starts of one hour on sem-a
    forecast: str = ""  # a job of globex
    simulation: str = ""  # a job of globex
    feed_token: str = ""  # acme's feed
    item: str = ""  # a service item of lab-a, on sem-a
    request: str = ""  # acme's request for what only sem-a has (lab-a is concerned, lab-b not)
    voucher: str = ""  # acme's

    def mine(self, who: str, name: str) -> str:
        return self.per_caller[who][name]

    def slot(self, who: str, n: int) -> dict[str, str]:
        start = self.slots[CALLERS.index(who) * 2 + n]
        return {"start": iso(start), "end": iso(start + H)}


@dataclass(frozen=True)
class Req:
    """One request: its path (with query), and a JSON body; ``stream`` for an event stream."""

    path: str
    body: Any = None
    stream: bool = False


Make = Callable[[World, str], Req]


def fixed(path: str, body: Any = None, *, stream: bool = False) -> Make:
    return lambda _w, _who: Req(path, body, stream)


@dataclass(frozen=True)
class Row:
    expect: tuple[int, int, int, int, int]
    make: Make


A = "/api/v1"
B = f"{A}/bookings"
IN = f"{A}/instruments"
P = f"{A}/public"
SI = f"{A}/service-items"
R = f"{A}/requests"
OFFER = f"{R}/{{request}}/offers/{{offer}}"
V = f"{A}/vouchers"
WEEK = f"start={iso(MON)}&end={iso(MON + 24 * H)}"

PROFILE = {"name_zh": "甲平台", "name_en": "Lab A", "site": "lab", "public": True}
ITEM = {
    "platform": "lab-a",
    "name_zh": "扫描电镜成像（每样品）",
    "name_en": "SEM imaging, per sample",
    "unit": "sample",
    "price": "350.00",
    "instrument": "sem-a",
    "public": True,
}
REQUEST = {
    "title": "能谱分析 EDS mapping",
    "capabilities": ["eds"],
    "hours": 1,
    "deadline": iso(MON + 120 * H),
}
VOUCHER = {"amount": "100.00", "note": "中试服务券 pilot"}

ROWS: dict[tuple[str, str], Row] = {
    ("GET", "/"): Row((307, 307, 307, 307, 307), fixed("/")),  # to the console
    ("GET", "/console"): Row((307, 307, 307, 307, 307), fixed("/console")),  # to /console/
    ("GET", "/dashboard"): Row((301, 301, 301, 301, 301), fixed("/dashboard")),  # the board
    ("GET", "/dashboard/{rest}"): Row((301, 301, 301, 301, 301), fixed("/dashboard/")),
    ("GET", "/healthz"): Row((200, 200, 200, 200, 200), fixed("/healthz")),
    ("GET", "/readyz"): Row((200, 200, 200, 200, 200), fixed("/readyz")),
    ("GET", "/metrics"): Row((200, 200, 200, 200, 200), fixed("/metrics")),
    # organisations and keys
    ("GET", f"{A}/organisations"): Row((401, 200, 200, 403, 200), fixed(f"{A}/organisations")),
    ("POST", f"{A}/organisations"): Row(
        (401, 403, 403, 403, 201),
        lambda _w, who: Req(
            f"{A}/organisations", {"id": f"org-{who}", "name": "新 New", "kind": "client"}
        ),
    ),
    ("GET", f"{A}/keys"): Row((401, 200, 200, 403, 200), fixed(f"{A}/keys")),
    # an admin makes keys of its own organisation (the body names none: the caller's)
    ("POST", f"{A}/keys"): Row((401, 201, 201, 403, 201), fixed(f"{A}/keys", {"role": "operator"})),
    # any key asks who it is
    ("GET", f"{A}/me"): Row((401, 200, 200, 200, 200), fixed(f"{A}/me")),
    ("DELETE", f"{A}/keys/{{key_id}}"): Row(
        (401, 404, 204, 403, 204), lambda w, who: Req(f"{A}/keys/{w.mine(who, 'key')}")
    ),
    # the catalogue
    ("GET", IN): Row((401, 200, 200, 200, 200), fixed(IN)),
    ("POST", IN): Row(
        (401, 403, 201, 403, 201),
        lambda _w, who: Req(
            IN, {"id": f"new-{who}", "site": "lab", "kind": "sem", "owner_org": "lab-a"}
        ),
    ),
    ("GET", f"{IN}/{{instrument}}"): Row((401, 200, 200, 200, 200), fixed(f"{IN}/sem-a")),
    ("PATCH", f"{IN}/{{instrument}}"): Row(
        (401, 403, 200, 403, 200), fixed(f"{IN}/sem-a", {"name": "扫描电镜 SEM"})
    ),
    ("DELETE", f"{IN}/{{instrument}}"): Row(
        (401, 403, 204, 403, 204), lambda _w, who: Req(f"{IN}/old-{who}")
    ),
    ("GET", f"{IN}/{{instrument}}/twin"): Row((401, 200, 200, 200, 200), fixed(f"{IN}/sem-a/twin")),
    ("GET", f"{IN}/{{instrument}}/telemetry"): Row(
        (401, 200, 200, 200, 200), fixed(f"{IN}/sem-a/telemetry?{WEEK}")
    ),
    ("GET", f"{IN}/{{instrument}}/metrics"): Row(
        (401, 200, 200, 200, 200), fixed(f"{IN}/sem-a/metrics?{WEEK}&bucket=PT1H")
    ),
    ("GET", f"{IN}/{{instrument}}/closures"): Row(
        (401, 200, 200, 200, 200), fixed(f"{IN}/sem-a/closures")
    ),
    ("GET", "/api/v1/closures"): Row(
        (401, 200, 200, 200, 200), fixed(f"/api/v1/closures?site=lab&{WEEK}")
    ),
    ("POST", f"{IN}/{{instrument}}/closures"): Row(
        (401, 403, 201, 403, 201),
        fixed(
            f"{IN}/sem-a/closures",
            {"start": iso(MON + 600 * H), "end": iso(MON + 601 * H), "reason": "保养 service"},
        ),
    ),
    ("DELETE", f"{IN}/{{instrument}}/closures/{{closure_id}}"): Row(
        (401, 403, 204, 403, 204),
        lambda w, who: Req(f"{IN}/sem-a/closures/{w.mine(who, 'closure')}"),
    ),
    ("GET", f"{IN}/{{instrument}}/qualifications"): Row(
        (401, 403, 200, 403, 200), fixed(f"{IN}/sem-a/qualifications")
    ),
    ("PUT", f"{IN}/{{instrument}}/qualifications/{{org}}"): Row(
        (401, 403, 204, 403, 204), fixed(f"{IN}/sem-a/qualifications/globex")
    ),
    ("DELETE", f"{IN}/{{instrument}}/qualifications/{{org}}"): Row(
        (401, 403, 204, 403, 204), fixed(f"{IN}/sem-a/qualifications/globex")
    ),
    # the ingest's rejects
    ("GET", f"{A}/rejects"): Row((401, 200, 200, 403, 200), fixed(f"{A}/rejects")),
    ("POST", f"{A}/rejects/replay"): Row(
        (401, 403, 200, 403, 200), fixed(f"{A}/rejects/replay", {"instrument": "sem-a"})
    ),
    ("GET", f"{A}/events"): Row(
        (401, 200, 200, 200, 200), fixed(f"{A}/events?instrument=sem-a", stream=True)
    ),
    # bookings: acme's on sem-a, which lab-a runs
    ("POST", B): Row(
        (401, 201, 201, 201, 201),
        lambda w, who: Req(B, {"instrument": "sem-a", **w.slot(who, 0)}),
    ),
    ("GET", B): Row((401, 200, 200, 200, 200), fixed(B)),
    ("GET", f"{B}/{{booking_id}}"): Row(
        (401, 404, 200, 200, 200), lambda w, _who: Req(f"{B}/{w.booking}")
    ),
    ("PATCH", f"{B}/{{booking_id}}"): Row(
        (401, 404, 200, 200, 200),
        lambda w, who: Req(f"{B}/{w.mine(who, 'booking')}", w.slot(who, 1)),
    ),
    ("DELETE", f"{B}/{{booking_id}}"): Row(
        (401, 404, 204, 204, 204), lambda w, who: Req(f"{B}/{w.mine(who, 'cancel')}")
    ),
    ("GET", f"{B}/{{booking_id}}/usage"): Row(
        (401, 404, 200, 200, 200), lambda w, _who: Req(f"{B}/{w.booking}/usage")
    ),
    # 409: let in, then outside its check-in window (the booking is tomorrow)
    ("POST", f"{B}/{{booking_id}}/check-in"): Row(
        (401, 404, 409, 409, 409), lambda w, _who: Req(f"{B}/{w.booking}/check-in", {})
    ),
    ("GET", f"{A}/availability"): Row(
        (401, 200, 200, 200, 200), fixed(f"{A}/availability?instrument=sem-a&duration=PT1H")
    ),
    # an organisation's own: quotas, statements, vouchers, calendars
    ("GET", f"{A}/organisations/{{org}}/quotas"): Row(
        (401, 404, 404, 200, 200), fixed(f"{A}/organisations/acme/quotas")
    ),
    ("PUT", f"{A}/organisations/{{org}}/quotas/{{period}}"): Row(
        (401, 403, 403, 403, 204), fixed(f"{A}/organisations/acme/quotas/week", {"max_hours": 40})
    ),
    ("DELETE", f"{A}/organisations/{{org}}/quotas/{{period}}"): Row(
        (401, 403, 403, 403, 204), fixed(f"{A}/organisations/acme/quotas/month")
    ),
    ("GET", f"{A}/statements/{{org}}/{{month}}"): Row(
        (401, 404, 404, 200, 200), fixed(f"{A}/statements/acme/2026-01")
    ),
    ("POST", f"{A}/organisations/{{org}}/vouchers"): Row(
        (401, 403, 403, 403, 201), fixed(f"{A}/organisations/acme/vouchers", {"amount": "100.00"})
    ),
    ("GET", f"{A}/organisations/{{org}}/vouchers"): Row(
        (401, 404, 404, 200, 200), fixed(f"{A}/organisations/acme/vouchers")
    ),
    ("POST", f"{A}/calendars"): Row(
        (401, 404, 404, 201, 201), fixed(f"{A}/calendars", {"org": "acme"})
    ),
    ("DELETE", f"{A}/calendars/{{feed_id}}"): Row(
        (401, 404, 404, 204, 204), lambda w, who: Req(f"{A}/calendars/{w.mine(who, 'feed')}")
    ),
    # the feed's secret URL is its own credential: anyone holding it reads it
    ("GET", f"{A}/calendars/{{token}}.ics"): Row(
        (200, 200, 200, 200, 200), lambda w, _who: Req(f"{A}/calendars/{w.feed_token}.ics")
    ),
    # planning: planner keys and up; a job is its organisation's (globex's here)
    ("GET", f"{A}/forecasts"): Row((401, 200, 200, 403, 200), fixed(f"{A}/forecasts")),
    ("POST", f"{A}/forecasts"): Row(
        (401, 202, 202, 403, 202), fixed(f"{A}/forecasts", {"horizon_days": 7})
    ),
    ("GET", f"{A}/forecasts/{{job_id}}"): Row(
        (401, 404, 404, 403, 200), lambda w, _who: Req(f"{A}/forecasts/{w.forecast}")
    ),
    ("POST", f"{A}/simulations"): Row(
        (401, 202, 202, 403, 202), lambda _w, _who: Req(f"{A}/simulations", {"scenario": SCENARIO})
    ),
    ("GET", f"{A}/simulations"): Row((401, 200, 200, 403, 200), fixed(f"{A}/simulations")),
    ("GET", f"{A}/scenarios"): Row((401, 200, 200, 403, 200), fixed(f"{A}/scenarios")),
    ("GET", f"{A}/scenarios/{{name}}"): Row(
        (401, 200, 200, 403, 200), fixed(f"{A}/scenarios/smt-second-reflow")
    ),
    ("GET", f"{A}/simulations/{{job_id}}"): Row(
        (401, 404, 404, 403, 200), lambda w, _who: Req(f"{A}/simulations/{w.simulation}")
    ),
    # the audit log: the network's, and each platform's own lines
    ("GET", f"{A}/audit"): Row((401, 200, 200, 403, 200), fixed(f"{A}/audit")),
    # the public directory answers everyone, with or without a key
    ("GET", f"{P}/platforms"): Row((200, 200, 200, 200, 200), fixed(f"{P}/platforms")),
    ("GET", f"{P}/instruments"): Row((200, 200, 200, 200, 200), fixed(f"{P}/instruments")),
    ("GET", f"{P}/service-items"): Row((200, 200, 200, 200, 200), fixed(f"{P}/service-items")),
    ("GET", f"{P}/statistics"): Row(
        (200, 200, 200, 200, 200), fixed(f"{P}/statistics?period=2026-01")
    ),
    # a platform's statistics in detail: its own admins and the network's
    ("GET", f"{A}/statistics"): Row(
        (401, 403, 200, 403, 200), fixed(f"{A}/statistics?period=2026-01&platform=lab-a")
    ),
    # a platform's profile: any key reads it, its own admins (and the network's) write it
    ("GET", f"{A}/organisations/{{org}}/profile"): Row(
        (401, 200, 200, 200, 200), fixed(f"{A}/organisations/lab-a/profile")
    ),
    ("PUT", f"{A}/organisations/{{org}}/profile"): Row(
        (401, 403, 200, 403, 200), fixed(f"{A}/organisations/lab-a/profile", PROFILE)
    ),
    # service items: any key reads them; lab-a's admins (and the network's) administer lab-a's
    ("GET", SI): Row((401, 200, 200, 200, 200), fixed(SI)),
    ("POST", SI): Row(
        (401, 403, 201, 403, 201), lambda _w, who: Req(SI, {**ITEM, "id": f"new-item-{who}"})
    ),
    ("GET", f"{SI}/{{item}}"): Row(
        (401, 200, 200, 200, 200), lambda w, _who: Req(f"{SI}/{w.item}")
    ),
    ("PATCH", f"{SI}/{{item}}"): Row(
        (401, 403, 200, 403, 200), lambda w, _who: Req(f"{SI}/{w.item}", {"price": "380.00"})
    ),
    ("DELETE", f"{SI}/{{item}}"): Row(
        (401, 403, 204, 403, 204), lambda w, who: Req(f"{SI}/{w.mine(who, 'item')}")
    ),
    # requests: acme's, which lab-a (owning the capable sem-a) sees and offers on and lab-b
    # does not see at all; only the client (or the network) cancels, accepts and declines
    ("POST", R): Row((401, 201, 201, 201, 201), fixed(R, REQUEST)),
    ("GET", R): Row((401, 200, 200, 200, 200), fixed(R)),
    ("GET", f"{R}/{{request}}"): Row(
        (401, 404, 200, 200, 200), lambda w, _who: Req(f"{R}/{w.request}")
    ),
    ("GET", f"{R}/{{request}}/matches"): Row(
        (401, 404, 200, 200, 200), lambda w, _who: Req(f"{R}/{w.request}/matches?seed=1")
    ),
    ("GET", f"{R}/{{request}}/history"): Row(
        (401, 404, 200, 200, 200), lambda w, _who: Req(f"{R}/{w.request}/history")
    ),
    ("POST", f"{R}/{{request}}/cancel"): Row(
        (401, 404, 403, 200, 200), lambda w, who: Req(f"{R}/{w.mine(who, 'cancel-request')}/cancel")
    ),
    # an offer of sem-a: lab-a's admins (or the network's); the client may not (not_owner)
    ("POST", f"{R}/{{request}}/offers"): Row(
        (401, 404, 201, 403, 201),
        lambda w, _who: Req(
            f"{R}/{w.request}/offers",
            {
                "instrument": "sem-a",
                "start": iso(MON + 50 * H),
                "end": iso(MON + 51 * H),
                "price": "800.00",
            },
        ),
    ),
    ("POST", f"{OFFER}/accept"): Row(
        (401, 404, 403, 200, 200),
        lambda w, who: Req(f"{R}/{w.mine(who, 'accept')}/offers/{w.mine(who, 'offer')}/accept"),
    ),
    ("POST", f"{OFFER}/decline"): Row(
        (401, 404, 403, 200, 200),
        lambda w, who: Req(f"{R}/{w.request}/offers/{w.mine(who, 'decline')}/decline"),
    ),
    # the client sees the offer on its request but may not withdraw it: 403, not 404
    ("POST", f"{OFFER}/withdraw"): Row(
        (401, 404, 200, 403, 200),
        lambda w, who: Req(f"{R}/{w.request}/offers/{w.mine(who, 'withdraw')}/withdraw"),
    ),
    # vouchers: each organisation reads its own; the network operator's admins change them
    ("GET", V): Row((401, 200, 200, 200, 200), fixed(V)),
    ("GET", f"{V}/report"): Row((401, 403, 403, 403, 200), fixed(f"{V}/report?period=2026-01")),
    ("GET", f"{V}/{{voucher_id}}"): Row(
        (401, 404, 404, 200, 200), lambda w, _who: Req(f"{V}/{w.voucher}")
    ),
    ("PATCH", f"{V}/{{voucher_id}}"): Row(
        (401, 403, 403, 403, 200),
        lambda w, _who: Req(f"{V}/{w.voucher}", {"note": "第一批 batch 1"}),
    ),
    ("POST", f"{V}/{{voucher_id}}/revoke"): Row(
        (401, 403, 403, 403, 200), lambda w, who: Req(f"{V}/{w.mine(who, 'voucher')}/revoke")
    ),
}

SCENARIO = lab_scenario("matrix")
