"""The statistics of one betting trend, and the multiple-testing correction over many.

Pure (no I/O). A trend is n independent bets (at most one per game), each won, lost or pushed at
a decimal price, with the market's fair (de-vigged) probability of the side beside it.

- `rate`: wins / (wins + losses); pushes returned the stake and are left out. 95% Wilson score
  interval (`wilson_interval`): unlike the normal (Wald) interval it stays inside 0..1 and keeps
  close to its nominal coverage for small samples and rates near 0 or 1.
- `roi`: profit per unit staked, flat 1-unit stakes, pushes included as 0 profit. 95% interval
  from the normal approximation to the mean, mean +- 1.96 sd / sqrt(n). Why not a bootstrap: one
  bet's profit is bounded (it loses 1 or wins odds - 1) and the bets are independent, so the CLT
  applies; with the route's default minimum of 50 bets and the prices in the data the two agree
  to within a fraction of a point (the tests compare them on long-shot prices), and the normal
  interval costs nothing, where a bootstrap of ~40 trends of up to 15,000 bets would cost
  seconds.
- `p_value`: two-sided test of the observed wins against the market's fair probability of each
  side. Under the null "the situation tells you nothing the closing price did not", each bet wins
  with its de-vigged probability. Where that probability is one number for every bet (spreads
  and totals, -110 on both sides: exactly 50%) this is the exact binomial test; otherwise
  (moneylines, a different probability per game) the number of wins is Poisson-binomial and the
  test is its normal approximation with a continuity correction. The null is the *fair*
  probability, not the break-even rate at the price (which includes the bookmaker's margin):
  tested against break-even, any large enough set of bets would come out "significantly" losing
  simply because of the margin, which is not a situational edge. `break_even_rate` is reported
  beside it: a trend beats the price only when its rate clears that.
- `benjamini_hochberg`: the step-up q-values (Benjamini & Hochberg 1995) over every trend shown;
  a trend is significant when q <= alpha, which bounds the expected share of false discoveries
  among the flagged trends at alpha.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import stats

FloatArray = NDArray[np.float64]
Z95 = float(stats.norm.ppf(0.975))  # 1.95996...
SAME_PROBABILITY = 1e-9  # fair probabilities closer than this are one null rate (exact test)


def wilson_interval(wins: int, n: int, z: float = Z95) -> tuple[float, float] | None:
    """The Wilson score interval of a proportion wins / n; None when n = 0."""
    if n <= 0:
        return None
    p = wins / n
    z2 = z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def rate_p_value(won: FloatArray, fair: FloatArray) -> float | None:
    """Two-sided p-value of the wins (`won` 1/0, decided bets only) against each bet's fair win
    probability (module docstring); None without a decided bet."""
    n = int(won.size)
    if n == 0:
        return None
    wins = int(np.sum(won == 1.0))
    if float(np.ptp(fair)) < SAME_PROBABILITY:
        p0 = float(np.clip(fair[0], 0.0, 1.0))
        return float(stats.binomtest(wins, n, p0, alternative="two-sided").pvalue)
    mean = float(np.sum(fair))
    var = float(np.sum(fair * (1.0 - fair)))
    if var <= 0.0:
        return 1.0 if abs(wins - mean) < 0.5 else 0.0
    z = max(abs(wins - mean) - 0.5, 0.0) / math.sqrt(var)
    return float(min(1.0, 2.0 * stats.norm.sf(z)))


def benjamini_hochberg(p_values: FloatArray) -> FloatArray:
    """Benjamini-Hochberg adjusted p-values (q-values), same order as given."""
    p = np.asarray(p_values, dtype=np.float64)
    if p.size == 0:
        return p.copy()
    return np.asarray(stats.false_discovery_control(p, method="bh"), dtype=np.float64)


@dataclass(frozen=True)
class TrendStats:
    n: int  # bets, pushes included
    wins: int
    losses: int
    pushes: int
    rate: float | None  # wins / (wins + losses)
    rate_ci: tuple[float, float] | None
    null_rate: float | None  # mean fair probability of the decided bets
    break_even_rate: float | None  # mean 1 / odds of the decided bets
    roi: float | None  # profit per unit staked
    roi_ci: tuple[float, float] | None
    p_value: float | None

    @property
    def decided(self) -> int:
        return self.wins + self.losses

    def to_dict(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "wins": self.wins,
            "losses": self.losses,
            "pushes": self.pushes,
            "rate": self.rate,
            "rate_ci": list(self.rate_ci) if self.rate_ci else None,
            "null_rate": self.null_rate,
            "break_even_rate": self.break_even_rate,
            "roi": self.roi,
            "roi_ci": list(self.roi_ci) if self.roi_ci else None,
            "p_value": self.p_value,
        }


def trend_stats(won: FloatArray, odds: FloatArray, fair: FloatArray) -> TrendStats:
    """Statistics of a trend's bets: `won` 1 / 0 / NaN (push) per bet, the decimal `odds` taken
    and the market's `fair` probability of that side (module docstring)."""
    won = np.asarray(won, dtype=np.float64)
    odds = np.asarray(odds, dtype=np.float64)
    fair = np.asarray(fair, dtype=np.float64)
    n = int(won.size)
    push = np.isnan(won)
    decided = ~push
    wins = int(np.sum(won[decided] == 1.0))
    losses = int(np.sum(decided)) - wins
    rate = wins / (wins + losses) if wins + losses else None
    profit = np.where(push, 0.0, np.where(won == 1.0, odds - 1.0, -1.0))
    roi = float(profit.mean()) if n else None
    roi_ci = None
    if n >= 2 and roi is not None:
        half = Z95 * float(profit.std(ddof=1)) / math.sqrt(n)
        roi_ci = (roi - half, roi + half)
    return TrendStats(
        n=n,
        wins=wins,
        losses=losses,
        pushes=int(push.sum()),
        rate=rate,
        rate_ci=wilson_interval(wins, wins + losses),
        null_rate=float(fair[decided].mean()) if wins + losses else None,
        break_even_rate=float((1.0 / odds[decided]).mean()) if wins + losses else None,
        roi=roi,
        roi_ci=roi_ci,
        p_value=rate_p_value(won[decided], fair[decided]),
    )
