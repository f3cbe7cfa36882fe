"""The evaluation's data, and every market priced as the live slate prices it into flat
arrays: pure, no I/O (`dataset` reads the data).

Each market's bet moment (its last pre-tip moment, else its close) and its close moment go
through `pricing.moments.price_moments` with the app's sharp books, one market type at a time
(vectorised), exactly as `markets.slate.score_slate` prices a slate. What the walk-forward
evaluation needs is kept per market (the consensus at both moments, the closing number, the
books quoting) and per side (the best book, its line and price, the consensus EV and its two
standard errors).
"""

from __future__ import annotations

import datetime as dt
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from edgelab.betting.markets.quotes import MarketMoment
from edgelab.betting.pricing import params as P
from edgelab.betting.pricing.consensus import consensus_line, consensus_prob, staleness_weights
from edgelab.betting.pricing.moments import Priced, price_moments

F = NDArray[np.float64]
I64 = NDArray[np.int64]

MARKET_TYPES = ("moneyline", "spread", "total", "prop")


@dataclass
class Games:
    """Every settled game in date order (the rating model walks them all; `dataset` reads no
    other, so `played` is all true there)."""

    id: list[str]
    date: list[dt.date]
    season: NDArray[np.int64]
    home: list[str]
    away: list[str]
    neutral: NDArray[np.bool_]
    home_score: NDArray[np.float64]
    away_score: NDArray[np.float64]

    @property
    def day(self) -> NDArray[np.int64]:
        return np.array([d.toordinal() for d in self.date], dtype=np.int64)

    @property
    def played(self) -> NDArray[np.bool_]:
        return np.isfinite(self.home_score) & np.isfinite(self.away_score)

    def seasons_played(self) -> list[int]:
        return sorted({int(s) for s in self.season[self.played]})


@dataclass
class Markets:
    """One entry per settled-game market: its type, game (index into `Games`), the moment a bet
    is taken at (its last pre-tip moment, else the close) and the close (None if none)."""

    market_id: list[str]
    game: list[int]
    market_type: list[str]
    bet: list[MarketMoment | None]
    close: list[MarketMoment | None]


@dataclass
class EvaluationData:
    games: Games
    markets: Markets
    seasons: list[int]  # the seasons asked for (read whole)


SIDE_NAMES = {
    "moneyline": ("home", "away"),
    "spread": ("home", "away"),
    "total": ("over", "under"),
    "prop": ("over", "under"),
}


@dataclass
class PricedMarkets:
    """Arrays over markets (n,) and over markets x sides (n, 2); NaN where not known."""

    market_id: list[str]
    game: I64
    season: I64
    market_type: NDArray[np.str_]
    pre_tip: NDArray[np.bool_]  # the bet moment is before tip-off (else it is the close)
    books: I64  # books quoting at the bet moment (0: none usable)
    fair: F  # the consensus at the bet moment: P(home) for moneylines, mean of X for lines
    fair_close: F  # the same at the close (the de-vigged close)
    close_line: F  # the closing line of X (median of the closing books'); NaN moneylines
    sigma: F  # the market type's spread of X (points); NaN for moneylines and props
    outcome: F  # X (home margin, total points; the margin for moneylines); NaN props
    has: NDArray[np.bool_]  # (n, 2) a best book exists for the side
    book: NDArray[np.object_]  # (n, 2) its key
    x_line: F  # (n, 2) its line of X
    line: F  # (n, 2) the bettor's own line there (home -4.5; total 221.5); NaN moneylines
    odds: F  # (n, 2) decimal
    p_win: F  # (n, 2) the consensus probability of a win at that line
    ev: F  # (n, 2) EV per unit staked at the consensus
    se_ev: F  # (n, 2) with the floor tau (algorithm B's)
    se_ev_dispersion: F  # (n, 2) the books' disagreement only (algorithm A's)

    def __len__(self) -> int:
        return len(self.market_id)


@dataclass
class QuoteArrays:
    books: list[str]
    x_line: F  # (markets, books); NaN for moneylines
    d_over: F
    d_under: F
    age: F | None = None  # minutes since a fetch last listed the quote (0 where none)


def quote_arrays(moments: Sequence[MarketMoment], market_type: str) -> QuoteArrays:
    """Each moment's usable quotes as arrays: the quotes `pricing.moments` would price (last
    listed no longer than `MAX_QUOTE_AGE_HOURS` before the moment, both prices above 1, books
    the type does not leave out), with their ages as the slate measures them."""
    books = sorted({q.book for m in moments for q in m.quotes})
    col = {b: j for j, b in enumerate(books)}
    shape = (len(moments), len(books))
    x, do, du = np.full(shape, np.nan), np.full(shape, np.nan), np.full(shape, np.nan)
    age = np.zeros(shape)
    max_age = P.MAX_QUOTE_AGE_HOURS * 60.0
    for k, m in enumerate(moments):
        for q in m.quotes:
            minutes = max((m.at - q.seen).total_seconds(), 0.0) / 60.0
            if minutes > max_age or min(q.d_over, q.d_under) <= 1.0:
                continue
            if P.book_weight(q.book, market_type, frozenset()) <= 0:
                continue
            if market_type != "moneyline" and q.x_line is None:
                continue
            j = col[q.book]
            x[k, j] = np.nan if q.x_line is None else q.x_line
            do[k, j], du[k, j] = q.d_over, q.d_under
            age[k, j] = minutes
    return QuoteArrays(books, x, do, du, age)


