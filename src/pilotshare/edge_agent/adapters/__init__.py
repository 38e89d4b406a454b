"""Adapters: what turns an instrument's own interface into samples.

``build_adapter`` picks one from the ``[adapter]`` config; the protocol libraries (httpx,
pymodbus, asyncua) are imported only when their adapter is chosen.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from pilotshare.edge_agent.adapters.base import (
    Adapter,
    AdapterError,
    InterlockPolicy,
    Reading,
    parse_reading,
)
from pilotshare.edge_agent.adapters.simulated import (
    SimulatedAdapter,
    SimulatedInstrument,
    SimulatedParams,
    Transition,
)

if TYPE_CHECKING:
    from pilotshare.edge_agent.config import AdapterConfig

__all__ = [
    "Adapter",
    "AdapterError",
    "InterlockPolicy",
    "Reading",
    "SimulatedAdapter",
    "SimulatedInstrument",
    "SimulatedParams",
    "Transition",
    "build_adapter",
    "parse_reading",
    "simulated",
]


def build_adapter(config: AdapterConfig, *, now: datetime) -> Adapter:
    """The adapter an ``[adapter]`` section describes (``now`` starts a simulation)."""
    from pilotshare.edge_agent.config import CommandConfig, HttpConfig, ModbusConfig, OpcUaConfig

    if isinstance(config, CommandConfig):
        from pilotshare.edge_agent.adapters.command import CommandAdapter

        return CommandAdapter(
            config.command, timeout_s=config.timeout_s, interlock=config.interlock
        )
    if isinstance(config, HttpConfig):
        from pilotshare.edge_agent.adapters.http import HttpAdapter

        return HttpAdapter(
            config.url,
            state=config.state,
            state_map=config.state_map,
            utilization=config.utilization,
            utilization_scale=config.utilization_scale,
            metrics=config.metrics,
            headers=config.headers,
            timeout_s=config.timeout_s,
            interlock=config.interlock,
        )
    if isinstance(config, ModbusConfig):
        from pilotshare.edge_agent.adapters.modbus import ModbusAdapter

        return ModbusAdapter(config)
    if isinstance(config, OpcUaConfig):
        from pilotshare.edge_agent.adapters import opcua

        return opcua.build(config)
    return SimulatedAdapter(config.params(), config.seed, start=now)
