"""The public directory's pure rules: live status, search patterns, the token bucket and the
single-flight cache."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel

from pilotshare.api.gate import AnswerCache, RateLimiter, json_bytes
from pilotshare.core.clock import FakeClock
from pilotshare.network.status import FREE_SOON, MAX_WORDS, live_status, patterns

NOW = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)
M = timedelta(minutes=1)


@pytest.mark.parametrize(
    ("online", "state", "held_for", "free_in", "expected"),
    [
        (False, None, None, 0, "offline"),
        (False, "running", 60, 60, "offline"),
        (True, "down", None, 0, "offline"),
        (True, "maintenance", None, 0, "offline"),
        (True, None, None, 0, "online"),
        (True, "idle", None, 0, "online"),
        (True, "idle", 0, 0, "online"),  # a booking ending now holds nothing
        (True, "idle", 60, 60, "busy"),
        (True, "running", None, None, "busy"),
        (True, "setup", 20, 20, "free-soon"),
        (True, "running", None, 0, "free-soon"),
        (True, "idle", 30, 30, "free-soon"),
        (True, "idle", 31, 31, "busy"),
    ],
)
def test_live_status(
    *, online: bool, state: str | None, held_for: int | None, free_in: int | None, expected: str
) -> None:
    held = NOW + held_for * M if held_for is not None else None
    free = NOW + free_in * M if free_in is not None else None
    got = live_status(online=online, state=state, held_until=held, next_free=free, now=NOW)
    assert got == expected
    assert FREE_SOON == 30 * M


def _like(pattern: str, text: str) -> bool:
    """PostgreSQL's ILIKE with its default escape, for the properties below."""
    out, chars = [], iter(pattern)
    for c in chars:
        if c == "\\":
            out.append(re.escape(next(chars)))
        elif c == "%":
            out.append(".*")
        elif c == "_":
            out.append(".")
        else:
            out.append(re.escape(c))
    return re.fullmatch("".join(out), text, re.IGNORECASE | re.DOTALL) is not None


words = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=12)


@given(st.lists(words, min_size=1, max_size=4), words, words)
def test_a_text_holding_every_word_matches_every_pattern(
    query: list[str], before: str, after: str
) -> None:
    q = " ".join(query)
    found = patterns(q)
    assert len(found) <= MAX_WORDS
    text = before + "\u3000".join(q.split()) + after
    assert all(_like(p, text) for p in found)


@given(words.filter(lambda w: w.split() == [w]), words)
def test_wildcards_are_taken_literally(word: str, text: str) -> None:
    (pattern,) = patterns(word)
    assert _like(pattern, text) == (word.lower() in text.lower())


def test_chinese_needs_no_spaces_and_empty_means_no_search() -> None:
    assert patterns("电镜") == ["%电镜%"]
    assert _like(patterns("电镜")[0], "扫描电镜成像（每样品）")
    assert patterns("SEM　成像") == ["%SEM%", "%成像%"]  # the ideographic space cuts too
    assert patterns(None) == patterns("") == patterns("   ") == []


@given(
    st.integers(1, 20),
    st.floats(1, 600),
    st.lists(st.floats(0, 30), min_size=1, max_size=200),
)
def test_a_bucket_never_admits_more_than_its_burst_and_its_rate(
    burst: int, per_min: float, gaps: list[float]
) -> None:
    limiter = RateLimiter(per_min, burst)
    now, admitted = 0.0, 0
    for gap in gaps:
        now += gap
        wait = limiter.take("10.0.0.1", now)
        assert wait >= 0
        admitted += wait == 0
        assert admitted <= burst + now * per_min / 60 + 1e-9
    # a refused client admitted once it waited what it was told
    while (wait := limiter.take("10.0.0.1", now)) == 0:
        pass
    assert limiter.take("10.0.0.1", now + wait + 1e-9) == 0


def test_buckets_are_per_client_and_bounded() -> None:
    limiter = RateLimiter(60, 1, max_clients=2)
    assert limiter.take("a", 0) == 0
    assert limiter.take("a", 0) == pytest.approx(1.0)
    assert limiter.take("b", 0) == 0
    assert limiter.take("c", 0) == 0  # "a" is forgotten: the idlest go first
    assert limiter.take("a", 0) == 0


class _Answer(BaseModel):
    n: int


async def test_the_cache_produces_once_per_key_and_ttl() -> None:
    clock = FakeClock()
    cache = AnswerCache(ttl=5)
    calls = 0

    async def produce() -> bytes:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.01)
        return json_bytes([_Answer(n=calls)])

    got = await asyncio.gather(*(cache.get("k", produce, clock) for _ in range(20)))
    assert calls == 1
    assert {body for body, _ in got} == {b'[{"n":1}]'}
    assert sorted(hit for _, hit in got) == [False] + [True] * 19
    clock.advance(5)
    assert await cache.get("k", produce, clock) == (b'[{"n":2}]', False)


async def test_a_failure_reaches_every_waiter_and_is_not_kept() -> None:
    clock = FakeClock()
    cache = AnswerCache(ttl=5)

    async def fail() -> bytes:
        await asyncio.sleep(0.01)
        raise RuntimeError("database gone")

    got = await asyncio.gather(
        *(cache.get("k", fail, clock) for _ in range(3)), return_exceptions=True
    )
    assert all(isinstance(g, RuntimeError) for g in got)

    async def fine() -> bytes:
        return json_bytes(_Answer(n=7))

    assert await cache.get("k", fine, clock) == (b'{"n":7}', False)


async def test_no_cache_at_ttl_zero() -> None:
    cache, calls = AnswerCache(ttl=0), []

    async def produce() -> bytes:
        calls.append(1)
        return json_bytes(_Answer(n=len(calls)))

    for _ in range(3):
        await cache.get("k", produce, FakeClock())
    assert len(calls) == 3
