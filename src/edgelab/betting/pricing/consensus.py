"""The market's fair price: each book de-vigged, then the books combined into a consensus.

Pure (no I/O): numpy arrays shaped (markets, books), NaN where a book does not quote.

Every market is a two-way market on a quantity X with a line: side "over" wins if X > line,
"under" if X < line, a push if X == line. Spread: X = home margin, line = -home handicap
(home -4.5 -> line 4.5; "over" = home covers), `no_zero` (an NBA game cannot end tied).
Total: X = total points. Player prop: X = the player's stat. Moneylines and other line-free
markets use `consensus_prob`.

Spreads and totals quoted at different numbers are put on one scale by a distribution of X
around its consensus mean mu (units: points): X_c ~ Normal(mu, sigma), X = round(X_c), so

    P(X > line) = Phi((mu - hi)/sigma),  hi = floor(line) + 0.5
    P(X < line) = Phi((lo - mu)/sigma),  lo = ceil(line) - 0.5
    P(push)     = the rest (> 0 only at integer lines)

Each book's (line, de-vigged price) implies a mean mu_j (`implied_mean`); the consensus is their
weighted mean or median, or the "sharp lean" (the soft books' consensus moved `gamma` times
the sharp books' lead). So "+5.5 at one book while the market says +4" is measured in
probability (`line_probs`), not guessed. The uncertainty of the consensus is reported with it:
books quoting, their effective number, their dispersion, and a standard error with a floor
`tau` for how far the price still moves before the close. Method and validation: the
project's value-model report (walk-forward on the shipped 2021-22 and 2022-23 odds).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import expit, logit

from edgelab.betting.pricing.lines import implied_mean

F = NDArray[np.float64]


DEVIG_METHODS = ("multiplicative", "additive", "power", "shin", "odds_ratio")


def devig_two_way(d_a: ArrayLike, d_b: ArrayLike, method: str = "power", n_iter: int = 8) -> F:
    """Fair probability of outcome *a* from one book's two decimal prices (elementwise).

    With implied probabilities q_a = 1/d_a, q_b = 1/d_b and booksum S = q_a + q_b:

    * ``multiplicative`` (normalisation): p_a = q_a / S
    * ``additive``:  p_a = q_a - (S - 1)/2
    * ``power``:     p_a = q_a**k with k solving q_a**k + q_b**k = 1 (Newton from k = 1)
    * ``shin``:      Shin (1993) insider model, p_i = (sqrt(z^2 + 4(1-z) q_i^2/S) - z)/(2(1-z)),
      z solving sum p_i = 1. For two outcomes this equals ``additive`` exactly (checked
      against a bisection solver in test_model.py), so the closed form is used.
    * ``odds_ratio``: logit p_a = logit q_a - c, logit p_b = logit q_b - c, p_a + p_b = 1
      -> closed form logit p_a = (logit q_a - logit q_b)/2, i.e. in decimal odds
      p_a = 1 / (1 + sqrt((d_a - 1)/(d_b - 1))).

    Probabilities are clipped to [1e-6, 1 - 1e-6]. NaN in -> NaN out.
    """
    qa = 1.0 / np.asarray(d_a, dtype=float)
    qb = 1.0 / np.asarray(d_b, dtype=float)
    s = qa + qb
    if method == "multiplicative":
        p = qa / s
    elif method == "additive":
        p = qa - (s - 1.0) / 2.0
    elif method == "power":
        la, lb = np.log(qa), np.log(qb)
        k = np.ones_like(qa)
        for _ in range(n_iter):
            ea, eb = np.exp(k * la), np.exp(k * lb)
            k = k - (ea + eb - 1.0) / (ea * la + eb * lb)
        p = np.exp(k * la)
    elif method == "shin":
        # For two outcomes Shin's solution coincides with the additive one (a known property
        # of Shin's model; test_model.py checks it against a bisection solver of the Shin
        # equations on a price grid). The closed form is used for speed.
        p = qa - (s - 1.0) / 2.0
    elif method in ("odds_ratio", "logarithmic"):  # the same method (penaltyblog's name)
        p = 1.0 / (
            1.0
            + np.sqrt((np.asarray(d_a, dtype=float) - 1.0) / (np.asarray(d_b, dtype=float) - 1.0))
        )
    else:
        raise ValueError(f"unknown de-vig method {method!r}")
    return np.clip(p, 1e-6, 1.0 - 1e-6)


@dataclass
class Agg:
    """Weighted cross-book aggregate of one quantity per market (all arrays shape (markets,)).

    value: weighted mean (or median) across books; n: number of quoting books;
    n_eff = (sum w)^2 / sum w^2 (Kish effective count); sd: weighted std across books
    (sqrt(sum w (x - mean)^2 / sum w)); se = sqrt(tau^2 + sd^2 / n_eff).
    """

    value: F
    n: F
    n_eff: F
    sd: F
    se: F


def _weights(x: F, w: ArrayLike | None) -> F:
    ww = np.ones_like(x) if w is None else np.broadcast_to(np.asarray(w, dtype=float), x.shape)
    return np.where(np.isnan(x), 0.0, ww)


def weighted_aggregate(
    x: ArrayLike, w: ArrayLike | None = None, how: str = "mean", tau: float | F = 0.0
) -> Agg:
    """Aggregate ``x`` (markets, books) over books with weights ``w``; NaN = missing.

    ``how='mean'``: sum w x / sum w.  ``how='median'``: weighted median (smallest x whose
    cumulative weight reaches half; the mean of the two middle values when it is exactly half).
    ``tau`` is an irreducible-error floor added in quadrature to the sampling error (same units
    as x). Markets with no quote give NaN.
    """
    x = np.asarray(x, dtype=float)
    ww = _weights(x, w)
    xs = np.where(np.isnan(x), 0.0, x)
    sw = ww.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = (ww * xs).sum(axis=1) / sw
        var = (ww * (xs - mean[:, None]) ** 2).sum(axis=1) / sw
        n_eff = sw**2 / (ww**2).sum(axis=1)
    if how == "median":
        order = np.argsort(np.where(np.isnan(x), np.inf, x), axis=1)
        xo = np.take_along_axis(x, order, axis=1)
        wo = np.take_along_axis(ww, order, axis=1)
        cw = np.cumsum(wo, axis=1) / np.where(sw > 0, sw, 1.0)[:, None]
        i = np.argmax(cw >= 0.5 - 1e-12, axis=1)
        rows = np.arange(x.shape[0])
        lo_v = xo[rows, i]
        exact = np.isclose(cw[rows, i], 0.5)
        j = np.minimum(i + 1, x.shape[1] - 1)
        hi_v = np.where(np.isnan(xo[rows, j]), lo_v, xo[rows, j])
        value = np.where(exact, 0.5 * (lo_v + hi_v), lo_v)
        value = np.where(sw > 0, value, np.nan)
    elif how == "mean":
        value = mean
    else:
        raise ValueError(how)
    n = (~np.isnan(x)).sum(axis=1).astype(float)
    sd = np.sqrt(var)
    se = np.sqrt(tau**2 + np.where(n_eff > 0, var / np.maximum(n_eff, 1e-12), np.nan))
    return Agg(value=value, n=n, n_eff=n_eff, sd=sd, se=se)


def staleness_weights(w: ArrayLike, age_min: ArrayLike, half_life_min: float | None) -> F:
    """Down-weight old quotes: w * 0.5 ** (age / half_life) (age in minutes since the book's
    last update, relative to the scoring time). ``half_life_min=None`` -> weights unchanged."""
    w = np.asarray(w, dtype=float)
    if half_life_min is None:
        return np.broadcast_to(w, np.shape(age_min)).astype(float)
    a = np.nan_to_num(np.asarray(age_min, dtype=float), nan=0.0)
    out: F = w * 0.5 ** (np.maximum(a, 0.0) / half_life_min)
    return out


def sharp_lean(
    x: ArrayLike,
    w: ArrayLike | None,
    sharp: ArrayLike,
    gamma: float,
    how: str = "mean",
    tau: float | F = 0.0,
) -> Agg:
    """'Sharp-lean' consensus: soft + gamma * (sharp - soft), where sharp/soft are the weighted
    aggregates (mean or median) of the sharp-listed and the other books. gamma = 1 -> sharp
    books only; gamma > 1 extrapolates the sharp books' lead (the close tends to move further
    than the sharp books' morning deviation, see REPORT.md); gamma = 0 -> soft books only.
    Markets without a sharp quote fall back to the all-book aggregate. Equivalent to per-market
    weights gamma * w_sharp/sum(w_sharp) + (1 - gamma) * w_soft/sum(w_soft).
    ``sharp``: bool mask (books,). Dispersion/n_eff/se are those of all books (weights w).
    """
    x = np.asarray(x, dtype=float)
    sh = np.asarray(sharp, dtype=bool)
    ww = np.broadcast_to(np.ones(x.shape[1]) if w is None else np.asarray(w, float), x.shape)
    allb = weighted_aggregate(x, ww, how, tau)
    a_sh = weighted_aggregate(x, ww * sh, how).value
    a_so = weighted_aggregate(x, ww * ~sh, how).value
    val = np.where(np.isnan(a_sh) | np.isnan(a_so), allb.value, a_so + gamma * (a_sh - a_so))
    return Agg(value=val, n=allb.n, n_eff=allb.n_eff, sd=allb.sd, se=allb.se)


def consensus_prob(
    d_a: ArrayLike,
    d_b: ArrayLike,
    w: ArrayLike | None = None,
    devig: str = "power",
    space: str = "logit",
    how: str = "mean",
    tau: float | F = 0.0,
    sharp: ArrayLike | None = None,
    gamma: float | None = None,
) -> Agg:
    """Consensus fair probability of outcome *a* from (markets, books) decimal prices.

    p_bj = devig_two_way(d_a, d_b) per book; combined with weights w_j either
    ``space='logit'``: p = expit( sum w logit p_bj / sum w )  or ``space='prob'``: sum w p / sum w.
    Returned ``sd``/``se`` are in probability units (logit-space dispersion is converted with the
    delta method, dp = p(1-p) dlogit). ``tau``: probability-units error floor.
    """
    p = devig_two_way(d_a, d_b, devig)

    def agg(v: F) -> Agg:
        if gamma is not None and sharp is not None:
            return sharp_lean(v, w, sharp, gamma, how)
        return weighted_aggregate(v, w, how)

    if space == "logit":
        a = agg(logit(p))
        pc = expit(a.value)
        g = pc * (1.0 - pc)
        sd = a.sd * g
    elif space == "prob":
        a = agg(p)
        pc, sd = np.clip(a.value, 1e-6, 1 - 1e-6), a.sd
    else:
        raise ValueError(space)
    se = np.sqrt(tau**2 + sd**2 / np.maximum(a.n_eff, 1e-12))
    return Agg(value=pc, n=a.n, n_eff=a.n_eff, sd=sd, se=se)


def consensus_line(
    line: ArrayLike,
    d_over: ArrayLike,
    d_under: ArrayLike,
    sigma: ArrayLike,
    w: ArrayLike | None = None,
    devig: str = "power",
    how: str = "mean",
    tau: float | F = 0.0,
    discrete: bool = True,
    no_zero: bool = False,
    n_newton: int = 0,
    sharp: ArrayLike | None = None,
    gamma: float | None = None,
) -> tuple[Agg, F]:
    """Consensus mean of X from (markets, books) arrays of lines and decimal prices.

    Each book j: p_j = devig(d_over_j, d_under_j) = P(over | no push) at its own line;
    mu_j = implied_mean(line_j, p_j, sigma); consensus mu = weighted mean/median of mu_j, or the
    sharp-lean combination when ``gamma`` and the ``sharp`` mask are given (see sharp_lean).
    Returns (Agg over mu_j [points; se = sqrt(tau^2 + sd^2/n_eff)], mu_j array (markets, books)).
    ``sigma`` broadcastable to (markets, books) (use shape (markets, 1) per market).
    """
    line = np.asarray(line, dtype=float)
    p = devig_two_way(d_over, d_under, devig)
    sig = np.broadcast_to(np.asarray(sigma, dtype=float), line.shape)
    mu_j = implied_mean(line, p, sig, discrete, no_zero, n_newton)  # NaN propagates
    if gamma is not None and sharp is not None:
        return sharp_lean(mu_j, w, sharp, gamma, how, tau), mu_j
    return weighted_aggregate(mu_j, w, how, tau), mu_j
