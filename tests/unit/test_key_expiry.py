"""``pilotshare keys create --expires-in / --expires-at``: what a lifetime may be."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from pilotshare.api.keys import expiry, is_key_id, new_key
from pilotshare.core.errors import ConfigError

NOW = datetime(2026, 12, 2, 6, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "span"),
    [
        ("30d", timedelta(days=30)),
        ("12h", timedelta(hours=12)),
        ("90m", timedelta(minutes=90)),
        ("2w", timedelta(weeks=2)),
        ("3600s", timedelta(hours=1)),
    ],
)
def test_a_lifetime_counts_from_now(text: str, span: timedelta) -> None:
    assert expiry(NOW, expires_in=text, expires_at=None) == NOW + span


def test_an_absolute_expiry_keeps_its_offset_and_none_is_forever() -> None:
    assert expiry(NOW, expires_in=None, expires_at="2027-01-01T08:00:00+08:00") == datetime(
        2027, 1, 1, tzinfo=UTC
    )
    assert expiry(NOW, expires_in=None, expires_at=None) is None


@pytest.mark.parametrize(
    ("expires_in", "expires_at", "needle"),
    [
        ("0d", None, "--expires-in"),
        ("-1d", None, "--expires-in"),
        ("1y", None, "--expires-in"),
        ("soon", None, "--expires-in"),
        (None, "tomorrow", "--expires-at"),
        (None, "2027-01-01T00:00:00", "offset"),
        (None, "2026-12-01T00:00:00Z", "past"),
        ("1d", "2027-01-01T00:00:00Z", "not both"),
    ],
)
def test_a_bad_lifetime_is_one_config_error(
    expires_in: str | None, expires_at: str | None, needle: str
) -> None:
    with pytest.raises(ConfigError, match=needle):
        expiry(NOW, expires_in=expires_in, expires_at=expires_at)


def test_a_new_keys_id_is_a_key_id() -> None:
    key_id, key = new_key()
    assert is_key_id(key_id)
    assert key.split("_")[1] == key_id
    assert not is_key_id("not-an-id")
    assert not is_key_id(key)
