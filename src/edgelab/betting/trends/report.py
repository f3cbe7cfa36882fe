"""The `/trends` answer: each situation's bets settled, tested, corrected for multiplicity and
ranked, with a verdict in words.

Pure (no I/O). Every bet is settled at the **closing** line and price, flat 1-unit stakes: the
close is the line every game has (the opening lines cover spreads and totals from 2014-15 on)
and the hardest to beat, so a trend that wins at the close is not an artefact of stale opening
numbers. Pushes return the stake: counted in `n` and `pushes`, left out of the rate. The
situations are `situations`, the statistics `stats`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from edgelab.betting.markets.forecast import settle_first_side
from edgelab.betting.trends.games import MARKET_TYPES, BoolArray, FloatArray, TrendGames
from edgelab.betting.trends.situations import GROUPS, TrendDef, define_trends, fair_first
from edgelab.betting.trends.stats import TrendStats, benjamini_hochberg, trend_stats

DEFAULT_MIN_N = 50
NOTES = (
    "Most of these trends are expected to be noise: with dozens of situations tested at once, "
    "a few look notable by chance alone. Only `significant` ones survive the Benjamini-Hochberg "
    "correction over every trend in this response; even those describe the past, at closing "
    "prices, not a promise.",
    "Bets are flat 1-unit stakes at the closing line and price; pushes return the stake (counted "
    "in n, left out of the rate). ROI is profit per unit staked with a normal 95% interval.",
    "p_value tests the observed rate against the market's own fair (de-vigged) probability of "
    "the side: 50% for spreads and totals at -110 on both sides. A trend that merely loses the "
    "bookmaker's margin is not flagged.",
    "Spreads and totals have no prices in the data: -110 (1.909) is assumed (`price_assumed`).",
    "Pace has no possessions data behind it: the closing total line stands in for it, in thirds "
    "of each season's closing totals.",
    "Line movement needs an opening line: spreads and totals from 2014-15 on.",
)


@dataclass
class _Market:
    odds: FloatArray  # (n, 2)
    outcome: FloatArray  # first side: 1 won, 0 lost, NaN push or not settled
    settled: BoolArray  # played, priced, and (where needed) lined: won, lost or pushed
    fair: FloatArray  # de-vigged probability of the first side


def _markets(g: TrendGames, devig_method: str) -> dict[str, _Market]:
    out: dict[str, _Market] = {}
    played = np.isfinite(g.home_score) & np.isfinite(g.away_score)
    for mtype, odds, line in (
        ("moneyline", g.ml_odds, np.full(g.size, np.nan)),
        ("spread", g.spread_odds, g.spread_line),
        ("total", g.total_odds, g.total_line),
    ):
        priced = np.all(np.isfinite(odds) & (odds > 1.0), axis=1)
        lined = np.ones(g.size, dtype=bool) if mtype == "moneyline" else np.isfinite(line)
        outcome = settle_first_side(np.full(g.size, mtype), line, g.home_score, g.away_score)
        out[mtype] = _Market(odds, outcome, played & priced & lined, fair_first(odds, devig_method))
    return out


def stats_of(defn: TrendDef, market: _Market) -> TrendStats:
    """The bets of one trend, settled in its market (games without a price or result dropped)."""
    ok = market.settled[defn.games]
    games, first = defn.games[ok], defn.first[ok]
    y = market.outcome[games]
    won = np.where(first, y, 1.0 - y)  # NaN (push) stays NaN
    odds = np.where(first, market.odds[games, 0], market.odds[games, 1])
    fair = np.where(first, market.fair[games], 1.0 - market.fair[games])
    return trend_stats(won, odds, fair)


def _verdict(s: TrendStats, q: float, alpha: float, m: int) -> str:
    rate = f"{s.rate:.1%} vs {s.null_rate:.1%} expected" if s.rate is not None else "no results"
    if s.p_value is None:
        return "noise: nothing settled to test"
    if q <= alpha:
        roi = (
            f"ROI {s.roi:+.1%} (95% {s.roi_ci[0]:+.1%}..{s.roi_ci[1]:+.1%})"
            if s.roi is not None and s.roi_ci is not None
            else "ROI unknown"
        )
        profit = (
            "; the ROI interval includes 0, so profit is not shown"
            if s.roi_ci is not None and s.roi_ci[0] <= 0.0 <= s.roi_ci[1]
            else ""
        )
        return (
            f"survives correction: {rate} over {s.decided} decided bets, q = {q:.3g} <= {alpha:g}"
            f" after testing {m} trends; {roi}{profit}"
        )
    if s.p_value <= alpha:
        return (
            f"noise: {rate}, p = {s.p_value:.3g} looks notable alone but q = {q:.2f} after "
            f"correcting for {m} trends"
        )
    return f"noise: {rate}, p = {s.p_value:.2f}"


def compute_trends(
    g: TrendGames,
    *,
    season_from: int | None = None,
    season_to: int | None = None,
    market_type: str | None = None,
    group: str | None = None,
    min_n: int = DEFAULT_MIN_N,
    alpha: float = 0.05,
    devig_method: str = "multiplicative",
) -> dict[str, Any]:
    """Every trend of the chosen market type and group over the season range (inclusive, by
    ending year; default all), those with at least `min_n` bets kept, then the
    Benjamini-Hochberg q-values over exactly the trends kept (the family the caller sees).

    Sorted by q-value, then by sample size (largest first), then id. JSON-ready."""
    if market_type is not None and market_type not in MARKET_TYPES:
        raise ValueError(f"unknown market type {market_type!r}")
    if group is not None and group not in GROUPS:
        raise ValueError(f"unknown group {group!r}")
    if not 0.0 < alpha < 1.0:
        raise ValueError("alpha must be within (0, 1)")
    seasons = g.seasons
    lo = season_from if season_from is not None else (seasons[0] if seasons else 0)
    hi = season_to if season_to is not None else (seasons[-1] if seasons else 0)
    if lo > hi:
        raise ValueError("season_from is after season_to")
    in_range = (g.season >= lo) & (g.season <= hi)
    markets = _markets(g, devig_method)
    rows: list[tuple[TrendDef, TrendStats]] = []
    for defn in define_trends(g, in_range, devig_method):
        if (market_type and defn.market_type != market_type) or (group and defn.group != group):
            continue
        s = stats_of(defn, markets[defn.market_type])
        if s.n >= min_n and s.p_value is not None:
            rows.append((defn, s))
    q = benjamini_hochberg(np.array([s.p_value for _, s in rows], dtype=np.float64))
    trends = []
    for (defn, s), qv in zip(rows, q, strict=True):
        trends.append(
            {
                "id": defn.id,
                "label": defn.label,
                "group": defn.group,
                "market_type": defn.market_type,
                "side": defn.side,
                **s.to_dict(),
                "price_assumed": bool(g.price_assumed.get(defn.market_type, False)),
                "q_value": float(qv),
                "significant": bool(qv <= alpha),
                "verdict": _verdict(s, float(qv), alpha, len(rows)),
            }
        )
    trends.sort(key=lambda t: (t["q_value"], -t["n"], t["id"]))
    return {
        "trends": trends,
        "n_trends": len(trends),
        "n_significant": sum(t["significant"] for t in trends),
        "seasons": [lo, hi],
        "market_type": market_type,
        "group": group,
        "min_n": min_n,
        "correction": "benjamini-hochberg",
        "alpha": alpha,
        "notes": list(NOTES),
    }
