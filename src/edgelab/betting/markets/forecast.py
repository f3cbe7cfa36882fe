"""From the rating pass to two-way markets: the model's probability of each side, settlement
against the final score, and the model's reliability against a market type.

Shared by `slate.py` (one slate) and `backtest.py` (every season), so the live scores and the
backtest are the same maths. Vectorised over markets; pure (no I/O).

A two-way market is described by its *first side* (home for moneylines and spreads, over for
totals) and `line`, the first side's line: the home handicap for a spread (-6.5 = home gives
6.5), the points line for a total, NaN for a moneyline. The second side's probability is one
minus the first's.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from edgelab.betting.markets import ratings
from edgelab.betting.markets.devig import devig

FloatArray = NDArray[np.float64]
MARKET_TYPES = ("moneyline", "spread", "total")
FIRST_SIDE = {"moneyline": "home", "spread": "home", "total": "over"}
MIN_RELIABILITY_SAMPLE = 100  # markets; below it the model's reliability is taken as 0


def p_first_side(
    market_type: NDArray[np.str_],
    line: FloatArray,
    mu_margin: FloatArray,
    mu_total: FloatArray,
    params: ratings.RatingParams,
) -> FloatArray:
    """The model's probability of the first side; NaN for a spread or total without a line.

    Margin and total are normal (see `ratings`): P(home wins) = Phi(mu / sd), P(home covers L)
    = Phi((mu + L) / sd), P(over T) = 1 - Phi((T - mu_total) / sd_total).
    """
    mtype = np.asarray(market_type)
    line = np.asarray(line, dtype=np.float64)
    mu_m = np.asarray(mu_margin, dtype=np.float64)
    mu_t = np.asarray(mu_total, dtype=np.float64)
    out = np.full(mtype.shape, np.nan)
    ml = mtype == "moneyline"
    sp = (mtype == "spread") & np.isfinite(line)
    tt = (mtype == "total") & np.isfinite(line)
    out[ml] = ratings.p_home_win(mu_m[ml], params.sd_margin)
    out[sp] = ratings.p_home_cover(mu_m[sp], line[sp], params.sd_margin)
    out[tt] = ratings.p_over(mu_t[tt], line[tt], params.sd_total)
    return out


def p_side(
    market_type: str,
    side: str,
    line: float | None,
    mu_margin: float,
    mu_total: float,
    params: ratings.RatingParams,
) -> float:
    """One outcome's p_true; `line` is that outcome's own line (an away spread's is +6.5 when
    home gives 6.5). NaN when the market type is unknown or a needed line is missing."""
    if market_type not in FIRST_SIDE:
        return float("nan")
    first = side == FIRST_SIDE[market_type]
    first_line = (
        float("nan") if line is None else (line if first or market_type == "total" else -line)
    )
    p = float(
        p_first_side(
            np.array([market_type]),
            np.array([first_line]),
            np.array([mu_margin]),
            np.array([mu_total]),
            params,
        )[0]
    )
    return p if first else 1.0 - p


def settle_first_side(
    market_type: NDArray[np.str_],
    line: FloatArray,
    home_score: FloatArray,
    away_score: FloatArray,
) -> FloatArray:
    """1.0 when the first side won, 0.0 when it lost, NaN when there is nothing to settle.

    NaN for: a game without a result, a spread or total without a line, and a push (the home
    margin plus the handicap is exactly 0, or the total lands on the line): a push returns the
    stake, so it is neither a win nor a loss and is left out of every score and bet figure. A
    moneyline of a tied game (impossible in the NBA) counts as a home loss.
    """
    mtype = np.asarray(market_type)
    line = np.asarray(line, dtype=np.float64)
    hs = np.asarray(home_score, dtype=np.float64)
    aws = np.asarray(away_score, dtype=np.float64)
    margin = hs - aws
    total = hs + aws
    out = np.full(mtype.shape, np.nan)
    played = np.isfinite(margin)
    ml = played & (mtype == "moneyline")
    out[ml] = (margin[ml] > 0).astype(np.float64)
    with np.errstate(invalid="ignore"):
        cover = margin + line
        over = total - line
    sp = played & (mtype == "spread") & np.isfinite(line) & (cover != 0)
    out[sp] = (cover[sp] > 0).astype(np.float64)
    tt = played & (mtype == "total") & np.isfinite(line) & (over != 0)
    out[tt] = (over[tt] > 0).astype(np.float64)
    return out


def reliability_by_type(
    market_type: NDArray[np.str_],
    p_model_first: FloatArray,
    odds: FloatArray,
    outcome_first: FloatArray,
    method: str,
) -> dict[str, float]:
    """The model's reliability r per market type (see `ratings.fit_reliability`), from past
    two-way closing markets: first-side model probabilities, decimal odds (n, 2) with the first
    side in column 0, and settled first-side outcomes (NaN = not settled, left out). Types with
    fewer than 100 settled markets get 0 (the market alone); props always get 0."""
    mtype = np.asarray(market_type)
    p_model = np.asarray(p_model_first, dtype=np.float64)
    y = np.asarray(outcome_first, dtype=np.float64)
    odds = np.asarray(odds, dtype=np.float64).reshape(-1, 2)
    out: dict[str, float] = {}
    for name in MARKET_TYPES:
        ok = (mtype == name) & np.isfinite(y) & np.isfinite(p_model)
        if ok.sum() < MIN_RELIABILITY_SAMPLE:
            out[name] = 0.0
            continue
        p_market = devig(odds[ok], method).probabilities[:, 0]
        out[name] = ratings.fit_reliability(p_model[ok], p_market, y[ok])
    out["prop"] = 0.0
    return out
