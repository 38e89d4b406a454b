"""A finished forecast's ``at_risk`` events: one per organisation that may see the job and has
bookings at risk, each with only its own, and cut to a stream's site and instrument."""

from __future__ import annotations

import json
from uuid import uuid4

from pilotshare.api.routes.events import Notice
from pilotshare.scheduler.forecast.alerts import alerts

JOB = uuid4()
ROWS = [
    {"booking": "a1", "instrument": "sem-1", "org": "acme", "p_served": 0.2, "cause": "x",
     "start": "s", "end": "e", "alternatives": [{"instrument": "sem-2"}], "interval": [0, 1]},
    {"booking": "g1", "instrument": "sem-1", "org": "globex", "p_served": 0.5, "cause": "x",
     "start": "s", "end": "e"},
    {"booking": "g2", "instrument": "xrd-1", "org": "globex", "p_served": 0.1, "cause": "x",
     "start": "s", "end": "e"},
    {"booking": "i1", "instrument": "sem-1", "org": "initech", "p_served": 0.1, "cause": "x",
     "start": "s", "end": "e"},
]  # fmt: skip
SITES = {"sem-1": "lab", "xrd-1": "annex"}


def test_each_organisation_that_may_see_the_job_gets_its_own_bookings_only() -> None:
    got = alerts(JOB, ["acme", "globex", "umbrella"], ROWS, SITES)
    assert [a.org for a in got] == ["acme", "globex"]  # umbrella has none at risk: no event
    acme, globex = got
    assert [b["booking"] for b in acme.bookings] == ["a1"]
    assert set(acme.bookings[0]) == {
        "booking", "instrument", "site", "start", "end", "p_served", "cause",
    }  # fmt: skip
    assert acme.bookings[0]["site"] == "lab"
    assert [b["booking"] for b in globex.bookings] == ["g1", "g2"]
    event = acme.as_event()
    assert event["href"] == f"/api/v1/forecasts/{JOB}"
    assert "initech" not in json.dumps([a.as_event() for a in got])  # not in the audience


def test_a_stream_of_one_site_or_instrument_gets_only_the_bookings_there() -> None:
    (_, globex) = alerts(JOB, ["acme", "globex"], ROWS, SITES)
    notice = Notice("at_risk", "", None, None, globex.org, globex)

    def booked(text: str | None) -> list[str]:
        assert text is not None
        data = json.loads(text.split("data: ", 1)[1])
        return [b["booking"] for b in data["bookings"]]

    assert booked(notice.render(site=None, instrument=None)) == ["g1", "g2"]
    assert booked(notice.render(site="annex", instrument=None)) == ["g2"]
    assert booked(notice.render(site=None, instrument="sem-1")) == ["g1"]
    assert notice.render(site="elsewhere", instrument=None) is None
