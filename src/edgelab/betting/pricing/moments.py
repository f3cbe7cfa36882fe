"""Pricing moments: every book's latest two-way quote of a market at one time, turned into the
fair price (the consensus), the best price and line per side, its expected value and the two
Value Scores. Pure (no I/O); vectorised over all the moments of one market type at once.

Sides: side 0 is "over" in the line model (home for spreads and moneylines, over for totals and
props), side 1 "under" (away, under). A spread quote's X line is minus the home handicap (home
-4.5 -> 4.5), so the bettor's own line is `-line` for home and `line` for away.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from edgelab.betting.pricing import params as P
from edgelab.betting.pricing.consensus import F, devig_two_way, staleness_weights
from edgelab.betting.pricing.lines import line_density, line_probs
from edgelab.betting.pricing.value import Scored, score_line_markets, score_prob_markets

CONFIDENCE_SCALE = 0.10  # probability units: a fair price this uncertain has confidence 1/e


@dataclass(frozen=True)
class Quote:
    book: str
    x_line: float | None  # the line of X (see the module docstring); None for line-free
    d_over: float  # decimal price of side 0
    d_under: float  # decimal price of side 1
    age_minutes: float  # how old the quote is at the moment it is scored


@dataclass(frozen=True)
class Moment:
    market_type: str
    quotes: tuple[Quote, ...]


@dataclass(frozen=True)
class SidePrice:
    """One side's value at one moment."""

    book: str  # the best book for this side
    quote: int  # index of that book's quote in the moment
    line: float | None  # the bettor's own line at that book (home -4.5, total 221.5; None)
    odds: float  # decimal
    p_win: float  # fair probability of a win at that line (consensus, no model)
    p_push: float
    p_book: float  # that book's own de-vigged probability of the side (win | no push)
    ev: float  # expected value per unit staked at the fair price
    se_ev: float  # with the floor tau (algorithm B's treatment)
    se_ev_dispersion: float  # the books' disagreement only (algorithm A's)
    se_p: float  # the fair probability's standard error at that line (floor included)
    se_p_dispersion: float
    score_a: float
    score_b: float
    overround: float  # that book's margin on the market (booksum - 1)


@dataclass(frozen=True)
class Priced:
    fair: float  # consensus mean of X (points) or P(side 0)
    fair_se: float
    books: int  # books quoting
    books_effective: float
    dispersion: float  # weighted sd of the books' opinions (points or probability)
    sides: tuple[SidePrice | None, SidePrice | None]
    used_books: tuple[str, ...] = ()  # the books in the consensus (fresh, weighted, quoted)


def _sigma(market_type: str, lines: F) -> F:
    tp = P.TYPE_PARAMS[market_type]
    if tp.sigma is not None:
        return np.full((lines.shape[0], 1), tp.sigma)
    typical = np.nanmedian(np.where(np.isnan(lines), np.nan, np.abs(lines)), axis=1)
    return np.array([[P.prop_sigma(0.0 if math.isnan(v) else v)] for v in typical])


def price_moments(
    moments: list[Moment], sharp: frozenset[str], devig: str = P.DEVIG
) -> list[Priced | None]:
    """Price every moment (all of one market type); None where no book has a usable quote.
    `devig`: the per-book de-vig method (the fitted default; others for comparison)."""
    if not moments:
        return []
    mtype = moments[0].market_type
    if any(m.market_type != mtype for m in moments):
        raise ValueError("price_moments takes moments of one market type")
    tp = P.TYPE_PARAMS[mtype]
    books = sorted({q.book for m in moments for q in m.quotes})
    col = {b: j for j, b in enumerate(books)}
    shape = (len(moments), len(books))
    line, d_o, d_u = np.full(shape, np.nan), np.full(shape, np.nan), np.full(shape, np.nan)
    age = np.zeros(shape)
    where = np.full(shape, -1, dtype=np.int64)  # quote index of each cell
    for k, m in enumerate(moments):
        for i, q in enumerate(m.quotes):
            if q.age_minutes > P.MAX_QUOTE_AGE_HOURS * 60 or min(q.d_over, q.d_under) <= 1.0:
                continue
            j = col[q.book]
            line[k, j] = np.nan if q.x_line is None else q.x_line
            d_o[k, j], d_u[k, j], where[k, j] = q.d_over, q.d_under, i
            age[k, j] = q.age_minutes
    book_weight = np.array([P.book_weight(b, mtype, sharp) for b in books])
    usable = book_weight > 0
    # an older quote counts for less: half as much for every STALENESS_HALF_LIFE_MINUTES since
    # a fetch last listed it (a price still listed is not old, however old its last_update)
    weight = staleness_weights(book_weight, age, P.STALENESS_HALF_LIFE_MINUTES)
    d_o[:, ~usable] = np.nan
    d_u[:, ~usable] = np.nan
    sharp_mask = np.array([b in sharp for b in books]) if tp.gamma is not None else None
    line_market = mtype != "moneyline"
    if line_market:
        line[:, ~usable] = np.nan
        line[np.isnan(d_o)] = np.nan
        d_o[np.isnan(line)] = np.nan
        d_u[np.isnan(line)] = np.nan
        sigma = _sigma(mtype, line)
        # props: the floor scales with the stat's spread (tau / sigma is 0.15 for spreads and
        # for totals alike); the other line markets have one fitted tau in points
        tau: float | F = tp.tau * sigma[:, 0] if mtype == "prop" else tp.tau
        scored = score_line_markets(
            line, d_o, d_u, weight, sigma, tau, devig, tp.how, True, tp.no_zero,
            sharp=sharp_mask, gamma=tp.gamma,
        )  # fmt: skip
    else:
        sigma = np.full((shape[0], 1), np.nan)
        scored = score_prob_markets(
            d_o, d_u, weight, tp.tau, devig, tp.space, how=tp.how, sharp=sharp_mask,
            gamma=tp.gamma,
        )  # fmt: skip
    return [
        _priced(k, scored, books, where, line, d_o, d_u, sigma[k, 0], mtype, tp.no_zero)
        for k in range(shape[0])
    ]


