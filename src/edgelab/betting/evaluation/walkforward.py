"""The walk-forward evaluation of the value model, season by season: pure, no I/O.

For each season S asked for, nothing fitted on S's results is used for S:

* the fair price is the consensus of the books (`engine.price_markets`, parameters fixed in
  `pricing.params`: fitted on the shipped 2021-22 odds, so 2021-22 is in-sample for them, every
  later season out of sample);
* p_true blends that consensus with the rating model by the weight the model earned before S
  (`pricing.blend.earned_weight` over the multi-book games of seasons before S, as the slate
  does); the rating model is fitted on the games before S's first day and rates S game by game,
  each game predicted before any result of its day (`markets.ratings`), and only where a weight
  could be earned at all (enough multi-book history), since it changes nothing otherwise;
* every market is taken at its last pre-tip moment, only the better side per market by the
  rule's own measure, at the best book's price and line; a rule flags it when that measure
  reaches its threshold, the EV at p_true and at the consensus are both positive and at least
  `MIN_BOOKS_TO_FLAG` books quote (so a season with one book flags nothing).

Forecasts are first-side probabilities (home for moneylines; P(home covers) or P(over) at the
closing line, pushes left out, for spreads and totals) of p_true, of the consensus at the
bet moment and of the close. Bets are settled and compared with the close by `settle`, and the
baselines (`baselines`) are taken on the same moments.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from edgelab.betting.evaluation import baselines, settle
from edgelab.betting.evaluation.engine import (
    I64,
    EvaluationData,
    F,
    Games,
    PricedMarkets,
    books_quoting,
    price_markets,
    quote_arrays,
)
from edgelab.betting.markets import ratings
from edgelab.betting.pricing import blend as B
from edgelab.betting.pricing import params as P
from edgelab.betting.pricing.lines import line_probs
from edgelab.betting.pricing.value import score_a, score_b

BLEND_KIND = {"moneyline": "probability", "spread": "mean", "total": "mean"}
FORECAST_TYPES = ("moneyline", "spread", "total")
Progress = Callable[[str], None]


@dataclass(frozen=True)
class Rule:
    name: str
    score: str  # "a", "b", "ev" (EV at p_true, per unit), or "default" (`DEFAULT_RULES`)
    threshold: float


RULES = (
    Rule("a>=50", "a", 50.0),
    Rule("a>=70", "a", 70.0),
    Rule("b>=50", "b", 50.0),
    Rule("b>=70", "b", 70.0),
    Rule("ev>=1%", "ev", 0.01),
    Rule("ev>=2%", "ev", 0.02),
    Rule("ev>=3%", "ev", 0.03),
    Rule("default", "default", 0.0),
)
LISTED_RULES = ("a>=50", "a>=70", "b>=50", "b>=70", "default")  # a flagged bet's `flagged_by`
BASELINES = ("kaunitz_0", "kaunitz_0.02", "kaunitz_0.05", "line_shopping")


@dataclass
class Forecasts:
    """One row per settled moneyline, spread and total market of the evaluated seasons."""

    season: I64
    game: I64  # index into `Games` (the bootstrap resamples games)
    market_type: NDArray[np.str_]
    y: F  # the first side won 1, lost 0; NaN a push or no closing line to score at
    p_true: F
    consensus: F
    close: F


@dataclass
class BetTable:
    """Candidate bets (both sides of every market a rule could flag) and baseline bets; each
    rule and baseline is a mask over the rows."""

    market: I64
    side: I64
    x_line: F
    odds: F
    book: list[str]
    ev: F  # at p_true (NaN for baseline rows)
    p_win: F  # p_true of a win at the line taken
    score_a: F
    score_b: F
    won: F  # 1, 0, NaN (push or no result)
    settled: NDArray[np.bool_]  # has a result (pushes included)
    profit: F
    clv: F  # points incl. price (spreads, totals) or probability (moneylines); NaN no close
    clv_points: F  # points excl. price (spreads, totals)
    clv_probability: F  # points of probability, every type but props (`settle`)
    masks: dict[str, NDArray[np.bool_]] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.market.size)


@dataclass
class Evaluation:
    seasons: list[int]
    markets: PricedMarkets
    games: Games
    forecasts: Forecasts
    bets: BetTable
    blend: list[dict[str, Any]]
    books: list[dict[str, Any]]
    seconds: float = 0.0


class _Ratings:
    """The rating model as each season sees it, fitted on demand and kept."""

    def __init__(self, games: Games) -> None:
        self.games = games
        self.day = games.day
        self.rows = [
            ratings.GameRow(
                day=int(self.day[i]),
                season=int(games.season[i]),
                home=games.home[i],
                away=games.away[i],
                neutral=bool(games.neutral[i]),
                home_score=None if np.isnan(games.home_score[i]) else int(games.home_score[i]),
                away_score=None if np.isnan(games.away_score[i]) else int(games.away_score[i]),
            )
            for i in range(len(games.id))
        ]
        self._fits: dict[int, tuple[F, F, F]] = {}

    def before(self, season: int) -> tuple[F, F, F]:
        """(P(home wins), expected margin, expected total) of every game up to S's end (NaN
        after), from a model fitted on the games before S's first day."""
        if season not in self._fits:
            days = self.day[self.games.season == season]
            n_hist = int(np.searchsorted(self.day, days.min(), side="left"))
            n_upto = int(np.searchsorted(self.day, days.max(), side="right"))
            fit = ratings.fit_model(self.rows[:n_hist])
            res = ratings.rating_pass(self.rows[:n_upto], fit.params)
            pad = np.full(len(self.rows), np.nan)
            margin, total = pad.copy(), pad.copy()
            margin[:n_upto], total[:n_upto] = res.mu_margin, res.mu_total
            p_home = pad.copy()
            p_home[:n_upto] = ratings.p_home_win(res.mu_margin, fit.params.sd_margin)
            self._fits[season] = (p_home, margin, total)
        return self._fits[season]


