"""The SQLite outbox: whole batches, a counter that survives reopening, counted drops."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pilotshare.core.contract import Sample, decode_telemetry
from pilotshare.core.domain import InstrumentState
from pilotshare.edge_agent.outbox import Outbox
from pilotshare.edge_agent.protocol import Drop, Forget, Seal

T0 = datetime(2026, 11, 28, 1, 0, tzinfo=UTC)


def sample(i: int) -> Sample:
    return Sample(
        ts=T0 + timedelta(seconds=i),
        state=InstrumentState.RUNNING,
        utilization=0.5,
        metrics={"power_w": float(i)},
    )


def test_seal_forget_and_reopen(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite"
    box = Outbox(path, first_batch=500)
    for i in range(3):
        box.append(sample(i))
    box.apply(Seal(500, 3))
    box.append(sample(3))
    stored = box.stored()
    assert (stored.next_batch, stored.pending, stored.batches) == (501, 1, ((500, 3),))
    batch = decode_telemetry(box.payload(500, "a"), T0)
    assert batch.batch == 500
    assert [s.metrics["power_w"] for s in batch.samples] == [0.0, 1.0, 2.0]
    assert box.oldest() == T0
    box.close()

    again = Outbox(path, first_batch=1)  # the stored counter wins over a new start value
    assert again.stored().next_batch == 501
    again.apply(Forget((500,)))
    assert again.stored().batches == ()
    assert again.oldest() == T0 + timedelta(seconds=3)
    again.close()


def test_drops_are_counted_for_the_outbox_lifetime(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite", first_batch=1)
    for i in range(4):
        box.append(sample(i))
    box.apply(Seal(1, 4))
    box.apply(Drop((1,), 4))
    assert box.dropped() == 4
    assert box.stored().batches == ()
    box.close()
    assert Outbox(tmp_path / "o.sqlite", first_batch=1).dropped() == 4


def test_a_failed_seal_leaves_no_torn_batch(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite", first_batch=1)
    box.append(sample(0))
    box.apply(Seal(1, 1))
    box.append(sample(1))
    with pytest.raises(sqlite3.IntegrityError):
        box.apply(Seal(1, 1))  # the number exists: the whole transaction rolls back
    stored = box.stored()
    assert (stored.next_batch, stored.pending, stored.batches) == (2, 1, ((1, 1),))


def test_the_file_is_in_wal_mode(tmp_path: Path) -> None:
    Outbox(tmp_path / "o.sqlite", first_batch=1).close()
    with sqlite3.connect(tmp_path / "o.sqlite") as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_seal_takes_the_oldest_pending_samples_it_counted(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite", first_batch=1)
    for i in range(3):
        box.append(sample(i))
    box.apply(Seal(1, 2))  # the third sample arrived before the seal was carried out
    stored = box.stored()
    assert (stored.pending, stored.batches) == (1, ((1, 2),))
    assert [s.metrics["power_w"] for s in decode_telemetry(box.payload(1, "a"), T0).samples] == [
        0.0,
        1.0,
    ]
    assert (
        stored.pending_bytes
        == len(
            b'{"ts":"2026-11-28T01:00:02Z","state":"running","utilization":0.5,"metrics":{"power_w":2.0}}'
        )
        + 1
    )
