"""The ``command`` adapter: run a program once per sample and read what it prints.

The program prints a bare state word (``running``) or a JSON reading (``{"state": "running",
"utilization": 0.8, "metrics": {"power_w": 1200}}``). A non-zero exit, a timeout or garbled
output is an ``AdapterError``: logged, counted, that sample skipped.

With an ``[adapter.interlock]`` section, ``lock``/``unlock`` each run their own program; exit
status 0 within the timeout confirms the switch. The program finds the command in its
environment: ``PILOTSHARE_INTERLOCK`` (``lock``/``unlock``), ``PILOTSHARE_BOOKING``,
``PILOTSHARE_UNTIL`` and ``PILOTSHARE_SEQ`` (empty when the command has none).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from datetime import datetime

from pilotshare.core.contract import Command, Sample
from pilotshare.edge_agent.adapters.base import Adapter, AdapterError, parse_reading
from pilotshare.edge_agent.config import CommandInterlock

MAX_OUTPUT = 64 * 1024


async def run_program(
    argv: list[str], *, timeout_s: float, env: dict[str, str] | None = None
) -> bytes:
    """What ``argv`` (no shell) prints; ``AdapterError`` when it cannot start, overruns (it is
    killed) or exits non-zero."""
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
        )
    except OSError as exc:
        raise AdapterError(f"cannot run {argv[0]!r}: {exc.strerror or exc}") from None
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout_s)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
        raise AdapterError(f"{argv[0]!r} ran over {timeout_s} s and was killed") from None
    if proc.returncode != 0:
        tail = err.decode("utf-8", "replace").strip().splitlines()[-1:] or [""]
        raise AdapterError(f"{argv[0]!r} exited with {proc.returncode}: {tail[0][:200]}")
    return out


class CommandAdapter(Adapter):
    """Runs ``argv`` (no shell) with a timeout; the process is killed when it overruns."""

    def __init__(
        self,
        argv: list[str],
        *,
        timeout_s: float = 10.0,
        interlock: CommandInterlock | None = None,
    ) -> None:
        self.argv = list(argv)
        self.timeout_s = timeout_s
        self.interlock = interlock
        if interlock is not None:
            self.switches_interlock = True
            self.interlock_policy = interlock

    async def read(self, now: datetime) -> Sample:
        out = await run_program(self.argv, timeout_s=self.timeout_s)
        if len(out) > MAX_OUTPUT:
            raise AdapterError(f"{self.argv[0]!r} printed over {MAX_OUTPUT} bytes")
        try:
            text = out.decode("utf-8")
        except UnicodeDecodeError:
            raise AdapterError(f"{self.argv[0]!r} printed bytes that are not UTF-8") from None
        return parse_reading(text).at(now)

    async def command(self, cmd: Command, now: datetime) -> None:  # noqa: ARG002 - no clock
        """Run the ``lock`` or ``unlock`` program; its exit status 0 confirms the switch."""
        if self.interlock is None:
            return
        argv = self.interlock.lock if cmd.cmd == "lock" else self.interlock.unlock
        env = dict(
            os.environ,
            PILOTSHARE_INTERLOCK=cmd.cmd,
            PILOTSHARE_BOOKING=cmd.booking or "",
            PILOTSHARE_UNTIL=cmd.until.isoformat() if cmd.until else "",
            PILOTSHARE_SEQ="" if cmd.seq is None else str(cmd.seq),
        )
        await run_program(argv, timeout_s=self.interlock.timeout_s, env=env)
