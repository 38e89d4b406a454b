"""Clients that are not ours speak the contract to the real ingest, as docs/agent.md shows.

``mosquitto_pub`` publishes a telemetry batch numbered by epoch milliseconds and
``mosquitto_sub`` reads the ack; the batch is sent again until the ack names it (at least once,
stored once), and the API shows the stored samples. MQTT.js (npm ``mqtt``) does the same from
node, installed into a temporary directory. Node-RED 4 runs the flow shown in docs/agent.md,
taken from the page itself so the two cannot drift apart, headless and restarted once. The npm
tests are skipped when npm or its registry is not to be had.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx
import pytest

from pilotshare.core.clock import SystemClock
from pilotshare.core.settings import MqttEndpoint
from tests.support.api import auth
from tests.support.ingest import raw_client, running_ingest, topic, wait_for
from tests.support.instruments import add_instrument

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def clock() -> SystemClock:
    return SystemClock()


def samples(n: int) -> list[dict[str, object]]:
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=n)
    return [
        {
            "ts": (start + timedelta(seconds=i)).isoformat().replace("+00:00", "Z"),
            "state": "running",
            "utilization": 0.5,
            "metrics": {"power_w": 1000.0 + i},
        }
        for i in range(n)
    ]


def broker_args(endpoint: MqttEndpoint) -> list[str]:
    args = ["-h", endpoint.host, "-p", str(endpoint.port), "-V", "mqttv311"]
    if endpoint.username:
        args += ["-u", endpoint.username, "-P", endpoint.password or ""]
    return args


async def stored(client: httpx.AsyncClient, instrument: str, key: dict[str, str]) -> int:
    start = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    r = await client.get(
        f"/api/v1/instruments/{instrument}/telemetry",
        params={"start": start, "bucket": "PT5M"},
        headers=key,
    )
    assert r.status_code == 200, r.text
    return sum(int(b["samples"]) for b in r.json())


@pytest.mark.skipif(shutil.which("mosquitto_pub") is None, reason="no mosquitto clients")
async def test_mosquitto_pub_publishes_and_mosquitto_sub_reads_the_ack(
    *,
    pool: asyncpg.Pool,
    client: httpx.AsyncClient,
    mqtt_endpoint: MqttEndpoint,
    site: str,
) -> None:
    instrument = f"{site}-gauge"
    await add_instrument(pool, instrument, site=site)
    key = await auth(pool, "acme", "operator")
    number = time.time_ns() // 1_000_000  # epoch milliseconds: rises across restarts
    batch = {"v": 1, "agent": "shell-gauge", "batch": number, "samples": samples(5)}
    telemetry, ack_topic = topic(site, instrument), topic(site, instrument, "ack")
    async with running_ingest(pool, mqtt_endpoint, site):
        sub = await asyncio.create_subprocess_exec(
            "mosquitto_sub",
            *broker_args(mqtt_endpoint),
            "-q",
            "1",
            "-t",
            ack_topic,
            "-C",
            "2",  # the ack of the first send and of the resend
            "-W",
            "60",
            stdout=asyncio.subprocess.PIPE,
        )
        try:
            acks: list[dict[str, object]] = []
            assert sub.stdout is not None
            for _send in range(2):  # the second send is a resend: acknowledged, stored once
                while True:
                    pub = await asyncio.create_subprocess_exec(
                        "mosquitto_pub",
                        *broker_args(mqtt_endpoint),
                        "-q",
                        "1",
                        "-t",
                        telemetry,
                        "-m",
                        json.dumps(batch),
                    )
                    assert await pub.wait() == 0
                    with contextlib.suppress(TimeoutError):
                        line = await asyncio.wait_for(sub.stdout.readline(), 3)
                        acks.append(json.loads(line))
                        break  # no ack in 3 s (mosquitto_sub not yet subscribed): send again
            assert await asyncio.wait_for(sub.wait(), 10) == 0
        finally:
            with contextlib.suppress(ProcessLookupError):
                sub.kill()
        assert all(ack["batches"] == [number] for ack in acks), acks
        assert all("rejected" not in ack for ack in acks)
    assert await stored(client, instrument, key) == 5
    assert (
        await pool.fetchval("SELECT count(*) FROM telemetry WHERE instrument_id = $1", instrument)
        == 5
    )


MQTT_JS = r"""
const mqtt = require("mqtt");
const [url, site, instrument] = process.argv.slice(2);
const root = `pilotshare/v1/${site}/${instrument}`;
const batch = Date.now(); // epoch milliseconds: rises across restarts
const start = Date.now() - 10000;
const samples = [0, 1, 2].map((i) => ({
  ts: new Date(start + i * 1000).toISOString(),
  state: "idle",
  metrics: { chamber_c: 20.5 + i },
}));
const payload = JSON.stringify({ v: 1, agent: "node-gauge", batch, samples });
const client = mqtt.connect(url, { protocolVersion: 4, clean: true });
let timer;
const guard = setTimeout(() => process.exit(3), 60000);
client.on("connect", () => {
  client.subscribe(`${root}/ack`, { qos: 1 }, () => {
    const send = () => client.publish(`${root}/telemetry`, payload, { qos: 1 });
    send();
    timer = setInterval(send, 3000); // no durable outbox: resend until the ack names it
  });
});
client.on("message", (_topic, message) => {
  const ack = JSON.parse(message.toString());
  if ((ack.batches || []).includes(batch)) {
    clearInterval(timer);
    clearTimeout(guard);
    console.log(JSON.stringify({ batch, ack }));
    client.end();
  }
});
"""


def _npm_install(into: Path, package: str = "mqtt@5", timeout: float = 120) -> bool:
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        return False
    try:
        done = subprocess.run(
            [npm, "install", "--no-audit", "--no-fund", "--silent", package],
            cwd=into,
            capture_output=True,
            timeout=timeout,
            check=False,
            env={**os.environ, "npm_config_update_notifier": "false"},
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


async def test_mqtt_js_publishes_and_reads_its_ack(
    *,
    pool: asyncpg.Pool,
    client: httpx.AsyncClient,
    mqtt_url: str,
    mqtt_endpoint: MqttEndpoint,
    site: str,
    tmp_path: Path,
) -> None:
    (tmp_path / "package.json").write_text('{"name": "gauge", "private": true}')
    if not await asyncio.to_thread(_npm_install, tmp_path):
        pytest.skip("npm, node or the npm registry is not available")
    (tmp_path / "gauge.js").write_text(MQTT_JS)
    instrument = f"{site}-node"
    await add_instrument(pool, instrument, site=site)
    key = await auth(pool, "acme", "operator")
    async with running_ingest(pool, mqtt_endpoint, site):
        node = await asyncio.create_subprocess_exec(
            "node",
            "gauge.js",
            mqtt_url,
            site,
            instrument,
            cwd=tmp_path,
            stdout=asyncio.subprocess.PIPE,
        )
        out, _ = await asyncio.wait_for(node.communicate(), 90)
        assert node.returncode == 0, out
    said = json.loads(out)
    assert said["ack"]["batches"] == [said["batch"]]
    assert await stored(client, instrument, key) == 3


DOC = Path(__file__).resolve().parents[2] / "docs" / "agent.md"
NODE_RED_HOME = Path(tempfile.gettempdir()) / "pilotshare-node-red-4"
ACKED = re.compile(r"\[function:forget acknowledged\] acknowledged (\[[0-9, ]*\]), (\d+) pending")


def doc_flow() -> list[dict[str, object]]:
    """The Node-RED flow docs/agent.md shows: the first JSON block after its heading."""
    text = DOC.read_text()
    start = text.index("```json\n", text.index("**Node-RED 4.x**")) + len("```json\n")
    flow: list[dict[str, object]] = json.loads(text[start : text.index("```\n", start)])
    return flow


def _node_red() -> Path | None:
    """Node-RED 4 installed once into a directory outside the repository, shared by runs
    (a lock keeps parallel workers from installing over each other); None without npm."""
    red = NODE_RED_HOME / "node_modules" / "node-red" / "red.js"
    NODE_RED_HOME.mkdir(exist_ok=True)
    with (NODE_RED_HOME / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        package = NODE_RED_HOME / "node_modules" / "node-red" / "package.json"
        if not (package.exists() and json.loads(package.read_text())["version"].startswith("4.")):
            (NODE_RED_HOME / "package.json").write_text('{"name": "nodered", "private": true}')
            if not _npm_install(NODE_RED_HOME, "node-red@4", timeout=300):
                return None
    return red if red.exists() else None


class NodeRed:
    """A running Node-RED whose log the test reads line by line."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.log: list[str] = []

    async def acked_until_none_pending(self) -> list[int]:
        """The batch numbers the flow logs as acknowledged until it holds none."""
        assert self.proc.stdout is not None
        numbers: list[int] = []
        async with asyncio.timeout(60):
            while True:
                line = await self.proc.stdout.readline()
                assert line, "Node-RED ended:\n" + "".join(self.log)
                self.log.append(line.decode())
                if found := ACKED.search(self.log[-1]):
                    numbers += json.loads(found.group(1))
                    if found.group(2) == "0":
                        return numbers


