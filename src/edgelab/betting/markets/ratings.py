"""Team-rating model giving p_true for moneyline, spread and total outcomes.

Margin: an Elo-style rating per team (FiveThirtyEight's NBA Elo as the template: K factor,
home-court advantage, a margin-of-victory multiplier with autocorrelation damping, and
regression of every rating toward the mean between seasons), plus a rest adjustment for
back-to-backs. Total: exponentially smoothed offence and defence ratings (points scored and
allowed above the league average, itself smoothed). Both margin and total are modelled as
normal with a standard deviation fitted on the residuals of past games, so

    P(home wins)          = Phi(mu_margin / sd_margin)
    P(home covers line L) = Phi((mu_margin + L) / sd_margin)   (L = home handicap, -6.5 = gives 6.5)
    P(over total T)       = 1 - Phi((T - mu_total) / sd_total)

No look-ahead, ever: `rating_pass` walks the games in date order and records every game's
prediction *before* any game of that date updates the ratings, so a prediction only uses
results from earlier days. Hyper-parameters are fitted by `fit_model` on games strictly before
the date being scored.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from itertools import pairwise
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import minimize_scalar
from scipy.special import expit, logit
from scipy.stats import norm

ELO_MEAN = 1505.0
ELO_PER_POINT = 28.0  # FiveThirtyEight: ~28 Elo points per point of spread
FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class RatingParams:
    k: float = 20.0  # Elo K factor
    home_advantage: float = 100.0  # Elo points (about 3.5 points of margin)
    season_carry: float = 0.75  # share of a rating kept over the summer
    b2b_penalty_points: float = 1.5  # margin lost by a team on the second night of a back-to-back
    total_alpha: float = 0.06  # smoothing of offence/defence ratings per game
    league_alpha: float = 0.01  # smoothing of the league-average total per game
    total_carry: float = 0.5
    sd_margin: float = 12.5
    sd_total: float = 18.0

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


@dataclass(frozen=True)
class GameRow:
    """One game as the model sees it; scores are None for games not yet played."""

    day: int  # days since an epoch (ordering and rest)
    season: int
    home: str
    away: str
    neutral: bool
    home_score: int | None
    away_score: int | None


@dataclass
class PassResult:
    """Pre-game quantities for every game, aligned with the input order."""

    mu_margin: FloatArray  # expected home margin in points (rest and home court included)
    mu_total: FloatArray
    elo_home: FloatArray
    elo_away: FloatArray
    rest_home: NDArray[np.int64]  # days since the team's previous game (99 = first of season)
    rest_away: NDArray[np.int64]
    games_home: NDArray[np.int64]  # games the team had played this season before this one
    games_away: NDArray[np.int64]


def _mov_multiplier(margin: float, elo_diff_winner: float) -> float:
    return float(((abs(margin) + 3.0) ** 0.8) / (7.5 + 0.006 * elo_diff_winner))


def rating_pass(games: Sequence[GameRow], params: RatingParams) -> PassResult:
    """Walk the games in the given (date) order; see the module docstring for no look-ahead."""
    n = len(games)
    if any(a.day > b.day for a, b in pairwise(games)):
        raise ValueError("rating_pass needs games in date order (no look-ahead depends on it)")
    mu_margin = np.zeros(n)
    mu_total = np.zeros(n)
    elo_h = np.zeros(n)
    elo_a = np.zeros(n)
    rest_h = np.zeros(n, dtype=np.int64)
    rest_a = np.zeros(n, dtype=np.int64)
    played_h = np.zeros(n, dtype=np.int64)
    played_a = np.zeros(n, dtype=np.int64)

    elo: dict[str, float] = {}
    off: dict[str, float] = {}
    dfn: dict[str, float] = {}
    last_day: dict[str, int] = {}
    team_season: dict[str, int] = {}
    played: dict[str, int] = {}
    league_total = 205.0
    k, hfa, carry, b2b = (
        params.k,
        params.home_advantage,
        params.season_carry,
        params.b2b_penalty_points,
    )
    ta, la, tcarry = params.total_alpha, params.league_alpha, params.total_carry

    i = 0
    while i < n:
        day = games[i].day
        j = i
        while j < n and games[j].day == day:
            j += 1
        # 1) predictions for every game of the day, before any of them updates anything
        for g_idx in range(i, j):
            g = games[g_idx]
            for team in (g.home, g.away):
                if team_season.get(team) != g.season:
                    if team in team_season:  # new season: regress toward the mean
                        elo[team] = ELO_MEAN + carry * (elo[team] - ELO_MEAN)
                        off[team] *= tcarry
                        dfn[team] *= tcarry
                        last_day.pop(team, None)
                    else:
                        elo[team], off[team], dfn[team] = ELO_MEAN, 0.0, 0.0
                    team_season[team] = g.season
                    played[team] = 0
            rh = day - last_day[g.home] if g.home in last_day else 99
            ra = day - last_day[g.away] if g.away in last_day else 99
            rest_h[g_idx], rest_a[g_idx] = rh, ra
            played_h[g_idx], played_a[g_idx] = played[g.home], played[g.away]
            eh, ea = elo[g.home], elo[g.away]
            elo_h[g_idx], elo_a[g_idx] = eh, ea
            home_edge = 0.0 if g.neutral else hfa
            rest_adj = (b2b if ra == 1 else 0.0) - (b2b if rh == 1 else 0.0)
            mu_margin[g_idx] = (eh - ea + home_edge) / ELO_PER_POINT + rest_adj
            mu_total[g_idx] = league_total + off[g.home] + dfn[g.away] + off[g.away] + dfn[g.home]
        # 2) updates from the day's results
        for g_idx in range(i, j):
            g = games[g_idx]
            last_day[g.home] = last_day[g.away] = day
            if g.home_score is None or g.away_score is None:
                continue
            played[g.home] += 1
            played[g.away] += 1
            margin = g.home_score - g.away_score
            diff = elo_h[g_idx] - elo_a[g_idx] + (0.0 if g.neutral else hfa)
            expected = 1.0 / (1.0 + 10.0 ** (-diff / 400.0))
            actual = 1.0 if margin > 0 else (0.0 if margin < 0 else 0.5)
            winner_diff = diff if margin > 0 else -diff
            shift = k * _mov_multiplier(margin, winner_diff) * (actual - expected)
            elo[g.home] += shift
            elo[g.away] -= shift
            total = g.home_score + g.away_score
            half = league_total / 2.0
            exp_home = half + off[g.home] + dfn[g.away]
            exp_away = half + off[g.away] + dfn[g.home]
            err_home, err_away = g.home_score - exp_home, g.away_score - exp_away
            off[g.home] += ta * err_home
            dfn[g.away] += ta * err_home
            off[g.away] += ta * err_away
            dfn[g.home] += ta * err_away
            league_total += la * (total - league_total)
        i = j
    return PassResult(mu_margin, mu_total, elo_h, elo_a, rest_h, rest_a, played_h, played_a)


def p_home_win(mu_margin: FloatArray, sd_margin: float) -> FloatArray:
    return np.asarray(norm.cdf(mu_margin / sd_margin), dtype=np.float64)


def p_home_cover(mu_margin: FloatArray, home_line: FloatArray, sd_margin: float) -> FloatArray:
    """P(home margin + home handicap > 0); a push is treated as the continuous limit (no mass)."""
    return np.asarray(norm.cdf((mu_margin + home_line) / sd_margin), dtype=np.float64)


def p_over(mu_total: FloatArray, total_line: FloatArray, sd_total: float) -> FloatArray:
    return np.asarray(norm.sf((total_line - mu_total) / sd_total), dtype=np.float64)


@dataclass
class FitResult:
    params: RatingParams
    n_games: int
    metrics: dict[str, float | None]

    def to_dict(self) -> dict[str, Any]:
        return {"params": self.params.to_dict(), "n_games": self.n_games, "metrics": self.metrics}


def _played_mask(games: Sequence[GameRow], first_season: int | None) -> NDArray[np.bool_]:
    return np.array(
        [
            g.home_score is not None
            and g.away_score is not None
            and (first_season is None or g.season > first_season)
            for g in games
        ]
    )


def fit_model(games: Sequence[GameRow], *, grid: bool = True) -> FitResult:
    """Fit K, home advantage and the rest effect on these (past) games; then the two sds.

    The first season is burn-in (ratings start at the mean) and is left out of every fit.
    Selection is by mean squared error of the home margin, a proper score for the normal model.
    """
    if not games:
        return FitResult(RatingParams(), 0, {})
    first = games[0].season
    mask = _played_mask(games, first)
    if mask.sum() < 200:  # too little history to fit: keep the published defaults
        mask = _played_mask(games, None)
    margins = np.array([(g.home_score or 0) - (g.away_score or 0) for g in games], dtype=float)
    totals = np.array([(g.home_score or 0) + (g.away_score or 0) for g in games], dtype=float)
    best = RatingParams()
    best_mse = math.inf
    candidates = [
        RatingParams(k=k, home_advantage=h) for k in (15.0, 20.0, 25.0) for h in (80.0, 100.0)
    ]
    for cand in candidates if grid else [best]:
        res = rating_pass(games, cand)
        mse = float(np.mean((margins[mask] - res.mu_margin[mask]) ** 2)) if mask.any() else math.inf
        if mse < best_mse:
            best, best_mse = cand, mse
    res = rating_pass(games, best)
    resid = margins - res.mu_margin
    # rest effect: mean residual of the team on a back-to-back (measured, not assumed)
    home_b2b = mask & (res.rest_home == 1) & (res.rest_away != 1)
    away_b2b = mask & (res.rest_away == 1) & (res.rest_home != 1)
    adj = best.b2b_penalty_points
    if home_b2b.sum() > 50 and away_b2b.sum() > 50:
        adj += 0.5 * (float(resid[away_b2b].mean()) - float(resid[home_b2b].mean()))
    best = replace(best, b2b_penalty_points=float(np.clip(adj, 0.0, 5.0)))
    res = rating_pass(games, best)
    sd_margin = float(np.std(margins[mask] - res.mu_margin[mask])) if mask.any() else 12.5
    sd_total = float(np.std(totals[mask] - res.mu_total[mask])) if mask.any() else 18.0
    best = replace(best, sd_margin=sd_margin, sd_total=sd_total)
    p = p_home_win(res.mu_margin[mask], sd_margin)
    won = (margins[mask] > 0).astype(float)
    # No finished game yet (a season's first slate): no error to report. None, never NaN,
    # which PostgreSQL's JSON refuses.
    metrics: dict[str, float | None] = {
        "rmse_margin": float(np.sqrt(np.mean((margins[mask] - res.mu_margin[mask]) ** 2)))
        if mask.any()
        else None,
        "rmse_total": sd_total if mask.any() else None,
        "brier_moneyline": float(np.mean((p - won) ** 2)) if mask.any() else None,
    }
    return FitResult(best, int(mask.sum()), metrics)


def fit_reliability(p_model: FloatArray, p_market: FloatArray, outcome: FloatArray) -> float:
    """The model's measured reliability r in [0, 1] against the market.

    r is the weight on the model in the logit blend `r*logit(p_model) + (1-r)*logit(p_market)`
    that minimises log loss on past outcomes: 0 means the model adds nothing to the de-vigged
    market, 1 that it should replace it. Algorithm B shrinks p_true toward the market by it.
    """
    eps = 1e-6
    ok = np.isfinite(p_model) & np.isfinite(p_market) & np.isfinite(outcome)
    if ok.sum() < 100:
        return 0.0
    lm = logit(np.clip(p_model[ok], eps, 1 - eps))
    lk = logit(np.clip(p_market[ok], eps, 1 - eps))
    y = outcome[ok]

    def loss(r: float) -> float:
        p = np.clip(expit(r * lm + (1 - r) * lk), eps, 1 - eps)
        return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))

    res = minimize_scalar(loss, bounds=(0.0, 1.0), method="bounded", options={"xatol": 1e-4})
    return float(np.clip(res.x, 0.0, 1.0))
