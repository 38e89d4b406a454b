"""The Sparkplug host's rules as a state machine: births, aliases, seq, bdSeq, deaths."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pilotshare.core.domain import InstrumentState
from pilotshare.twin.sparkplug.host import (
    REASONS,
    REBIRTH,
    Effect,
    Host,
    Observe,
    Presence,
    Publish,
    Refuse,
)
from pilotshare.twin.sparkplug.mapping import HostConfig, InstrumentMap, Mapping
from pilotshare.twin.sparkplug.payload import (
    DataType,
    Kind,
    Metric,
    Payload,
    decode_payload,
    encode_payload,
)

NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)
MS = int(NOW.timestamp() * 1000)
G, N = "line-1", "plc-7"
NODE = f"spBv1.0/{G}/{{}}/{N}"
DEV = f"spBv1.0/{G}/{{}}/{N}/oven"


def mapping(**host: object) -> Mapping:
    oven = InstrumentMap(
        id="oven-3",
        group=G,
        node=N,
        device="oven",
        state="State",
        states={"1": InstrumentState.RUNNING, "2": InstrumentState.IDLE},
        utilization="OEE",
        utilization_scale=0.01,
        metrics={"power_w": "Power"},
    )
    node = InstrumentMap(id="plc-7", group=G, node=N, state="Mode")
    return Mapping.of(HostConfig(**host), [oven, node])  # type: ignore[arg-type]


def host(**config: object) -> Host:
    h = Host(mapping(**config))
    h.connected(NOW)
    return h


def m(name: str | None, value: float | str, *, alias: int | None = None, dt: DataType) -> Metric:
    kind = {
        DataType.INT32: Kind.INT,
        DataType.INT64: Kind.LONG,
        DataType.DOUBLE: Kind.DOUBLE,
        DataType.STRING: Kind.STRING,
        DataType.BOOLEAN: Kind.BOOLEAN,
    }[dt]
    return Metric(name=name, alias=alias, datatype=dt, kind=kind, value=value)


def pb(seq: int | None, *metrics: Metric, ts: int = MS) -> bytes:
    return encode_payload(Payload(timestamp=ts, metrics=metrics, seq=seq))


def nbirth(bd_seq: int = 0, seq: int = 0) -> bytes:
    return pb(seq, m("bdSeq", bd_seq, dt=DataType.INT64), m("Mode", "running", dt=DataType.STRING))


def dbirth(seq: int) -> bytes:
    return pb(
        seq,
        m("State", 1, alias=1, dt=DataType.INT32),
        m("OEE", 83.0, alias=2, dt=DataType.DOUBLE),
        m("Power", 1500.0, alias=3, dt=DataType.DOUBLE),
    )


def born(h: Host) -> list[Effect]:
    return h.receive(NODE.format("NBIRTH"), nbirth(), NOW) + h.receive(
        DEV.format("DBIRTH"), dbirth(1), NOW
    )


def of(effects: list[Effect], kind: type) -> list:  # type: ignore[type-arg]
    return [e for e in effects if isinstance(e, kind)]


def rebirths(effects: list[Effect]) -> list[Publish]:
    out = [e for e in of(effects, Publish) if "/NCMD/" in e.topic]
    for p in out:
        assert p.topic == f"spBv1.0/{G}/NCMD/{N}"
        (metric,) = decode_payload(p.payload).metrics
        assert (metric.name, metric.value, metric.datatype) == (REBIRTH, True, DataType.BOOLEAN)
    return out


def test_births_bring_instruments_online_with_their_values() -> None:
    effects = born(host())
    assert [(p.instrument, p.online) for p in of(effects, Presence)] == [
        ("plc-7", True),
        ("oven-3", True),
    ]
    samples = {o.instrument: o.sample for o in of(effects, Observe)}
    assert samples["oven-3"] == {
        "ts": NOW.isoformat(),
        "state": "running",
        "utilization": pytest.approx(0.83),
        "metrics": {"power_w": 1500.0},
    }
    assert samples["plc-7"]["state"] == "running"  # a state name needs no entry in states


def test_data_by_alias_changes_only_what_it_carries() -> None:
    h = host()
    born(h)
    later = MS + 1000
    effects = h.receive(
        DEV.format("DDATA"), pb(2, m(None, 2, alias=1, dt=DataType.INT32), ts=later), NOW
    )
    (obs,) = of(effects, Observe)
    assert obs.sample["state"] == "idle"
    assert obs.sample["metrics"] == {"power_w": 1500.0}
    assert obs.sample["ts"] == datetime.fromtimestamp(later / 1000, UTC).isoformat()
    assert rebirths(effects) == []


def test_a_sequence_gap_asks_for_a_rebirth_once_per_interval_and_keeps_the_data() -> None:
    h = host(rebirth_interval_s=10.0)
    born(h)
    gap = h.receive(DEV.format("DDATA"), pb(5, m("State", 2, dt=DataType.INT32)), NOW)
    assert len(rebirths(gap)) == 1
    assert of(gap, Observe)  # readable: still stored
    again = h.receive(DEV.format("DDATA"), pb(9, m("State", 1, dt=DataType.INT32)), NOW)
    assert rebirths(again) == []  # asked already
    h.receive(NODE.format("NBIRTH"), nbirth(), NOW + timedelta(seconds=1))
    after = h.receive(DEV.format("DDATA"), pb(3, m("State", 1, dt=DataType.INT32)), NOW)
    assert len(rebirths(after)) == 1  # a birth came: a new gap asks again


def test_seq_wraps_from_255_to_0_without_a_rebirth() -> None:
    h = host()
    h.receive(NODE.format("NBIRTH"), nbirth(seq=254), NOW)
    effects = h.receive(DEV.format("DBIRTH"), dbirth(255), NOW)
    effects += h.receive(DEV.format("DDATA"), pb(0, m("State", 2, dt=DataType.INT32)), NOW)
    assert rebirths(effects) == []


def test_data_before_birth_is_a_reject_and_a_rebirth_request() -> None:
    h = host()
    effects = h.receive(DEV.format("DDATA"), pb(4, m(None, 2, alias=1, dt=DataType.INT32)), NOW)
    assert [r.reason for r in of(effects, Refuse)] == ["no_birth"]
    assert len(rebirths(effects)) == 1
    h.receive(NODE.format("NBIRTH"), nbirth(), NOW)  # the node, but not yet the device
    effects = h.receive(DEV.format("DDATA"), pb(1, m("State", 2, dt=DataType.INT32)), NOW)
    assert [r.reason for r in of(effects, Refuse)] == ["no_birth"]


def test_an_alias_the_birth_did_not_declare_is_refused_whole() -> None:
    h = host()
    born(h)
    effects = h.receive(
        DEV.format("DDATA"),
        pb(2, m(None, 2, alias=1, dt=DataType.INT32), m(None, 5.0, alias=99, dt=DataType.DOUBLE)),
        NOW,
    )
    assert [r.reason for r in of(effects, Refuse)] == ["unknown_metric"]
    assert of(effects, Observe) == []
    assert len(rebirths(effects)) == 1


def test_ndeath_counts_only_with_the_births_bdseq() -> None:
    h = host()
    h.receive(NODE.format("NBIRTH"), nbirth(bd_seq=4), NOW)
    h.receive(DEV.format("DBIRTH"), dbirth(1), NOW)
    stale = pb(None, m("bdSeq", 3, dt=DataType.INT64))
    assert h.receive(NODE.format("NDEATH"), stale, NOW) == []
    death = h.receive(NODE.format("NDEATH"), pb(None, m("bdSeq", 4, dt=DataType.INT64)), NOW)
    assert [(p.instrument, p.online) for p in of(death, Presence)] == [
        ("plc-7", False),
        ("oven-3", False),
    ]
    later = h.receive(DEV.format("DDATA"), pb(2, m("State", 2, dt=DataType.INT32)), NOW)
    assert [r.reason for r in of(later, Refuse)] == ["no_birth"]


def test_ddeath_takes_one_device_offline() -> None:
    h = host()
    born(h)
    effects = h.receive(DEV.format("DDEATH"), pb(2), NOW)
    assert [(p.instrument, p.online) for p in of(effects, Presence)] == [("oven-3", False)]
    assert h.receive(DEV.format("DDEATH"), pb(3), NOW) == []  # dead already


def test_unmapped_devices_and_bad_payloads_are_rejects() -> None:
    h = host()
    born(h)
    other = f"spBv1.0/{G}/DDATA/{N}/press"
    assert [r.reason for r in of(h.receive(other, pb(2), NOW), Refuse)] == ["unmapped"]
    foreign = "spBv1.0/elsewhere/NDATA/x"
    assert [r.reason for r in of(h.receive(foreign, pb(0), NOW), Refuse)] == ["unmapped"]
    quiet = Host(mapping(reject_unmapped=False))
    assert quiet.receive(foreign, pb(0), NOW) == []
    garbled = h.receive(DEV.format("DDATA"), b"\xff\xff", NOW)
    assert [r.reason for r in of(garbled, Refuse)] == ["bad_sparkplug"]


def test_a_state_value_without_a_mapping_is_bad_state() -> None:
    h = host()
    born(h)
    effects = h.receive(DEV.format("DDATA"), pb(2, m("State", 7, dt=DataType.INT32)), NOW)
    (refused,) = of(effects, Refuse)
    assert refused.reason == "bad_state"
    assert "'7'" in refused.detail


def test_the_host_announces_itself_again_over_its_old_will() -> None:
    h = host(host_id="ps-host")
    will = json.dumps({"online": False, "timestamp": 1}).encode()
    (again,) = h.receive("spBv1.0/STATE/ps-host", will, NOW)
    assert isinstance(again, Publish)
    assert (again.retain, again.qos) == (True, 1)
    assert json.loads(again.payload) == {"online": True, "timestamp": MS}
    assert h.state(online=False) == json.dumps({"online": False, "timestamp": MS}).encode()
    assert h.receive("spBv1.0/STATE/other-host", will, NOW) == []


@given(st.lists(st.integers(0, 255), min_size=1, max_size=40))
def test_a_rebirth_is_asked_exactly_at_each_gap(seqs: list[int]) -> None:
    h = host(rebirth_interval_s=1.0)
    h.receive(NODE.format("NBIRTH"), nbirth(seq=seqs[0]), NOW)
    asked = 0
    for i, seq in enumerate(seqs[1:], start=1):
        now = NOW + timedelta(seconds=2 * i)  # past the interval: every gap asks
        asked += len(rebirths(h.receive(NODE.format("NDATA"), pb(seq), now)))
    gaps = sum(1 for a, b in itertools.pairwise(seqs) if b != (a + 1) % 256)
    assert asked == gaps


def test_every_sparkplug_reject_reason_is_documented() -> None:
    docs = (Path(__file__).parents[2] / "docs" / "sparkplug.md").read_text(encoding="utf-8")
    assert [code for code in REASONS if f"| `{code}` |" not in docs] == []
