"""Algorithms A and B, checked against hand computations and as properties."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from edgelab.betting.markets.scoring import score_outcomes


def _score(**kw: float):
    base = dict(
        odds=2.0,
        p_true=0.55,
        p_market=0.5,
        overround=0.04,
        method_spread=0.0,
        type_weight=1.0,
        min_games=40.0,
        reliability=0.5,
    )
    base.update(kw)
    return score_outcomes(**{k: np.array([v], dtype=float) for k, v in base.items()})


def test_raw_edge_is_p_true_times_odds_minus_one():
    assert _score(p_true=0.55, odds=2.1).raw_edge[0] == pytest.approx(0.55 * 2.1 - 1)


def test_algorithm_a_matches_its_published_formula():
    s = _score(p_true=0.55, p_market=0.5, odds=2.0, overround=0.04, min_games=16.0)
    sample = 1 - math.exp(-16 / 8)
    agreement = math.exp(-(((math.log(0.55 / 0.45) - 0.0) / 0.5) ** 2))
    mq = 1 - 0.04 / 0.10
    expected = 100 * (1 - math.exp(-0.1 * sample * agreement * mq / 0.05))
    assert s.a_confidence[0] == pytest.approx(sample * agreement)
    assert s.a_market_quality[0] == pytest.approx(mq)
    assert s.a_value_score[0] == pytest.approx(expected)


def test_algorithm_b_is_quarter_kelly_on_the_shrunk_probability():
    # reliability 1: no shrinkage; p=0.6 at evens -> full Kelly 0.2, quarter Kelly 0.05
    s = _score(p_true=0.6, p_market=0.5, odds=2.0, reliability=1.0)
    assert s.b_p_shrunk[0] == pytest.approx(0.6)
    assert s.b_kelly[0] == pytest.approx(0.2)
    assert s.b_stake[0] == pytest.approx(0.05)
    assert s.b_value_score[0] == pytest.approx(100 * (1 - math.exp(-5)))


def test_algorithm_b_with_zero_reliability_trusts_the_market_and_finds_no_value():
    s = _score(p_true=0.7, p_market=0.48, odds=2.0, reliability=0.0)
    assert s.b_p_shrunk[0] == pytest.approx(0.48)
    assert s.b_value_score[0] == 0.0


def test_a_negative_edge_scores_zero_under_both_algorithms():
    s = _score(p_true=0.4, p_market=0.5, odds=2.0)
    assert s.a_value_score[0] == 0.0 and s.b_value_score[0] == 0.0


def test_a_huge_disagreement_with_the_market_is_not_top_value_under_a():
    longshot = _score(p_true=0.235, p_market=0.096, odds=10.0, min_games=80.0)
    modest = _score(p_true=0.55, p_market=0.52, odds=1.91, min_games=80.0)
    assert longshot.raw_edge[0] > modest.raw_edge[0]
    assert longshot.a_value_score[0] < modest.a_value_score[0]


def test_early_season_markets_have_lower_confidence():
    assert _score(min_games=2.0).a_confidence[0] < _score(min_games=40.0).a_confidence[0]


@given(
    odds=st.floats(1.01, 50.0),
    p_true=st.floats(0.001, 0.999),
    p_market=st.floats(0.001, 0.999),
    overround=st.floats(0.0, 0.3),
    spread=st.floats(0.0, 0.2),
    weight=st.sampled_from([0.7, 0.9, 1.0]),
    games=st.floats(0, 82),
    r=st.floats(0, 1),
)
def test_scores_stay_in_their_documented_ranges(
    odds, p_true, p_market, overround, spread, weight, games, r
):
    s = _score(
        odds=odds,
        p_true=p_true,
        p_market=p_market,
        overround=overround,
        method_spread=spread,
        type_weight=weight,
        min_games=games,
        reliability=r,
    )
    for value in (s.a_value_score, s.b_value_score):
        assert 0.0 <= value[0] <= 100.0
    for value in (s.a_confidence, s.a_market_quality, s.b_confidence, s.b_market_quality):
        assert 0.0 <= value[0] <= 1.0


@given(p=st.floats(0.3, 0.7), bump=st.floats(0.001, 0.05))
def test_algorithm_b_score_never_falls_when_the_price_gets_better(p, bump):
    low = _score(p_true=p, p_market=p - 0.02, odds=2.0, reliability=0.7)
    high = _score(p_true=p, p_market=p - 0.02, odds=2.0 + bump, reliability=0.7)
    assert high.b_value_score[0] >= low.b_value_score[0]
