"""Scores from features: ranges, population percentiles, re-weighting, categories, top features
(properties checked with hypothesis, values against independent computations)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from edgelab.sentinel import features, scoring
from tests.sentinel.logs import bet, features_of, tx

CUTOFFS = scoring.Cutoffs(0.56, 0.5, 0.39)
values_strategy = arrays(
    np.float64,
    st.integers(1, 40),
    elements=st.one_of(st.floats(-1e6, 1e6, allow_nan=False), st.just(np.nan)),
)


def _table(draw_values: list[np.ndarray], n: int) -> dict[str, np.ndarray]:
    out = {}
    for k, spec in enumerate(scoring.FEATURES):
        col = draw_values[k % len(draw_values)]
        col = np.resize(col, n).astype(np.float64)
        if spec.absolute:
            col = np.where(np.isnan(col), np.nan, np.abs(np.sin(col)))
        out[spec.name] = col
    return out


@settings(max_examples=150, deadline=None)
@given(st.lists(values_strategy, min_size=1, max_size=6), st.integers(1, 30))
def test_components_and_composite_stay_within_0_and_1(cols, n):
    values = _table(cols, n)
    s = scoring.score(values, scoring.build_reference(values), CUTOFFS)
    for comp in s.components.values():
        ok = ~np.isnan(comp)
        assert np.all((comp[ok] >= 0) & (comp[ok] <= 1))
    assert np.all((s.composite >= 0) & (s.composite <= 1))
    assert set(s.categories.tolist()) <= {"CRITICAL", "HIGH", "MEDIUM", "LOW"}
    rows = s.effective_weights.sum(axis=1)
    present = ~np.all(np.isnan(np.vstack(list(s.components.values()))), axis=0)
    assert np.allclose(rows[present], 1.0)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.floats(0, 1), min_size=5, max_size=5),
    st.sets(st.sampled_from(scoring.COMPONENTS), max_size=4),
)
def test_an_absent_component_is_left_out_and_the_rest_reweighted(levels, absent):
    """Independent re-computation: each component from its features' weighted mean, then the
    composite as the weighted mean over present components only."""
    n = 1
    values = {}
    for spec in scoring.FEATURES:
        level = levels[scoring.COMPONENTS.index(spec.component)]
        values[spec.name] = np.array([np.nan if spec.component in absent else level])
    # a reference that maps each value to itself: quantiles of the uniform on [0, 1]
    ref = {s.name: list(np.linspace(0, 1, scoring.QUANTILES)) for s in scoring.FEATURES}
    s = scoring.score(values, ref, CUTOFFS)
    expected_num = expected_den = 0.0
    for c, level in zip(scoring.COMPONENTS, levels, strict=True):
        if c in absent:
            assert np.isnan(s.components[c][0])
            continue
        ranked = [f for f in scoring.FEATURES if f.component == c]
        num = sum(f.weight * (level if f.absolute else max(0.0, 2 * level - 1)) for f in ranked)
        comp = num / sum(f.weight for f in ranked)
        assert s.components[c][0] == pytest.approx(comp)
        expected_num += scoring.COMPONENT_WEIGHTS[c] * comp
        expected_den += scoring.COMPONENT_WEIGHTS[c]
    assert s.composite[0] == pytest.approx(expected_num / expected_den)
    assert n == 1


def test_weights_sum_to_one_everywhere():
    assert sum(scoring.COMPONENT_WEIGHTS.values()) == pytest.approx(1.0)
    for comp in scoring.COMPONENTS:
        assert sum(f.weight for f in scoring.FEATURES if f.component == comp) == pytest.approx(1.0)


def test_percentile_rank_is_the_mid_rank_among_ties_and_interpolates_between():
    sample = np.array([0, 0, 0, 0, 1, 2, 3, 4, 5, 6], dtype=float)  # the quantiles themselves
    p = scoring.percentile_rank(sample, np.array([0.0, 2.0, 2.5, -1.0, 9.0, np.nan]))
    levels = np.linspace(0, 1, 10)
    assert p[0] == pytest.approx(levels[:4].mean())  # the middle of the four zeros
    assert p[1] == pytest.approx(levels[5])
    assert p[2] == pytest.approx((levels[5] + levels[6]) / 2)
    assert (p[3], p[4]) == (0.0, 1.0)
    assert np.isnan(p[5])


@settings(max_examples=100, deadline=None)
@given(arrays(np.float64, st.integers(2, 60), elements=st.floats(-100, 100)))
def test_percentile_rank_is_monotone_and_within_0_and_1(sample):
    q = np.quantile(sample, np.linspace(0, 1, scoring.QUANTILES))
    xs = np.sort(np.concatenate([sample, np.linspace(-120, 120, 50)]))
    p = scoring.percentile_rank(q, xs)
    assert np.all((p >= 0) & (p <= 1))
    assert np.all(np.diff(p) >= -1e-12)


def test_categories_follow_the_cutoffs():
    got = scoring.categorize(np.array([0.0, 0.389, 0.39, 0.5, 0.559, 0.56, 1.0]), CUTOFFS)
    assert got.tolist() == ["LOW", "LOW", "MEDIUM", "HIGH", "HIGH", "CRITICAL", "CRITICAL"]
    with pytest.raises(ValueError):
        scoring.Cutoffs(0.4, 0.5, 0.3)


def test_top_features_explain_the_composite():
    rng = np.random.default_rng(3)
    rows = []
    for p in range(30):
        for k in range(20):
            placed = k * 600.0 + float(rng.uniform(0, 60))
            rows.append(bet(p, placed, status="lost" if rng.random() < 0.5 else "won"))
    chaser = [  # bets again one minute after every loss, deposits right after
        bet(30, k * 600.0, settled_min=k * 600.0 + 1, status="lost" if k % 2 else "won")
        for k in range(20)
    ]
    chaser += [bet(30, k * 600.0 + 2, status="lost", stake=5000) for k in range(1, 20, 2)]
    t = features_of(rows + chaser, [tx(30, k * 600.0 + 10) for k in range(1, 20, 2)])
    s = scoring.score(t.values, scoring.build_reference(t.values), CUTOFFS)
    top = scoring.top_features(s, t.values, 30, k=25)
    assert top == sorted(top, key=lambda f: -f["contribution"])
    assert sum(f["contribution"] for f in top) == pytest.approx(s.composite[30], abs=1e-3)
    assert top[0]["contribution"] > 0


def test_a_player_with_only_transactions_is_scored_on_what_there_is():
    t = features_of([bet(0, 0)], [tx(1, 0), tx(1, 60, "withdrawal")])
    s = scoring.score(t.values, scoring.build_reference(t.values), CUTOFFS)
    assert np.isnan(s.components["market_drift"][1])
    assert np.isnan(s.components["temporal_risk"][1])
    assert not np.isnan(s.components["bet_escalation"][1])  # deposits per active day
    assert 0 <= s.composite[1] <= 1
    assert features.WINDOW_DAYS == 90