def consensus_of(q: QuoteArrays, market_type: str, sharp: frozenset[str]) -> F:
    """The consensus of each moment (`Priced.fair` of `price_moments`, the same weights and
    parameters), vectorised and without the per-side detail: for the many closing moments,
    which only their fair price is needed of. Not for props (their sigma is per line)."""
    tp = P.TYPE_PARAMS[market_type]
    sigma = math.nan if tp.sigma is None else tp.sigma
    book_weight = np.array([P.book_weight(b, market_type, sharp) for b in q.books], dtype=float)
    age = np.zeros(q.x_line.shape) if q.age is None else q.age
    weight = staleness_weights(book_weight, age, P.STALENESS_HALF_LIFE_MINUTES)
    mask = np.array([b in sharp for b in q.books], dtype=bool) if tp.gamma is not None else None
    if not q.x_line.size:
        return np.full(q.x_line.shape[0], np.nan)
    if market_type == "moneyline":
        agg = consensus_prob(
            q.d_over, q.d_under, weight, P.DEVIG, tp.space, tp.how, tp.tau, mask, tp.gamma
        )
    else:
        agg, _ = consensus_line(
            q.x_line,
            q.d_over,
            q.d_under,
            sigma,
            weight,
            P.DEVIG,
            tp.how,
            tp.tau,
            True,
            tp.no_zero,
            0,
            mask,
            tp.gamma,
        )
    return np.asarray(agg.value, dtype=np.float64)


def price_markets(data: EvaluationData, sharp: frozenset[str]) -> PricedMarkets:
    mk, games = data.markets, data.games
    n = len(mk.market_id)
    margin = games.home_score - games.away_score
    total = games.home_score + games.away_score
    game = np.array(mk.game, dtype=np.int64)
    mtype = np.array(mk.market_type, dtype="<U9")
    pm = PricedMarkets(
        market_id=list(mk.market_id),
        game=game,
        season=games.season[game] if n else np.zeros(0, np.int64),
        market_type=mtype,
        pre_tip=np.array([b is not None and b.kind == "pre" for b in mk.bet], dtype=bool),
        books=np.zeros(n, np.int64),
        fair=np.full(n, np.nan),
        fair_close=np.full(n, np.nan),
        close_line=np.full(n, np.nan),
        sigma=np.array([P.TYPE_PARAMS[t].sigma or math.nan for t in mk.market_type], float),
        outcome=np.where(mtype == "total", total[game], margin[game]) if n else np.zeros(0),
        has=np.zeros((n, 2), bool),
        book=np.full((n, 2), "", dtype=object),
        x_line=np.full((n, 2), np.nan),
        line=np.full((n, 2), np.nan),
        odds=np.full((n, 2), np.nan),
        p_win=np.full((n, 2), np.nan),
        ev=np.full((n, 2), np.nan),
        se_ev=np.full((n, 2), np.nan),
        se_ev_dispersion=np.full((n, 2), np.nan),
    )
    pm.outcome[mtype == "prop"] = np.nan
    for t in MARKET_TYPES:
        idx = np.flatnonzero(mtype == t)
        closing = np.array([k for k in idx if mk.close[k] is not None], dtype=np.int64)
        if t != "prop" and closing.size:
            q = quote_arrays([mk.close[k] for k in closing], t)  # type: ignore[misc]
            pm.fair_close[closing] = consensus_of(q, t, sharp)
            if t != "moneyline":
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)  # a close of no usable quote
                    pm.close_line[closing] = np.nanmedian(q.x_line, axis=1)
            only_close = closing[~pm.pre_tip[closing]]
            pm.fair[only_close] = pm.fair_close[only_close]
            pm.books[only_close] = np.sum(~np.isnan(q.d_over), axis=1)[~pm.pre_tip[closing]]
        pre = idx[pm.pre_tip[idx]]
        priced = price_moments([mk.bet[k].to_moment() for k in pre], sharp)  # type: ignore[union-attr]
        for k, p in zip(pre, priced, strict=True):
            if p is not None:
                _fill(pm, int(k), p, mk.bet[k])
    return pm


def _fill(pm: PricedMarkets, k: int, p: Priced, moment: MarketMoment | None) -> None:
    assert moment is not None
    pm.books[k] = p.books
    pm.fair[k] = p.fair
    for s, sp in enumerate(p.sides):
        if sp is None:
            continue
        pm.has[k, s] = True
        pm.book[k, s] = sp.book
        x = moment.quotes[sp.quote].x_line
        pm.x_line[k, s] = math.nan if x is None else x
        pm.line[k, s] = math.nan if sp.line is None else sp.line
        pm.odds[k, s] = sp.odds
        pm.p_win[k, s] = sp.p_win
        pm.ev[k, s] = sp.ev
        pm.se_ev[k, s] = sp.se_ev
        pm.se_ev_dispersion[k, s] = sp.se_ev_dispersion


def books_quoting(
    pm: PricedMarkets, evaluated: NDArray[np.bool_], seasons: list[int]
) -> list[dict[str, Any]]:
    """Per season and market type: markets, those quoted before tip-off, books quoting."""
    out = []
    for season in seasons:
        for mtype in ("moneyline", "spread", "total", "prop"):
            at = evaluated & (pm.season == season) & (pm.market_type == mtype)
            if not at.any():
                continue
            pre = at & pm.pre_tip & (pm.books > 0)
            out.append(
                {
                    "season": season,
                    "market_type": mtype,
                    "markets": int(at.sum()),
                    "pre_tip": int(pre.sum()),
                    "books_median": float(np.median(pm.books[at])),
                    "books_max": int(pm.books[at].max()),
                }
            )
    return out
