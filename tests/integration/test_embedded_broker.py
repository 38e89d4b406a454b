"""The embedded broker: a private Mosquitto where the binary is installed, amqtt otherwise.

With Mosquitto a hung agent (a real ``pilotshare agent`` process, stopped with SIGSTOP, so it
sends no PINGREQ) loses its connection after 1.5 keepalives and its last will is published:
the retained status says offline. The amqtt fallback still carries messages.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import aiomqtt
import pytest

from pilotshare import runtime
from pilotshare.core.errors import ConfigError
from pilotshare.core.settings import MqttEndpoint, Settings
from tests.support.brokers import needs_mosquitto
from tests.support.ingest import raw_client, topic, wait_for

pytestmark = pytest.mark.timeout(120)


def settings(tmp_path: Path, choice: str) -> Settings:
    return Settings(mqtt_url=None, data_dir=tmp_path / "data", embedded_broker=choice)  # type: ignore[arg-type]


async def mqtt5_round_trip(url: str) -> bytes:
    """Publish and receive over MQTT 5, which amqtt refuses: only Mosquitto answers."""
    e = MqttEndpoint.parse(url)
    async with aiomqtt.Client(e.host, e.port, protocol=aiomqtt.ProtocolVersion.V5) as client:
        await client.subscribe("probe/#", qos=1)
        await client.publish("probe/x", b"hello", qos=1)
        async with asyncio.timeout(10):
            async for message in client.messages:
                return bytes(message.payload)  # type: ignore[arg-type]
    raise AssertionError("no message")


@needs_mosquitto
async def test_with_mosquitto_installed_the_embedded_broker_is_a_private_mosquitto(
    tmp_path: Path,
) -> None:
    cfg = settings(tmp_path, "auto")
    async with runtime.broker(cfg) as (url, embedded, only_311):
        assert embedded
        assert not only_311
        marker = (cfg.data_dir / "broker.url").read_text().split()
        assert marker == [url, "mosquitto"]
        conf = (cfg.data_dir / "mosquitto" / "mosquitto.conf").read_text()
        assert f"listener {MqttEndpoint.parse(url).port} 127.0.0.1" in conf
        assert "persistence true" in conf
        assert await mqtt5_round_trip(url) == b"hello"
        # a second command on the same data directory joins it
        async with runtime.broker(cfg) as (joined, _, joined_311):
            assert (joined, joined_311) == (url, False)
    assert not (cfg.data_dir / "broker.url").exists()
    endpoint = MqttEndpoint.parse(url)
    with pytest.raises(OSError):  # stopped with the embedded services
        await asyncio.open_connection(endpoint.host, endpoint.port)


@needs_mosquitto
async def test_a_hung_agents_last_will_is_published_after_keepalive_expiry(
    tmp_path: Path,
) -> None:
    cfg = settings(tmp_path, "auto")
    async with runtime.broker(cfg) as (url, _, _):
        endpoint = MqttEndpoint.parse(url)
        config = tmp_path / "agent.toml"
        config.write_text(
            f"""
[agent]
site = "hang"
instrument = "oven-1"
mqtt_url = "{url}"
keepalive_s = 5
sample_interval_s = 0.5
outbox_path = "{tmp_path / "outbox.sqlite"}"
metrics_port = 0

[adapter]
type = "simulated"
seed = 1
""",
            encoding="utf-8",
        )
        argv = [sys.executable, "-m", "pilotshare.cli", "agent", "--config", str(config)]
        async with raw_client(endpoint) as watcher:
            await watcher.subscribe(topic("hang", "oven-1", "status"))
            agent = subprocess.Popen(argv, env=os.environ.copy())
            try:

                def statuses() -> list[bool]:
                    return [json.loads(raw)["online"] for _, raw in watcher.messages()]

                async def online() -> bool:
                    return True in statuses()

                await wait_for(online, timeout=30)
                os.kill(agent.pid, signal.SIGSTOP)  # hung: no PINGREQ, no goodbye

                async def will() -> bool:
                    return statuses()[-1] is False

                await wait_for(will, timeout=20)  # 1.5 keepalives, then the will
            finally:
                os.kill(agent.pid, signal.SIGCONT)
                agent.terminate()
                await asyncio.to_thread(agent.wait, 15)


async def test_amqtt_when_asked_or_when_mosquitto_is_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for choice in ("amqtt", "auto"):
        if choice == "auto":
            monkeypatch.setattr(runtime, "find_mosquitto", lambda: None)
        cfg = settings(tmp_path / choice, choice)
        async with runtime.broker(cfg) as (url, embedded, only_311):
            assert embedded
            assert only_311  # amqtt: clients skip the MQTT 5 attempt
            assert (cfg.data_dir / "broker.url").read_text().split() == [url, "amqtt"]
            async with raw_client(MqttEndpoint.parse(url)) as client:
                await client.subscribe("probe/#")
                await client.publish("probe/x", b"hello")

                async def got() -> bool:
                    return ("probe/x", b"hello") in client.messages()

                await wait_for(got, timeout=10)


async def test_insisting_on_mosquitto_without_it_is_a_configuration_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runtime, "find_mosquitto", lambda: None)
    with pytest.raises(ConfigError, match="no mosquitto binary"):
        async with runtime.broker(settings(tmp_path, "mosquitto")):
            pass
