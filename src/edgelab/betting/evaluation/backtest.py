"""Walk-forward of the rating model at one price per market: what the model update calibrates
on and the trends read (their loader), no longer the evaluation of the value model.

The value model is evaluated by `walkforward` (the books' consensus, the best price across
books, the flagged bets against the close). This module keeps the rating model's own
walk-forward, which `model.recalibration` fits its calibration map on, and the one-price-per-
market loader `trends` computes from.

Walk-forward, no look-ahead. For each season S (by ending year, as in the data):

1. the rating model's hyper-parameters are fitted (`ratings.fit_model`) on every game before
   S's first game, and the model's reliability per market type (`forecast.reliability_by_type`)
   on those games' closing lines;
2. within S the team ratings move game by game (`ratings.rating_pass`): every game is predicted
   before any result of its date is used. The hyper-parameters and reliabilities stay as fitted
   at the season's start;
3. every two-way market of S is scored at the opening line where the data has one and at the
   closing line, with the legacy single-price `scoring.score_outcomes`, and settled against the
   final score (pushes left out, see `forecast.settle_first_side`).

The first season in the data has nothing before it to fit on and is not evaluated. Each side's
closing-line value is the bet tracker's, `settlement.closing_line_value`. The data is loaded
from the database into NumPy arrays once; one price per game, market type and kind
(open/close): the bookmaker with both sides, first by name; the earliest opening and the latest
closing capture. This module is over 400 lines because loader and engine share the arrays'
layout; the value model's evaluation lives in the smaller modules beside it.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from edgelab.betting.bets import settlement
from edgelab.betting.evaluation import metrics as evaluation
from edgelab.betting.evaluation.jobs import DataFingerprint as DataFingerprint
from edgelab.betting.markets import forecast, ratings
from edgelab.betting.markets.devig import METHODS, devig
from edgelab.betting.markets.scoring import TYPE_WEIGHTS, score_outcomes
from edgelab.betting.odds.models import Game, Market, OddsSnapshot, Outcome

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
MODEL_VERSION = "elo1-walkforward-2"  # change when the engine's maths changes (cache key)
KINDS = ("open", "close")
Progress = Callable[[int, int, int], None]  # (season, seasons done, seasons in all)


@dataclass
class BacktestData:
    """Games in date order and one two-way market per game, type and kind, as arrays."""

    game_id: NDArray[np.str_]
    day: IntArray  # date ordinal
    season: IntArray
    home: list[str]
    away: list[str]
    neutral: NDArray[np.bool_]
    home_score: FloatArray  # NaN = not played
    away_score: FloatArray
    market_game: IntArray  # index into the games
    market_type: NDArray[np.str_]
    market_kind: NDArray[np.str_]  # open | close
    line: FloatArray  # the first side's line (home handicap, total points); NaN for moneylines
    odds: FloatArray  # (n, 2): first side (home / over), second side; decimal
    fingerprint: str = ""

    @property
    def seasons(self) -> list[int]:
        return sorted({int(s) for s in self.season})

    def evaluable_seasons(self) -> list[int]:
        """Seasons after the first with at least one result."""
        played = np.isfinite(self.home_score) & np.isfinite(self.away_score)
        with_results = {int(s) for s in self.season[played]}
        return [s for s in self.seasons[1:] if s in with_results]


@dataclass
class SeasonFit:
    season: int
    history_games: int
    params: dict[str, float]
    reliability: dict[str, float]


@dataclass
class BacktestResult:
    """One row per scored two-way market (game, type, kind) of the evaluated seasons.

    First-side probabilities and outcomes (home for moneylines and spreads, over for totals);
    the second side's are one minus them. Value scores are per side, (n, 2).
    """

    seasons: list[int]
    devig_method: str
    methods: tuple[str, ...]
    game: IntArray
    season: IntArray
    market_type: NDArray[np.str_]
    kind: NDArray[np.str_]
    line: FloatArray
    odds: FloatArray  # (n, 2)
    outcome: FloatArray  # first side won 1, lost 0, NaN push / not played
    p_true: FloatArray
    p_shrunk: FloatArray  # algorithm B's probability (p_true shrunk toward the market)
    p_market: FloatArray  # (n, len(methods)) de-vigged, first side
    clv: FloatArray  # (n, 2) each side's closing-line value (settlement's); NaN: no close
    entry: NDArray[np.bool_]  # the price a bet on this market is taken at (open, else close)
    score_a: FloatArray  # (n, 2)
    score_b: FloatArray  # (n, 2)
    fits: list[SeasonFit] = field(default_factory=list)
    fingerprint: str = ""
    model_version: str = MODEL_VERSION
    seconds: float = 0.0

    @property
    def method_index(self) -> int:
        return self.methods.index(self.devig_method)


# ---- loading ---------------------------------------------------------------------------------


async def data_fingerprint(session: AsyncSession) -> DataFingerprint:
    """Counts, maxima and sums of games and open/close snapshots: any import that adds or
    changes a result or a price changes the digest (a few aggregate queries)."""
    g = (
        await session.execute(
            select(
                func.count(),
                func.max(Game.updated_at),
                func.sum(Game.home_score),
                func.sum(Game.away_score),
                func.max(Game.game_date),
            )
        )
    ).one()
    s = (
        await session.execute(
            select(
                func.count(),
                func.max(OddsSnapshot.id),
                func.sum(OddsSnapshot.odds_decimal),
                func.sum(OddsSnapshot.line),
            ).where(OddsSnapshot.kind.in_(KINDS))
        )
    ).one()
    per_season = (
        await session.execute(
            select(Game.season, func.count(Game.home_score))
            .group_by(Game.season)
            .order_by(Game.season)
        )
    ).all()
    seasons = tuple(int(season) for i, (season, played) in enumerate(per_season) if i and played)
    raw = repr((tuple(g), tuple(s), tuple(tuple(r) for r in per_season)))
    return DataFingerprint(hashlib.sha1(raw.encode()).hexdigest()[:16], seasons)


async def load_backtest_data(session: AsyncSession) -> BacktestData:
    games = (
        await session.execute(
            select(
                Game.id,
                Game.game_date,
                Game.season,
                Game.home_team,
                Game.away_team,
                Game.neutral_site,
                Game.home_score,
                Game.away_score,
            ).order_by(Game.game_date, Game.id)
        )
    ).all()
    index = {row[0]: i for i, row in enumerate(games)}
    snaps = await session.execute(
        select(
            Market.game_id,
            Market.market_type,
            Outcome.side,
            OddsSnapshot.kind,
            OddsSnapshot.bookmaker,
            OddsSnapshot.captured_at,
            OddsSnapshot.odds_decimal,
            OddsSnapshot.line,
        )
        .join(Outcome, Outcome.id == OddsSnapshot.outcome_id)
        .join(Market, Market.id == Outcome.market_id)
        .where(OddsSnapshot.kind.in_(KINDS), Market.market_type.in_(forecast.MARKET_TYPES))
    )
    # (game, type, kind) -> bookmaker -> side -> (captured_at, odds, line)
    book: dict[tuple[str, str, str], dict[str, dict[str, tuple[Any, float, float | None]]]] = {}
    for gid, mtype, side, kind, bk, at, odds, line in snaps:
        sides = book.setdefault((gid, mtype, kind), {}).setdefault(bk, {})
        cur = sides.get(side)
        later = cur is not None and (at < cur[0] if kind == "open" else at > cur[0])
        if cur is None or later:
            sides[side] = (at, odds, line)
    m_game: list[int] = []
    m_type: list[str] = []
    m_kind: list[str] = []
    m_line: list[float] = []
    m_odds: list[tuple[float, float]] = []
    for (gid, mtype, kind), books in book.items():
        first = forecast.FIRST_SIDE[mtype]
        for bk in sorted(books):
            sides = books[bk]
            other = [s for s in sides if s != first]
            if first not in sides or len(other) != 1 or gid not in index:
                continue
            _at, odds1, line1 = sides[first]
            odds2 = sides[other[0]][1]
            if not (odds1 > 1.0 and odds2 > 1.0):
                continue
            m_game.append(index[gid])
            m_type.append(mtype)
            m_kind.append(kind)
            m_line.append(np.nan if line1 is None or mtype == "moneyline" else float(line1))
            m_odds.append((float(odds1), float(odds2)))
            break
    order = np.lexsort((np.array(m_kind), np.array(m_type), np.array(m_game, dtype=np.int64)))
    return BacktestData(
        game_id=np.array([r[0] for r in games], dtype=str),
        day=np.array([r[1].toordinal() for r in games], dtype=np.int64),
        season=np.array([r[2] for r in games], dtype=np.int64),
        home=[r[3] for r in games],
        away=[r[4] for r in games],
        neutral=np.array([bool(r[5]) for r in games], dtype=bool),
        home_score=np.array([np.nan if r[6] is None else r[6] for r in games], dtype=np.float64),
        away_score=np.array([np.nan if r[7] is None else r[7] for r in games], dtype=np.float64),
        market_game=np.array(m_game, dtype=np.int64)[order],
        market_type=np.array(m_type, dtype="<U9")[order],
        market_kind=np.array(m_kind, dtype="<U5")[order],
        line=np.array(m_line, dtype=np.float64)[order],
        odds=np.array(m_odds, dtype=np.float64).reshape(-1, 2)[order],
    )


# ---- the engine ------------------------------------------------------------------------------


def _game_rows(data: BacktestData) -> list[ratings.GameRow]:
    return [
        ratings.GameRow(
            day=int(data.day[i]),
            season=int(data.season[i]),
            home=data.home[i],
            away=data.away[i],
            neutral=bool(data.neutral[i]),
            home_score=None if np.isnan(data.home_score[i]) else int(data.home_score[i]),
            away_score=None if np.isnan(data.away_score[i]) else int(data.away_score[i]),
        )
        for i in range(len(data.day))
    ]


def _partners(data: BacktestData) -> tuple[IntArray, NDArray[np.bool_]]:
    """For each market: the index of its closing partner (same game and type; -1 if none) and
    whether the price a bet is taken at is this one (open, or close when there is no open)."""
    triples = zip(data.market_game, data.market_type, data.market_kind, strict=True)
    key = {(int(g), str(t), str(k)): i for i, (g, t, k) in enumerate(triples)}
    close = np.full(len(key), -1, dtype=np.int64)
    entry = np.zeros(len(key), dtype=bool)
    for (g, t, k), i in key.items():
        close[i] = key.get((g, t, "close"), -1)
        entry[i] = k == "open" or (g, t, "open") not in key
    return close, entry


def run_backtest(
    data: BacktestData,
    *,
    devig_method: str = "multiplicative",
    seasons: Sequence[int] | None = None,
    progress: Progress | None = None,
) -> BacktestResult:
    """The walk-forward backtest (module docstring) of `seasons` (default: every evaluable)."""
    if devig_method not in METHODS:
        raise ValueError(f"unknown de-vig method {devig_method!r}")
    started = time.perf_counter()
    available = data.evaluable_seasons()
    wanted = sorted(set(seasons)) if seasons is not None else available
    unknown = [s for s in wanted if s not in available]
    if unknown:
        raise LookupError(
            f"season(s) {', '.join(map(str, unknown))} cannot be evaluated: the data has "
            f"{', '.join(map(str, available)) or 'none'} (the first season only trains)"
        )
    rows = _game_rows(data)
    first_season = data.seasons[0] if data.seasons else 0
    close_of, entry_all = _partners(data)
    m_season = data.season[data.market_game]
    m_close = data.market_kind == "close"
    chosen = METHODS.index(devig_method)
    parts: list[dict[str, Any]] = []
    fits: list[SeasonFit] = []
    for done, season in enumerate(wanted):
        in_season = data.season == season
        first_day = int(data.day[in_season].min())
        last_day = int(data.day[in_season].max())
        n_hist = int(np.searchsorted(data.day, first_day, side="left"))
        n_upto = int(np.searchsorted(data.day, last_day, side="right"))
        fit = ratings.fit_model(rows[:n_hist])
        params = fit.params
        res = ratings.rating_pass(rows[:n_upto], params)

        # reliability on the closing lines of the history (first season = burn-in), as a slate
        hist = m_close & (data.market_game < n_hist) & (m_season > first_season)
        reliability = _reliability(data, hist, res, params, devig_method)

        sel = np.flatnonzero(m_season == season)
        g = data.market_game[sel]
        mtype = data.market_type[sel]
        line = data.line[sel]
        odds = data.odds[sel]
        p_true = forecast.p_first_side(mtype, line, res.mu_margin[g], res.mu_total[g], params)
        outcome = forecast.settle_first_side(mtype, line, data.home_score[g], data.away_score[g])
        p_market = np.column_stack([devig(odds, m).probabilities[:, 0] for m in METHODS])
        margin = (1.0 / odds).sum(axis=1) - 1.0
        spread = p_market.max(axis=1) - p_market.min(axis=1)
        p_mkt = p_market[:, chosen]
        min_games = np.minimum(res.games_home[g], res.games_away[g]).astype(np.float64)
        weight = np.array([TYPE_WEIGHTS[t] for t in mtype], dtype=np.float64)
        rel = np.array([reliability[t] for t in mtype], dtype=np.float64)
        two = np.column_stack
        scores = score_outcomes(
            odds=odds.ravel(),
            p_true=two((p_true, 1.0 - p_true)).ravel(),
            p_market=two((p_mkt, 1.0 - p_mkt)).ravel(),
            overround=np.repeat(margin, 2),
            method_spread=np.repeat(spread, 2),
            type_weight=np.repeat(weight, 2),
            min_games=np.repeat(min_games, 2),
            reliability=np.repeat(rel, 2),
        )

        # each side's closing-line value, as the bet tracker defines it
        # (`settlement.closing_line_value`): the fair closing probability of the side at the
        # line taken minus 1/odds taken; NaN when the market has no closing price
        partner = close_of[sel]
        is_open = data.market_kind[sel] == "open"
        p_close = np.where(is_open, np.nan, p_mkt)  # at the close: its own de-vigged price
        at = np.flatnonzero(is_open & (partner >= 0))
        if at.size:
            c = partner[at]
            p_close_now = devig(data.odds[c], devig_method).probabilities[:, 0]
            p_close[at] = evaluation.closing_probability_at_line(
                mtype[at], p_close_now, data.line[c], line[at], params.sd_margin, params.sd_total
            )
        clv = np.full((sel.size, 2), np.nan)
        has = np.flatnonzero(np.isfinite(p_close))
        clv[has, 0] = settlement.closing_line_value(odds[has, 0], p_close[has])
        clv[has, 1] = settlement.closing_line_value(odds[has, 1], 1.0 - p_close[has])

        parts.append(
            {
                "game": g,
                "season": np.full(sel.size, season, dtype=np.int64),
                "market_type": mtype,
                "kind": data.market_kind[sel],
                "line": line,
                "odds": odds,
                "outcome": outcome,
                "p_true": p_true,
                "p_shrunk": scores.b_p_shrunk[0::2],
                "p_market": p_market,
                "clv": clv,
                "entry": entry_all[sel],
                "score_a": scores.a_value_score.reshape(-1, 2),
                "score_b": scores.b_value_score.reshape(-1, 2),
            }
        )
        fits.append(SeasonFit(season, n_hist, params.to_dict(), reliability))
        if progress is not None:
            progress(season, done + 1, len(wanted))

    def cat(name: str, shape: tuple[int, ...] = (0,), dtype: Any = np.float64) -> Any:
        if not parts:
            return np.zeros(shape, dtype=dtype)
        return np.concatenate([p[name] for p in parts])

    return BacktestResult(
        seasons=list(wanted),
        devig_method=devig_method,
        methods=METHODS,
        game=cat("game", dtype=np.int64),
        season=cat("season", dtype=np.int64),
        market_type=cat("market_type", dtype="<U9"),
        kind=cat("kind", dtype="<U5"),
        line=cat("line"),
        odds=cat("odds", (0, 2)),
        outcome=cat("outcome"),
        p_true=cat("p_true"),
        p_shrunk=cat("p_shrunk"),
        p_market=cat("p_market", (0, len(METHODS))),
        clv=cat("clv", (0, 2)),
        entry=cat("entry", dtype=bool),
        score_a=cat("score_a", (0, 2)),
        score_b=cat("score_b", (0, 2)),
        fits=fits,
        fingerprint=data.fingerprint,
        seconds=time.perf_counter() - started,
    )


def _reliability(
    data: BacktestData,
    mask: NDArray[np.bool_],
    res: ratings.PassResult,
    params: ratings.RatingParams,
    method: str,
) -> dict[str, float]:
    at = np.flatnonzero(mask)
    g = data.market_game[at]
    mtype, line = data.market_type[at], data.line[at]
    p_model = forecast.p_first_side(mtype, line, res.mu_margin[g], res.mu_total[g], params)
    y = forecast.settle_first_side(mtype, line, data.home_score[g], data.away_score[g])
    return forecast.reliability_by_type(mtype, p_model, data.odds[at], y, method)
