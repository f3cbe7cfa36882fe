"""Value: the expected value of the best price and line across books against the fair price,
and the two Value Scores (0-100), each a documented treatment of the fair price's uncertainty.

Pure (no I/O). For every book at its own line, EV per unit staked (a push returns the stake):

    EV_over  = P(over)  * (d_over  - 1) - P(under)
    EV_under = P(under) * (d_under - 1) - P(over)
    EV (line-free) = p * d - 1

and per side the best book is kept (`best_by_book`). The standard error of that EV comes from
the consensus's: |dEV/dmu| * se_mu for lines, d * se_p for line-free markets.

* Algorithm A (shrunk EV): 100 / (1 + exp(-(EV - k * SE_disp) / scale)), k = 1, scale = 0.02;
  SE_disp counts only the books' disagreement (sd / sqrt(n_eff)). Score 50 = EV one standard
  error above zero; each 2 % of EV is one logistic unit.
* Algorithm B (probability of +EV): 100 * Phi(EV / SE_full), SE_full with the floor tau for the
  price's remaining move before the close. Score 50 = EV of zero.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import expit, ndtr

from edgelab.betting.pricing.consensus import F, consensus_line, consensus_prob
from edgelab.betting.pricing.lines import line_density, line_probs


def ev_line(
    line: ArrayLike,
    d_over: ArrayLike,
    d_under: ArrayLike,
    mu: ArrayLike,
    sigma: ArrayLike,
    discrete: bool = True,
    no_zero: bool = False,
) -> tuple[F, F]:
    """EV per unit stake of each book's over and under at its own line.

    EV_over  = P(over)  * (d_over  - 1) - P(under)     (push returns the stake: EV 0)
    EV_under = P(under) * (d_under - 1) - P(over)
    Shapes broadcast, e.g. line/prices (markets, books), mu/sigma (markets, 1).
    """
    po, _, pu = line_probs(line, mu, sigma, discrete, no_zero, with_push=False)
    do, du = np.asarray(d_over, dtype=float), np.asarray(d_under, dtype=float)
    return po * (do - 1.0) - pu, pu * (du - 1.0) - po


def ev_line_slope(
    line: ArrayLike,
    d_over: ArrayLike,
    d_under: ArrayLike,
    mu: ArrayLike,
    sigma: ArrayLike,
    discrete: bool = True,
) -> tuple[F, F]:
    """dEV/dmu (per point) of the over and the under at ``line``:
    dEV_over/dmu = f_hi (d_over - 1) + f_lo,  dEV_under/dmu = -(f_lo (d_under - 1) + f_hi),
    f = normal density at the win/lose boundaries hi = floor(line)+0.5, lo = ceil(line)-0.5."""
    line = np.asarray(line, dtype=float)
    hi = np.floor(line) + 0.5 if discrete else line
    lo = np.ceil(line) - 0.5 if discrete else line
    fh = line_density(hi, mu, sigma)
    fl = line_density(lo, mu, sigma)
    return fh * (np.asarray(d_over) - 1.0) + fl, -(fl * (np.asarray(d_under) - 1.0) + fh)


def ev_prob(p_a: ArrayLike, d_a: ArrayLike) -> F:
    """EV per unit stake of a line-free bet on outcome a at decimal odds d_a: p_a * d_a - 1."""
    out: F = np.asarray(p_a, dtype=float) * np.asarray(d_a, dtype=float) - 1.0
    return out


def best_by_book(ev: ArrayLike) -> tuple[F, NDArray[np.int64]]:
    """Max EV across books (axis 1) and the index of the book offering it (-1 if none)."""
    ev = np.asarray(ev, dtype=float)
    filled = np.where(np.isnan(ev), -np.inf, ev)
    j = np.argmax(filled, axis=1)
    best = filled[np.arange(ev.shape[0]), j]
    none = ~np.isfinite(best)
    return np.where(none, np.nan, best), np.where(none, -1, j)


def score_a(ev: ArrayLike, se_ev: ArrayLike, k: float = 1.0, scale: float = 0.02) -> F:
    """Score A (shrunk EV, logistic): 100 / (1 + exp(-(EV - k * SE_EV) / scale)).

    EV and SE_EV per unit stake; k = number of standard errors shrunk (default 1);
    scale = EV units per logistic unit (default 0.02 = 2%). Score 50 <=> EV = k*SE_EV.
    """
    out: F = 100.0 * expit((np.asarray(ev) - k * np.asarray(se_ev)) / scale)
    return out


def score_b(ev: ArrayLike, se_ev: ArrayLike) -> F:
    """Score B (confidence that the bet is +EV): 100 * Phi(EV / SE_EV) = 100 * P(EV > 0)
    when the fair probability is uncertain with standard error se_p and EV ~ N(EV, SE_EV)."""
    out: F = 100.0 * ndtr(np.asarray(ev) / np.maximum(np.asarray(se_ev), 1e-9))
    return out


def flag(
    score: ArrayLike,
    ev: ArrayLike,
    n_books: ArrayLike,
    threshold: float,
    min_books: int = 3,
    min_ev: float = 0.0,
) -> NDArray[np.bool_]:
    """Flag rule: score >= threshold and EV > min_ev and at least ``min_books`` books quote."""
    s = np.asarray(score)
    return (s >= threshold) & (np.asarray(ev) > min_ev) & (np.asarray(n_books) >= min_books)


@dataclass
class Scored:
    """Per market, per side (0 = over / outcome a, 1 = under / outcome b); arrays (markets,)."""

    fair: F  # consensus mu (points) for line markets, consensus P(a) for line-free markets
    fair_se: F  # its standard error (points, or probability)
    n_books: F
    n_eff: F  # effective number of books, (sum w)^2 / sum w^2
    dispersion: F  # weighted sd across books (points or probability)
    ev: F  # (markets, 2) best EV per side
    book: NDArray[np.int64]  # (markets, 2) index of the book with the best EV
    se_ev: F  # (markets, 2) full: from se = sqrt(tau^2 + sd^2/n_eff)
    se_ev_disp: F  # (markets, 2) book-dispersion part only: from sd / sqrt(n_eff)
    score_a: F  # (markets, 2)
    score_b: F  # (markets, 2)


def score_line_markets(
    line: F,
    d_over: F,
    d_under: F,
    w: ArrayLike | None,
    sigma: ArrayLike,
    tau: float | F,
    devig: str = "power",
    how: str = "mean",
    discrete: bool = True,
    no_zero: bool = False,
    k_a: float = 1.0,
    scale_a: float = 0.02,
    n_newton: int = 0,
    sharp: ArrayLike | None = None,
    gamma: float | None = None,
) -> Scored:
    """Consensus mean -> each book's EV at its own line -> best per side -> scores A and B.

    SE of a best bet's EV = |dEV/dmu| * se_mu (per unit stake) with
      full:       se_mu = sqrt(tau^2 + sd_mu^2 / n_eff)  -> B = 100 Phi(EV / SE_full)
      dispersion: se_mu = sd_mu / sqrt(n_eff)            -> A = 100 expit((EV - k SE_disp) / scale)
    Inputs (markets, books); sigma scalar or (markets, 1).
    """
    agg, _ = consensus_line(
        line, d_over, d_under, sigma, w, devig, how, tau, discrete, no_zero, n_newton, sharp, gamma
    )
    mu = agg.value[:, None]
    ev_o, ev_u = ev_line(line, d_over, d_under, mu, sigma, discrete, no_zero)
    rows = np.arange(line.shape[0])
    b_o, j_o = best_by_book(ev_o)
    b_u, j_u = best_by_book(ev_u)
    jo, ju = np.maximum(j_o, 0), np.maximum(j_u, 0)
    sig = np.broadcast_to(np.asarray(sigma, dtype=float), (line.shape[0], 1))[:, 0]
    g_o, _ = ev_line_slope(
        line[rows, jo], d_over[rows, jo], d_under[rows, jo], agg.value, sig, discrete
    )
    _, g_u = ev_line_slope(
        line[rows, ju], d_over[rows, ju], d_under[rows, ju], agg.value, sig, discrete
    )
    ev = np.stack([b_o, b_u], axis=1)
    g = np.abs(np.stack([g_o, g_u], axis=1))
    return _scored(agg, ev, np.stack([j_o, j_u], axis=1), g, k_a, scale_a)


def _scored(agg: Any, ev: F, best: Any, grad: F, k_a: float, scale_a: float) -> Scored:
    """Both sides' EV with its uncertainty: `grad` is |dEV/d consensus| per side; the full SE
    (`agg.se`) for score B, the books' dispersion alone (sd / sqrt(n_eff)) for score A."""
    se = grad * agg.se[:, None]
    se_d = grad * (agg.sd / np.sqrt(np.maximum(agg.n_eff, 1.0)))[:, None]
    return Scored(
        agg.value,
        agg.se,
        agg.n,
        agg.n_eff,
        agg.sd,
        ev,
        best,
        se,
        se_d,
        score_a(ev, se_d, k_a, scale_a),
        score_b(ev, se),
    )