def _p_over(x_line: F, mu: F, sigma: F, no_zero: bool) -> F:
    """P(X > line | no push)."""
    over, _push, under = line_probs(x_line, mu, sigma, True, no_zero)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.asarray(over / (over + under))


def _blend_season(
    pm: PricedMarkets, rating: _Ratings, season: int, center: F, p_win: F, ev: F
) -> list[dict[str, Any]]:
    """Earn each type's weight for `season` and apply it to the season's markets in place."""
    out = []
    for mtype, kind in BLEND_KIND.items():
        of_type = pm.market_type == mtype
        past = of_type & (pm.season < season) & pm.pre_tip & np.isfinite(pm.fair)
        past &= np.isfinite(pm.outcome)
        past &= pm.books >= P.MIN_BOOKS_TO_FLAG
        idx = np.flatnonzero(past)
        model = np.full(idx.size, np.nan)
        if idx.size >= B.MIN_GAMES:
            p_home, margin, total = rating.before(season)
            model = (p_home if mtype == "moneyline" else margin if mtype == "spread" else total)[
                pm.game[idx]
            ]
        y = pm.outcome[idx]
        if mtype == "moneyline":
            y = np.where(y > 0, 1.0, 0.0)
        history = B.History(pm.season[idx], pm.fair[idx], model, y)
        earned = B.earned_weight(kind, history, season)
        out.append(
            {
                "season": season,
                "market_type": mtype,
                "weight": earned.weight,
                "fitted": round(earned.fitted, 4),
                "evidence": earned.evidence,
                "games": int(idx.size),
            }
        )
        at = np.flatnonzero(of_type & (pm.season == season) & np.isfinite(pm.fair))
        if earned.weight <= 0 or not at.size:
            continue
        p_home, margin, total = rating.before(season)
        w = earned.weight
        if mtype == "moneyline":
            p = B.blend_probability(pm.fair[at], p_home[pm.game[at]], w)
            center[at] = p
            p_win[at] = np.column_stack([p, 1.0 - p])
            ev[at] = p_win[at] * pm.odds[at] - 1.0
            continue
        mu = B.blend_mean(pm.fair[at], (margin if mtype == "spread" else total)[pm.game[at]], w)
        center[at] = mu
        no_zero = P.TYPE_PARAMS[mtype].no_zero
        for s in (0, 1):
            over, _push, under = line_probs(pm.x_line[at, s], mu, pm.sigma[at], True, no_zero)
            win, lose = (over, under) if s == 0 else (under, over)
            p_win[at, s] = win
            ev[at, s] = win * (pm.odds[at, s] - 1.0) - lose
    return out


