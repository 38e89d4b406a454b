"""An independent Sparkplug B edge node for the host bridge's tests: PyPI ``pysparkplug``.

pysparkplug needs paho-mqtt < 2 and aiomqtt needs >= 2.1, so it cannot share the suite's
environment: ``edge_python`` makes a virtual environment of its own once (under the system
temporary directory, keyed by version; built beside it and renamed, so parallel workers
never see half of one) and answers its interpreter. ``EdgeNode`` runs
``sparkplug_edge.py`` in it and drives it line by line.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from types import TracebackType
from typing import Self

import pytest

PYSPARKPLUG = "0.6.1"
DRIVER = Path(__file__).with_name("sparkplug_edge.py")


def edge_python() -> Path:
    """The interpreter of the cached pysparkplug environment; skips if it cannot be made."""
    home = Path(tempfile.gettempdir()) / f"pilotshare-pysparkplug-{PYSPARKPLUG}"
    python = home / "bin" / "python"
    if python.exists():
        return python
    building = home.with_name(f"{home.name}.{os.getpid()}")
    shutil.rmtree(building, ignore_errors=True)
    try:
        subprocess.run(
            [sys.executable, "-m", "venv", str(building)], check=True, capture_output=True
        )
        subprocess.run(
            [
                str(building / "bin" / "python"),
                "-m",
                "pip",
                "install",
                "-q",
                "--disable-pip-version-check",
                f"pysparkplug=={PYSPARKPLUG}",
            ],
            check=True,
            capture_output=True,
            timeout=300,
        )
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        shutil.rmtree(building, ignore_errors=True)
        output = getattr(exc, "stderr", b"") or b""
        last = output.decode(errors="replace").strip().splitlines()[-1:] or [str(exc)]
        pytest.skip(
            f"pysparkplug {PYSPARKPLUG} could not be installed (PyPI unreachable?): {last[0]}"
        )
    try:
        building.rename(home)
    except OSError:  # another worker was first: use its copy
        shutil.rmtree(building, ignore_errors=True)
    return python


class EdgeNode:
    """One pysparkplug edge node with one device, in its own process; see ``sparkplug_edge``."""

    def __init__(self, host: str, port: int, group: str, node: str, device: str) -> None:
        self._args = [host, str(port), group, node, device]
        self._proc: asyncio.subprocess.Process | None = None
        self.lines: list[str] = []
        self._seen = asyncio.Condition()
        self._reader: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Self:
        self._proc = await asyncio.create_subprocess_exec(
            str(edge_python()),
            str(DRIVER),
            *self._args,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        self._reader = asyncio.create_task(self._read())
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self._proc is not None
        if self._proc.returncode is None:
            self._proc.kill()
        await self._proc.wait()
        if self._reader is not None:
            self._reader.cancel()

    async def _read(self) -> None:
        assert self._proc is not None
        assert self._proc.stdout is not None
        async for raw in self._proc.stdout:
            async with self._seen:
                self.lines.append(raw.decode().strip())
                self._seen.notify_all()

    async def wait_for(self, prefix: str, *, after: int = 0, timeout: float = 15.0) -> str:
        """The first line from index ``after`` on that starts with ``prefix``."""

        def found() -> str | None:
            return next((x for x in self.lines[after:] if x.startswith(prefix)), None)

        async with asyncio.timeout(timeout), self._seen:
            await self._seen.wait_for(lambda: found() is not None)
        line = found()
        assert line is not None
        return line

    async def do(self, command: str) -> str:
        """Send one command; its answer line (``ok …``)."""
        assert self._proc is not None
        assert self._proc.stdin is not None
        mark = len(self.lines)
        self._proc.stdin.write(f"{command}\n".encode())
        await self._proc.stdin.drain()
        return await self.wait_for("ok", after=mark)

    def sample_times(self) -> list[int]:
        """The timestamps (ms) of every message it sent that carries the device's values."""
        return [int(x.split()[2]) for x in self.lines if x.startswith("sent D")]
