"""Interlocks that switch something: each real adapter against its real peer (pymodbus's own
server, a local HTTP server, real programs), and the agent's driver on a real broker: the
fail-safe lock, a failed switch reported as not done and retried, the retained state applied
again after a restart."""

from __future__ import annotations

import asyncio
import json
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from pilotshare.core.contract import Command, Interlock, encode
from pilotshare.core.embedded import free_port
from pilotshare.core.settings import MqttEndpoint
from pilotshare.edge_agent.adapters import AdapterError, build_adapter
from pilotshare.edge_agent.config import (
    CommandConfig,
    CommandInterlock,
    HttpConfig,
    HttpInterlock,
    ModbusConfig,
    ModbusInterlock,
    ModbusPoint,
)
from tests.support.agents import interlock_agent, reported_interlocks
from tests.support.ingest import raw_client, topic, wait_for
from tests.support.modbus import ModbusDevice, modbus_device

pytestmark = pytest.mark.timeout(90)

NOW = datetime(2026, 11, 28, 1, 0, tzinfo=UTC)
UNTIL = NOW + timedelta(hours=2)


def cmd(what: str, seq: int | None = 1) -> Command:
    return Command(cmd=what, booking="b-1", until=UNTIL, seq=seq)  # type: ignore[arg-type]


def modbus(port: int, **interlock: object) -> ModbusConfig:
    return ModbusConfig(
        host="127.0.0.1",
        port=port,
        timeout_s=0.5,
        state=ModbusPoint(address=0),
        state_map={"0": "idle", "1": "running"},  # type: ignore[dict-item]
        interlock=ModbusInterlock(**interlock),  # type: ignore[arg-type]
    )


# -- Modbus --------------------------------------------------------------------------------------


async def test_modbus_writes_the_coil_and_reads_it_back() -> None:
    async with modbus_device(coils=[False] * 20) as device:
        adapter = build_adapter(modbus(device.port, address=4), now=NOW)
        try:
            assert adapter.switches_interlock
            await adapter.command(cmd("lock"), NOW)
            assert await device.coil(4) is True
            await adapter.command(cmd("unlock", 2), NOW)
            assert await device.coil(4) is False
            assert (await adapter.read(NOW)) is not None  # reading goes on beside it
        finally:
            await adapter.aclose()


async def test_modbus_writes_a_holding_register_with_the_configured_values() -> None:
    async with modbus_device() as device:
        config = modbus(device.port, table="holding", address=7, lock=0xA5, unlock=0x5A)
        adapter = build_adapter(config, now=NOW)
        try:
            await adapter.command(cmd("unlock"), NOW)
            assert await device.register(7) == 0x5A
            await adapter.command(cmd("lock", 2), NOW)
            assert await device.register(7) == 0xA5
        finally:
            await adapter.aclose()


async def test_modbus_a_write_the_device_refuses_is_not_confirmed() -> None:
    async with modbus_device() as device:
        adapter = build_adapter(modbus(device.port, address=900), now=NOW)  # no such coil
        try:
            with pytest.raises(AdapterError, match="writing 0 to coil 900"):
                await adapter.command(cmd("unlock"), NOW)
        finally:
            await adapter.aclose()


async def test_modbus_device_gone_is_a_failed_switch() -> None:
    adapter = build_adapter(modbus(free_port(), address=0), now=NOW)
    with pytest.raises(AdapterError, match="cannot connect"):
        await adapter.command(cmd("lock"), NOW)
    await adapter.aclose()


# -- command -------------------------------------------------------------------------------------


def switch_program(tmp_path: Path, name: str, body: str = "") -> list[str]:
    """A program that appends what it was asked to a log (from its environment), then runs
    ``body``."""
    script = tmp_path / f"{name}.py"
    script.write_text(
        "import json, os, sys\n"
        f"with open({str(tmp_path / 'switched.log')!r}, 'a') as f:\n"
        f"    f.write(json.dumps([{name!r}] + [os.environ[k] for k in ("
        "'PILOTSHARE_INTERLOCK', 'PILOTSHARE_BOOKING', 'PILOTSHARE_UNTIL', 'PILOTSHARE_SEQ')"
        "]) + '\\n')\n" + body
    )
    return [sys.executable, str(script)]


def switched(tmp_path: Path) -> list[list[str]]:
    log = tmp_path / "switched.log"
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines()]


async def test_command_runs_the_lock_and_unlock_programs_with_the_command_in_env(
    tmp_path: Path,
) -> None:
    config = CommandConfig(
        command=[sys.executable, "-c", "print('idle')"],
        interlock=CommandInterlock(
            lock=switch_program(tmp_path, "lock"), unlock=switch_program(tmp_path, "unlock")
        ),
    )
    adapter = build_adapter(config, now=NOW)
    assert adapter.switches_interlock
    await adapter.command(cmd("unlock", 5), NOW)
    await adapter.command(Command(cmd="lock"), NOW)  # the fail-safe's: no booking, no seq
    assert switched(tmp_path) == [
        ["unlock", "unlock", "b-1", UNTIL.isoformat(), "5"],
        ["lock", "lock", "", "", ""],
    ]


