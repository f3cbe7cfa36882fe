"""The rating model: no look-ahead, home court, season regression, fitted spreads."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from edgelab.betting.markets import ratings
from edgelab.betting.markets.ratings import ELO_MEAN, ELO_PER_POINT, GameRow, RatingParams


def _league(n_days: int = 120, seed: int = 3, season_break: int | None = None) -> list[GameRow]:
    rng = np.random.default_rng(seed)
    teams = [f"T{i}" for i in range(10)]
    strength = dict(zip(teams, rng.normal(0, 6, len(teams)), strict=True))
    games = []
    for day in range(n_days):
        season = 2031 if season_break is None or day < season_break else 2032
        order = rng.permutation(len(teams))
        for k in range(0, len(teams), 2):
            h, a = teams[order[k]], teams[order[k + 1]]
            margin = round(rng.normal(strength[h] - strength[a] + 3, 12)) or 1
            total = round(rng.normal(210, 18))
            games.append(
                GameRow(day * 2, season, h, a, False, (total + margin) // 2, (total - margin) // 2)
            )
    return games


def test_predictions_never_use_results_from_the_same_day_or_later():
    games = _league()
    cut_day = games[len(games) // 2].day
    before = ratings.rating_pass(games, RatingParams())
    # rewrite every result from the cut day on: predictions up to that day must not move
    flipped = [
        g if g.day < cut_day else replace(g, home_score=g.away_score, away_score=g.home_score)
        for g in games
    ]
    after = ratings.rating_pass(flipped, RatingParams())
    upto = np.array([g.day <= cut_day for g in games])
    later = np.array([g.day > cut_day for g in games])
    assert np.array_equal(before.mu_margin[upto], after.mu_margin[upto])
    assert np.array_equal(before.mu_total[upto], after.mu_total[upto])
    assert not np.allclose(before.mu_margin[later], after.mu_margin[later])


def test_home_court_is_worth_its_elo_points_and_nothing_on_neutral_floor():
    params = RatingParams(home_advantage=84.0, b2b_penalty_points=0.0)
    games = [
        GameRow(0, 2031, "A", "B", False, None, None),
        GameRow(0, 2031, "C", "D", True, None, None),
    ]
    res = ratings.rating_pass(games, params)
    assert res.mu_margin[0] == pytest.approx(84.0 / ELO_PER_POINT)
    assert res.mu_margin[1] == pytest.approx(0.0)


def test_a_team_that_keeps_winning_rises_and_its_victim_falls():
    games = [GameRow(d, 2031, "A", "B", False, 110, 90) for d in range(0, 20, 2)]
    res = ratings.rating_pass(games, RatingParams())
    assert np.all(np.diff(res.elo_home) > 0)
    assert np.all(np.diff(res.elo_away) < 0)
    assert res.elo_home[0] == ELO_MEAN


def test_ratings_regress_toward_the_mean_between_seasons():
    games = [GameRow(d, 2031, "A", "B", False, 120, 90) for d in range(0, 20, 2)]
    games.append(GameRow(400, 2032, "A", "B", False, None, None))
    res = ratings.rating_pass(games, RatingParams(season_carry=0.75))
    end_of_season = ratings.rating_pass(
        [*games[:-1], GameRow(38, 2031, "A", "B", False, None, None)],
        RatingParams(season_carry=0.75),
    ).elo_home[-1]
    assert res.elo_home[-1] == pytest.approx(ELO_MEAN + 0.75 * (end_of_season - ELO_MEAN))
    assert res.games_home[-1] == 0


def test_back_to_back_costs_the_tired_team_the_rest_penalty():
    params = RatingParams(home_advantage=0.0, b2b_penalty_points=2.0)
    games = [
        GameRow(0, 2031, "A", "X", False, 100, 100),
        GameRow(0, 2031, "B", "Y", False, 100, 100),
        GameRow(1, 2031, "A", "B", False, None, None),
    ]
    res = ratings.rating_pass(games, params)
    assert res.rest_home[2] == 1 and res.rest_away[2] == 1
    assert res.mu_margin[2] == pytest.approx(0.0)  # both tired: penalties cancel
    games[1] = GameRow(-3, 2031, "B", "Y", False, 100, 100)
    games.sort(key=lambda g: g.day)
    res = ratings.rating_pass(games, params)
    assert res.mu_margin[-1] == pytest.approx(-2.0)  # only the home team is on a back-to-back


def test_probabilities_follow_the_normal_model():
    def phi(x: float) -> float:
        return 0.5 * (1 + math.erf(x / math.sqrt(2)))

    mu, sd = np.array([4.0]), 12.0
    assert ratings.p_home_win(mu, sd)[0] == pytest.approx(phi(4 / 12))
    assert ratings.p_home_cover(mu, np.array([-6.5]), sd)[0] == pytest.approx(phi(-2.5 / 12))
    assert ratings.p_over(np.array([220.0]), np.array([215.5]), 18.0)[0] == pytest.approx(
        1 - phi(-4.5 / 18)
    )


def test_fit_recovers_the_spread_of_outcomes_it_was_generated_with():
    games = _league(n_days=300, season_break=60)
    fit = ratings.fit_model(games)
    assert 11.0 < fit.params.sd_margin < 14.5  # generated with sd 12 (plus rating error)
    assert 15.0 < fit.params.sd_total < 22.0  # generated with sd 18
    assert fit.n_games == sum(1 for g in games if g.season == 2032)  # first season is burn-in
    assert fit.metrics["brier_moneyline"] < 0.25  # better than a coin


def test_reliability_is_near_zero_for_a_useless_model_and_near_one_for_a_perfect_one():
    rng = np.random.default_rng(5)
    p = rng.uniform(0.15, 0.85, 4000)
    y = (rng.uniform(size=p.size) < p).astype(float)
    noise = rng.uniform(0.15, 0.85, p.size)
    assert ratings.fit_reliability(noise, p, y) < 0.1
    assert ratings.fit_reliability(p, noise, y) > 0.9
