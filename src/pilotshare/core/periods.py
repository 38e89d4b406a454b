"""Calendar periods of a site: its local day, ISO week and month, as UTC intervals (pure).

Statements and quotas count what happens in a site's day, week or month, so their periods
start at local midnight (Monday for a week, the 1st for a month) in the site's IANA zone,
not in UTC: in Asia/Shanghai 02:00 on 1 December belongs to December. Periods are built
from local dates, never by adding hours to a local time, so days across a DST change are 23
or 25 hours long and consecutive periods tile time without gaps or overlaps. Every bound is
answered in UTC. The one home of this rule: ``billing`` and ``scheduler.quota`` call it.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Final, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pilotshare.core.errors import BadInput

Period = Literal["day", "week", "month"]
PERIODS: Final[tuple[Period, ...]] = ("day", "week", "month")


@lru_cache(maxsize=256)
def zone(name: str) -> ZoneInfo:
    """The time zone called ``name``; ``BadInput('bad_timezone')`` when unknown."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise BadInput("bad_timezone", f"unknown time zone {name!r}") from None


def _midnight(day: date, tz: ZoneInfo) -> datetime:
    # fold=0: where midnight falls in a DST gap this is the gap's end, the day's first instant
    return datetime.combine(day, time(), tzinfo=tz).astimezone(UTC)


def _next_month(first: date) -> date:
    return (first + timedelta(days=32)).replace(day=1)


def period_of(period: Period | str, at: datetime, timezone: str) -> tuple[datetime, datetime]:
    """The local day, ISO week (from Monday) or month of ``timezone`` containing ``at``."""
    tz = zone(timezone)
    day = at.astimezone(tz).date()
    if period == "day":
        return _midnight(day, tz), _midnight(day + timedelta(days=1), tz)
    if period == "week":
        monday = day - timedelta(days=day.weekday())
        return _midnight(monday, tz), _midnight(monday + timedelta(days=7), tz)
    first = day.replace(day=1)
    return _midnight(first, tz), _midnight(_next_month(first), tz)


def month_of(at: datetime, timezone: str) -> str:
    """``YYYY-MM`` of the local month of ``timezone`` containing ``at``."""
    return at.astimezone(zone(timezone)).strftime("%Y-%m")


def month_bounds(month: str, timezone: str) -> tuple[datetime, datetime]:
    """``YYYY-MM`` as the UTC interval it spans in ``timezone``; ``BadInput`` otherwise."""
    bad = BadInput("bad_month", f"{month!r} is not a month (YYYY-MM)")
    try:
        first = datetime.strptime(month + "-01", "%Y-%m-%d").date()  # noqa: DTZ007 - a date
    except ValueError:
        raise bad from None
    tz = zone(timezone)
    try:
        return _midnight(first, tz), _midnight(_next_month(first), tz)
    except OverflowError:  # a month at the calendar's ends (9999-12) has no UTC interval
        raise bad from None