def _priced(
    k: int,
    s: Scored,
    books: list[str],
    where: np.ndarray,
    line: F,
    d_o: F,
    d_u: F,
    sigma: float,
    mtype: str,
    no_zero: bool,
) -> Priced | None:
    if not s.n_books[k] or math.isnan(s.fair[k]):
        return None
    line_market = mtype != "moneyline"
    n_eff = max(float(s.n_eff[k]), 1.0)
    sides: list[SidePrice | None] = []
    for side in (0, 1):
        j = int(s.book[k, side])
        if j < 0 or math.isnan(s.ev[k, side]):
            sides.append(None)
            continue
        do, du = float(d_o[k, j]), float(d_u[k, j])
        odds = do if side == 0 else du
        p_own = float(devig_two_way(do, du, P.DEVIG))
        p_book = p_own if side == 0 else 1.0 - p_own
        if line_market:
            x = float(line[k, j])
            p_over, p_push, p_under = (
                float(v) for v in line_probs(x, s.fair[k], sigma, True, no_zero)
            )
            p_win, p_push_ = (p_over, p_push) if side == 0 else (p_under, p_push)
            dens = float(line_density(x, s.fair[k], sigma))
            se_p, se_p_d = dens * s.fair_se[k], dens * s.dispersion[k] / math.sqrt(n_eff)
            own_line: float | None = -x if mtype == "spread" and side == 0 else x
        else:
            p_win = float(s.fair[k]) if side == 0 else 1.0 - float(s.fair[k])
            p_push_, se_p = 0.0, float(s.fair_se[k])
            se_p_d, own_line = float(s.dispersion[k]) / math.sqrt(n_eff), None
        sides.append(
            SidePrice(
                book=books[j],
                quote=int(where[k, j]),
                line=own_line,
                odds=odds,
                p_win=p_win,
                p_push=p_push_,
                p_book=p_book,
                ev=float(s.ev[k, side]),
                se_ev=float(s.se_ev[k, side]),
                se_ev_dispersion=float(s.se_ev_disp[k, side]),
                se_p=float(se_p),
                se_p_dispersion=float(se_p_d),
                score_a=float(s.score_a[k, side]),
                score_b=float(s.score_b[k, side]),
                overround=1.0 / do + 1.0 / du - 1.0,
            )
        )
    return Priced(
        fair=float(s.fair[k]),
        fair_se=float(s.fair_se[k]),
        books=int(s.n_books[k]),
        books_effective=n_eff,
        dispersion=float(s.dispersion[k]),
        sides=(sides[0], sides[1]),
        used_books=tuple(books[j] for j in np.flatnonzero(~np.isnan(d_o[k]))),
    )


def confidence(se_p: float) -> float:
    """0-1: how sure the fair probability is, exp(-se_p / 0.10) (se_p in probability units)."""
    return math.exp(-max(se_p, 0.0) / CONFIDENCE_SCALE)


def market_quality(books_effective: float, age_minutes: float) -> float:
    """0-1: how much of a market stands behind the price: min(1, effective books / 5), halved
    for every hour the best quote is old."""
    quality: float = min(1.0, books_effective / 5.0) * 0.5 ** (max(age_minutes, 0.0) / 60.0)
    return quality
