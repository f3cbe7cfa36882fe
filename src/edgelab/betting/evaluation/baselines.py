"""The baselines the value model is measured against, on the same moments: pure, no I/O.

* Kaunitz, Zhong & Kreiner (2017): per side, the consensus 1 / mean(odds) across books (not
  normalised); bet at the best price when it beats 1 / (consensus - alpha). For spreads and
  totals only the books at the market's most quoted line take part (at that line).
* Plain line shopping (spreads and totals): per side, the best number at a price of at least
  1.80 decimal, when it is at least one point better than the median book's number and at
  least three books quote the market; at that number the best price.

Inputs are (markets, books) arrays as `engine.quote_arrays` builds them from moments: the X
line (see `pricing.moments`: minus the home handicap for spreads), side-0 and side-1 decimal
prices, NaN where a book does not quote. A bet is (market row, side, X line, odds, book column).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from edgelab.betting.evaluation.engine import QuoteArrays
from edgelab.betting.pricing.value import kaunitz_signal

F = NDArray[np.float64]
I64 = NDArray[np.int64]
KAUNITZ_ALPHAS = (0.0, 0.02, 0.05)
SHOP_MIN_ODDS = 1.80
SHOP_MIN_GAIN = 1.0  # points better than the median book's number
MIN_BOOKS = 3


@dataclass
class BaselineBets:
    row: I64
    side: I64
    x_line: F
    odds: F
    book: I64

    @classmethod
    def empty(cls) -> BaselineBets:
        return cls(
            np.zeros(0, np.int64),
            np.zeros(0, np.int64),
            np.zeros(0),
            np.zeros(0),
            np.zeros(0, np.int64),
        )

    @classmethod
    def of(cls, rows: list[tuple[int, int, float, float, int]]) -> BaselineBets:
        if not rows:
            return cls.empty()
        r, s, x, d, b = zip(*rows, strict=True)
        return cls(
            np.array(r, np.int64),
            np.array(s, np.int64),
            np.array(x, float),
            np.array(d, float),
            np.array(b, np.int64),
        )


def kaunitz_moneyline(q: QuoteArrays, alpha: float) -> BaselineBets:
    rows: list[tuple[int, int, float, float, int]] = []
    for side, d in enumerate((q.d_over, q.d_under)):
        if not d.size:
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            _p, best, j, bet = kaunitz_signal(d, alpha)
        bet &= np.sum(~np.isnan(d), axis=1) >= MIN_BOOKS
        rows += [(int(g), side, np.nan, float(best[g]), int(j[g])) for g in np.flatnonzero(bet)]
    return BaselineBets.of(rows)


def kaunitz_lines(q: QuoteArrays, alpha: float) -> BaselineBets:
    """At each market's most quoted line (the lowest of equally common ones)."""
    rows: list[tuple[int, int, float, float, int]] = []
    for g in range(q.x_line.shape[0]):
        ln = q.x_line[g]
        ok = ~np.isnan(ln)
        if ok.sum() < MIN_BOOKS:
            continue
        values, counts = np.unique(ln[ok], return_counts=True)
        modal = float(values[np.argmax(counts)])
        at = ok & (ln == modal)
        if at.sum() < MIN_BOOKS:
            continue
        for side, d in enumerate((q.d_over, q.d_under)):
            dd = np.where(at, d[g], np.nan)[None, :]
            _p, best, j, bet = kaunitz_signal(dd, alpha)
            if bet[0]:
                rows.append((g, side, modal, float(best[0]), int(j[0])))
    return BaselineBets.of(rows)


def line_shopping(q: QuoteArrays) -> BaselineBets:
    rows: list[tuple[int, int, float, float, int]] = []
    if not q.x_line.size:
        return BaselineBets.empty()
    n_books = np.sum(~np.isnan(q.x_line), axis=1)
    for side, d in enumerate((q.d_over, q.d_under)):
        number = -q.x_line if side == 0 else q.x_line  # higher is better for the bettor
        candidates = np.where(d >= SHOP_MIN_ODDS, number, np.nan)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            best = np.nanmax(np.where(np.isnan(candidates), -np.inf, candidates), axis=1)
            median = np.nanmedian(number, axis=1)
        chosen = np.isfinite(best) & (best - median >= SHOP_MIN_GAIN) & (n_books >= MIN_BOOKS)
        for g in np.flatnonzero(chosen):
            js = np.flatnonzero(candidates[g] == best[g])
            j = int(js[np.argmax(d[g, js])])
            rows.append((int(g), side, float(q.x_line[g, j]), float(d[g, j]), j))
    return BaselineBets.of(rows)


def baseline_bets(q: QuoteArrays, market_type: str) -> dict[str, BaselineBets]:
    """Every baseline of a market type, by name (`kaunitz_<alpha>`, `line_shopping`)."""
    out: dict[str, BaselineBets] = {}
    for alpha in KAUNITZ_ALPHAS:
        name = f"kaunitz_{alpha:g}"
        out[name] = (
            kaunitz_moneyline(q, alpha) if market_type == "moneyline" else (kaunitz_lines(q, alpha))
        )
    if market_type in ("spread", "total"):
        out["line_shopping"] = line_shopping(q)
    return out
