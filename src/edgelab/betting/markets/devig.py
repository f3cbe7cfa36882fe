"""Remove the bookmaker margin ("de-vig") from decimal odds.

Why
---
A bookmaker's prices imply probabilities ``q_i = 1 / o_i`` that sum to more than one; the
excess ``sum(q) - 1`` is the margin (overround, "vig"). To compare a price with a model, or to
use the market as a forecast, the margin has to be taken out again. How it should be taken out
depends on how one believes the bookmaker put it in, so several published methods exist. Each
one here maps a row of implied probabilities to a row of fair probabilities that

* sum to one,
* keep the order of the implied probabilities (a shorter price never gets a smaller
  probability), and
* leave a fair book (``sum(q) == 1``) unchanged.

Why one module of ~550 lines: the six methods are one comparison (the same contract, the same
vectorised root-finding helper, each derivation beside its code, and the tests and the
accuracy benchmark read them as a set); split apart, the shared solver and the reasons for
each method's form would scatter. The value model's per-book two-way de-vig is the closed
form in `betting.pricing.consensus`.

Units and shapes
----------------
Odds are *decimal* odds (total return per unit stake, stake included), finite and > 1. Input is
an array of shape ``(n_markets, k_outcomes)`` with ``k >= 2``, or a 1-D array holding one market.
Probabilities come back with the same shape; the margin has shape ``(n_markets,)``, or is a 0-d
array for a 1-D input. The margin is a fraction (0.05 means 5 %); it is negative for an
"underround" book (e.g. best prices collected across several bookmakers), which every method
accepts.

Iterative methods (power, Shin, odds ratio, logarithmic) solve one scalar equation per row with
a vectorised, bracketed Newton iteration (bisection whenever a Newton step would leave the
bracket, and only bisection after 8 steps), until ``|sum(p) - 1| <= 1e-12``, within at most 100
iterations; there is no Python loop over markets, only over blocks of 8192 of them. The
probabilities are finally divided by their row sum, which changes them by at most about 1e-12.

This module is pure NumPy: no I/O and no other ``edgelab`` imports.

Sources
-------
* S. Clarke, S. Kovalchik, M. Ingram (2017), "Adjusting Bookmaker's Odds to Allow for
  Overround", American Journal of Sports Science 5(6):45-49, doi:10.11648/j.ajss.20170506.12
  (additive, normalisation, Shin and power methods; Shin equals additive for two outcomes).
* J. C. Lindstrøm, R package ``implied`` 0.5 (CRAN, 2023), ``implied_probabilities()`` and its
  vignette "Introduction to the implied package" (methods 'basic', 'additive', 'power', 'shin',
  'or').
* M. Eastwood, Python package ``penaltyblog``, module ``penaltyblog.implied``
  (``ImpliedMethod.LOGARITHMIC`` and the other methods).
* H. S. Shin (1992), Economic Journal 102(411):426-435; H. S. Shin (1993), Economic Journal
  103(420):1141-1153; B. Jullien & B. Salanié (1994), Economic Journal 104(427):1418-1419.
* K. Cheung (2015), "Fixed-odds betting and traditional odds", sportstradingnetwork.com;
  J. Buchdahl, "Using the Wisdom of the Crowd to Find Value in a Football Match Betting Market",
  football-data.co.uk.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

__all__ = [
    "METHODS",
    "DevigResult",
    "american_to_decimal",
    "decimal_to_american",
    "devig",
    "devig_additive",
    "devig_logarithmic",
    "devig_multiplicative",
    "devig_odds_ratio",
    "devig_power",
    "devig_shin",
    "fractional_to_decimal",
    "implied_probabilities",
]

FloatArray = npt.NDArray[np.float64]

METHODS: tuple[str, ...] = (
    "multiplicative",
    "additive",
    "power",
    "shin",
    "odds_ratio",
    "logarithmic",
)

#: Convergence target for the iterative methods: ``|sum(p) - 1|`` per row.
_TOLERANCE: Final[float] = 1e-12
#: Newton iterations before the solver falls back to plain bisection. From the starting points
#: used here Newton needs 2-4 on realistic books; the switch guarantees termination for
#: pathological ones.
_NEWTON_ITERATIONS: Final[int] = 8
#: Hard cap on solver iterations. Bisection then halves every bracket used here to rounding
#: level in well under 90 steps, so the cap is never the binding limit.
_MAX_ITERATIONS: Final[int] = 100
#: Markets per block: large enough to amortise Python overhead, small enough for the block's
#: temporaries to stay in cache (chosen by measurement; 16384+ two-way markets was slower).
_BLOCK: Final[int] = 8192
_EPS: Final[float] = float(np.finfo(np.float64).eps)


@dataclass(frozen=True, eq=False)
class DevigResult:
    """Fair probabilities and the margin that was removed.

    Attributes:
        probabilities: Fair probabilities, same shape as the odds; each row sums to 1 and every
            entry lies in [0, 1] (strictly inside (0, 1) for every method except ``additive``,
            which can set hopeless longshots to exactly 0, see :func:`devig_additive`).
        margin: Overround ``sum(1 / odds) - 1`` per market, shape ``(n_markets,)``, or a 0-d
            array for a single 1-D market. A fraction: 0.05 is a 5 % book.

    ``eq=False`` because the generated ``__eq__`` would compare arrays element-wise and raise on
    ``bool()``; compare the fields with ``numpy.testing`` or ``np.allclose`` instead.
    """

    probabilities: FloatArray
    margin: FloatArray


# --------------------------------------------------------------------------------------------
# Driver
#
# Markets are processed in blocks of ``_BLOCK``; inside a block everything is vectorised and
# held "outcome-major", shape (k_outcomes, m_markets), so that per-market sums are k additions
# of contiguous rows (NumPy reductions over a short last axis are several times slower).
# Working block by block keeps temporaries in cache instead of allocating, and page-faulting,
# many arrays the size of the whole input. The Python loop is over blocks, never markets.
# --------------------------------------------------------------------------------------------

# Per-block method kernel: (q (k, m) implied probabilities, sum(q) (m,)) -> p (k, m), whose
# columns sum to one up to the solver tolerance.
_Kernel = Callable[[FloatArray, FloatArray], FloatArray]


def _validate_decimal(odds: FloatArray) -> None:
    if not np.all(np.isfinite(odds)):
        raise ValueError("decimal odds must be finite")
    if not np.all(odds > 1.0):
        raise ValueError("decimal odds must be greater than 1")


def _run(odds: npt.ArrayLike, kernel: _Kernel) -> DevigResult:
    """Validate ``odds``, apply ``kernel`` block by block, renormalise and package."""
    arr = np.asarray(odds, dtype=np.float64)
    single = arr.ndim == 1
    if single:
        arr = arr[np.newaxis, :]
    elif arr.ndim != 2:
        raise ValueError(
            f"odds must be 1-D (one market) or 2-D (n_markets, k_outcomes), got {arr.ndim}-D"
        )
    n, k = arr.shape
    if k < 2:
        raise ValueError(f"a market needs at least 2 outcomes, got {k}")
    _validate_decimal(arr)
    probabilities = np.empty((n, k), dtype=np.float64)
    margin = np.empty(n, dtype=np.float64)
    for start in range(0, n, _BLOCK):
        block = slice(start, start + _BLOCK)
        chunk = arr[block]
        q = np.empty((k, chunk.shape[0]), dtype=np.float64)  # never a view of the caller's odds
        np.divide(1.0, chunk.T, out=q)
        q_sum = q.sum(axis=0)
        p = kernel(q, q_sum)
        p /= p.sum(axis=0)
        probabilities[block] = p.T
        margin[block] = q_sum - 1.0
    if single:
        return DevigResult(probabilities=probabilities[0], margin=margin.reshape(()))
    return DevigResult(probabilities=probabilities, margin=margin)


# --------------------------------------------------------------------------------------------
# Vectorised scalar root finder
# --------------------------------------------------------------------------------------------

# evaluate(x, data) -> (p (k, m), f = sum(p) - 1 (m,), df/dx (m,)) at parameters x (m,), where
# ``data`` holds the method's per-market arrays, each with markets on the last axis.
_Data = tuple[FloatArray, ...]
_Evaluate = Callable[[FloatArray, _Data], tuple[FloatArray, FloatArray, FloatArray]]


def _solve_decreasing(
    evaluate: _Evaluate,
    data: _Data,
    x: FloatArray,
    lo: FloatArray,
    hi: FloatArray,
) -> FloatArray:
    """Solve ``sum(p(x)) = 1`` per market for a parameter ``x`` on which ``sum(p)`` decreases.

    ``[lo, hi]`` must bracket the root (``f(lo) >= 0 >= f(hi)``; the ends themselves are never
    evaluated). ``x`` is the starting guess (replaced by the bracket midpoint if it is not
    strictly inside). Each step is Newton's; a step that is not finite or leaves the current
    bracket is replaced by the bracket's midpoint, and the bracket is narrowed with the sign of
    ``f``. After ``_NEWTON_ITERATIONS`` steps only bisection is used, so every bracket shrinks
    to rounding level within ``_MAX_ITERATIONS``. A market stops, its parameter frozen, as soon
    as ``|f| <= 1e-12`` (or, in the bisection phase, once its bracket has collapsed), so its
    result does not depend on the other markets in the batch.

    Returns ``p`` (k, m) at the solution.
    """
    m = x.shape[0]
    out = np.empty((data[0].shape[0], m), dtype=np.float64)
    idx = np.arange(m, dtype=np.intp)
    x = np.where((x > lo) & (x < hi), x, 0.5 * (lo + hi))
    finished = np.zeros(m, dtype=bool)
    for iteration in range(_MAX_ITERATIONS + 1):
        p, f, df = evaluate(x, data)
        # Finished markets keep their x, so narrowing their bracket too is harmless.
        lo = np.where(f > 0.0, x, lo)
        hi = np.where(f < 0.0, x, hi)
        finished |= np.abs(f) <= _TOLERANCE
        bisecting = iteration >= _NEWTON_ITERATIONS
        if bisecting:
            finished |= (hi - lo) <= 4.0 * _EPS * np.maximum(1.0, np.abs(x))
        n_finished = int(np.count_nonzero(finished))
        if n_finished == idx.size:
            out[:, idx] = p
            return out
        if bisecting:
            step = 0.5 * (lo + hi)
        else:
            with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
                step = x - f / df
            # NaN and +-inf fail both comparisons, so they fall back to bisection too.
            step = np.where((step > lo) & (step < hi), step, 0.5 * (lo + hi))
        x = np.where(finished, x, step)
        if 10 * n_finished >= 9 * idx.size:
            # Drop finished markets once they are 90 % of the working set; compacting earlier
            # costs more (gathers over the whole set) than the evaluations it saves.
            done = np.flatnonzero(finished)
            out[:, idx[done]] = p[:, done]
            keep = np.flatnonzero(~finished)
            idx, x, lo, hi = idx[keep], x[keep], lo[keep], hi[keep]
            data = tuple(a[..., keep] for a in data)
            finished = np.zeros(idx.size, dtype=bool)
    raise RuntimeError(  # pragma: no cover - the bisection fallback makes this unreachable
        f"de-vig solver did not converge for {idx.size} market(s)"
    )


# --------------------------------------------------------------------------------------------
# Methods
# --------------------------------------------------------------------------------------------


def _multiplicative_kernel(q: FloatArray, q_sum: FloatArray) -> FloatArray:
    return q / q_sum


def devig_multiplicative(odds: npt.ArrayLike) -> DevigResult:
    """Normalisation: ``p_i = q_i / sum(q)`` with ``q_i = 1 / o_i``.

    Why: the simplest and most widely used method; it assumes the bookmaker scaled every true
    probability by the same factor, so it does not model the favourite-longshot bias.

    Source: Clarke, Kovalchik & Ingram (2017) "normalisation"; ``implied`` method 'basic';
    ``penaltyblog.implied`` 'multiplicative'.
    """
    return _run(odds, _multiplicative_kernel)


def _project_onto_simplex(v: FloatArray) -> FloatArray:
    """Euclidean projection of each column (market) of ``v`` (k, m) onto the simplex.

    ``p_i = max(v_i - lam, 0)`` with ``lam`` chosen so the column sums to 1 (sort-based
    algorithm: Held, Wolfe & Crowder 1974; Duchi, Shalev-Shwartz, Singer & Chandra 2008).
    """
    k, m = v.shape
    u = -np.sort(-v, axis=0)
    excess = np.cumsum(u, axis=0) - 1.0
    counts = np.arange(1, k + 1, dtype=np.float64)[:, np.newaxis]
    rho = np.count_nonzero(u - excess / counts > 0.0, axis=0)
    lam = excess[rho - 1, np.arange(m)] / rho
    projected: FloatArray = np.maximum(v - lam, 0.0)
    return projected


def _additive_kernel(q: FloatArray, q_sum: FloatArray) -> FloatArray:
    p: FloatArray = q - (q_sum - 1.0) / q.shape[0]
    negative = np.any(p < 0.0, axis=0)
    if np.any(negative):
        p[:, negative] = _project_onto_simplex(q[:, negative])
    return p


def devig_additive(odds: npt.ArrayLike) -> DevigResult:
    """Additive: subtract an equal share of the margin, ``p_i = q_i - (sum(q) - 1) / k``.

    Why: assumes the bookmaker added the same absolute amount to every outcome. It takes
    relatively more from longshots than normalisation does. For two outcomes it coincides with
    Shin's method (Clarke et al. 2017).

    Negative probabilities: when a longshot's ``q_i`` is smaller than its share of the margin,
    the plain formula gives ``p_i < 0`` (example in Clarke et al. 2017 and the ``implied``
    vignette: inverse odds 0.87, 0.2, 0.1, 0.05, 0.02, 0.01). This implementation then uses the
    natural generalisation of the same rule: subtract one common amount ``lam`` from every
    outcome, but never go below zero, ``p_i = max(q_i - lam, 0)`` with ``lam`` solved so the
    market sums to 1. That is the Euclidean projection of ``q`` onto the probability simplex,
    which equals the plain formula whenever that has no negative entry (always the case for two
    outcomes). Longshots that the margin swamps therefore get probability exactly 0 (fair odds
    of infinity); order is kept, with ties at 0.

    Source: Clarke, Kovalchik & Ingram (2017); ``implied`` method 'additive';
    ``penaltyblog.implied`` 'additive' (both return the plain formula, negatives included).
    """
    return _run(odds, _additive_kernel)


def _power_evaluate(kappa: FloatArray, data: _Data) -> tuple[FloatArray, FloatArray, FloatArray]:
    (log_q,) = data
    p = np.exp(kappa * log_q)
    return p, p.sum(axis=0) - 1.0, (p * log_q).sum(axis=0)


def _power_kernel(q: FloatArray, q_sum: FloatArray) -> FloatArray:
    k, m = q.shape
    log_q = np.log(q)
    # Start one Newton step away from kappa = 1, where f = sum(q) - 1 and f' = sum(q ln q).
    # Bracket: f(0) = k - 1 > 0, and k * max(q) ** hi <= 1 so f(hi) <= 0 (doubled so that a
    # fair book's kappa = 1 is strictly inside).
    x0 = 1.0 - (q_sum - 1.0) / (q * log_q).sum(axis=0)
    hi = 2.0 * np.maximum(1.0, np.log(k) / -log_q.max(axis=0))
    return _solve_decreasing(_power_evaluate, (log_q,), x0, np.zeros(m), hi)


def devig_power(odds: npt.ArrayLike) -> DevigResult:
    """Power: ``p_i = q_i ** kappa`` with ``kappa`` solved per market so that ``sum(p) = 1``.

    Why: assumes the bookmaker's probabilities are a power of the true ones; with a positive
    margin ``kappa > 1``, which shrinks longshots proportionally more than favourites (the
    favourite-longshot bias) and never leaves (0, 1).

    ``kappa`` lies in (0, 2 max(1, ln k / -ln max(q))); ``kappa > 1`` for an overround book,
    ``< 1`` for an underround one, ``= 1`` for a fair one. The ``implied`` package reports the
    inverse exponent ``1 / kappa``.

    Source: Clarke, Kovalchik & Ingram (2017) (after Vovk & Zhdanov 2009 and Clarke 2016);
    ``implied`` method 'power'; ``penaltyblog.implied`` 'power'. Buchdahl's "Wisdom of the
    Crowd" calls this the logarithmic method (per the ``implied`` documentation), which is
    *not* what :func:`devig_logarithmic` implements.
    """
    return _run(odds, _power_kernel)


def _shin_evaluate(z: FloatArray, data: _Data) -> tuple[FloatArray, FloatArray, FloatArray]:
    (a,) = data
    one_minus = 1.0 - z
    root = np.sqrt(z * z + 4.0 * one_minus * a)
    p = (root - z) / (2.0 * one_minus)
    # d p / d z by the quotient rule, with d root / d z = (z - 2 a) / root.
    dp = ((z - 2.0 * a) / root - 1.0 + 2.0 * p) / (2.0 * one_minus)
    return p, p.sum(axis=0) - 1.0, dp.sum(axis=0)


def _shin_kernel(q: FloatArray, q_sum: FloatArray) -> FloatArray:
    k, m = q.shape
    a = q * q / q_sum
    # One Newton step from z = 0, where p_i = q_i / sqrt(Q), f = sqrt(Q) - 1 and
    # f' = (sqrt(Q) - k) / 2. Bracket: every p_i > 1/2 at z = -1, so f(-1) > 0, and
    # f -> sum(a) - 1 < 0 as z -> 1.
    root_q = np.sqrt(q_sum)
    x0 = 2.0 * (root_q - 1.0) / (k - root_q)
    return _solve_decreasing(_shin_evaluate, (a,), x0, np.full(m, -1.0), np.ones(m))


def devig_shin(odds: npt.ArrayLike) -> DevigResult:
    """Shin's insider-trading model.

    A fraction ``z`` of the money comes from insiders who know the result; a bookmaker who
    maximises expected profit against them quotes ``q_i`` such that (Jullien & Salanié form)

        p_i = (sqrt(z**2 + 4 * (1 - z) * q_i**2 / sum(q)) - z) / (2 * (1 - z)),

    with ``z`` solved per market so that ``sum(p) = 1``. Why: the model explains the
    favourite-longshot bias from first principles and ``z`` is an interpretable estimate of
    insider trading. ``z`` is in [0, 1) for an overround book (0 for a fair one); for an
    underround book the same equation is solved with ``z`` in [-1, 0), which has no insider
    interpretation but keeps the method total.

    For two outcomes the solution is exactly the additive one (Clarke et al. 2017; ``implied``
    vignette); nothing here special-cases it. ``z`` is found with a bracketed Newton iteration
    on the equation above rather than the Jullien-Salanié fixed point
    ``z <- (sum(sqrt(...)) - 2) / (k - 2)``, which is undefined for ``k = 2`` and, with the
    ``implied`` package's default stopping rule, stops about 1e-4 short of the root.

    Source: Shin (1992, 1993); Jullien & Salanié (1994); ``implied`` method 'shin' (function
    ``shin_func``); ``penaltyblog.implied`` 'shin'.
    """
    return _run(odds, _shin_kernel)


def _logit_shift_evaluate(
    theta: FloatArray, data: _Data
) -> tuple[FloatArray, FloatArray, FloatArray]:
    q, one_minus_q = data
    p = q / (q + np.exp(theta) * one_minus_q)
    return p, p.sum(axis=0) - 1.0, -(p * (1.0 - p)).sum(axis=0)


def _logit_shift_kernel(q: FloatArray, q_sum: FloatArray) -> FloatArray:
    """Solve ``logit(p_i) = logit(q_i) - theta`` with ``sum(p) = 1`` per market.

    Written as ``p_i = q_i / (q_i + c * (1 - q_i))`` with ``c = exp(theta)``, which needs no
    logarithms and has ``d p_i / d theta = -p_i * (1 - p_i)``.
    """
    one_minus_q = 1.0 - q
    # One Newton step from theta = 0, where f = sum(q) - 1 and f' = -sum(q (1 - q)).
    x0 = (q_sum - 1.0) / (q * one_minus_q).sum(axis=0)
    # At theta = min(logit q) every p_i >= 1/2, so f >= 0. Because sigmoid(x) <= exp(x),
    # f(ln sum(q / (1 - q))) <= 0. Both ends are widened past 0, the fair-book solution.
    odds_against = q / one_minus_q
    lo = np.minimum(-1.0, np.log(odds_against.min(axis=0)))
    hi = np.maximum(1.0, np.log(odds_against.sum(axis=0)))
    return _solve_decreasing(_logit_shift_evaluate, (q, one_minus_q), x0, lo, hi)


def devig_odds_ratio(odds: npt.ArrayLike) -> DevigResult:
    """Odds ratio: ``p_i = q_i / (c + q_i - c * q_i)`` with ``c`` solved so ``sum(p) = 1``.

    Equivalently ``(q_i / (1 - q_i)) / (p_i / (1 - p_i)) = c`` for every outcome: the bookmaker
    multiplies the true odds (in the p / (1 - p) sense) of every outcome by the same factor.
    Why: it captures the favourite-longshot bias with one parameter and never leaves (0, 1).
    ``c > 1`` for an overround book, ``c < 1`` for an underround one, ``c = 1`` for a fair one.
    Solved in ``theta = ln c``.

    Source: Cheung (2015); Buchdahl, "Wisdom of the Crowd"; ``implied`` method 'or' (function
    ``or_func``); ``penaltyblog.implied`` 'odds_ratio'.
    """
    return _run(odds, _logit_shift_kernel)


def devig_logarithmic(odds: npt.ArrayLike) -> DevigResult:
    """Logarithmic (penaltyblog): a constant shift in log-odds space.

    ``log(p_i / (1 - p_i)) = log(q_i / (1 - q_i)) - c``, i.e. ``p_i = sigmoid(logit(q_i) - c)``,
    with ``c`` solved per market so that ``sum(p) = 1``; ``c > 0`` for an overround book.

    Source: ``penaltyblog`` (M. Eastwood), ``penaltyblog.implied.calculate_implied(...,
    method="logarithmic")``, function ``_logarithmic`` in ``penaltyblog/implied``: "It assumes
    the bookmaker's margin is a constant value 'c' subtracted from the log-odds of each
    outcome. The solver finds the 'c' that makes the final probabilities sum to 1.0."

    Note: algebraically this is the odds-ratio method with ``c_odds_ratio = exp(c)``, so it
    returns the same probabilities as :func:`devig_odds_ratio` (here it shares its solver). The
    name "logarithmic" is used differently elsewhere: Buchdahl's "Wisdom of the Crowd" document
    uses it for what is here :func:`devig_power` (as the ``implied`` package documents). This
    function follows penaltyblog, the published software that exposes a method with this name.
    """
    return _run(odds, _logit_shift_kernel)


_DISPATCH: Final[dict[str, Callable[[npt.ArrayLike], DevigResult]]] = {
    "multiplicative": devig_multiplicative,
    "additive": devig_additive,
    "power": devig_power,
    "shin": devig_shin,
    "odds_ratio": devig_odds_ratio,
    "logarithmic": devig_logarithmic,
}


def devig(odds: npt.ArrayLike, method: str = "multiplicative") -> DevigResult:
    """Remove the margin from decimal odds with the named method.

    Args:
        odds: Decimal odds, finite and > 1, shape ``(n_markets, k_outcomes)`` with ``k >= 2``,
            or 1-D for a single market.
        method: One of :data:`METHODS`.

    Returns:
        :class:`DevigResult` with fair probabilities (same shape as ``odds``, rows sum to 1)
        and the margin ``sum(1 / odds) - 1`` per market.

    Raises:
        ValueError: unknown method (the message lists the valid ones); odds not finite or
            <= 1; fewer than 2 outcomes; odds neither 1-D nor 2-D.
    """
    func = _DISPATCH.get(method) if isinstance(method, str) else None
    if func is None:
        raise ValueError(f"unknown de-vig method {method!r}; valid methods: {', '.join(METHODS)}")
    return func(odds)


# --------------------------------------------------------------------------------------------
# Odds formats
# --------------------------------------------------------------------------------------------


def implied_probabilities(odds: npt.ArrayLike) -> FloatArray:
    """Raw implied probabilities ``1 / odds`` (margin still included), any shape.

    Raises:
        ValueError: if any odds are not finite or not > 1.
    """
    arr = np.asarray(odds, dtype=np.float64)
    _validate_decimal(arr)
    result: FloatArray = 1.0 / arr
    return result


def american_to_decimal(american: npt.ArrayLike) -> FloatArray:
    """Convert American (moneyline) odds to decimal odds, element-wise.

    ``+A`` (A >= 100) wins A per 100 staked: decimal ``1 + A / 100`` (+150 -> 2.5).
    ``-A`` (A >= 100) stakes A to win 100: decimal ``1 + 100 / A`` (-200 -> 1.5).
    Both +100 and -100 mean even money, 2.0.

    Raises:
        ValueError: if any value is not finite or has ``|american| < 100`` (not a valid line).
    """
    a = np.asarray(american, dtype=np.float64)
    if not np.all(np.isfinite(a)):
        raise ValueError("American odds must be finite")
    if np.any(np.abs(a) < 100.0):
        raise ValueError("American odds must satisfy |odds| >= 100")
    with np.errstate(divide="ignore"):
        result: FloatArray = np.where(a > 0.0, 1.0 + a / 100.0, 1.0 - 100.0 / a)
    return result


def decimal_to_american(decimal: npt.ArrayLike) -> FloatArray:
    """Convert decimal odds to American (moneyline) odds, element-wise.

    ``d >= 2`` gives ``+100 * (d - 1)``; ``1 < d < 2`` gives ``-100 / (d - 1)``. Even money (2.0)
    is returned as +100. Results are not rounded to whole numbers.

    Raises:
        ValueError: if any value is not finite or not > 1.
    """
    d = np.asarray(decimal, dtype=np.float64)
    _validate_decimal(d)
    profit = d - 1.0
    result: FloatArray = np.where(d >= 2.0, 100.0 * profit, -100.0 / profit)
    return result


def fractional_to_decimal(numerator: npt.ArrayLike, denominator: npt.ArrayLike) -> FloatArray:
    """Convert fractional odds ``numerator/denominator`` to decimal: ``1 + num / den``.

    ``5/2`` (win 5 for every 2 staked) is 3.5; ``1/2`` is 1.5. Broadcasts like NumPy.

    Raises:
        ValueError: if any numerator or denominator is not finite or not > 0.
    """
    num = np.asarray(numerator, dtype=np.float64)
    den = np.asarray(denominator, dtype=np.float64)
    if not (np.all(np.isfinite(num)) and np.all(np.isfinite(den))):
        raise ValueError("fractional odds must be finite")
    if not (np.all(num > 0.0) and np.all(den > 0.0)):
        raise ValueError("fractional odds need a positive numerator and denominator")
    result: FloatArray = 1.0 + num / den
    return result
