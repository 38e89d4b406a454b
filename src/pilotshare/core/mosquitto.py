"""A private Mosquitto process: the embedded broker where a ``mosquitto`` binary is installed.

amqtt, the in-process fallback, ignores keepalive expiry (a hung agent's last will is never
published) and delivers retained messages to clients that never subscribed to them; Mosquitto
does neither, and speaks MQTT 5. ``Mosquitto`` writes its own configuration (one listener on
127.0.0.1, ``max_queued_messages`` set deliberately, since the default drops a slow
subscriber's messages), starts the process and waits for its port. ``astart``/``astop`` never
block the event loop (an agent or ingest sharing the loop keeps running while the broker
starts); ``start``/``stop`` are the same for callers without a loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from urllib.parse import quote

from pilotshare.core.embedded import free_port

#: Where Debian puts the binary when ``/usr/sbin`` is not on PATH.
_FALLBACK = Path("/usr/sbin/mosquitto")
START_TIMEOUT_S = 10.0


def find_mosquitto() -> str | None:
    """The ``mosquitto`` binary on PATH (or in /usr/sbin), or None."""
    found = shutil.which("mosquitto")
    if found:
        return found
    return str(_FALLBACK) if _FALLBACK.exists() else None


class Mosquitto:
    """A Mosquitto process of ours, which may be stopped and started again on the same port.

    ``persistence``: a directory for its retained messages and sessions (kept across
    restarts, as an agent's retained status and the retained interlock commands should be);
    None keeps nothing on disk. ``auth`` (password file, ACL file) turns anonymous access
    off; ``settings`` adds lines; ``config``, given the port, writes a whole configuration
    instead.
    """

    def __init__(
        self,
        workdir: Path,
        *,
        port: int | None = None,
        binary: str | None = None,
        persistence: Path | None = None,
        max_queued: int = 100_000,
        auth: tuple[Path, Path] | None = None,
        settings: Sequence[str] = (),
        config: Callable[[int], str] | None = None,
    ) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.binary = binary or find_mosquitto() or "mosquitto"
        self.port = port or free_port()
        self.log = workdir / "mosquitto.log"
        self.conf = workdir / "mosquitto.conf"
        self.stderr = workdir / "mosquitto.stderr"
        if config is not None:
            self.conf.write_text(config(self.port), encoding="utf-8")
        else:
            lines = [
                f"listener {self.port} 127.0.0.1",
                f"max_queued_messages {max_queued}",  # deliberate: the default drops
                f"log_dest file {self.log}",
            ]
            if persistence is None:
                lines.append("persistence false")
            else:
                persistence.mkdir(parents=True, exist_ok=True)
                lines += ["persistence true", f"persistence_location {persistence}/"]
            if os.geteuid() == 0:
                lines.append("user root")  # keep reading our own 0600 files
            if auth is None:
                lines.append("allow_anonymous true")
            else:
                lines += [
                    "allow_anonymous false",
                    f"password_file {auth[0]}",
                    f"acl_file {auth[1]}",
                ]
            lines += settings
            self.conf.write_text("\n".join(lines) + "\n", encoding="utf-8")
        self.proc: subprocess.Popen[bytes] | None = None

    def url(self, user: str | None = None, password: str | None = None) -> str:
        """Its ``mqtt://`` URL (anonymous, or with ``user`` and ``password``)."""
        cred = f"{quote(user, safe='')}:{quote(password or '', safe='')}@" if user else ""
        return f"mqtt://{cred}127.0.0.1:{self.port}"

    def _spawn(self) -> subprocess.Popen[bytes]:
        # spawning returns at once; only the wait for the port takes time
        with self.stderr.open("ab") as err:
            self.proc = subprocess.Popen(  # noqa: S603 - our own binary and configuration
                [self.binary, "-c", str(self.conf)],
                stdin=subprocess.DEVNULL,
                stdout=err,
                stderr=err,
            )
        return self.proc

    def _failed(self) -> RuntimeError:
        log = self.log.read_text(errors="replace") if self.log.exists() else ""
        err = self.stderr.read_text(errors="replace") if self.stderr.exists() else ""
        why = (log[-1500:] + err[-500:]).strip() or "no log"
        return RuntimeError(f"mosquitto did not start on port {self.port}: {why}")

    async def astart(self, timeout_s: float = START_TIMEOUT_S) -> None:
        """Start it and wait, without blocking the loop, until it accepts connections."""
        proc = self._spawn()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                _, writer = await asyncio.wait_for(
                    asyncio.open_connection("127.0.0.1", self.port), 0.5
                )
            except (OSError, TimeoutError):
                await asyncio.sleep(0.05)
                continue
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
            return
        error = self._failed()
        await self.astop()
        raise error

    async def astop(self, timeout_s: float = 10.0) -> None:
        """Stop it (SIGTERM, then SIGKILL after ``timeout_s``), without blocking the loop."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
        deadline = time.monotonic() + timeout_s
        while proc.poll() is None:
            if time.monotonic() > deadline:
                proc.kill()
                deadline = time.monotonic() + timeout_s
            await asyncio.sleep(0.02)

    def start(self, timeout_s: float = START_TIMEOUT_S) -> None:
        """``astart`` for callers without an event loop (it blocks)."""
        proc = self._spawn()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and proc.poll() is None:
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), 0.2),
            ):
                return
            time.sleep(0.05)
        error = self._failed()
        self.stop()
        raise error

    def stop(self) -> None:
        """``astop`` for callers without an event loop (it blocks)."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