def score_prob_markets(
    d_a: F,
    d_b: F,
    w: ArrayLike | None,
    tau: float | F,
    devig: str = "power",
    space: str = "logit",
    k_a: float = 1.0,
    scale_a: float = 0.02,
    how: str = "mean",
    sharp: ArrayLike | None = None,
    gamma: float | None = None,
) -> Scored:
    """Line-free two-way markets (moneyline, yes/no props): consensus P(a) -> best EV per side.
    SE of EV = d_best * se_p (EV = p d - 1 is linear in p); full se_p = sqrt(tau^2 +
    sd_p^2/n_eff) for score B, dispersion-only sd_p/sqrt(n_eff) for score A (as for lines)."""
    agg = consensus_prob(d_a, d_b, w, devig, space, how, tau, sharp, gamma)
    p = agg.value[:, None]
    b_a, j_a = best_by_book(ev_prob(p, d_a))
    b_b, j_b = best_by_book(ev_prob(1.0 - p, d_b))
    rows = np.arange(d_a.shape[0])
    dd = np.stack([d_a[rows, np.maximum(j_a, 0)], d_b[rows, np.maximum(j_b, 0)]], axis=1)
    ev = np.stack([b_a, b_b], axis=1)
    return _scored(agg, ev, np.stack([j_a, j_b], axis=1), dd, k_a, scale_a)


