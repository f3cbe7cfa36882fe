"""The value model's maths, checked against independent computations and hand-worked examples."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import expit, logit
from scipy.stats import norm

from edgelab.betting.pricing import blend as B
from edgelab.betting.pricing.consensus import DEVIG_METHODS, devig_two_way, weighted_aggregate
from edgelab.betting.pricing.lines import implied_mean, line_probs
from edgelab.betting.pricing.moments import Moment, Quote, price_moments
from edgelab.betting.pricing.value import (
    best_by_book,
    chunked,
    ev_line,
    kaunitz_signal,
    price_points,
    score_a,
    score_b,
    score_line_markets,
)

SHARP = frozenset({"circasports", "betonlineag", "lowvig", "bovada", "pinnacle"})


def _shin_by_bisection(qa: np.ndarray, qb: np.ndarray) -> np.ndarray:
    """Shin's (1993) model solved numerically: z with sum p_i(z) = 1."""
    s = qa + qb

    def p(z: np.ndarray, q: np.ndarray) -> np.ndarray:
        return (np.sqrt(z * z + 4 * (1 - z) * q * q / s) - z) / (2 * (1 - z))

    lo, hi = np.zeros_like(qa), np.full_like(qa, 0.5)
    for _ in range(80):
        z = 0.5 * (lo + hi)
        big = p(z, qa) + p(z, qb) > 1
        lo, hi = np.where(big, z, lo), np.where(big, hi, z)
    return p(0.5 * (lo + hi), qa)


def test_every_devig_method_gives_probabilities_that_sum_to_one() -> None:
    da = np.array([1.5, 1.2, 1.909, 1.05, 3.3])
    db = np.array([2.6, 4.8, 1.909, 9.0, 1.33])
    for method in DEVIG_METHODS:
        assert np.allclose(devig_two_way(da, db, method) + devig_two_way(db, da, method), 1.0)
    odds_ratio = expit(0.5 * (logit(1 / da) - logit(1 / db)))
    assert np.allclose(devig_two_way(da, db, "odds_ratio"), odds_ratio, atol=1e-12)


def test_shin_equals_the_numerical_solution_of_shins_model() -> None:
    grid = np.linspace(1.03, 15, 60)
    a, b = (g.ravel() for g in np.meshgrid(grid, grid))
    real = (1 / a + 1 / b > 1.0) & (1 / a + 1 / b < 1.3)
    shin = devig_two_way(a[real], b[real], "shin")
    assert np.allclose(_shin_by_bisection(1 / a[real], 1 / b[real]), shin, atol=1e-9)


def test_line_probabilities_match_the_normal_and_push_only_on_integers() -> None:
    over, push, under = line_probs(np.array([4.5, 4.0]), 3.0, 12.0)
    assert over[0] == pytest.approx(1 - norm.cdf(4.5, 3.0, 12.0))  # X >= 5 <=> X_c >= 4.5
    assert push[0] == pytest.approx(0.0, abs=1e-12) and push[1] > 0.02
    assert np.allclose(over + push + under, 1.0)
    # an NBA margin is never 0: a pick'em line has no push
    _o, push0, _u = line_probs(0.0, 3.0, 12.5, True, True)
    assert float(push0) == pytest.approx(0.0, abs=1e-12)


def test_a_books_line_and_price_give_back_the_mean_they_came_from() -> None:
    rng = np.random.default_rng(0)
    line = rng.choice(np.arange(-12, 12.5, 0.5), 1000)
    mu = rng.normal(0, 6, 1000)
    for no_zero in (False, True):
        over, _push, under = line_probs(line, mu, 12.5, True, no_zero)
        back = implied_mean(line, over / (over + under), np.full(1000, 12.5), True, no_zero)
        assert np.max(np.abs(back - mu)) < 0.02


def test_weighted_median_and_effective_number_of_books() -> None:
    x = np.array([[1, 2, 3, np.nan], [1, 2, 3, 4.0]])
    assert np.allclose(weighted_aggregate(x, None, "median").value, [2, 2.5])
    assert np.allclose(weighted_aggregate(x, np.array([1, 1, 5, 1.0]), "median").value, [3, 3])
    five_clones = weighted_aggregate(np.ones((1, 5)), np.full(5, 0.2))
    assert five_clones.n_eff[0] == pytest.approx(5.0) and five_clones.n[0] == 5