@contextlib.asynccontextmanager
async def node_red(red: Path, user_dir: Path, env: dict[str, str]) -> AsyncIterator[NodeRed]:
    """Node-RED headless on ``user_dir``'s settings and flows, stopped on leaving."""
    proc = await asyncio.create_subprocess_exec(
        "node",
        str(red),
        "--settings",
        str(user_dir / "settings.js"),
        "--userDir",
        str(user_dir),
        str(user_dir / "flows.json"),
        env={**os.environ, **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    running = NodeRed(proc)
    try:
        yield running
    finally:
        with contextlib.suppress(ProcessLookupError):
            proc.terminate()
        rest, _ = await asyncio.wait_for(proc.communicate(), 30)
        running.log.append(rest.decode())
    assert "rejected for good" not in "".join(running.log), running.log


@pytest.mark.timeout(420)  # the first run installs Node-RED
async def test_node_red_runs_the_documented_flow_and_reads_its_acks(
    *,
    pool: asyncpg.Pool,
    client: httpx.AsyncClient,
    mqtt_endpoint: MqttEndpoint,
    site: str,
    tmp_path: Path,
) -> None:
    red = await asyncio.to_thread(_node_red)
    if red is None:
        pytest.skip("npm, node or the npm registry is not available to install node-red@4")
    (tmp_path / "flows.json").write_text(json.dumps(doc_flow()))
    if mqtt_endpoint.username:  # a flows file's own credentials are ignored: Node-RED's store
        creds = {"user": mqtt_endpoint.username, "password": mqtt_endpoint.password or ""}
        (tmp_path / "flows_cred.json").write_text(json.dumps({"ps-broker": creds}))
    (tmp_path / "settings.js").write_text(
        "module.exports = { httpAdminRoot: false, httpNodeRoot: false, credentialSecret: false,"
        " telemetry: { enabled: false }, logging: { console: { level: 'info' } } };\n"
    )
    instrument = f"{site}-red"
    await add_instrument(pool, instrument, site=site)
    key = await auth(pool, "acme", "operator")
    env = {
        "MQTT_HOST": mqtt_endpoint.host,
        "MQTT_PORT": str(mqtt_endpoint.port),
        "SITE": site,
        "INSTRUMENT": instrument,
    }
    async with raw_client(mqtt_endpoint) as watch:
        await watch.subscribe(topic(site, instrument))
        async with node_red(red, tmp_path, env) as flow:

            async def published() -> bool:
                return bool(watch.messages())

            await wait_for(published, timeout=60)  # nobody acknowledges it yet
            async with running_ingest(pool, mqtt_endpoint, site):
                first = await flow.acked_until_none_pending()  # resent on the next tick
        unacked = watch.messages()[0][1]
        assert [m for _, m in watch.messages()].count(unacked) >= 2  # same batch, same bytes
        assert json.loads(unacked)["batch"] in first
        async with running_ingest(pool, mqtt_endpoint, site), node_red(red, tmp_path, env) as flow:
            second = await flow.acked_until_none_pending()  # a restart: memory is gone
    assert len(set(first)) >= 2, first  # the unacknowledged one and the next
    assert second, second
    assert min(second) > max(first) > time.time_ns() // 1_000_000 - 600_000  # epoch ms, rising
    batches = len(set(first) | set(second))
    rows = await pool.fetch(
        "SELECT ts, state FROM telemetry WHERE instrument_id = $1 ORDER BY ts", instrument
    )
    assert [r["state"] for r in rows] == ["running"] * batches  # one sample a batch, once
    assert await stored(client, instrument, key) == batches
