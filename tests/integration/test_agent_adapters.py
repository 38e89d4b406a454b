"""Each adapter against a real peer: a subprocess, a local HTTP server, pymodbus's own server."""

from __future__ import annotations

import asyncio
import json
import logging
import struct
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from pymodbus.client import AsyncModbusTcpClient
from pymodbus.datastore import (
    ModbusDeviceContext,
    ModbusSequentialDataBlock,
    ModbusServerContext,
)
from pymodbus.server import ModbusTcpServer

from pilotshare.core.clock import SystemClock
from pilotshare.core.domain import InstrumentState
from pilotshare.core.embedded import free_port
from pilotshare.edge_agent.adapters import AdapterError, build_adapter
from pilotshare.edge_agent.adapters.command import CommandAdapter
from pilotshare.edge_agent.adapters.http import HttpAdapter
from pilotshare.edge_agent.config import AgentConfig, CommandConfig, ModbusConfig, ModbusPoint
from pilotshare.edge_agent.runner import Agent

NOW = datetime(2026, 11, 28, 1, 0, tzinfo=UTC)


def program(tmp_path: Path, body: str) -> list[str]:
    script = tmp_path / "read.py"
    script.write_text(body)
    return [sys.executable, str(script)]


async def test_command_reads_json_and_bare_words(tmp_path: Path) -> None:
    out = {"state": "running", "utilization": 0.8, "metrics": {"power_w": 1210.5}}
    adapter = CommandAdapter(program(tmp_path, f"print({json.dumps(json.dumps(out))})"))
    sample = await adapter.read(NOW)
    assert (sample.state, sample.utilization, sample.metrics) == (
        InstrumentState.RUNNING,
        0.8,
        {"power_w": 1210.5},
    )
    word = CommandAdapter(program(tmp_path, "print('  setup  ')"))
    assert (await word.read(NOW)).state is InstrumentState.SETUP


@pytest.mark.parametrize(
    ("body", "why"),
    [
        ("print('exploded')", "neither a state word"),
        ('print(\'{"state": "on"}\')', "bad reading"),
        ('print(\'{"state": "idle", "metrics": {"Bad Name": 1}}\')', "bad reading"),
        ("import sys; sys.stderr.write('no device'); sys.exit(3)", "exited with 3: no device"),
        ("import time; time.sleep(5)", "was killed"),
    ],
)
async def test_command_failures_are_adapter_errors(tmp_path: Path, body: str, why: str) -> None:
    adapter = CommandAdapter(program(tmp_path, body), timeout_s=0.5)
    with pytest.raises(AdapterError, match=why):
        await adapter.read(NOW)


async def test_command_that_cannot_start(tmp_path: Path) -> None:
    with pytest.raises(AdapterError, match="cannot run"):
        await CommandAdapter([str(tmp_path / "missing")]).read(NOW)


