"""The ``modbus`` adapter: registers of a Modbus TCP device mapped to state and metrics.

The state register's value is looked up in ``state_map`` (``{"0": "idle", "1": "running"}``);
utilisation and metrics are read as ``uint16``/``int16``/``uint32``/``int32``/``float32`` and
multiplied by their ``scale``. A lost connection is retried on the next sample; any failed read
is an ``AdapterError`` (the sample is skipped and counted).

With an ``[adapter.interlock]`` section, ``lock``/``unlock`` write its value to a coil or a
holding register and read it back: the switch is confirmed only when the device holds it.
"""

from __future__ import annotations

import math
from datetime import datetime

from pymodbus.client import AsyncModbusTcpClient
from pymodbus.exceptions import ModbusException

from pilotshare.core.contract import Command, Sample
from pilotshare.core.domain import InstrumentState
from pilotshare.edge_agent.adapters.base import Adapter, AdapterError
from pilotshare.edge_agent.config import ModbusConfig, ModbusPoint

_WIDTH = {"uint16": 1, "int16": 1, "uint32": 2, "int32": 2, "float32": 2}


class ModbusAdapter(Adapter):
    """Reads each configured point per sample over one kept-open TCP connection."""

    def __init__(self, config: ModbusConfig) -> None:
        self.config = config
        self._client = AsyncModbusTcpClient(config.host, port=config.port, timeout=config.timeout_s)
        if config.interlock is not None:
            self.switches_interlock = True
            self.interlock_policy = config.interlock

    async def _connected(self) -> None:
        if not self._client.connected and not await self._client.connect():
            raise AdapterError(f"cannot connect to {self.config.host}:{self.config.port}")

    async def _value(self, point: ModbusPoint) -> float:
        c = self._client
        read = c.read_holding_registers if point.table == "holding" else c.read_input_registers
        reply = await read(point.address, count=_WIDTH[point.type], device_id=self.config.unit)
        if reply.isError():
            raise AdapterError(f"{point.table} register {point.address}: {reply}")
        kind = getattr(c.DATATYPE, point.type.upper())
        value = c.convert_from_registers(reply.registers, kind, word_order=point.word_order)
        if not isinstance(value, int | float) or not math.isfinite(value):
            raise AdapterError(f"{point.table} register {point.address} is {value!r}")
        return float(value) * point.scale

    async def read(self, now: datetime) -> Sample:
        await self._connected()
        try:
            code = await self._value(self.config.state)
            key = str(int(code)) if code == int(code) else str(code)
            if key not in self.config.state_map:
                raise AdapterError(f"state register value {key} is not in state_map")
            state: InstrumentState = self.config.state_map[key]
            util = None
            if self.config.utilization is not None:
                util = min(1.0, max(0.0, await self._value(self.config.utilization)))
            metrics = {name: await self._value(p) for name, p in self.config.metrics.items()}
        except ModbusException as exc:
            self._client.close()
            raise AdapterError(f"modbus {self.config.host}:{self.config.port}: {exc}") from None
        return Sample(ts=now, state=state, utilization=util, metrics=metrics)

    async def command(self, cmd: Command, now: datetime) -> None:  # noqa: ARG002 - no clock
        """Write the interlock's value for ``cmd`` and read it back."""
        lock = self.config.interlock
        if lock is None:
            return
        want = lock.lock if cmd.cmd == "lock" else lock.unlock
        where = f"{lock.table} {lock.address}"
        unit = self.config.unit
        await self._connected()
        c = self._client
        try:
            if lock.table == "coil":
                wrote = await c.write_coil(lock.address, bool(want), device_id=unit)
                back = await c.read_coils(lock.address, count=1, device_id=unit)
                got = None if back.isError() else int(back.bits[0])
            else:
                wrote = await c.write_register(lock.address, want, device_id=unit)
                back = await c.read_holding_registers(lock.address, count=1, device_id=unit)
                got = None if back.isError() else back.registers[0]
        except ModbusException as exc:
            self._client.close()
            raise AdapterError(f"modbus {self.config.host}:{self.config.port}: {exc}") from None
        if wrote.isError():
            raise AdapterError(f"writing {want} to {where}: {wrote}")
        if got != want:
            raise AdapterError(
                f"wrote {want} to {where} but read back {back if got is None else got}"
            )

    async def aclose(self) -> None:
        self._client.close()
