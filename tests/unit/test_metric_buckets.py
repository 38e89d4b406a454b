"""The metric series' buckets and names: what a client may ask for, and the 422s."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from pilotshare.core.errors import BadInput
from pilotshare.twin.series import (
    BUCKETS,
    MAX_BUCKETS,
    SeriesQuery,
    parse_bucket,
    parse_names,
)

T = datetime(2026, 1, 5, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "minutes"),
    [
        ("PT1M", 1),
        ("1m", 1),
        ("pt5m", 5),
        ("5m", 5),
        ("PT15M", 15),
        ("15M", 15),
        ("PT1H", 60),
        ("1h", 60),
        (" PT6H ", 360),
        ("6h", 360),
        ("P1D", 1440),
        ("1d", 1440),
    ],
)
def test_the_offered_buckets_in_both_spellings(text: str, minutes: int) -> None:
    assert parse_bucket(text) == timedelta(minutes=minutes)


@pytest.mark.parametrize(
    "text", ["PT7M", "P1W", "PT60M", "2h", "0m", "", "hour", "PT1H30M", "-PT1H"]
)
def test_other_buckets_are_bad_bucket_naming_the_offer(text: str) -> None:
    with pytest.raises(BadInput) as err:
        parse_bucket(text)
    assert err.value.reason == "bad_bucket"
    assert "PT1M, PT5M, PT15M, PT1H, PT6H, P1D" in err.value.detail


def test_names_are_checked_deduplicated_and_bounded() -> None:
    assert parse_names(None) is None
    assert parse_names(" ") is None
    assert parse_names("power_w, chamber_c,power_w") == ("power_w", "chamber_c")
    for bad in ("Power", "power-w", "power_w,", "1st", "a" * 65):
        with pytest.raises(BadInput) as err:
            parse_names(bad)
        assert err.value.reason == "bad_metric_name"
    assert len(parse_names(",".join(f"m{i}" for i in range(64))) or ()) == 64
    with pytest.raises(BadInput, match="at most 64"):
        parse_names(",".join(f"m{i}" for i in range(65)))


def test_finer_buckets_than_an_hour_read_at_most_a_day_of_raw_samples() -> None:
    assert not SeriesQuery("o", T, T + timedelta(days=1), BUCKETS["PT1M"]).from_rollup
    with pytest.raises(BadInput, match="at most 1 day"):
        SeriesQuery("o", T, T + timedelta(days=1, seconds=1), BUCKETS["PT15M"])
    assert SeriesQuery("o", T, T + timedelta(days=30), BUCKETS["PT1H"]).from_rollup


def test_ranges_are_checked() -> None:
    with pytest.raises(BadInput, match="after start"):
        SeriesQuery("o", T, T, BUCKETS["PT1H"])
    with pytest.raises(BadInput, match="time zone"):
        SeriesQuery("o", T.replace(tzinfo=None), T + timedelta(hours=1), BUCKETS["PT1H"])
    with pytest.raises(BadInput, match=f"at most {MAX_BUCKETS}"):
        SeriesQuery("o", T, T + timedelta(hours=MAX_BUCKETS + 1), BUCKETS["PT1H"])
    with pytest.raises(BadInput) as err:
        SeriesQuery("o", T, T + timedelta(hours=2), timedelta(minutes=7))
    assert err.value.reason == "bad_bucket"
