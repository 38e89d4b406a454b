"""Calendar feeds as outside tools read them: python ``icalendar`` and libical.

libical is reached through the system Python's GObject introspection (Debian's
``gir1.2-ical-3.0``), which the project's virtual environment cannot import, so
``libical_report`` runs ``tests/support/libical_check.py`` on ``/usr/bin/python3`` and skips the
calling test, saying why, where that interpreter or its introspection is missing.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

SYSTEM_PYTHON = Path("/usr/bin/python3")
CHECKER = Path(__file__).with_name("libical_check.py")
UNAVAILABLE = 3  # the checker's exit status when libical's introspection is missing


def libical_report(text: str) -> dict[str, Any]:
    """libical's verdict on ``text``: ``{"restrictions_ok", "errors", "events"}``."""
    if not SYSTEM_PYTHON.exists():
        pytest.skip(f"libical check needs {SYSTEM_PYTHON} with gi and ICalGLib 3.0")
    done = subprocess.run(
        [str(SYSTEM_PYTHON), str(CHECKER)],
        input=text.encode(),
        capture_output=True,
        timeout=60,
        check=False,
    )
    if done.returncode == UNAVAILABLE:
        why = json.loads(done.stdout)["unavailable"]
        pytest.skip(f"{SYSTEM_PYTHON} has no libical introspection (gi / ICalGLib 3.0): {why}")
    assert done.returncode == 0, done.stderr.decode()
    report: dict[str, Any] = json.loads(done.stdout)
    return report


def unfolded_lines(text: str) -> list[str]:
    """The content lines of ``text`` with folding undone (RFC 5545 §3.1)."""
    return text.replace("\r\n ", "").replace("\r\n\t", "").split("\r\n")[:-1]