class _Handler(BaseHTTPRequestHandler):
    document: object = {}
    status = 200

    def do_GET(self) -> None:
        body = json.dumps(self.document).encode()
        self.send_response(self.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def http_device() -> Iterator[tuple[str, type[_Handler]]]:
    handler = type("Handler", (_Handler,), {})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/api/status", handler
    finally:
        server.shutdown()
        server.server_close()


async def test_http_maps_fields_by_json_pointer(http_device: tuple[str, type[_Handler]]) -> None:
    url, handler = http_device
    handler.document = {
        "machine": {"mode": "RUN", "load": 83},
        "power": {"watts": 1512.5},
        "temp": [240.9, 241.2],
        "a/b": 7,
    }
    adapter = HttpAdapter(
        url,
        state="/machine/mode",
        state_map={"RUN": InstrumentState.RUNNING},
        utilization="/machine/load",
        utilization_scale=0.01,
        metrics={"power_w": "/power/watts", "chamber_c": "/temp/1", "odd": "/a~1b"},
    )
    try:
        sample = await adapter.read(NOW)
        assert sample.state is InstrumentState.RUNNING
        assert sample.utilization == pytest.approx(0.83)
        assert sample.metrics == {"power_w": 1512.5, "chamber_c": 241.2, "odd": 7.0}
        handler.document = {"machine": {"mode": "idle", "load": 0}, "power": {}, "temp": []}
        with pytest.raises(AdapterError, match="no value at JSON pointer '/power/watts'"):
            await adapter.read(NOW)
        handler.document = {"machine": {"mode": "WARP", "load": 0}}
        with pytest.raises(AdapterError, match="not a state"):
            await adapter.read(NOW)
        handler.status = 503
        with pytest.raises(AdapterError, match="503"):
            await adapter.read(NOW)
    finally:
        await adapter.aclose()


async def test_http_server_gone_is_an_adapter_error() -> None:
    adapter = HttpAdapter(f"http://127.0.0.1:{free_port()}/", timeout_s=1)
    with pytest.raises(AdapterError, match="GET"):
        await adapter.read(NOW)
    await adapter.aclose()


def _float_regs(value: float) -> list[int]:
    hi, lo = struct.unpack(">HH", struct.pack(">f", value))
    return [hi, lo]


@pytest.fixture
async def modbus_device() -> AsyncIterator[tuple[int, ModbusDeviceContext]]:
    device = ModbusDeviceContext(
        hr=ModbusSequentialDataBlock(1, [1, 830] + [0] * 20),
        ir=ModbusSequentialDataBlock(1, [0] * 10 + _float_regs(1512.5) + [2409] + [0] * 10),
    )
    port = free_port()
    server = ModbusTcpServer(
        ModbusServerContext(devices=device, single=True), address=("127.0.0.1", port)
    )
    await server.serve_forever(background=True)
    try:
        yield port, device
    finally:
        await server.shutdown()


async def _write_state(port: int, code: int) -> None:
    """The machine changes state: its controller writes the state register."""
    client = AsyncModbusTcpClient("127.0.0.1", port=port)
    await client.connect()
    try:
        assert not (await client.write_register(0, code, device_id=1)).isError()
    finally:
        client.close()


async def test_modbus_maps_registers(modbus_device: tuple[int, ModbusDeviceContext]) -> None:
    port, _ = modbus_device
    config = ModbusConfig(
        host="127.0.0.1",
        port=port,
        state=ModbusPoint(address=0),
        state_map={
            "0": InstrumentState.IDLE,
            "1": InstrumentState.RUNNING,
            "3": InstrumentState.DOWN,
        },
        utilization=ModbusPoint(address=1, scale=0.001),
        metrics={
            "power_w": ModbusPoint(address=10, table="input", type="float32"),
            "melt_c": ModbusPoint(address=12, table="input", type="int16", scale=0.1),
        },
    )
    adapter = build_adapter(config, now=NOW)
    try:
        sample = await adapter.read(NOW)
        assert sample is not None
        assert sample.state is InstrumentState.RUNNING
        assert sample.utilization == pytest.approx(0.83)
        assert sample.metrics == pytest.approx({"power_w": 1512.5, "melt_c": 240.9})
        await _write_state(port, 3)
        sample = await adapter.read(NOW)
        assert sample is not None
        assert sample.state is InstrumentState.DOWN
        await _write_state(port, 9)
        with pytest.raises(AdapterError, match="not in state_map"):
            await adapter.read(NOW)
    finally:
        await adapter.aclose()


async def test_modbus_device_gone_is_an_adapter_error() -> None:
    config = ModbusConfig(
        host="127.0.0.1",
        port=free_port(),
        timeout_s=0.5,
        state=ModbusPoint(address=0),
        state_map={"0": InstrumentState.IDLE},
    )
    adapter = build_adapter(config, now=NOW)
    with pytest.raises(AdapterError, match="cannot connect"):
        await adapter.read(NOW)
    await adapter.aclose()


_ = asyncio


async def test_a_failing_command_backs_off_and_is_logged_once(
    tmp_path: Path, mqtt_url: str, site: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A reader that exits non-zero is read again at the sample interval, then less often,
    and said once; when it works again, one line says after how many failures."""
    flag = tmp_path / "works"
    script = (
        "import pathlib, sys\n"
        f"if pathlib.Path({str(flag)!r}).exists():\n"
        "    print('running')\n"
        "else:\n"
        "    sys.stderr.write('no device')\n"
        "    sys.exit(3)\n"
    )
    registry = CollectorRegistry()
    config = AgentConfig(
        site=site,
        instrument="probe-1",
        mqtt_url=mqtt_url,
        sample_interval_s=0.1,
        outbox_path=str(tmp_path / "outbox.sqlite"),
        metrics_port=0,
    )
    adapter = build_adapter(CommandConfig(command=program(tmp_path, script)), now=NOW)
    agent = Agent(config, adapter, SystemClock(), registry=registry)
    caplog.set_level(logging.DEBUG, logger="pilotshare.edge_agent.recorder")
    stop = asyncio.Event()
    task = asyncio.create_task(agent.run(stop))
    try:
        await asyncio.sleep(4.0)
        failing = agent.stats.adapter_errors
        lines = [r for r in caplog.records if r.levelno >= logging.INFO]
        flag.touch()
        await asyncio.sleep(config.sample_interval_s + 3.5)  # the backoff has reached 1.6 s
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
    # 0.1, 0.2, 0.4, 0.8, 1.6 s apart: a handful of runs in 4 s, not one every few ms
    assert 3 <= failing <= 7, failing
    said = (
        "probe-1: adapter failing: "
        f"{program(tmp_path, script)[0]!r} exited with 3: no device (samples skipped; "
        "reading again in 0.1 s, backing off to every 30 s)"
    )
    assert [r.getMessage() for r in lines] == [said]
    assert lines[0].levelno == logging.WARNING
    recovered = [r.getMessage() for r in caplog.records if "recovered" in r.getMessage()]
    assert recovered == [f"probe-1: adapter recovered after {agent.stats.adapter_errors} failures"]
    assert agent.stats.samples >= 1
    errors = registry.get_sample_value(
        "pilotshare_agent_adapter_errors_total", {"instrument": "probe-1"}
    )
    assert errors == agent.stats.adapter_errors
