"""The ``command`` adapter: run a program once per sample and read what it prints.

The program prints a bare state word (``running``) or a JSON reading (``{"state": "running",
"utilization": 0.8, "metrics": {"power_w": 1200}}``). A non-zero exit, a timeout or garbled
output is an ``AdapterError``: logged, counted, that sample skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime

from pilotshare.core.contract import Sample
from pilotshare.edge_agent.adapters.base import Adapter, AdapterError, parse_reading

MAX_OUTPUT = 64 * 1024


class CommandAdapter(Adapter):
    """Runs ``argv`` (no shell) with a timeout; the process is killed when it overruns."""

    def __init__(self, argv: list[str], *, timeout_s: float = 10.0) -> None:
        self.argv = list(argv)
        self.timeout_s = timeout_s

    async def read(self, now: datetime) -> Sample:
        try:
            proc = await asyncio.create_subprocess_exec(
                *self.argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
        except OSError as exc:
            raise AdapterError(f"cannot run {self.argv[0]!r}: {exc.strerror or exc}") from None
        try:
            out, err = await asyncio.wait_for(proc.communicate(), self.timeout_s)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
            raise AdapterError(
                f"{self.argv[0]!r} ran over {self.timeout_s} s and was killed"
            ) from None
        if proc.returncode != 0:
            tail = err.decode("utf-8", "replace").strip().splitlines()[-1:] or [""]
            raise AdapterError(f"{self.argv[0]!r} exited with {proc.returncode}: {tail[0][:200]}")
        if len(out) > MAX_OUTPUT:
            raise AdapterError(f"{self.argv[0]!r} printed over {MAX_OUTPUT} bytes")
        try:
            text = out.decode("utf-8")
        except UnicodeDecodeError:
            raise AdapterError(f"{self.argv[0]!r} printed bytes that are not UTF-8") from None
        return parse_reading(text).at(now)
