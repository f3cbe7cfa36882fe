"""Situational betting trends (`GET /trends`): which bets in which situations, how they did, and
whether that survives correction for having looked at many situations at once.

Pure (no I/O): `games.TrendGames` in, each situation's bets out; `report` settles and tests
them at the closing line and price; `stats` holds the statistics.

A trend is a set of bets, at most one per game, on a side chosen by the situation before tip-off
(the team on a back-to-back, the favourite by 7.5+, the over in January).

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
from dataclasses import dataclass

import numpy as np

from edgelab.betting.markets.devig import devig
from edgelab.betting.odds.teams import DIVISION_OF
from edgelab.betting.trends.games import (
    BoolArray,
    FloatArray,
    IntArray,
    TrendGames,
    rest_days,
    season_terciles,
)

GROUPS = ("rest", "venue", "favourite", "line_move", "totals_month", "totals_pace", "division")
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


def fair_first(odds: FloatArray, method: str) -> FloatArray:
    """The de-vigged probability of the first side (home / over); NaN where a price is missing."""
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

    home_fair = fair_first(g.ml_odds, devig_method)
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
