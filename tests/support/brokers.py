"""A private Mosquitto of one test: the one way the suite runs a real broker of its own.

Tests that stop and restart the broker, turn authentication on, or run the shipped compose
configuration cannot share the session's broker; they start one of these on a free port. It is
the embedded mode's own ``pilotshare.core.mosquitto.Mosquitto`` (start and wait for the port
without blocking the loop: ``astart``/``astop``), with the URLs a test wants.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pilotshare.core.mosquitto import Mosquitto, find_mosquitto
from pilotshare.core.settings import MqttEndpoint

MOSQUITTO = find_mosquitto() or "/usr/sbin/mosquitto"
#: Marks a test that runs a private Mosquitto (skipped where it is not installed).
needs_mosquitto = pytest.mark.skipif(not Path(MOSQUITTO).exists(), reason="needs mosquitto")


class PrivateMosquitto(Mosquitto):
    """A Mosquitto process of one test (nothing kept on disk, logs in ``workdir``)."""

    @property
    def endpoint(self) -> MqttEndpoint:
        return MqttEndpoint("127.0.0.1", self.port)