def test_a_fair_line_at_minus_110_loses_the_vig_and_a_better_number_wins() -> None:
    ev_over, ev_under = ev_line(np.array([[3.5]]), np.array([[1.909091]]), np.array([[1.909091]]),
                                np.array([[3.5]]), 12.0)  # fmt: skip
    assert float(ev_over[0, 0]) == pytest.approx(0.5 * 0.909091 - 0.5, abs=1e-5)
    assert float(ev_under[0, 0]) == pytest.approx(float(ev_over[0, 0]))
    # the market says home -3 (X = margin, mu = 3); one book hangs home -1.5 at -110
    ev_home, _ = ev_line(np.array([[1.5]]), np.array([[1.909091]]), np.array([[1.909091]]),
                         np.array([[3.0]]), 12.0)  # fmt: skip
    p = 1 - norm.cdf(1.5, 3.0, 12.0)  # home wins by 2 or more: X_c >= 1.5
    assert float(ev_home[0, 0]) == pytest.approx(p * 0.909091 - (1 - p), abs=1e-6)
    assert float(ev_home[0, 0]) > 0


def test_best_book_is_the_highest_ev_and_none_when_no_book_quotes() -> None:
    best, book = best_by_book(np.array([[np.nan, 0.1, 0.2], [np.nan] * 3]))
    assert best[0] == 0.2 and book[0] == 2 and np.isnan(best[1]) and book[1] == -1


def test_scores_are_in_range_and_ordered_by_ev_and_uncertainty() -> None:
    ev = np.array([-0.05, 0.0, 0.02, 0.05])
    a = score_a(ev, np.full(4, 0.01))
    b = score_b(ev, np.full(4, 0.02))
    assert np.all((a >= 0) & (a <= 100)) and np.all(np.diff(a) > 0) and np.all(np.diff(b) > 0)
    assert float(score_b(0.0, 0.03)) == pytest.approx(50.0)
    assert float(score_a(0.01, 0.01)) == pytest.approx(50.0)  # EV one standard error up
    # more uncertainty, lower scores for the same positive EV
    assert float(score_a(0.03, 0.03)) < float(score_a(0.03, 0.005))
    assert float(score_b(0.03, 0.05)) < float(score_b(0.03, 0.01))


def test_props_use_the_same_functions_and_chunking_changes_nothing() -> None:
    rng = np.random.default_rng(3)
    markets, books = 1000, 6
    mean = rng.uniform(3, 30, (markets, 1))
    sigma = 0.9 * np.sqrt(mean) + 1.0
    line = np.round((mean + rng.normal(0, 0.7, (markets, books))) * 2) / 2
    american = rng.choice([-125, -115, -110, -105, 100], (2, markets, books))
    d_over, d_under = (np.where(a > 0, 1 + a / 100, 1 + 100 / np.abs(a)) for a in american)
    line[rng.random((markets, books)) < 0.2] = np.nan
    one = score_line_markets(line, d_over, d_under, None, sigma, 0.3, "odds_ratio")
    parts = chunked(score_line_markets, {"line": line, "d_over": d_over, "d_under": d_under,
                    "sigma": sigma}, chunk=97, w=None, tau=0.3, devig="odds_ratio")  # fmt: skip
    assert np.allclose(one.ev, parts.ev, equal_nan=True) and np.array_equal(one.book, parts.book)
    assert np.nanmax(np.abs(one.fair - mean[:, 0])) < 5


def test_sharp_books_pull_the_spread_consensus_to_their_number() -> None:
    quotes = tuple(
        Quote(book, x, 1.909, 1.909, 5.0)
        for book, x in [("draftkings", 3.0), ("fanduel", 3.0), ("betmgm", 3.0), ("lowvig", 5.0)]
    )
    (priced,) = price_moments([Moment("spread", quotes)], SHARP)
    assert priced is not None and 4.8 < priced.fair < 5.0  # sharp weight 50
    home = priced.sides[0]
    assert home is not None and home.book in {"draftkings", "fanduel", "betmgm"}
    assert home.line == -3.0 and home.ev > 0  # home -3 while the market says home by ~5
    (equal,) = price_moments([Moment("spread", quotes)], frozenset())
    assert equal is not None and equal.fair == pytest.approx(3.5, abs=0.01)


