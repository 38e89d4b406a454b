"""OPC UA adapter: values/s one agent reads by subscription, and the agent process's memory.

``python -m benchmarks.opcua_agent [--variables N] [--seconds S] [--repeat R]``

An asyncua server in a process of its own changes ``N`` variables as fast as it can (a
state and N-1 metrics). In this process the ``opcua`` adapter reads them:

1. by subscription (data-change notifications, publishing every ``--interval`` s): values
   received per second;
2. baseline, in the same run: by polling, one Read request for all N nodes after another,
   as fast as the server answers: values per second.

The ratio is subscription/polling. Medians over ``--repeat`` runs of ``--seconds`` each; the
server's own rate of changes is printed as the ceiling.

3. Memory: a real agent process (``pilotshare agent --config …``) on the same server by
   subscription (one sample every 0.1 s) and a private Mosquitto, for ``--rss-seconds``:
   its resident set (VmRSS) at the end and its peak (VmHWM); baseline: the same agent
   with the simulated adapter, and a bare Python interpreter's and one that has only
   imported asyncua. Goal: under 50 MB.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

from benchmarks.agent import Broker
from pilotshare.core.embedded import free_port
from pilotshare.edge_agent.adapters.opcua import OpcUaAdapter
from pilotshare.edge_agent.config import OpcUaConfig

HERE = Path(__file__).resolve().parent


def _node(i: int) -> str:
    return f"ns=2;i={1000 + i}"


async def serve(port: int, variables: int) -> None:
    """The server: ``variables`` Double nodes, written round-robin without pause."""
    from asyncua import Server, ua

    server = Server()
    await server.init()
    server.set_endpoint(f"opc.tcp://127.0.0.1:{port}/bench/")
    idx = await server.register_namespace("urn:pilotshare:bench")
    line = await server.nodes.objects.add_object(idx, "Line")
    nodes = [
        await line.add_variable(
            ua.NodeId(1000 + i, idx), f"v{i}", ua.Variant(6.0 if i == 0 else 0.0)
        )
        for i in range(variables)
    ]
    await server.start()
    print("ready", flush=True)
    changes, start, value = 0, time.perf_counter(), 0.0
    while True:
        value += 1.0
        for node in nodes[1:]:
            await server.write_attribute_value(node.nodeid, ua.DataValue(ua.Variant(value)))
            changes += 1
        await asyncio.sleep(0)  # let the server publish and answer
        if changes >= 200_000:
            rate = changes / (time.perf_counter() - start)
            print(f"rate {rate:.0f}", flush=True)
            changes, start = 0, time.perf_counter()


def config(endpoint: str, variables: int, *, read: str, interval: float) -> OpcUaConfig:
    return OpcUaConfig(
        endpoint=endpoint,
        state=_node(0),
        metrics={f"v{i}": _node(i) for i in range(1, variables)},
        read=read,  # type: ignore[arg-type]
        publishing_interval_s=interval,
        timeout_s=5.0,
    )


async def subscription_rate(
    endpoint: str, variables: int, seconds: float, interval: float
) -> float:
    adapter = OpcUaAdapter(config(endpoint, variables, read="subscribe", interval=interval))
    try:
        assert await adapter.wait_connected(20)
        assert adapter.subscribed
        first = adapter.notifications
        start = time.perf_counter()
        while time.perf_counter() - start < seconds:
            await adapter.read(datetime.now(UTC))  # what the agent does, and a yield
            await asyncio.sleep(0.01)
        return (adapter.notifications - first) / (time.perf_counter() - start)
    finally:
        await adapter.aclose()


async def polling_rate(endpoint: str, variables: int, seconds: float) -> float:
    adapter = OpcUaAdapter(config(endpoint, variables, read="poll", interval=0.05))
    try:
        assert await adapter.wait_connected(20)
        reads, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            await adapter.read(datetime.now(UTC))
            reads += 1
        return reads * variables / (time.perf_counter() - start)
    finally:
        await adapter.aclose()


def _status(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM of a process, in kB."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(rest.split()[0])
    return fields


def _python_rss(code: str) -> int:
    """The resident set (kB) of a Python process that ran ``code`` and waits."""
    proc = subprocess.Popen(
        [sys.executable, "-c", f"{code}\nimport sys\nprint('ok', flush=True)\nsys.stdin.read()"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    proc.stdout.readline()
    rss = _status(proc.pid)["VmRSS"]
    proc.kill()
    proc.wait()
    return rss


def opcua_adapter(endpoint: str, variables: int) -> str:
    metrics = "\n".join(f'v{i} = "{_node(i)}"' for i in range(1, variables))
    return f"""
