"""What a bet earned and how it compared with the close: pure functions over arrays, no I/O.

Sides are in the line model's terms (`pricing.moments`): side 0 is home (moneylines, spreads) or
over (totals, props), side 1 away or under; a line is the line of X (the home margin for
spreads, so home -4.5 is X line 4.5; total points for totals).

* Result: side 0 wins if X > line, side 1 if X < line, a push (stake back) if X == line; a
  moneyline's home side wins if the home margin is positive. Profit of a one-unit stake: odds - 1
  on a win, -1 on a loss, 0 on a push.
* Closing-line value of a spread or total, in points, price included (the project's value-model
  report): the number taken against the closing number from the bettor's side (side 0:
  close - taken, side 1: taken - close; e.g. home -4.5 taken, closed -6.5: +2), plus the price
  in points, `pricing.value.price_points` (what the price taken is worth against -110 at that
  line, centred on the close with the market type's sigma).
* Closing-line value of a moneyline, in points of probability: the de-vigged closing
  probability of the side minus 1/odds taken (the bet tracker's definition,
  `bets.settlement.closing_line_value`: +0.02 means the price taken implied two points of
  probability less than the fair close; a bet at a fair price scores 0).
* The same in points of probability for a spread or total (`line_clv_probability`, the legacy
  `edgelab backtest --json` keys): the closing consensus probability of the side winning at the
  number taken (pushes left out), minus 1/odds taken.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from edgelab.betting.evaluation.engine import PricedMarkets
from edgelab.betting.pricing import params as P
from edgelab.betting.pricing.lines import line_probs
from edgelab.betting.pricing.value import price_points

F = NDArray[np.float64]


def line_won(side: NDArray[np.int64], x_line: F, x: F) -> F:
    """1 won, 0 lost, NaN a push or no result (elementwise)."""
    over = np.where(x > x_line, 1.0, np.where(x < x_line, 0.0, np.nan))
    won = np.where(side == 0, over, 1.0 - over)
    return np.asarray(np.where(np.isnan(x) | np.isnan(x_line), np.nan, won))


def moneyline_won(side: NDArray[np.int64], margin: F) -> F:
    home = np.where(margin > 0, 1.0, np.where(margin < 0, 0.0, np.nan))
    return np.asarray(np.where(side == 0, home, 1.0 - home))


def profit(won: F, odds: F, settled: NDArray[np.bool_]) -> F:
    """One-unit stake: odds - 1 won, -1 lost, 0 a push; NaN where the bet has no result."""
    p = np.where(won == 1.0, odds - 1.0, np.where(won == 0.0, -1.0, 0.0))
    return np.asarray(np.where(settled, p, np.nan))


def line_clv(side: NDArray[np.int64], x_taken: F, odds: F, x_close: F, sigma: F) -> tuple[F, F]:
    """(points, points incl. price) against the closing number; NaN without a close."""
    points = np.where(side == 0, x_close - x_taken, x_taken - x_close)
    with np.errstate(invalid="ignore", divide="ignore"):
        price = price_points(odds, x_taken, x_close, sigma)
    return np.asarray(points, dtype=np.float64), np.asarray(points + price, dtype=np.float64)


def moneyline_clv(side: NDArray[np.int64], odds: F, p_close_home: F) -> F:
    """De-vigged closing probability of the side - 1/odds taken (points of probability, in
    -1..1); NaN without a close."""
    p = np.where(side == 0, p_close_home, 1.0 - p_close_home)
    return np.asarray(p - 1.0 / odds, dtype=np.float64)


def line_clv_probability(
    side: NDArray[np.int64], x_taken: F, odds: F, mu_close: F, sigma: F, no_zero: bool
) -> F:
    """P(the side wins at the number taken | no push) under the closing consensus (X centred
    on `mu_close` with the type's sigma) - 1/odds taken; NaN without a close."""
    with np.errstate(invalid="ignore", divide="ignore"):
        over, _push, under = line_probs(x_taken, mu_close, sigma, True, no_zero)
        p_over = over / (over + under)
    p = np.where(side == 0, p_over, 1.0 - p_over)
    return np.asarray(p - 1.0 / odds, dtype=np.float64)


def settle_bets(
    pm: PricedMarkets, market: NDArray[np.int64], side: NDArray[np.int64], x_line: F, odds: F
) -> dict[str, Any]:
    """Result, profit and closing-line value of bets on `pm`'s markets (arrays over bets)."""
    mtype = pm.market_type[market]
    x = pm.outcome[market]
    line_market = mtype != "moneyline"
    won = np.where(line_market, line_won(side, x_line, x), moneyline_won(side, x))
    settled = np.isfinite(x)
    pts, clv_lines = line_clv(side, x_line, odds, pm.fair_close[market], pm.sigma[market])
    clv_ml = moneyline_clv(side, odds, pm.fair_close[market])
    clv_prob = clv_ml.copy()
    for mt in ("spread", "total"):
        at = mtype == mt
        clv_prob[at] = line_clv_probability(
            side[at],
            x_line[at],
            odds[at],
            pm.fair_close[market[at]],
            pm.sigma[market[at]],
            P.TYPE_PARAMS[mt].no_zero,
        )
    clv_prob[mtype == "prop"] = np.nan
    return {
        "won": won,
        "settled": settled,
        "profit": profit(won, odds, settled),
        "clv": np.where(line_market, clv_lines, clv_ml),
        "clv_points": np.where(line_market, pts, np.nan),
        "clv_probability": clv_prob,
    }
