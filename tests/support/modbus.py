"""A Modbus TCP device for tests: pymodbus's own server on a fixed port, which a test can stop
and start again (its registers and coils back at their power-on values, as a PLC restarts)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from pymodbus.client import AsyncModbusTcpClient
from pymodbus.datastore import (
    ModbusDeviceContext,
    ModbusSequentialDataBlock,
    ModbusServerContext,
)
from pymodbus.server import ModbusTcpServer

from pilotshare.core.embedded import free_port


class ModbusDevice:
    """Holding registers 0-19 (0 = state code, 1 = load), coils 0-19 (power-on ``coils``)."""

    def __init__(self, *, coils: list[bool] | None = None) -> None:
        self.port = free_port()
        self.power_on_coils = list(coils or [True] * 20)
        self._server: ModbusTcpServer | None = None

    async def start(self) -> None:
        device = ModbusDeviceContext(
            hr=ModbusSequentialDataBlock(1, [1, 830] + [0] * 20),
            co=ModbusSequentialDataBlock(1, list(self.power_on_coils)),
        )
        self._server = ModbusTcpServer(
            ModbusServerContext(devices=device, single=True), address=("127.0.0.1", self.port)
        )
        await self._server.serve_forever(background=True)

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.shutdown()
            self._server = None

    async def coil(self, address: int) -> bool:
        """What the device's coil holds, read by a client of the test's own."""
        client = AsyncModbusTcpClient("127.0.0.1", port=self.port)
        await client.connect()
        try:
            reply = await client.read_coils(address, count=1, device_id=1)
            assert not reply.isError(), reply
            return bool(reply.bits[0])
        finally:
            client.close()

    async def register(self, address: int) -> int:
        client = AsyncModbusTcpClient("127.0.0.1", port=self.port)
        await client.connect()
        try:
            reply = await client.read_holding_registers(address, count=1, device_id=1)
            assert not reply.isError(), reply
            return int(reply.registers[0])
        finally:
            client.close()


@contextlib.asynccontextmanager
async def modbus_device(*, coils: list[bool] | None = None) -> AsyncIterator[ModbusDevice]:
    device = ModbusDevice(coils=coils)
    await device.start()
    try:
        yield device
    finally:
        await device.stop()
