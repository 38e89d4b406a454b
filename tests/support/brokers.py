"""A private Mosquitto of one test: the one way the suite runs a real broker of its own.

Tests that stop and restart the broker, turn authentication on, or run the shipped compose
configuration cannot share the session's broker; they start one of these on a free port.
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

import pytest

from pilotshare.core.embedded import free_port
from pilotshare.core.settings import MqttEndpoint

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
#: Marks a test that runs a private Mosquitto (skipped where it is not installed).
needs_mosquitto = pytest.mark.skipif(not Path(MOSQUITTO).exists(), reason="needs mosquitto")


class PrivateMosquitto:
    """A Mosquitto process of one test, which it may stop and start on the same port.

    The test configuration listens on 127.0.0.1 only, keeps nothing on disk and logs to
    ``workdir``; ``auth`` (password file, ACL file) turns anonymous access off, as in
    production, and ``settings`` adds lines. ``config``, given the port, writes a whole
    configuration instead (the shipped one, with its paths moved).
    """

    def __init__(
        self,
        workdir: Path,
        *,
        max_queued: int = 100_000,
        auth: tuple[Path, Path] | None = None,
        settings: Sequence[str] = (),
        config: Callable[[int], str] | None = None,
    ) -> None:
        self.port = free_port()
        self.log = workdir / "mosquitto.log"
        self.conf = workdir / "mosquitto.conf"
        if config is not None:
            self.conf.write_text(config(self.port), encoding="utf-8")
        else:
            lines = [
                f"listener {self.port} 127.0.0.1",
                "persistence false",
                f"max_queued_messages {max_queued}",  # deliberate: the default drops
                f"log_dest file {self.log}",
                *settings,
            ]
            if os.geteuid() == 0:
                lines.append("user root")  # keep reading the 0600 auth and key files
            if auth is None:
                lines.append("allow_anonymous true")
            else:
                lines += [
                    "allow_anonymous false",
                    f"password_file {auth[0]}",
                    f"acl_file {auth[1]}",
                ]
            self.conf.write_text("\n".join(lines) + "\n", encoding="utf-8")
        self.proc: subprocess.Popen[bytes] | None = None

    def url(self, user: str | None = None, password: str | None = None) -> str:
        cred = f"{user}:{password}@" if user else ""
        return f"mqtt://{cred}127.0.0.1:{self.port}"

    @property
    def endpoint(self) -> MqttEndpoint:
        return MqttEndpoint("127.0.0.1", self.port)

    def start(self) -> None:
        """Start it and wait until it accepts connections; fail with its log if it exits."""
        self.proc = subprocess.Popen([MOSQUITTO, "-c", str(self.conf)])
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and self.proc.poll() is None:
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), 0.2),
            ):
                return
            time.sleep(0.05)
        log = self.log.read_text(errors="replace") if self.log.exists() else ""
        self.stop()
        raise RuntimeError(f"private mosquitto did not start: {log[-2000:]}")

    async def astart(self) -> None:
        """``start`` off the event loop: a test's agent keeps sampling while it waits."""
        await asyncio.to_thread(self.start)

    async def astop(self) -> None:
        """``stop`` off the event loop, for the same reason."""
        await asyncio.to_thread(self.stop)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None
