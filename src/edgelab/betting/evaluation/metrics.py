"""Forecast and betting metrics of the backtest: pure functions over arrays, no I/O.

Forecasts (a probability ``p`` of a binary outcome ``y``, both arrays):

* Brier score ``mean((p - y)^2)`` in [0, 1] and log loss ``-mean(y ln p + (1-y) ln(1-p))``,
  both from scikit-learn (lower is better; a coin flip scores 0.25 and ln 2 = 0.693);
* reliability curve: ``n_bins`` equal-width bins of ``p`` on [0, 1] (as scikit-learn's
  `calibration_curve` draws them), per bin the mean predicted probability, the observed rate
  and the count;
* expected calibration error ``ECE = sum_b (count_b / n) * |observed_b - mean_predicted_b|``
  over those bins (0 for a perfectly calibrated forecast, in [0, 1]).

Bets (flat stakes of one unit): profit ``odds - 1`` on a win, ``-1`` on a loss; ROI is the mean
profit per unit staked; hit rate the share won.

Closing-line value (CLV), in probability points (the product's one definition,
`settlement.closing_line_value`, shared with the bet tracker): the closing market's de-vigged
probability of the side that was bet, at the line it was bet at, minus 1/odds taken (the margin
the bettor paid included). Positive means the bet beat the close. When the line moved between
open and close (a spread of -6.5 that closed at -7.5), the closing probability is moved to the
taken line with the model's normal margin (or total) distribution centred where the closing
market puts it (`closing_probability_at_line`); a bet struck at the closing price scores minus
its share of the closing margin.

Uncertainty: a cluster bootstrap over games (every market of a resampled game comes along, so
the several markets of one game are not treated as independent), with a seeded NumPy
Generator so the same data give the same intervals. Comparing two forecasts or two bet sets on
the same games uses the same resamples for both (a paired bootstrap): the interval of the
difference then reflects only how the two disagree, not the luck both share.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.special import ndtr, ndtri
from sklearn.metrics import brier_score_loss, log_loss

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
DEFAULT_BINS = 10
DEFAULT_BOOTSTRAP = 1000
BOOTSTRAP_CHUNK = 100  # resamples per block: bounds memory at 100 x clusters integers


# ---- forecasts -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReliabilityBin:
    bin: int  # 0-based
    lower: float
    upper: float
    mean_predicted: float
    observed_rate: float
    count: int


@dataclass(frozen=True)
class ForecastScores:
    """Scores of one forecast; None when there is nothing to score (n == 0)."""

    n: int
    brier: float | None
    log_loss: float | None
    ece: float | None
    bins: list[ReliabilityBin] = field(default_factory=list)

    def to_dict(self, *, with_bins: bool = True) -> dict[str, Any]:
        out = asdict(self)
        if not with_bins:
            del out["bins"]
        return out


def _clean(y: FloatArray, p: FloatArray) -> tuple[FloatArray, FloatArray]:
    y = np.asarray(y, dtype=np.float64)
    p = np.asarray(p, dtype=np.float64)
    if y.shape != p.shape:
        raise ValueError(f"outcomes {y.shape} and probabilities {p.shape} differ in shape")
    ok = np.isfinite(y) & np.isfinite(p)
    if np.any((p[ok] < 0) | (p[ok] > 1)):
        raise ValueError("probabilities must lie in [0, 1]")
    if np.any((y[ok] != 0) & (y[ok] != 1)):
        raise ValueError("outcomes must be 0 or 1")
    return y[ok], p[ok]


def brier(y: FloatArray, p: FloatArray) -> float:
    """Mean squared error of the probability (scikit-learn's `brier_score_loss`)."""
    y, p = _clean(y, p)
    return float(brier_score_loss(y, p, pos_label=1))


def logarithmic_loss(y: FloatArray, p: FloatArray) -> float:
    """Mean negative log-likelihood (scikit-learn's `log_loss`, p clipped to machine epsilon)."""
    y, p = _clean(y, p)
    return float(log_loss(y, p, labels=[0, 1]))


def _edges(n_bins: int) -> FloatArray:
    return np.linspace(0.0, 1.0, n_bins + 1)


def _bin_index(p: FloatArray, n_bins: int) -> IntArray:
    """Bin of each probability, as scikit-learn's `calibration_curve` (uniform) bins them: a
    probability on an inner edge goes to the lower bin."""
    return np.searchsorted(_edges(n_bins)[1:-1], p, side="left").astype(np.int64)


def reliability_bins(
    y: FloatArray, p: FloatArray, n_bins: int = DEFAULT_BINS
) -> list[ReliabilityBin]:
    """The reliability curve: one entry per non-empty bin, in order of probability."""
    if n_bins < 1:
        raise ValueError("n_bins must be >= 1")
    y, p = _clean(y, p)
    idx = _bin_index(p, n_bins)
    count = np.bincount(idx, minlength=n_bins)
    sum_p = np.bincount(idx, weights=p, minlength=n_bins)
    sum_y = np.bincount(idx, weights=y, minlength=n_bins)
    edges = _edges(n_bins)
    return [
        ReliabilityBin(
            bin=b,
            lower=float(edges[b]),
            upper=float(edges[b + 1]),
            mean_predicted=float(sum_p[b] / count[b]),
            observed_rate=float(sum_y[b] / count[b]),
            count=int(count[b]),
        )
        for b in range(n_bins)
        if count[b] > 0
    ]


def expected_calibration_error(y: FloatArray, p: FloatArray, n_bins: int = DEFAULT_BINS) -> float:
    bins = reliability_bins(y, p, n_bins)
    n = sum(b.count for b in bins)
    if n == 0:
        return float("nan")
    return float(sum(b.count * abs(b.observed_rate - b.mean_predicted) for b in bins) / n)


def score_forecast(y: FloatArray, p: FloatArray, n_bins: int = DEFAULT_BINS) -> ForecastScores:
    yc, pc = _clean(y, p)
    if yc.size == 0:
        return ForecastScores(0, None, None, None, [])
    bins = reliability_bins(yc, pc, n_bins)
    ece = sum(b.count * abs(b.observed_rate - b.mean_predicted) for b in bins) / yc.size
    return ForecastScores(
        n=int(yc.size),
        brier=brier(yc, pc),
        log_loss=logarithmic_loss(yc, pc),
        ece=float(ece),
        bins=bins,
    )


def pointwise_brier(y: FloatArray, p: FloatArray) -> FloatArray:
    """Per-forecast squared errors (their mean is the Brier score), for paired comparisons."""
    return np.asarray((np.asarray(p, dtype=np.float64) - y) ** 2, dtype=np.float64)


def pointwise_log_loss(y: FloatArray, p: FloatArray) -> FloatArray:
    """Per-forecast negative log-likelihoods, clipped like scikit-learn's `log_loss`."""
    eps = np.finfo(np.float64).eps
    q = np.clip(np.asarray(p, dtype=np.float64), eps, 1 - eps)
    return np.asarray(-(y * np.log(q) + (1 - y) * np.log(1 - q)), dtype=np.float64)


# ---- bets ------------------------------------------------------------------------------------


def flat_stake_profit(won: FloatArray, odds: FloatArray) -> FloatArray:
    """Profit of a one-unit stake: odds - 1 on a win, -1 on a loss (decimal odds)."""
    won = np.asarray(won, dtype=np.float64)
    return np.asarray(np.where(won == 1.0, np.asarray(odds) - 1.0, -1.0), dtype=np.float64)


def closing_probability_at_line(
    market_type: NDArray[np.str_],
    p_close_first: FloatArray,
    line_close: FloatArray,
    line_taken: FloatArray,
    sd_margin: FloatArray | float,
    sd_total: FloatArray | float,
) -> FloatArray:
    """The closing market's probability of a two-way market's first side (home, over) at the
    line that was taken, from the closing probability at the closing line.

    Moneylines and unchanged lines need no translation. A spread's closing probability p at
    home handicap L_c puts the market's expected home margin at mu = sd * Phi^-1(p) - L_c, so
    P(home covers L_t) = Phi((mu + L_t) / sd); a total's at T_c puts the expected total at
    mu = T_c + sd * Phi^-1(p), so P(over T_t) = Phi((mu - T_t) / sd). NaN when a line is
    missing.
    """
    mtype = np.asarray(market_type)
    p = np.asarray(p_close_first, dtype=np.float64)
    lc = np.asarray(line_close, dtype=np.float64)
    lt = np.asarray(line_taken, dtype=np.float64)
    sdm = np.broadcast_to(np.asarray(sd_margin, dtype=np.float64), p.shape)
    sdt = np.broadcast_to(np.asarray(sd_total, dtype=np.float64), p.shape)
    out = np.full(p.shape, np.nan)
    ml = mtype == "moneyline"
    out[ml] = p[ml]
    with np.errstate(divide="ignore", invalid="ignore"):
        z = ndtri(np.clip(p, 1e-12, 1 - 1e-12))
        sp = mtype == "spread"
        out[sp] = ndtr((sdm[sp] * z[sp] - lc[sp] + lt[sp]) / sdm[sp])
        tt = mtype == "total"
        out[tt] = ndtr((lc[tt] + sdt[tt] * z[tt] - lt[tt]) / sdt[tt])
    same = (mtype != "moneyline") & np.isfinite(lc) & (lc == lt)
    out[same] = p[same]
    return out


# ---- bootstrap -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Interval:
    low: float | None
    high: float | None


@dataclass(frozen=True)
class Difference:
    """`a - b` with its paired-bootstrap 95 % interval and two-sided bootstrap p-value."""

    a: float | None
    b: float | None
    difference: float | None
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    significant: bool


def _finite_or_none(x: float) -> float | None:
    return float(x) if np.isfinite(x) else None


def cluster_bootstrap_ratios(
    numerators: FloatArray,
    denominators: FloatArray,
    clusters: IntArray,
    *,
    n_boot: int = DEFAULT_BOOTSTRAP,
    seed: int = 0,
) -> tuple[FloatArray, FloatArray]:
    """Point estimates and bootstrap draws of k ratio statistics ``sum(num_k) / sum(den_k)``.

    `numerators` and `denominators` are (k, n) over n units (a forecast, a bet), `clusters`
    (n,) names each unit's game. Every draw resamples the games with replacement (as many as
    there are) and recomputes all k statistics on the same draw, so differences between them
    are paired. Returns (points (k,), draws (n_boot, k)); a draw whose denominator is 0 is NaN.
    A mean is the ratio with denominator 1 per unit.
    """
    num = np.atleast_2d(np.asarray(numerators, dtype=np.float64))
    den = np.atleast_2d(np.asarray(denominators, dtype=np.float64))
    if num.shape != den.shape or num.shape[1] != len(clusters):
        raise ValueError("numerators, denominators and clusters must agree in shape")
    codes, inv = np.unique(np.asarray(clusters), return_inverse=True)
    g = int(codes.size)
    num_c = np.stack([np.bincount(inv, weights=row, minlength=g) for row in num])
    den_c = np.stack([np.bincount(inv, weights=row, minlength=g) for row in den])
    return bootstrap_cluster_sums(
        num_c.astype(np.float64), den_c.astype(np.float64), n_boot=n_boot, seed=seed
    )


def bootstrap_cluster_sums(
    num_c: FloatArray, den_c: FloatArray, *, n_boot: int = DEFAULT_BOOTSTRAP, seed: int = 0
) -> tuple[FloatArray, FloatArray]:
    """`cluster_bootstrap_ratios` from per-cluster sums (k, g): the numerator and denominator
    of each statistic summed over each cluster's units."""
    num_c = np.atleast_2d(np.asarray(num_c, dtype=np.float64))
    den_c = np.atleast_2d(np.asarray(den_c, dtype=np.float64))
    k, g = num_c.shape
    with np.errstate(divide="ignore", invalid="ignore"):
        points = num_c.sum(axis=1) / den_c.sum(axis=1)
    draws = np.full((n_boot, k), np.nan)
    if g == 0:
        return points, draws
    rng = np.random.default_rng(seed)
    for start in range(0, n_boot, BOOTSTRAP_CHUNK):
        m = min(BOOTSTRAP_CHUNK, n_boot - start)
        picks = rng.integers(0, g, size=(m, g)) + (np.arange(m) * g)[:, None]
        weights = np.bincount(picks.ravel(), minlength=m * g).reshape(m, g).astype(np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            draws[start : start + m] = (weights @ num_c.T) / (weights @ den_c.T)
    return points, draws


def percentile_interval(draws: FloatArray, level: float = 0.95) -> Interval:
    """Percentile interval of bootstrap draws (NaN draws, from empty resamples, dropped)."""
    d = np.asarray(draws, dtype=np.float64)
    d = d[np.isfinite(d)]
    if d.size == 0:
        return Interval(None, None)
    tail = (1.0 - level) / 2.0 * 100.0
    low, high = np.percentile(d, [tail, 100.0 - tail])
    return Interval(float(low), float(high))


def paired_difference(
    point_a: float, point_b: float, draws_a: FloatArray, draws_b: FloatArray
) -> Difference:
    """`a - b` with the percentile interval of the paired draws' differences.

    Significant at 5 % when the interval excludes 0. The p-value is the two-sided bootstrap
    one, ``2 * min(P(d <= 0), P(d >= 0))`` over the draws (capped at 1); its resolution is
    1 / n_boot.
    """
    diff = float(point_a - point_b)
    d = np.asarray(draws_a, dtype=np.float64) - np.asarray(draws_b, dtype=np.float64)
    d = d[np.isfinite(d)]
    if d.size == 0 or not np.isfinite(diff):
        a, b = _finite_or_none(point_a), _finite_or_none(point_b)
        return Difference(a, b, _finite_or_none(diff), None, None, None, False)
    ci = percentile_interval(d)
    tail = min(float(np.mean(d <= 0.0)), float(np.mean(d >= 0.0)))
    p_value = min(1.0, 2.0 * tail)
    low, high = ci.low, ci.high
    significant = low is not None and high is not None and (low > 0.0 or high < 0.0)
    return Difference(float(point_a), float(point_b), diff, low, high, p_value, significant)
