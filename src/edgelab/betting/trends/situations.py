"""Situational betting trends (`GET /trends`): which bets in which situations, how they did, and
whether that survives correction for having looked at many situations at once.

Pure (no I/O): plain arrays of games with their closing (and opening) lines in, JSON-ready dicts
out. `trends_service` loads the arrays; `trends_stats` holds the statistics.

A trend is a set of bets, at most one per game, on a side chosen by the situation before tip-off
(the team on a back-to-back, the favourite by 7.5+, the over in January). Every bet is settled at
the **closing** line and price, flat 1-unit stakes: the close is the line every game has (the
opening lines cover spreads and totals from 2014-15 on) and the hardest to beat, so a trend that
wins at the close is not an artefact of stale opening numbers. Pushes return the stake: counted
in `n` and `pushes`, left out of the rate.

Situations (each for the market types where it means something):

- rest: days since the team's previous game of the same season (1 = back-to-back; the first game
  of a season has none and is left out). "On a back-to-back" and "3+ days" are bets on the team
  in that situation when its opponent is not (a game where both are would bet both sides);
  for totals, the over when at least one team is on a back-to-back;
- venue: the home team, and the home underdog (neutral-site games left out);
- favourite: the favourite by the size of the closing spread (0.5-3, 3.5-7, 7.5+ points; pick'em
  left out) against the spread, and by the de-vigged closing moneyline (50-60 %, 60-75 %, 75 %+)
  on the moneyline. One side per bucket: at -110 on both sides the underdog is the mirror image
  (its rate is one minus the favourite's, with the same p-value);
- line movement: the side the line moved toward from open to close (spreads and totals, where the
  data has an opening line), by direction and size (0.5-1 point, 1.5+ points);
- totals by month: the over, by calendar month of the game;
- totals by pace: there is no possessions data, so the closing total stands in for the expected
  pace: the over in the low, middle and high third of closing totals *of the game's season*
  (totals rose about 20 points over the data; pooled terciles would measure the era);
- division: games between teams of one division (`teams.DIVISIONS`): the home side, the over.

Regular season and playoffs are pooled.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from edgelab.betting.markets.devig import devig
from edgelab.betting.markets.forecast import settle_first_side
from edgelab.betting.odds.teams import DIVISION_OF
from edgelab.betting.trends.stats import TrendStats, benjamini_hochberg, trend_stats

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]

GROUPS = ("rest", "venue", "favourite", "line_move", "totals_month", "totals_pace", "division")
MARKET_TYPES = ("moneyline", "spread", "total")
DEFAULT_MIN_N = 50
MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
MONTH_NAMES = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
SIZE_BUCKETS = (("small", 0.5, 1.0, "0.5-1 point"), ("large", 1.5, np.inf, "1.5+ points"))
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
class TrendGames:
    """One row per game, with each market's closing line and price (NaN where the data has none).

    Lines are the first side's: the home handicap for spreads (-6.5 = home gives 6.5), the points
    line for totals. Odds are decimal, (n, 2), first side (home / over) in column 0.
    """

    day: IntArray  # date ordinal (US local date)
    season: IntArray  # by ending year
    home: NDArray[np.str_]
    away: NDArray[np.str_]
    neutral: BoolArray
    home_score: FloatArray  # NaN = not played
    away_score: FloatArray
    ml_odds: FloatArray
    spread_line: FloatArray
    spread_odds: FloatArray
    spread_open: FloatArray
    total_line: FloatArray
    total_odds: FloatArray
    total_open: FloatArray
    price_assumed: dict[str, bool]

    @property
    def size(self) -> int:
        return int(self.day.size)

    @property
    def seasons(self) -> list[int]:
        return sorted({int(s) for s in self.season})

    @classmethod
    def from_markets(
        cls,
        *,
        day: IntArray,
        season: IntArray,
        home: Sequence[str],
        away: Sequence[str],
        neutral: BoolArray,
        home_score: FloatArray,
        away_score: FloatArray,
        market_game: IntArray,
        market_type: NDArray[np.str_],
        market_kind: NDArray[np.str_],
        line: FloatArray,
        odds: FloatArray,
        price_assumed: dict[str, bool] | None = None,
    ) -> TrendGames:
        """From one row per (game, market type, kind) (what `backtest.load_backtest_data` gives)."""
        n = len(day)

        def column(mtype: str, kind: str) -> tuple[FloatArray, FloatArray]:
            at = (market_type == mtype) & (market_kind == kind)
            lines = np.full(n, np.nan)
            prices = np.full((n, 2), np.nan)
            lines[market_game[at]] = line[at]
            prices[market_game[at]] = odds[at]
            return lines, prices

        _, ml_odds = column("moneyline", "close")
        spread_line, spread_odds = column("spread", "close")
        spread_open, _ = column("spread", "open")
        total_line, total_odds = column("total", "close")
        total_open, _ = column("total", "open")
        return cls(
            day=np.asarray(day, dtype=np.int64),
            season=np.asarray(season, dtype=np.int64),
            home=np.asarray(home, dtype=str),
            away=np.asarray(away, dtype=str),
            neutral=np.asarray(neutral, dtype=bool),
            home_score=np.asarray(home_score, dtype=np.float64),
            away_score=np.asarray(away_score, dtype=np.float64),
            ml_odds=ml_odds,
            spread_line=spread_line,
            spread_odds=spread_odds,
            spread_open=spread_open,
            total_line=total_line,
            total_odds=total_odds,
            total_open=total_open,
            price_assumed=dict(price_assumed or {}),
        )


def rest_days(
    day: IntArray, season: IntArray, home: NDArray[np.str_], away: NDArray[np.str_]
) -> tuple[FloatArray, FloatArray]:
    """Days since each team's previous game of the same season, for the home and the away team
    (1 = back-to-back; NaN for a team's first game of a season)."""
    n = len(day)
    teams = np.concatenate([np.asarray(home, dtype=str), np.asarray(away, dtype=str)])
    _, team = np.unique(teams, return_inverse=True)
    days = np.concatenate([day, day]).astype(np.int64)
    seasons = np.concatenate([season, season]).astype(np.int64)
    order = np.lexsort((days, seasons, team))
    rest = np.full(2 * n, np.nan)
    same = (team[order][1:] == team[order][:-1]) & (seasons[order][1:] == seasons[order][:-1])
    gap = (days[order][1:] - days[order][:-1]).astype(np.float64)
    rest[order[1:][same]] = gap[same]
    return rest[:n], rest[n:]


def season_terciles(season: IntArray, value: FloatArray) -> IntArray:
    """0/1/2 = low/middle/high third of `value` within its season (mid-ranks for ties); -1 where
    the value is missing."""
    out = np.full(value.shape, -1, dtype=np.int64)
    for s in np.unique(season):
        at = np.flatnonzero((season == s) & np.isfinite(value))
        if at.size == 0:
            continue
        v = value[at]
        below = np.searchsorted(np.sort(v), v, side="left")
        above = np.searchsorted(np.sort(v), v, side="right")
        pct = (below + above) / 2.0 / at.size  # mid-rank share, in [0, 1)
        out[at] = np.where(pct < 1 / 3, 0, np.where(pct < 2 / 3, 1, 2))
    return out


@dataclass
class TrendDef:
    """Which bets a trend makes: `games` indexes `TrendGames`, `first` says whether each bet is on
    the first side (home / over) or the second (away / under)."""

    id: str
    label: str
    group: str
    market_type: str
    side: str
    games: IntArray
    first: BoolArray


class _Builder:
    def __init__(self, g: TrendGames, in_range: BoolArray) -> None:
        self.g = g
        self.in_range = in_range
        self.defs: list[TrendDef] = []

    def add(
        self,
        id_: str,
        label: str,
        group: str,
        market_type: str,
        side: str,
        mask: BoolArray,
        first: BoolArray | bool,
    ) -> None:
        first_all = np.broadcast_to(np.asarray(first, dtype=bool), mask.shape)
        at = np.flatnonzero(mask & self.in_range)
        self.defs.append(
            TrendDef(f"{id_}-{market_type}", label, group, market_type, side, at, first_all[at])
        )


def _fair_first(odds: FloatArray, method: str) -> FloatArray:
    out = np.full(odds.shape[0], np.nan)
    ok = np.all(np.isfinite(odds) & (odds > 1.0), axis=1)
    if ok.any():
        out[ok] = devig(odds[ok], method).probabilities[:, 0]
    return out


def define_trends(
    g: TrendGames, in_range: BoolArray, devig_method: str = "multiplicative"
) -> list[TrendDef]:
    """Every trend over the games in `in_range` (see the module docstring for the situations)."""
    b = _Builder(g, in_range)
    rest_home, rest_away = rest_days(g.day, g.season, g.home, g.away)
    with np.errstate(invalid="ignore"):
        b2b_h, b2b_a = rest_home == 1, rest_away == 1
        long_h, long_a = rest_home >= 3, rest_away >= 3
    known = np.isfinite(rest_home) & np.isfinite(rest_away)
    for mtype, what in (("moneyline", "moneyline"), ("spread", "against the spread")):
        b.add(
            "rest-back-to-back",
            f"Team on a back-to-back, opponent not ({what})",
            "rest",
            mtype,
            f"the team playing on consecutive days, {what}",
            known & (b2b_h != b2b_a),
            b2b_h,
        )
        b.add(
            "rest-3plus",
            f"Team on 3+ days' rest, opponent not ({what})",
            "rest",
            mtype,
            f"the team whose previous game was 3 or more days ago, {what}",
            known & (long_h != long_a),
            long_h,
        )
    b.add(
        "rest-back-to-back",
        "At least one team on a back-to-back (total)",
        "rest",
        "total",
        "the over when either team played the day before",
        known & (b2b_h | b2b_a),
        True,
    )

    home_fair = _fair_first(g.ml_odds, devig_method)
    venue = ~g.neutral
    with np.errstate(invalid="ignore"):
        for mtype, what, dog in (
            ("moneyline", "moneyline", home_fair < 0.5),
            ("spread", "against the spread", g.spread_line > 0),
        ):
            b.add(
                "venue-home",
                f"Home team ({what})",
                "venue",
                mtype,
                f"the home team, {what}",
                venue,
                True,
            )
            b.add(
                "venue-home-underdog",
                f"Home underdog ({what})",
                "venue",
                mtype,
                f"the home team when it is the underdog, {what}",
                venue & dog,
                True,
            )

        size = np.abs(g.spread_line)
        home_fav = g.spread_line < 0
        for slug, lo, hi, text in (
            ("favourite-by-0-3", 0.5, 3.0, "0.5-3"),
            ("favourite-by-3-7", 3.5, 7.0, "3.5-7"),
            ("favourite-by-7plus", 7.5, np.inf, "7.5+"),
        ):
            b.add(
                slug,
                f"Favourite by {text} points (against the spread)",
                "favourite",
                "spread",
                f"the favourite giving {text} points at the close, against the spread",
                (size >= lo) & (size <= hi),
                home_fav,
            )
        fav_p = np.maximum(home_fair, 1.0 - home_fair)
        for slug, lo, hi, text in (
            ("favourite-50-60pct", 0.5, 0.6, "50-60%"),
            ("favourite-60-75pct", 0.6, 0.75, "60-75%"),
            ("favourite-75pct-plus", 0.75, 1.0, "75%+"),
        ):
            b.add(
                slug,
                f"Moneyline favourite at {text} (moneyline)",
                "favourite",
                "moneyline",
                f"the favourite whose de-vigged closing probability is {text}, moneyline",
                (fav_p > lo) & (fav_p <= hi),
                home_fair > 0.5,
            )

        move_spread = g.spread_line - g.spread_open  # < 0: the home handicap grew (toward home)
        move_total = g.total_line - g.total_open
        for size_slug, lo, hi, text in SIZE_BUCKETS:
            spread_sized = (np.abs(move_spread) >= lo) & (np.abs(move_spread) <= hi)
            total_sized = (np.abs(move_total) >= lo) & (np.abs(move_total) <= hi)
            for direction, toward_first in (("home", True), ("away", False)):
                moved = move_spread < 0 if toward_first else move_spread > 0
                b.add(
                    f"line-move-{direction}-{size_slug}",
                    f"Spread moved {text} toward the {direction} team (against the spread)",
                    "line_move",
                    "spread",
                    f"the {direction} team, after the line moved {text} its way from open to "
                    "close, against the spread",
                    spread_sized & moved,
                    toward_first,
                )
            for direction, up, bet in (("up", True, "over"), ("down", False, "under")):
                moved = move_total > 0 if up else move_total < 0
                b.add(
                    f"line-move-{direction}-{size_slug}",
                    f"Total moved {direction} {text} (total)",
                    "line_move",
                    "total",
                    f"the {bet}, after the total moved {direction} {text} from open to close",
                    total_sized & moved,
                    up,
                )

    month = np.array([dt.date.fromordinal(int(d)).month for d in g.day], dtype=np.int64)
    for m in np.unique(month):
        name = MONTH_NAMES[m - 1]
        b.add(
            f"month-{MONTHS[m - 1]}",
            f"Games in {name} (total)",
            "totals_month",
            "total",
            f"the over in games played in {name}",
            month == m,
            True,
        )

    third = season_terciles(g.season, g.total_line)
    for k, slug, text in ((0, "low", "lowest"), (1, "mid", "middle"), (2, "high", "highest")):
        b.add(
            f"pace-{slug}",
            f"Expected pace {slug}: {text} third of the season's closing totals (total)",
            "totals_pace",
            "total",
            f"the over in games whose closing total is in the {text} third of its season "
            "(the total line is the pace proxy)",
            third == k,
            True,
        )

    div_h = np.array([DIVISION_OF.get(str(t), "?h") for t in g.home])
    div_a = np.array([DIVISION_OF.get(str(t), "?a") for t in g.away])
    division = div_h == div_a
    for mtype, text in (("moneyline", "moneyline"), ("spread", "against the spread")):
        b.add(
            "division-home",
            f"Division game, home team ({text})",
            "division",
            mtype,
            f"the home team in a game between two teams of one division, {text}",
            division & venue,
            True,
        )
    b.add(
        "division-over",
        "Division game (total)",
        "division",
        "total",
        "the over in a game between two teams of one division",
        division,
        True,
    )
    return b.defs


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
        out[mtype] = _Market(
            odds, outcome, played & priced & lined, _fair_first(odds, devig_method)
        )
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