def test_one_book_alone_shows_no_value_it_is_its_own_fair_price() -> None:
    (priced,) = price_moments([Moment("moneyline", (Quote("sbr", None, 1.6, 2.45, 0.0),))], SHARP)
    assert priced is not None and priced.books == 1
    assert all(s is not None and s.ev < 0 for s in priced.sides)


def test_the_kambi_clones_count_as_one_book() -> None:
    clones = ("barstool", "betrivers", "sugarhouse", "twinspires", "unibet")
    quotes = tuple(Quote(b, None, 2.2, 1.7, 1.0) for b in clones)
    quotes += (Quote("draftkings", None, 1.9, 1.95, 1.0),)
    (priced,) = price_moments([Moment("moneyline", quotes)], SHARP)
    assert priced is not None and priced.books == 6
    # together the five weigh what DraftKings weighs: the median falls between the two prices
    p_clone = float(devig_two_way(2.2, 1.7, "odds_ratio"))
    p_dk = float(devig_two_way(1.9, 1.95, "odds_ratio"))
    assert priced.fair == pytest.approx((p_clone + p_dk) / 2)


def test_price_points_and_kaunitz_agree_with_hand_computations() -> None:
    f = norm.pdf(2.0, 0.0, 12.6)
    expected = (1 / 1.909091 - 1 / 1.952381) / f  # -105 vs -110, two points off the close
    assert float(price_points(1.952381, 2.0, 0.0, 12.6)) == pytest.approx(expected, rel=1e-4)
    odds = np.array([[2.0, 2.1, 2.5]])
    p_cons, best, book, bet = kaunitz_signal(odds, 0.02)
    assert p_cons[0] == pytest.approx(1 / np.mean(odds)) and best[0] == 2.5 and book[0] == 2
    assert bool(bet[0]) == (1 / (p_cons[0] - 0.02) < 2.5)


def test_the_model_gets_no_weight_until_it_has_beaten_the_market_walk_forward() -> None:
    rng = np.random.default_rng(1)
    n = 600
    seasons = np.repeat([2021, 2022, 2023], n // 3)
    truth = rng.normal(0, 1.5, n)
    p_true = expit(truth)
    y = (rng.random(n) < p_true).astype(float)
    market = expit(truth + rng.normal(0, 0.2, n))  # close to the truth
    noise = expit(rng.normal(0, 1.5, n))  # a model that knows nothing
    useless = B.earned_weight("probability", B.History(seasons, market, noise, y), 2023)
    assert useless.weight == 0.0 and "not earned" in useless.evidence
    informed = expit(truth + rng.normal(0, 0.05, n))  # a model that knows more than the books
    earned = B.earned_weight("probability", B.History(seasons, market, informed, y), 2023)
    assert earned.weight > 0.3 and earned.evidence.startswith("earned")
    first = B.earned_weight("probability", B.History(seasons, market, informed, y), 2022)
    assert first.weight == 0.0  # one season only: nothing to test it on yet


def test_an_older_quote_weighs_less_and_one_too_old_is_left_out() -> None:
    def moment(age_of_outlier: float) -> Moment:
        fresh = tuple(Quote(b, None, 1.91, 1.91, 1.0) for b in ("draftkings", "fanduel"))
        return Moment("moneyline", (*fresh, Quote("betmgm", None, 1.5, 2.6, age_of_outlier)))

    new, old, gone = price_moments([moment(0), moment(300), moment(400)], frozenset())
    assert new is not None and old is not None and gone is not None
    assert set(new.used_books) == set(old.used_books) == {"draftkings", "fanduel", "betmgm"}
    assert gone.used_books == ("draftkings", "fanduel")  # over six hours: not in the consensus
    assert new.books_effective > old.books_effective > gone.books_effective
