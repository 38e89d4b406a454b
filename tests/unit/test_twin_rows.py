"""The hourly rollup counted in Python equals the definition, whatever the batches look like."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as hs

from pilotshare.core.contract import Sample, TelemetryBatch, Topic, encode
from pilotshare.core.contract.topics import Channel
from pilotshare.core.domain import InstrumentState
from pilotshare.twin.items import TelemetryItem
from pilotshare.twin.rows import Rows

T0 = datetime(2026, 5, 4, 9, 58, tzinfo=UTC)
ZONES = [UTC, timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(hours=-8))]

samples = hs.lists(
    hs.tuples(
        hs.integers(0, 3 * 3600 * 1000),  # milliseconds after T0: batches span hours
        hs.sampled_from(list(InstrumentState)),
        hs.one_of(hs.none(), hs.floats(0, 1)),
        hs.sampled_from(ZONES),
    ),
    min_size=1,
    max_size=30,
    unique_by=lambda s: s[0],
)


@settings(max_examples=200, deadline=None)
@given(hs.lists(hs.tuples(hs.sampled_from(["a", "b"]), samples), min_size=1, max_size=6))
def test_hourly_counts_match_the_definition(batches: list[tuple[str, list]]) -> None:  # type: ignore[type-arg]
    items, expected = [], defaultdict(lambda: [0, {}, 0.0, 0, None, None])
    for number, (instrument, rows) in enumerate(batches):
        batch = TelemetryBatch(
            agent="a",
            batch=number,
            samples=tuple(
                Sample(
                    ts=(T0 + timedelta(milliseconds=ms)).astimezone(zone), state=st, utilization=u
                )
                for ms, st, u, zone in rows
            ),
        )
        items.append(
            TelemetryItem(Topic("s", instrument, Channel.TELEMETRY), batch, encode(batch), T0, 0.0)
        )
        for s in batch.samples:
            hour = s.ts.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
            e = expected[(instrument, hour)]
            e[0] += 1
            e[1][s.state.value] = e[1].get(s.state.value, 0) + 1
            if s.utilization is not None:
                e[2] += s.utilization
                e[3] += 1
            e[4] = s.ts if e[4] is None else min(e[4], s.ts)
            e[5] = s.ts if e[5] is None else max(e[5], s.ts)
    rows = Rows(items)
    assert len(rows.records) == sum(len(r) for _, r in batches)
    cols = rows.hourly()
    got = {}
    for i in range(len(cols[0])):
        states = {s.value: cols[3 + k][i] for k, s in enumerate(InstrumentState) if cols[3 + k][i]}
        got[(cols[0][i], cols[1][i])] = [
            cols[2][i],
            states,
            cols[10][i],
            cols[11][i],
            cols[8][i],
            cols[9][i],
        ]
    assert set(got) == set(expected)
    for key, e in expected.items():
        g = got[key]
        assert g[0] == e[0]
        assert g[1] == e[1]
        assert abs(g[2] - e[2]) < 1e-9
        assert g[3] == e[3]
        assert g[4] == e[4]
        assert g[5] == e[5]
        assert key[1].minute == key[1].second == key[1].microsecond == 0
