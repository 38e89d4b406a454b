"""Notification channel names: declared once in ``core.contract``, spelled alike in the SQL."""

from __future__ import annotations

import re
from pathlib import Path

from pilotshare.core import contract
from pilotshare.core.contract import BOOKING_CHANGES, JOB_CHANGES, JOB_QUEUE, TWIN_CHANGES
from pilotshare.core.db.migrate import available_migrations

PACKAGE = Path(contract.__file__).resolve().parents[2]  # src/pilotshare
CHANNELS = {TWIN_CHANGES, BOOKING_CHANGES, JOB_QUEUE, JOB_CHANGES}
_SQL_NOTIFY = re.compile(
    r"\bpg_notify\s*\(\s*'([^']+)'|\bNOTIFY\s+\"?([a-z_][a-z0-9_]*)", re.IGNORECASE
)


def _notified_in_migrations() -> set[str]:
    names: set[str] = set()
    for migration in available_migrations():
        code = "\n".join(line.split("--", 1)[0] for line in migration.sql.splitlines())
        for match in _SQL_NOTIFY.finditer(code):
            names.add(match.group(1) or match.group(2))
    return names


def test_the_migrations_notify_only_on_declared_channels() -> None:
    notified = _notified_in_migrations()
    assert BOOKING_CHANGES in notified  # the booking trigger (migrations 0020-0022)
    assert JOB_CHANGES in notified  # a job finished (migration 0045)
    assert notified <= CHANNELS


def test_the_four_channels_have_distinct_names() -> None:
    assert len(CHANNELS) == 4


def test_no_python_module_spells_a_channel_name_but_its_declaration() -> None:
    declared = PACKAGE / "core" / "contract" / "channels.py"
    spelled = {
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if path != declared
        for name in CHANNELS
        if f'"{name}"' in path.read_text(encoding="utf-8")
        or f"'{name}'" in path.read_text(encoding="utf-8")
    }
    assert spelled == set()