def chunked(
    fn: Callable[..., Scored], split: dict[str, F], chunk: int = 32768, **kw: Any
) -> Scored:
    """Run a scorer over row-chunks and concatenate the result (identical numbers).

    ``split``: keyword arrays cut along axis 0 (e.g. line, d_over, d_under, per-market sigma of
    shape (markets, 1), per-market weights (markets, books)); ``kw``: passed whole (e.g. book
    weights (books,), tau). Chunks of ~32k markets keep temporaries in cache: ~1.5x faster on
    1M x 10 than one call (REPORT.md, timing).
    """
    n = next(iter(split.values())).shape[0]
    parts = [
        fn(**{k: v[i : i + chunk] for k, v in split.items()}, **kw) for i in range(0, n, chunk)
    ]
    return Scored(
        *(
            np.concatenate([getattr(p, f) for p in parts])
            for f in (field.name for field in fields(Scored))
        )
    )


def price_points(
    d_taken: ArrayLike,
    line: ArrayLike,
    mu_ref: ArrayLike,
    sigma: ArrayLike,
    d_ref: float = 1.0 + 100.0 / 110.0,
) -> F:
    """Points-equivalent of a price vs the standard -110 (decimal 1.9091):

        points_equiv = (1/d_ref - 1/d_taken) / f(line),  f = normal density of X at the line,
        centred at mu_ref (use the closing number) with the fitted sigma.

    Positive = better than -110. E.g. -105 at a line 2 pts off the close with sigma 12.6 is
    worth about (0.5238 - 0.5122)/0.0312 = 0.37 points.
    """
    f = line_density(line, mu_ref, sigma)
    return (1.0 / d_ref - 1.0 / np.asarray(d_taken, dtype=float)) / f


def kaunitz_signal(d: ArrayLike, alpha: float) -> tuple[F, F, NDArray[np.int64], NDArray[np.bool_]]:
    """Kaunitz, Zhong & Kreiner (2017): p_cons = 1 / mean_j(d_j) per outcome (not normalised);
    bet at the maximum odds if max_j d_j > 1 / (p_cons - alpha). Returns (p_cons, best odds,
    best book index, bet mask); d is (markets, books) for ONE outcome."""
    d = np.asarray(d, dtype=float)
    p_cons = 1.0 / np.nanmean(d, axis=1)
    best, j = best_by_book(d)
    with np.errstate(divide="ignore", invalid="ignore"):
        bet = (p_cons - alpha > 0) & (best > 1.0 / (p_cons - alpha))
    return p_cons, best, j, bet
