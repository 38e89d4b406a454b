"""Edge agent: what durability costs, how big the outbox grows, how fast a backlog drains.

``python -m benchmarks.agent [--samples N] [--repeat R]``

1. Outbox writes: samples/s committed one by one and sealed into batches of 100, as the agent
   does (``synchronous=FULL``: each sample survives a power cut), against two baselines in
   the same run: the same with ``synchronous=NORMAL`` (survives a crash, not a power cut) and
   the pure protocol alone (no disk).
2. Outbox size: bytes on disk per sample of the simulated instrument (two metrics).
3. Drain: a backlog of ``--backlog`` samples sent through a private Mosquitto to a backend that
   acks at once (paho, in a thread), against the baseline of publishing the same payloads at
   QoS 1 with paho alone: the agent's share of the end-to-end path.

Medians over ``--repeat`` runs; compare the ratios, absolute figures drift with load.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import paho.mqtt.client as paho

from pilotshare.core.clock import SystemClock
from pilotshare.core.contract import Sample, TelemetryBatch, encode
from pilotshare.core.embedded import free_port
from pilotshare.edge_agent.adapters import SimulatedAdapter, SimulatedInstrument, SimulatedParams
from pilotshare.edge_agent.config import AgentConfig
from pilotshare.edge_agent.outbox import Outbox
from pilotshare.edge_agent.protocol import Limits, OutboxProtocol
from pilotshare.edge_agent.runner import Agent

T0 = datetime(2026, 1, 5, tzinfo=UTC)


def samples(n: int) -> list[Sample]:
    inst = SimulatedInstrument(SimulatedParams(), 1, start=T0)
    return [inst.step(T0 + timedelta(seconds=i)) for i in range(n)]


def write_rate(data: list[Sample], synchronous: str | None) -> float:
    """Samples/s through append + protocol (+ seal); None: the protocol alone."""
    proto = OutboxProtocol(Limits(batch_max_samples=100), next_batch=1, now=0)
    with tempfile.TemporaryDirectory() as tmp:
        box = None
        if synchronous is not None:
            box = Outbox(Path(tmp) / "o.sqlite", first_batch=1)
            box._db.execute(f"PRAGMA synchronous={synchronous}")
        start = time.perf_counter()
        for i, sample in enumerate(data):
            size = box.append(sample) if box is not None else 150
            for effect in proto.sample(float(i), size):
                if box is not None:
                    box.apply(effect)
        elapsed = time.perf_counter() - start
        if box is not None:
            box.close()
    return len(data) / elapsed


def bytes_per_sample(data: list[Sample]) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "o.sqlite"
        box = Outbox(path, first_batch=1)
        box._db.execute("PRAGMA synchronous=OFF")
        proto = OutboxProtocol(Limits(batch_max_samples=100), next_batch=1, now=0)
        for i, sample in enumerate(data):
            box.append(sample)
            for effect in proto.sample(float(i)):
                box.apply(effect)
        box._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        box.close()
        return path.stat().st_size / len(data)


class Broker:
    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        conf = workdir / "mosquitto.conf"
        conf.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
            "max_queued_messages 100000\nlog_dest none\n"
        )
        self.proc = subprocess.Popen(["/usr/sbin/mosquitto", "-c", str(conf)])
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
            except OSError:
                time.sleep(0.05)
            else:
                return
        raise RuntimeError("mosquitto did not start")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def acking_backend(port: int, site: str, ready: threading.Event) -> paho.Client:
    client = paho.Client(paho.CallbackAPIVersion.VERSION2, protocol=paho.MQTTv311)

    def on_message(c: paho.Client, _u: object, msg: paho.MQTTMessage) -> None:
        number = json.loads(msg.payload)["batch"]
        ack = json.dumps({"v": 1, "batches": [number]}).encode()
        c.publish(msg.topic.rsplit("/", 1)[0] + "/ack", ack, qos=1)

    def on_connect(c: paho.Client, *_: object) -> None:
        c.subscribe(f"pilotshare/v1/{site}/+/telemetry", qos=1)
        ready.set()

    client.on_message = on_message
    client.on_connect = on_connect
    client.connect("127.0.0.1", port)
    client.loop_start()
    return client


async def drain_rate(backlog: int, port: int, workdir: Path, run: int) -> float:
    """Samples/s acknowledged end to end when an agent restarts with a full outbox."""
    site = f"bench{run}"
    path = workdir / f"drain{run}.sqlite"
    box = Outbox(path, first_batch=1)
    proto = OutboxProtocol(Limits(batch_max_samples=100), next_batch=1, now=0)
    for i, sample in enumerate(samples(backlog)):
        box.append(sample)
        for effect in proto.sample(float(i)):
            box.apply(effect)
    box.close()
    ready = threading.Event()
    backend = acking_backend(port, site, ready)
    ready.wait(5)
    config = AgentConfig(
        site=site,
        instrument="oven-1",
        mqtt_url=f"mqtt://127.0.0.1:{port}",
        outbox_path=str(path),
        metrics_port=0,
        sample_interval_s=3600,
    )
    clock = SystemClock()
    agent = Agent(config, SimulatedAdapter(SimulatedParams(), 1, start=clock.now()), clock)
    stop = asyncio.Event()
    task = asyncio.create_task(agent.run(stop))
    await agent.connected.wait()
    start = time.perf_counter()
    while agent.stats.acked < backlog // 100:
        await asyncio.sleep(0.005)
    elapsed = time.perf_counter() - start
    stop.set()
    await task
    backend.loop_stop()
    backend.disconnect()
    return backlog / elapsed


def paho_rate(backlog: int, port: int) -> float:
    """Baseline: the same payloads (batches of 100) published at QoS 1 by paho alone."""
    payload = encode(TelemetryBatch(agent="a", batch=1, samples=tuple(samples(100))))
    client = paho.Client(paho.CallbackAPIVersion.VERSION2, protocol=paho.MQTTv311)
    client.max_inflight_messages_set(32)
    client.connect("127.0.0.1", port)
    client.loop_start()
    start = time.perf_counter()
    infos = [client.publish("bench/paho", payload, qos=1) for _ in range(backlog // 100)]
    for info in infos:
        info.wait_for_publish(10)
    elapsed = time.perf_counter() - start
    client.loop_stop()
    client.disconnect()
    return backlog / elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=5000)
    parser.add_argument("--backlog", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    data = samples(args.samples)

    full = statistics.median(write_rate(data, "FULL") for _ in range(args.repeat))
    normal = statistics.median(write_rate(data, "NORMAL") for _ in range(args.repeat))
    pure = statistics.median(write_rate(data, None) for _ in range(args.repeat))
    print(f"outbox writes, samples/s (median of {args.repeat}, {args.samples} samples):")
    print(f"  agent (synchronous=FULL)   {full:10.0f}")
    print(f"  baseline synchronous=NORMAL {normal:9.0f}   agent/baseline = {full / normal:.2f}")
    print(f"  baseline protocol alone    {pure:10.0f}   agent/baseline = {full / pure:.4f}")
    size = bytes_per_sample(samples(20_000))
    print(f"outbox size: {size:.0f} bytes/sample -> {size * 86_400 / 1e6:.1f} MB per day at 1 Hz")

    with tempfile.TemporaryDirectory() as tmp:
        broker = Broker(Path(tmp))
        try:
            drains = [
                asyncio.run(drain_rate(args.backlog, broker.port, Path(tmp), r))
                for r in range(args.repeat)
            ]
            baseline = statistics.median(
                paho_rate(args.backlog, broker.port) for _ in range(args.repeat)
            )
        finally:
            broker.stop()
    drain = statistics.median(drains)
    print(f"backlog drain, samples/s acked end to end ({args.backlog} samples, batches of 100):")
    print(f"  agent                      {drain:10.0f}   ({drain / 86_400:.1f} days of 1 Hz per s)")
    print(
        f"  baseline paho QoS 1 publish {baseline:9.0f}   agent/baseline = {drain / baseline:.2f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
