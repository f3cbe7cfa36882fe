"""Backtest metrics against hand computations, scikit-learn and textbook results."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.calibration import calibration_curve
from sklearn.metrics import log_loss as sk_log_loss

from edgelab.betting.evaluation import baselines, settle
from edgelab.betting.evaluation import metrics as ev
from edgelab.betting.evaluation.engine import QuoteArrays, consensus_of, quote_arrays
from edgelab.betting.markets.quotes import BookQuote, MarketMoment
from edgelab.betting.pricing.moments import price_moments


def _phi(x: float) -> float:
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


probabilities = st.lists(
    st.floats(min_value=0.0, max_value=1.0, allow_nan=False), min_size=1, max_size=200
)


def test_brier_and_log_loss_match_a_hand_computation():
    y = np.array([1.0, 0.0, 1.0])
    p = np.array([0.8, 0.3, 0.4])
    assert ev.brier(y, p) == pytest.approx((0.2**2 + 0.3**2 + 0.6**2) / 3)
    assert ev.logarithmic_loss(y, p) == pytest.approx(
        -(math.log(0.8) + math.log(0.7) + math.log(0.4)) / 3
    )


def test_a_coin_flip_scores_a_quarter_and_ln2():
    y = np.array([1.0, 0.0, 0.0, 1.0, 1.0])
    half = np.full(5, 0.5)
    assert ev.brier(y, half) == pytest.approx(0.25)
    assert ev.logarithmic_loss(y, half) == pytest.approx(math.log(2))


def test_unsettled_outcomes_are_left_out():
    y = np.array([1.0, np.nan, 0.0])
    p = np.array([0.9, 0.1, 0.2])
    scores = ev.score_forecast(y, p)
    assert scores.n == 2 and scores.brier == pytest.approx((0.01 + 0.04) / 2)


def test_nothing_to_score_gives_nulls_not_errors():
    scores = ev.score_forecast(np.array([np.nan]), np.array([0.4]))
    assert scores == ev.ForecastScores(0, None, None, None, [])


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="0 or 1"):
        ev.brier(np.array([2.0]), np.array([0.5]))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        ev.brier(np.array([1.0]), np.array([1.5]))


@settings(max_examples=60, deadline=None)
@given(probabilities, st.data())
def test_brier_is_in_0_1_and_log_loss_is_non_negative(ps, data):
    p = np.array(ps)
    y = np.array(
        data.draw(st.lists(st.sampled_from([0.0, 1.0]), min_size=len(ps), max_size=len(ps)))
    )
    assert 0.0 <= ev.brier(y, p) <= 1.0
    assert ev.logarithmic_loss(y, p) >= 0.0


@settings(max_examples=60, deadline=None)
@given(probabilities, st.data(), st.integers(min_value=2, max_value=20))
def test_reliability_bins_agree_with_scikit_learn(ps, data, n_bins):
    p = np.array(ps)
    y = np.array(
        data.draw(st.lists(st.sampled_from([0.0, 1.0]), min_size=len(ps), max_size=len(ps)))
    )
    bins = ev.reliability_bins(y, p, n_bins)
    prob_true, prob_pred = calibration_curve(y, p, n_bins=n_bins, strategy="uniform")
    np.testing.assert_allclose([b.observed_rate for b in bins], prob_true)
    np.testing.assert_allclose([b.mean_predicted for b in bins], prob_pred)
    assert sum(b.count for b in bins) == len(ps)
    assert all(b.lower <= b.mean_predicted <= b.upper for b in bins)


def test_ece_of_a_hand_made_example():
    # ten forecasts of 0.9 of which half happen: every forecast is 0.4 too confident
    y = np.array([1.0] * 5 + [0.0] * 5)
    assert ev.expected_calibration_error(y, np.full(10, 0.9)) == pytest.approx(0.4)
    # two bins: 0.25 (4 forecasts, 2 happen: off by 0.25), 0.75 (4 forecasts, 3 happen: exact)
    y = np.array([1, 1, 0, 0, 1, 1, 1, 0], dtype=float)
    p = np.array([0.25] * 4 + [0.75] * 4)
    assert ev.expected_calibration_error(y, p) == pytest.approx(0.5 * 0.25)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(min_value=0, max_value=9), st.integers(1, 6), st.integers(0, 6)),
        min_size=1,
        max_size=10,
    )
)
def test_ece_is_zero_when_every_bin_is_perfectly_calibrated(groups):
    # per group k of n forecasts all equal to k/n happen: observed rate = forecast
    ys, ps = [], []
    for _bin, n, k in groups:
        k = min(k, n)
        ps += [k / n] * n
        ys += [1.0] * k + [0.0] * (n - k)
    assert ev.expected_calibration_error(np.array(ys), np.array(ps)) == pytest.approx(
        0.0, abs=1e-12
    )


def test_pointwise_scores_average_to_the_library_scores():
    rng = np.random.default_rng(3)
    p = rng.uniform(0, 1, 500)
    y = (rng.uniform(0, 1, 500) < p).astype(float)
    assert ev.pointwise_brier(y, p).mean() == pytest.approx(ev.brier(y, p))
    assert ev.pointwise_log_loss(y, p).mean() == pytest.approx(sk_log_loss(y, p))


def test_flat_stake_profit_and_roi_by_hand():
    profit = ev.flat_stake_profit(np.array([1.0, 0.0, 1.0]), np.array([2.0, 3.0, 1.5]))
    np.testing.assert_allclose(profit, [1.0, -1.0, 0.5])
    assert profit.mean() == pytest.approx(0.5 / 3)


def test_closing_probability_is_moved_to_the_taken_line_with_the_normal_margin():
    sd = 12.0
    p = ev.closing_probability_at_line(
        np.array(["moneyline", "spread", "spread", "total", "total"]),
        np.array([0.62, 0.5, 0.5, 0.5, 0.55]),
        np.array([np.nan, -7.5, -7.5, 210.0, 210.0]),
        np.array([np.nan, -6.5, -7.5, 208.0, 210.0]),
        sd,
        18.0,
    )
    # home -6.5 taken, closed -7.5 (a 50/50 price): P(margin > 6.5 | mean 7.5) = Phi(1 / sd)
    # over 208 taken, closed 210 at 50/50: P(total > 208 | mean 210) = Phi(2 / 18)
    np.testing.assert_allclose(p, [0.62, _phi(1 / sd), 0.5, _phi(2 / 18), 0.55], rtol=1e-9)


def test_closing_probability_round_trips_a_shifted_price():
    # a closing over price of 0.6 at 210 puts the mean at 210 + 18 * Phi^-1(0.6); at 212 the
    # market's probability is Phi((mean - 212) / 18)
    mean = 210 + 18 * 0.2533471031357997  # Phi^-1(0.6)
    p = ev.closing_probability_at_line(
        np.array(["total"]), np.array([0.6]), np.array([210.0]), np.array([212.0]), 12.0, 18.0
    )
    assert p[0] == pytest.approx(_phi((mean - 212) / 18), rel=1e-9)


def test_the_bootstrap_of_a_mean_matches_the_textbook_standard_error():
    rng = np.random.default_rng(11)
    x = rng.normal(1.0, 2.0, 2000)
    points, draws = ev.cluster_bootstrap_ratios(
        x[None, :], np.ones((1, x.size)), np.arange(x.size), n_boot=2000, seed=5
    )
    assert points[0] == pytest.approx(x.mean())
    assert np.std(draws[:, 0]) == pytest.approx(x.std() / math.sqrt(x.size), rel=0.1)


def test_the_bootstrap_resamples_games_not_markets():
    # every value twice in the same game: as uncertain as the values once, not less
    rng = np.random.default_rng(2)
    x = rng.normal(0.0, 1.0, 300)
    once = ev.cluster_bootstrap_ratios(x[None], np.ones((1, 300)), np.arange(300), seed=9)[1]
    twice = ev.cluster_bootstrap_ratios(
        np.repeat(x, 2)[None], np.ones((1, 600)), np.repeat(np.arange(300), 2), seed=9
    )[1]
    np.testing.assert_allclose(once, twice)


def test_the_bootstrap_is_reproducible_with_its_seed():
    x = np.arange(50, dtype=float)[None]
    a = ev.cluster_bootstrap_ratios(x, np.ones_like(x), np.arange(50), seed=1)[1]
    b = ev.cluster_bootstrap_ratios(x, np.ones_like(x), np.arange(50), seed=1)[1]
    c = ev.cluster_bootstrap_ratios(x, np.ones_like(x), np.arange(50), seed=2)[1]
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.floats(min_value=-1.0, max_value=5.0, allow_nan=False), min_size=1, max_size=80),
    st.integers(min_value=0, max_value=2**31),
)
def test_the_bootstrap_interval_contains_the_point_estimate(values, seed):
    x = np.array(values)
    clusters = np.arange(x.size) // 2  # pairs of bets on one game
    points, draws = ev.cluster_bootstrap_ratios(
        x[None], np.ones((1, x.size)), clusters, n_boot=400, seed=seed
    )
    ci = ev.percentile_interval(draws[:, 0])
    assert ci.low is not None and ci.high is not None
    assert ci.low - 1e-9 <= points[0] <= ci.high + 1e-9


def test_a_paired_difference_of_identical_forecasts_is_zero_and_not_significant():
    x = np.random.default_rng(4).uniform(0, 1, 400)
    num = np.vstack([x, x])
    points, draws = ev.cluster_bootstrap_ratios(num, np.ones_like(num), np.arange(400))
    d = ev.paired_difference(points[0], points[1], draws[:, 0], draws[:, 1])
    assert d.difference == 0.0 and d.p_value == 1.0 and not d.significant


def test_pairing_removes_the_noise_two_forecasts_share():
    rng = np.random.default_rng(8)
    shared = rng.normal(0.0, 1.0, 500)  # the luck of each game, common to both
    a = shared + 0.05 + rng.normal(0.0, 0.05, 500)
    b = shared + rng.normal(0.0, 0.05, 500)
    num = np.vstack([a, b])
    points, draws = ev.cluster_bootstrap_ratios(num, np.ones_like(num), np.arange(500), seed=3)
    d = ev.paired_difference(points[0], points[1], draws[:, 0], draws[:, 1])
    assert d.significant and d.ci_low is not None and d.ci_high is not None
    assert d.ci_low < 0.05 < d.ci_high and d.p_value is not None and d.p_value < 0.01
    # either mean alone has an interval ~20x wider: unpaired, the difference would be lost
    alone = ev.percentile_interval(draws[:, 0])
    assert alone.low is not None and alone.high is not None
    assert (alone.high - alone.low) > 10 * (d.ci_high - d.ci_low)


def test_an_empty_sample_has_no_interval():
    points, draws = ev.cluster_bootstrap_ratios(
        np.zeros((1, 0)), np.zeros((1, 0)), np.zeros(0, dtype=np.int64), n_boot=10
    )
    assert math.isnan(points[0]) and ev.percentile_interval(draws[:, 0]) == ev.Interval(None, None)


# ---- what a bet earned and how it compared with the close (`settle`) -------------------------

D110 = 1 + 100 / 110  # -110


def test_a_home_spread_bet_taken_two_points_better_than_the_close_gains_two_points():
    # home -4.5 taken (X line 4.5), the market closed at home -6.5 (X 6.5), both at -110
    side, x_taken, x_close = np.array([0]), np.array([4.5]), np.array([6.5])
    points, with_price = settle.line_clv(
        side, x_taken, np.array([D110]), x_close, np.array([12.27])
    )
    assert points[0] == pytest.approx(2.0) and with_price[0] == pytest.approx(2.0)
    # the away side of the same market, taken at +4.5, lost the same two points
    points, _ = settle.line_clv(
        np.array([1]), x_taken, np.array([D110]), x_close, np.array([12.27])
    )
    assert points[0] == pytest.approx(-2.0)


def test_a_better_price_is_worth_points_at_the_lines_density():
    # -105 at the closing number: (1/1.9091 - 1/1.9524) / phi(0)/sigma  (sigma 12.27)
    d = 1 + 100 / 105
    _, with_price = settle.line_clv(
        np.array([1]), np.array([221.5]), np.array([d]), np.array([221.5]), np.array([18.74])
    )
    density = 1 / (math.sqrt(2 * math.pi) * 18.74)
    assert with_price[0] == pytest.approx((1 / D110 - 1 / d) / density)
    assert 0.2 < with_price[0] < 0.6


def test_an_over_wins_above_the_line_pushes_on_it_and_settles_flat_stakes():
    side = np.array([0, 0, 0, 1, 1])
    line = np.array([220.5, 221.0, 221.0, 221.0, 221.0])
    x = np.array([221.0, 221.0, 230.0, 230.0, np.nan])
    won = settle.line_won(side, line, x)
    np.testing.assert_array_equal(won, [1.0, np.nan, 1.0, 0.0, np.nan])
    profit = settle.profit(won, np.full(5, 1.9), np.isfinite(x))
    np.testing.assert_allclose(profit, [0.9, 0.0, 0.9, -1.0, np.nan])


def test_moneyline_clv_is_points_of_probability_the_close_minus_one_over_the_odds():
    # away taken at 2.30 (implied 43.5%); the close de-vigs to 58% home, 42% away: -1.5 points
    clv = settle.moneyline_clv(np.array([1, 0]), np.array([2.30, 1.80]), np.array([0.58, 0.58]))
    np.testing.assert_allclose(clv, [0.42 - 1 / 2.30, 0.58 - 1 / 1.80])
    assert clv[0] == pytest.approx(-0.01478, abs=1e-5)  # a return would be 0.42 x 2.30 - 1 = -3.4%
    # the bet tracker's one definition of closing-line value
    from edgelab.betting.bets.settlement import closing_line_value

    assert clv[1] == pytest.approx(closing_line_value(1.80, 0.58))
    won = settle.moneyline_won(np.array([0, 1]), np.array([3.0, 3.0]))
    np.testing.assert_array_equal(won, [1.0, 0.0])


def test_line_clv_in_probability_is_the_closing_chance_at_the_number_taken_minus_one_over_odds():
    # home -4.5 (X line 4.5) at -110; the close centres the margin on 6.5 with sigma 12.27
    sigma = 12.27
    clv = settle.line_clv_probability(
        np.array([0, 1]),
        np.array([4.5, 4.5]),
        np.array([D110, D110]),
        np.array([6.5, 6.5]),
        np.array([sigma, sigma]),
        True,
    )
    # X integer: P(X > 4.5) = P(X >= 5) = Phi((6.5 - 4.5) / sigma), a half line has no push
    p_home = _phi((6.5 - 4.5) / sigma)
    np.testing.assert_allclose(clv, [p_home - 1 / D110, (1 - p_home) - 1 / D110], atol=1e-9)
    assert clv[0] > 0 > clv[1]


# ---- the baselines ----------------------------------------------------------------------------


def _quotes(x: list[list[float]], over: list[list[float]], under: list[list[float]]):
    return QuoteArrays(
        [f"b{j}" for j in range(len(x[0]))],
        np.array(x, float),
        np.array(over, float),
        np.array(under, float),
    )


def test_line_shopping_takes_the_number_a_point_better_than_the_median_book():
    nan = np.nan
    q = _quotes(
        [[4.5, 4.5, 4.5, 3.0], [4.5, 4.5, 5.5, nan], [4.5, 4.5, 3.0, nan]],
        [[D110, D110, D110, 1.95], [D110] * 3 + [nan], [D110, D110, 1.70, nan]],
        [[D110] * 4, [D110] * 3 + [nan], [D110] * 3 + [nan]],
    )
    bets = baselines.line_shopping(q)
    # market 0: the over (home) at 3.0, 1.5 better than 4.5; market 1: a point short of 1.5?
    # 5.5 is exactly one point better for the under; market 2: 3.0 is priced 1.70 (< 1.80)
    assert list(zip(bets.row, bets.side, bets.x_line, bets.book, strict=True)) == [
        (0, 0, 3.0, 3),
        (1, 1, 5.5, 2),
    ]


def test_kaunitz_bets_a_price_above_the_consensus_of_the_books():
    # over: three books at 2.00, one at 2.30: consensus 1/mean = 0.482; under: 1.80 x3, 1.70
    q = _quotes([[np.nan] * 4], [[2.0, 2.0, 2.0, 2.3]], [[1.8, 1.8, 1.8, 1.7]])
    at_zero = baselines.kaunitz_moneyline(q, 0.0)  # any best price above the mean: both sides
    assert sorted(zip(at_zero.side, at_zero.odds, at_zero.book, strict=True)) == [
        (0, 2.3, 3),
        (1, 1.8, 0),
    ]
    # alpha 0.02: 2.30 > 1/(0.482 - 0.02) = 2.165, but 1.80 < 1/(0.563 - 0.02) = 1.84
    edge = baselines.kaunitz_moneyline(q, 0.02)
    assert list(zip(edge.side, edge.odds, strict=True)) == [(0, 2.3)]
    assert baselines.kaunitz_moneyline(q, 0.05).row.size == 0  # 1/(0.482 - 0.05) = 2.31


# ---- the close's consensus, vectorised, is the slate's ----------------------------------------


@pytest.mark.parametrize("market_type", ["moneyline", "spread", "total"])
def test_the_vectorised_consensus_is_what_the_slate_prices(market_type):
    rng = np.random.default_rng(3)
    books = ("lowvig", "betonlineag", "draftkings", "fanduel", "betrivers", "unibet_us", "betfair")
    at = dt.datetime(2030, 1, 1, 12, tzinfo=dt.UTC)
    moments = []
    for k in range(60):
        quotes = []
        for j, book in enumerate(books):
            if rng.random() < 0.25:
                continue
            line = None if market_type == "moneyline" else float(rng.choice([-4.5, -4.0, 3.5]))
            if market_type == "total":
                line = 221.5 + float(rng.choice([-1.0, 0.0, 0.5]))
            d1, d2 = 1.6 + rng.random(), 1.6 + rng.random()
            listed = at - dt.timedelta(minutes=float(rng.choice([0.0, 30.0, 200.0, 500.0])))
            quotes.append(
                BookQuote(f"m{k}", market_type, book, "live", listed, line, d1, d2, j, j, listed)
            )
        moments.append(MarketMoment(f"m{k}", market_type, "pre", at, tuple(quotes)))
    sharp = frozenset({"lowvig", "betonlineag"})
    slate = [
        p.fair if p else np.nan for p in price_moments([m.to_moment() for m in moments], sharp)
    ]
    fast = consensus_of(quote_arrays(moments, market_type), market_type, sharp)
    np.testing.assert_allclose(fast, slate, rtol=1e-12, atol=1e-12)
