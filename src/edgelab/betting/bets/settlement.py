"""Settling a bet from a final score, and the bettor's return and closing-line value.

Pure functions over numbers: no I/O. Results are `won`, `lost` or `push` (stake returned);
props cannot be settled from a box score we do not have and return None.
"""

from __future__ import annotations

import math
from typing import overload

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]


def settle(
    market_type: str,
    side: str,
    line: float | None,
    home_score: int,
    away_score: int,
) -> str | None:
    """`won`/`lost`/`push` for one side, or None when the market cannot be settled here.

    Spread `line` is the side's own handicap (home -5.5 means home must win by 6+); total
    `line` is the points line.
    """
    if market_type == "moneyline":
        if home_score == away_score:  # NBA games do not end level; a tie would be a void
            return "push"
        home_won = home_score > away_score
        return "won" if home_won == (side == "home") else "lost"
    if market_type == "spread" and line is not None:
        own, other = (home_score, away_score) if side == "home" else (away_score, home_score)
        margin = own + line - other
        return "push" if margin == 0 else ("won" if margin > 0 else "lost")
    if market_type == "total" and line is not None:
        diff = home_score + away_score - line
        if diff == 0:
            return "push"
        return "won" if (diff > 0) == (side == "over") else "lost"
    return None


def payout_minor(result: str, stake_minor: int, odds_decimal: float) -> int:
    """What the bookmaker pays back (stake included), in minor units, rounded down."""
    if result == "won":
        return math.floor(stake_minor * odds_decimal + 1e-9)
    if result in ("push", "void"):
        return stake_minor
    return 0


@overload
def closing_line_value(odds_taken: float, p_close_fair: float) -> float: ...


@overload
def closing_line_value(odds_taken: FloatArray, p_close_fair: FloatArray) -> FloatArray: ...


def closing_line_value(
    odds_taken: float | FloatArray, p_close_fair: float | FloatArray
) -> float | FloatArray:
    """How much better the taken price was than the close, in probability points: THE
    closing-line value of the product (the bet tracker's `UserBet.clv` and the backtest's).

    The closing de-vigged probability of the side minus the probability the taken price
    implied, 1/odds, margin included because the bettor paid it: +0.02 means the bet was struck
    at a price two points better than the fair closing price; negative means the market moved
    past it. A bet struck at the closing price itself scores minus its share of the margin
    (about -0.024 at -110/-110): it paid the vig and beat nothing.

    Works on one bet (floats in, float out) or elementwise on arrays of equal shape.
    """
    odds = np.asarray(odds_taken, dtype=np.float64)
    p = np.asarray(p_close_fair, dtype=np.float64)
    if not (np.all(odds > 1.0) and np.all((p >= 0.0) & (p <= 1.0))):
        raise ValueError("odds must be > 1 and the probability within 0..1")
    clv = p - 1.0 / odds
    if clv.ndim == 0:
        return float(clv)
    return clv