def _morning(pm: PricedMarkets, evaluated: NDArray[np.bool_]) -> NDArray[np.bool_]:
    """Markets whose p_true and consensus are scored: those with a pre-tip moment, or every
    market of a season and type that has none (closing lines only: the consensus is the close)."""
    out = evaluated & pm.pre_tip
    for season in np.unique(pm.season[evaluated]):
        for mtype in FORECAST_TYPES:
            at = evaluated & (pm.season == season) & (pm.market_type == mtype)
            if at.any() and not (at & pm.pre_tip).any():
                out |= at
    return out


def _forecasts(pm: PricedMarkets, evaluated: NDArray[np.bool_], center: F) -> Forecasts:
    keep = evaluated & np.isin(pm.market_type, FORECAST_TYPES)
    idx = np.flatnonzero(keep)
    mtype = pm.market_type[idx]
    ml = mtype == "moneyline"
    y = np.full(idx.size, np.nan)
    out = [np.full(idx.size, np.nan) for _ in range(3)]
    morning = _morning(pm, evaluated)[idx]
    y[ml] = np.where(pm.outcome[idx[ml]] > 0, 1.0, 0.0)
    for k, values in enumerate((center, pm.fair, pm.fair_close)):
        out[k][ml] = values[idx[ml]]
    for mt in ("spread", "total"):
        at = mtype == mt
        rows = idx[at]
        x_close, sigma = pm.close_line[rows], pm.sigma[rows]
        y[at] = settle.line_won(np.zeros(rows.size, np.int64), x_close, pm.outcome[rows])
        no_zero = P.TYPE_PARAMS[mt].no_zero
        for k, values in enumerate((center, pm.fair, pm.fair_close)):
            out[k][at] = _p_over(x_close, values[rows], sigma, no_zero)
    out[0][~morning] = np.nan
    out[1][~morning] = np.nan
    return Forecasts(pm.season[idx], pm.game[idx], mtype, y, out[0], out[1], out[2])


def _chosen_side(measure: F, has: NDArray[np.bool_]) -> I64:
    filled = np.where(has & np.isfinite(measure), measure, -np.inf)
    return np.asarray(np.argmax(filled, axis=1), dtype=np.int64)


def _rule_sides(
    pm: PricedMarkets, eligible: NDArray[np.bool_], ev: F, sa: F, sb: F
) -> dict[str, I64]:
    """Per rule, the side each market is flagged on (-1: not flagged)."""
    algo = np.array([P.DEFAULT_RULES[t].algorithm for t in pm.market_type])
    default_score = np.where((algo == "a")[:, None], sa, sb)
    default_threshold = np.array([P.DEFAULT_RULES[t].threshold for t in pm.market_type])
    rows = np.arange(len(pm))
    out = {}
    for rule in RULES:
        measure = {"a": sa, "b": sb, "ev": ev, "default": default_score}[rule.score]
        threshold = default_threshold if rule.score == "default" else rule.threshold
        side = _chosen_side(measure, pm.has)
        ok = eligible & pm.has[rows, side] & (measure[rows, side] >= threshold)
        ok &= (ev[rows, side] > 0) & (pm.ev[rows, side] > 0)
        out[rule.name] = np.where(ok, side, -1)
    return out