@pytest.mark.parametrize(
    ("body", "why"),
    [
        ("sys.stderr.write('relay jammed'); sys.exit(4)", "exited with 4: relay jammed"),
        ("import time; time.sleep(5)", "was killed"),
    ],
)
async def test_command_a_failing_or_hanging_switch_is_not_confirmed(
    tmp_path: Path, body: str, why: str
) -> None:
    config = CommandConfig(
        command=["true"],
        interlock=CommandInterlock(
            lock=switch_program(tmp_path, "lock", body),
            unlock=switch_program(tmp_path, "unlock", body),
            timeout_s=0.5,
        ),
    )
    adapter = build_adapter(config, now=NOW)
    with pytest.raises(AdapterError, match=why):
        await adapter.command(cmd("lock"), NOW)


# -- HTTP ----------------------------------------------------------------------------------------


class _Device(BaseHTTPRequestHandler):
    received: list[tuple[str, str, dict[str, str], bytes]]
    status = 200

    def do_GET(self) -> None:
        self._answer(b'{"state": "idle"}')

    def do_POST(self) -> None:
        self._record()

    def do_PUT(self) -> None:
        self._record()

    def _record(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.received.append((self.command, self.path, dict(self.headers), body))
        self._answer(b'{"ok": true}' if self.status < 300 else b"interlock fault")

    def _answer(self, body: bytes) -> None:
        self.send_response(self.status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def http_device() -> Iterator[tuple[str, type[_Device]]]:
    handler = type("Device", (_Device,), {"received": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler
    finally:
        server.shutdown()
        server.server_close()


async def test_http_posts_the_configured_bodies_and_headers(
    http_device: tuple[str, type[_Device]],
) -> None:
    base, device = http_device
    config = HttpConfig(
        url=f"{base}/api/status",
        headers={"Authorization": "Bearer t0k"},
        interlock=HttpInterlock(
            url=f"{base}/api/interlock",
            lock_body='{"enable": false}',
            unlock_body='{"enable": true}',
            headers={"X-Line": "7"},
        ),
    )
    adapter = build_adapter(config, now=NOW)
    try:
        await adapter.command(cmd("unlock"), NOW)
        await adapter.command(cmd("lock", 2), NOW)
    finally:
        await adapter.aclose()
    assert [(m, p, b) for m, p, _, b in device.received] == [
        ("POST", "/api/interlock", b'{"enable": true}'),
        ("POST", "/api/interlock", b'{"enable": false}'),
    ]
    headers = device.received[0][2]
    assert headers["Authorization"] == "Bearer t0k"  # the adapter's own headers too
    assert headers["X-Line"] == "7"
    assert headers["Content-Type"] == "application/json"


async def test_http_sends_the_command_itself_by_default_and_checks_for_2xx(
    http_device: tuple[str, type[_Device]],
) -> None:
    base, device = http_device
    config = HttpConfig(url=base, interlock=HttpInterlock(url=f"{base}/lock", method="PUT"))
    adapter = build_adapter(config, now=NOW)
    try:
        await adapter.command(cmd("unlock", 9), NOW)
        method, _, _, body = device.received[0]
        assert method == "PUT"
        assert json.loads(body) == json.loads(encode(cmd("unlock", 9)))
        device.status = 503
        with pytest.raises(AdapterError, match="answered 503: interlock fault"):
            await adapter.command(cmd("lock", 10), NOW)
        device.status = 302  # not followed, not a success
        with pytest.raises(AdapterError, match="answered 302"):
            await adapter.command(cmd("lock", 10), NOW)
    finally:
        await adapter.aclose()


async def test_http_device_gone_is_a_failed_switch() -> None:
    config = HttpConfig(
        url="http://127.0.0.1:1/", interlock=HttpInterlock(url=f"http://127.0.0.1:{free_port()}/")
    )
    adapter = build_adapter(config, now=NOW)
    with pytest.raises(AdapterError, match="POST"):
        await adapter.command(cmd("lock"), NOW)
    await adapter.aclose()


# -- the agent's driver on a real broker ---------------------------------------------------------


async def test_the_fail_safe_locks_when_no_desired_state_comes_and_never_unlocks(
    tmp_path: Path, site: str, mqtt_url: str, mqtt_endpoint: MqttEndpoint
) -> None:
    async with modbus_device(coils=[False] * 20) as device, raw_client(mqtt_endpoint) as backend:
        await backend.subscribe(topic(site, "press-1", "status"))
        adapter = build_adapter(modbus(device.port, address=3, start_wait_s=1.0), now=NOW)
        runner = interlock_agent(tmp_path, site, mqtt_url, adapter, "press-1")
        stop = asyncio.Event()
        task = asyncio.create_task(runner.run(stop))
        try:
            await asyncio.wait_for(runner.connected.wait(), 10)
            assert await device.coil(3) is False  # nothing switched before the wait is over
            locked = {"state": "locked", "seq": None}

            async def failed_safe() -> bool:
                return locked in reported_interlocks(backend.messages())

            await wait_for(failed_safe, timeout=10)
            assert await device.coil(3) is True
            # A desired state arrives later: it is applied and reported with its seq.
            await backend.publish(topic(site, "press-1", "cmd"), encode(cmd("unlock", 4)))

            async def unlocked() -> bool:
                return {"state": "unlocked", "seq": 4} in reported_interlocks(backend.messages())

            await wait_for(unlocked, timeout=10)
            assert await device.coil(3) is False
        finally:
            stop.set()
            await asyncio.wait_for(task, 10)


async def test_on_start_none_leaves_the_instrument_alone(
    tmp_path: Path, site: str, mqtt_url: str
) -> None:
    async with modbus_device(coils=[False] * 20) as device:
        config = modbus(device.port, address=3, on_start="none", start_wait_s=0.2)
        runner = interlock_agent(
            tmp_path, site, mqtt_url, build_adapter(config, now=NOW), "press-1"
        )
        stop = asyncio.Event()
        task = asyncio.create_task(runner.run(stop))
        try:
            await asyncio.wait_for(runner.connected.wait(), 10)
            await asyncio.sleep(1.0)
            assert await device.coil(3) is False
            assert runner.interlock.report() is None
        finally:
            stop.set()
            await asyncio.wait_for(task, 10)


async def test_a_failed_switch_is_not_claimed_and_is_retried_until_the_device_is_back(
    tmp_path: Path, site: str, mqtt_url: str, mqtt_endpoint: MqttEndpoint
) -> None:
    """The device is down when the unlock comes: the status keeps the state last confirmed
    (the fail-safe lock), the failure is counted, and the retry unlocks once it is back."""
    device = ModbusDevice(coils=[True] * 20)
    await device.start()
    async with raw_client(mqtt_endpoint) as backend:
        await backend.subscribe(topic(site, "press-1", "status"))
        config = modbus(device.port, address=5, start_wait_s=0.0, retry_s=0.3)
        runner = interlock_agent(
            tmp_path, site, mqtt_url, build_adapter(config, now=NOW), "press-1"
        )
        stop = asyncio.Event()
        task = asyncio.create_task(runner.run(stop))
        try:
            await wait_for(lambda: _true(runner.interlock.report() is not None), timeout=10)
            await device.stop()
            await asyncio.wait_for(runner.connected.wait(), 10)
            await backend.publish(topic(site, "press-1", "cmd"), encode(cmd("unlock", 6)))
            await wait_for(lambda: _true(runner.interlock_driver.failures >= 2), timeout=10)
            assert {"state": "unlocked", "seq": 6} not in reported_interlocks(backend.messages())
            assert runner.interlock.report() == Interlock(state="locked", seq=None)
            failures = runner.metrics.registry.get_sample_value(
                "pilotshare_agent_interlock_failures_total", {"instrument": "press-1"}
            )
            assert failures is not None
            assert failures >= 2
            pending = runner.metrics.registry.get_sample_value(
                "pilotshare_agent_interlock_pending", {"instrument": "press-1"}
            )
            assert pending == 1
            await device.start()  # its coils at power-on: locked

            async def unlocked() -> bool:
                return {"state": "unlocked", "seq": 6} in reported_interlocks(backend.messages())

            await wait_for(unlocked, timeout=10)
            assert await device.coil(5) is False
            assert runner.interlock_driver.pending is None
        finally:
            stop.set()
            await asyncio.wait_for(task, 10)
            await device.stop()


async def test_after_a_restart_the_retained_state_is_applied_again_to_a_restarted_device(
    tmp_path: Path, site: str, mqtt_url: str, mqtt_endpoint: MqttEndpoint
) -> None:
    device = ModbusDevice(coils=[True] * 20)
    await device.start()
    cmd_topic = topic(site, "press-1", "cmd")
    try:
        async with raw_client(mqtt_endpoint) as backend:
            await backend.publish(cmd_topic, encode(cmd("unlock", 11)), retain=True)
            config = modbus(device.port, address=1, start_wait_s=30.0)
            for run in range(2):
                runner = interlock_agent(
                    tmp_path, site, mqtt_url, build_adapter(config, now=NOW), "press-1"
                )
                stop = asyncio.Event()
                task = asyncio.create_task(runner.run(stop))
                try:
                    await wait_for(lambda r=runner: _true(r.interlock.report() is not None))  # type: ignore[misc]
                    assert runner.interlock.seq == 11
                    assert runner.interlock.report() == Interlock(state="unlocked", seq=11)
                    assert await device.coil(1) is False
                finally:
                    stop.set()
                    await asyncio.wait_for(task, 10)
                if run == 0:  # the PLC restarts while the agent is away: coils at power-on
                    await device.stop()
                    await device.start()
                    assert await device.coil(1) is True
            await backend.publish(cmd_topic, b"", retain=True)
    finally:
        await device.stop()


async def _true(value: bool) -> bool:
    return value
