"""The published ranking: order-free, monotone in every figure, weights that mean what they say."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pilotshare.core.errors import ConfigError
from pilotshare.core.settings import RANKING_WEIGHTS, load_settings
from pilotshare.network.statistics.ranking import (
    DIRECTIONS,
    FIGURES,
    TOO_FEW_BOOKINGS,
    Better,
    Candidate,
    Method,
    goodness,
    rank,
)

METHOD = Method(weights=RANKING_WEIGHTS, min_bookings=3, top=2, threshold=0.5)

share = st.floats(0, 1, allow_nan=False)
positive = st.floats(0, 1000, allow_nan=False)
_VALUE = {
    "utilisation": share,
    "hours_served": positive,
    "clients_served": st.integers(0, 50).map(float),
    "on_time_share": share,
    "no_show_share": share,
    "cancellation_share": share,
    "median_wait_hours": positive,
    "response_hours": st.one_of(st.none(), positive),
    "voucher_redemptions": positive,
}


@st.composite
def candidates(draw: st.DrawFn) -> list[Candidate]:
    n = draw(st.integers(1, 6))
    return [
        Candidate(
            f"p{i}",
            {f: draw(_VALUE[f]) for f in FIGURES},
            draw(st.integers(0, 10)),
        )
        for i in range(n)
    ]


def test_every_configurable_figure_has_a_direction() -> None:
    assert set(FIGURES) == set(RANKING_WEIGHTS)


@given(candidates(), st.randoms(use_true_random=False))
@settings(max_examples=80, deadline=None)
def test_the_order_of_the_platforms_does_not_matter(
    cs: list[Candidate], rnd: random.Random
) -> None:
    shuffled = list(cs)
    rnd.shuffle(shuffled)
    assert rank(shuffled, METHOD) == rank(cs, METHOD)


@given(candidates())
@settings(max_examples=80, deadline=None)
def test_ranking_is_deterministic_and_complete(cs: list[Candidate]) -> None:
    a, b = rank(cs, METHOD), rank(cs, METHOD)
    assert a == b
    assert sorted(p.platform for p in a.placed) == sorted(c.platform for c in cs)
    for p in a.placed:
        few = next(c for c in cs if c.platform == p.platform).bookings < METHOD.min_bookings
        assert (p.reason == TOO_FEW_BOOKINGS) is few
        assert (p.score is None) is few
        if p.score is not None:
            assert 0.0 <= p.score <= 1.0
    ranks = [p.rank for p in a.placed if p.rank is not None]
    assert ranks == sorted(ranks)
    assert len(a.outstanding) <= METHOD.top
    assert all(
        p.score is not None and p.score >= METHOD.threshold for p in a.placed if p.outstanding
    )


def _better(value: float, figure: str) -> float:
    """A value strictly better than ``value`` on ``figure``."""
    if DIRECTIONS[figure] is Better.LOWER:
        return value - 1.0
    if DIRECTIONS[figure] is Better.TARGET:
        return METHOD.utilisation_target  # the best there is
    return value + 1.0


@given(candidates())
@settings(max_examples=80, deadline=None)
def test_a_platform_better_on_every_figure_ranks_above(cs: list[Candidate]) -> None:
    base = cs[0]
    figures = {f: 0.5 if f == "utilisation" else (v if v is not None else 1.0)
               for f, v in base.figures.items()}  # fmt: skip
    worse = Candidate("worse", figures, 10)
    best = Candidate("best", {f: _better(v, f) for f, v in figures.items()}, 10)
    out = rank([*cs, worse, best], METHOD)
    score = {p.platform: p.score for p in out.placed}
    assert score["best"] is not None
    assert score["worse"] is not None
    assert score["best"] > score["worse"]


@given(candidates(), st.sampled_from(FIGURES))
@settings(max_examples=80, deadline=None)
def test_a_weight_of_zero_drops_its_figure(cs: list[Candidate], figure: str) -> None:
    weights = {**RANKING_WEIGHTS, figure: 0.0}
    method = Method(weights=weights, min_bookings=3)
    changed = [
        Candidate(c.platform, {**c.figures, figure: float(i * 7 % 5)}, c.bookings)
        for i, c in enumerate(cs)
    ]
    a, b = rank(cs, method), rank(changed, method)
    assert figure in a.dropped
    assert figure not in a.weights
    assert [(p.platform, p.score, p.rank) for p in a.placed] == [
        (p.platform, p.score, p.rank) for p in b.placed
    ]


def test_ties_share_a_rank_and_list_by_id() -> None:
    same = dict.fromkeys(FIGURES, 1.0)
    out = rank([Candidate("b", same, 5), Candidate("a", same, 5), Candidate("c", same, 1)], METHOD)
    assert [(p.platform, p.rank, p.score) for p in out.placed] == [
        ("a", 1, 1.0),
        ("b", 1, 1.0),
        ("c", None, None),
    ]
    assert out.outstanding == ["a", "b"]


def test_a_figure_nobody_has_is_dropped_and_one_missing_scores_zero() -> None:
    a = {**dict.fromkeys(FIGURES, 1.0), "response_hours": None, "voucher_redemptions": None}
    b = {**a, "voucher_redemptions": 5.0}
    out = rank([Candidate("a", a, 5), Candidate("b", b, 5)], METHOD)
    assert "response_hours" in out.dropped
    by = {p.platform: p for p in out.placed}
    assert by["a"].normalised["voucher_redemptions"] == 0.0
    assert by["b"].normalised["voucher_redemptions"] == 1.0
    assert out.placed[0].platform == "b"


def test_utilisation_is_best_at_the_target() -> None:
    t = 0.8
    assert goodness("utilisation", 0.8, t) == 1.0
    assert goodness("utilisation", 0.4, t) == pytest.approx(0.5)
    assert goodness("utilisation", 0.9, t) == pytest.approx(0.5)
    assert goodness("utilisation", 1.0, t) == 0.0
    assert goodness("utilisation", 1.5, t) == 0.0  # run outside open hours: still the worst


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ('{"bogus": 1}', "unknown figures"),
        ('{"utilisation": -1}', "finite number >= 0"),
        ('{"utilisation": 0}', "at least one weight"),
        ("[1, 2]", "JSON object"),
        ("{nope", "not JSON"),
    ],
)
def test_a_bad_weight_setting_is_a_one_line_config_error(
    monkeypatch: pytest.MonkeyPatch, value: str, says: str
) -> None:
    monkeypatch.setenv("PILOTSHARE_RANKING_WEIGHTS", value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    message = str(caught.value)
    assert message.startswith("PILOTSHARE_RANKING_WEIGHTS: ")
    assert says in message
    assert "\n" not in message


def test_weights_from_the_environment_replace_the_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PILOTSHARE_RANKING_WEIGHTS", '{"on_time_share": 2, "utilisation": 1}')
    assert load_settings().ranking_weights == {"on_time_share": 2.0, "utilisation": 1.0}