def _bet_table(
    data: EvaluationData, pm: PricedMarkets, eligible: NDArray[np.bool_], ev: F, p_win: F
) -> BetTable:
    sa = score_a(ev, pm.se_ev_dispersion)
    sb = score_b(ev, pm.se_ev)
    sides = _rule_sides(pm, eligible, ev, sa, sb)
    k, s = np.nonzero(eligible[:, None] & pm.has)
    parts: list[dict[str, Any]] = [
        {
            "market": k,
            "side": s,
            "x_line": pm.x_line[k, s],
            "odds": pm.odds[k, s],
            "book": [str(b) for b in pm.book[k, s]],
            "ev": ev[k, s],
            "p_win": p_win[k, s],
            "score_a": sa[k, s],
            "score_b": sb[k, s],
            "masks": {name: sides[name][k] == s for name in sides},
        }
    ]
    for mtype in ("moneyline", "spread", "total"):
        idx = np.flatnonzero(eligible & (pm.market_type == mtype))
        q = quote_arrays([data.markets.bet[i] for i in idx], mtype)  # type: ignore[misc]
        for name, bets in baselines.baseline_bets(q, mtype).items():
            nan = np.full(bets.row.size, np.nan)
            parts.append(
                {
                    "market": idx[bets.row],
                    "side": bets.side,
                    "x_line": bets.x_line,
                    "odds": bets.odds,
                    "book": [q.books[j] for j in bets.book],
                    "ev": nan,
                    "p_win": nan,
                    "score_a": nan,
                    "score_b": nan,
                    "masks": {name: np.ones(bets.row.size, bool)},
                }
            )
    cat = {
        key: np.concatenate([np.asarray(p[key]) for p in parts])
        for key in parts[0]
        if key not in ("book", "masks")
    }
    sizes = [len(p["market"]) for p in parts]
    masks = {}
    for name in [r.name for r in RULES] + list(BASELINES):
        masks[name] = np.concatenate(
            [p["masks"].get(name, np.zeros(n, bool)) for p, n in zip(parts, sizes, strict=True)]
        )
    market = cat["market"].astype(np.int64)
    side = cat["side"].astype(np.int64)
    result = settle.settle_bets(pm, market, side, cat["x_line"], cat["odds"])
    return BetTable(
        market=market,
        side=side,
        x_line=cat["x_line"],
        odds=cat["odds"],
        book=[b for p in parts for b in p["book"]],
        ev=cat["ev"],
        p_win=cat["p_win"],
        score_a=cat["score_a"],
        score_b=cat["score_b"],
        masks=masks,
        **result,
    )


def evaluate(
    data: EvaluationData, sharp: frozenset[str], progress: Progress | None = None
) -> Evaluation:
    """The walk-forward evaluation of `data.seasons` (see the module docstring)."""
    say = progress or (lambda _msg: None)
    started = time.perf_counter()
    say("pricing every market across books")
    pm = price_markets(data, sharp)
    played = data.games.played[pm.game] if len(pm) else np.zeros(0, bool)
    evaluated = np.isin(pm.season, data.seasons) & played
    center, p_win, ev = pm.fair.copy(), pm.p_win.copy(), pm.ev.copy()
    rating = _Ratings(data.games)
    blend: list[dict[str, Any]] = []
    for season in data.seasons:
        say(f"season {season}: the blend weight the rating model earned before it")
        blend += _blend_season(pm, rating, season, center, p_win, ev)
    say("forecasts, flagged bets and baselines")
    eligible = evaluated & pm.pre_tip & (pm.books >= P.MIN_BOOKS_TO_FLAG)
    return Evaluation(
        seasons=list(data.seasons),
        markets=pm,
        games=data.games,
        forecasts=_forecasts(pm, evaluated, center),
        bets=_bet_table(data, pm, eligible, ev, p_win),
        blend=blend,
        books=books_quoting(pm, evaluated, data.seasons),
        seconds=time.perf_counter() - started,
    )
