"""The games trends are computed over: one row per game with each market's closing (and opening)
line and price, and the per-game figures the situations need (rest days, season thirds).

Pure (no I/O): `service` loads the arrays.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]

MARKET_TYPES = ("moneyline", "spread", "total")


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