type = "opcua"
endpoint = "{endpoint}"
state = "{_node(0)}"
publishing_interval_s = 0.05

[adapter.metrics]
{metrics}
"""


def agent_memory(adapter: str, seconds: float, workdir: Path) -> dict[str, float]:
    """Run a real agent process with ``adapter`` (its TOML) for ``seconds``; its memory and
    how much it sampled."""
    broker = Broker(workdir)
    metrics_port = free_port()
    path = workdir / "agent.toml"
    path.write_text(
        f"""
[agent]
site = "bench"
instrument = "oven-1"
mqtt_url = "mqtt://127.0.0.1:{broker.port}"
sample_interval_s = 0.1
batch_max_samples = 100
batch_max_age_s = 1.0
metrics_port = {metrics_port}
metrics_host = "127.0.0.1"

outbox_path = "{workdir / f"o{metrics_port}.sqlite"}"

[adapter]
{adapter}
"""
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "pilotshare.cli", "agent", "--config", str(path)],
        cwd=HERE.parent,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        time.sleep(seconds)
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else "exited"
        status = _status(proc.pid)
        text = urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).read()
        taken = next(
            float(line.split()[-1])
            for line in text.decode().splitlines()
            if line.startswith("pilotshare_agent_samples_total")
        )
    finally:
        proc.terminate()
        proc.wait(15)
        broker.stop()
    return {"rss_mb": status["VmRSS"] / 1024, "hwm_mb": status["VmHWM"] / 1024, "samples": taken}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variables", type=int, default=50, help="at most 65 (64 metrics)")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--interval", type=float, default=0.01, help="publishing interval, s")
    parser.add_argument("--rss-seconds", type=float, default=20.0)
    parser.add_argument("--serve", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve(args.serve, args.variables))
        return 0
    port = free_port()
    server = subprocess.Popen(
        [
            *(sys.executable, "-m", "benchmarks.opcua_agent"),
            *("--serve", str(port), "--variables", str(args.variables)),
        ],
        cwd=HERE.parent,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert server.stdout is not None
    assert server.stdout.readline().strip() == "ready"
    endpoint = f"opc.tcp://127.0.0.1:{port}/bench/"
    try:
        subs, polls = [], []
        for _ in range(args.repeat):
            subs.append(
                asyncio.run(
                    subscription_rate(endpoint, args.variables, args.seconds, args.interval)
                )
            )
            polls.append(asyncio.run(polling_rate(endpoint, args.variables, args.seconds)))
        sub, poll = statistics.median(subs), statistics.median(polls)
        with tempfile.TemporaryDirectory() as tmp:
            memory = agent_memory(
                opcua_adapter(endpoint, args.variables), args.rss_seconds, Path(tmp)
            )
        with tempfile.TemporaryDirectory() as tmp:
            simulated = agent_memory('type = "simulated"', args.rss_seconds, Path(tmp))
        bare = _python_rss("pass")
        lib = _python_rss("import asyncua")
    finally:
        server.terminate()
        server.wait(10)
    ceiling = "?"
    for line in server.stdout.read().splitlines():
        if line.startswith("rate "):
            ceiling = f"{float(line.split()[1]):,.0f}"
    print(
        f"values/s read from {args.variables} variables changing as fast as the server can "
        f"(median of {args.repeat} x {args.seconds:g} s; server changes/s, last: {ceiling}):"
    )
    print(f"  subscription ({args.interval * 1000:g} ms publishing)  {sub:10,.0f}")
    print(
        f"  baseline polling (one Read of all)  {poll:10,.0f}   "
        f"subscription/polling = {sub / poll:.2f}"
    )
    print(
        f"agent process by subscription, {args.rss_seconds:g} s, {memory['samples']:.0f} samples: "
        f"RSS {memory['rss_mb']:.1f} MB (peak {memory['hwm_mb']:.1f} MB; goal < 50 MB)"
    )
    print(
        f"  baseline agent process, simulated adapter: RSS {simulated['rss_mb']:.1f} MB "
        f"(peak {simulated['hwm_mb']:.1f} MB); opcua/simulated = "
        f"{memory['rss_mb'] / simulated['rss_mb']:.2f}"
    )
    print(f"  python alone {bare / 1024:.1f} MB; python importing asyncua {lib / 1024:.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
