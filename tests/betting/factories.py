"""Synthetic NBA seasons written in the real `sbr_games` CSV layout and imported through the
real parser and importer, so tests exercise the same path as real data.

Teams have hidden strengths; margins are normal around strength difference + 3 points of home
court (sd 12), totals normal around 215 (sd 18). Closing moneylines carry a 4.5% margin on the
true probability; spreads and totals open a little off the truth and close nearer to it.
Dates start in October 2030, far from the shipped data.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

import numpy as np
from sqlalchemy.ext.asyncio import AsyncSession

from edgelab.betting.odds import ids
from edgelab.betting.odds.ingest import (
    GameIn,
    ImportStats,
    OutcomeSpec,
    SnapshotIn,
    ensure_outcomes,
    import_parsed,
    upsert_games,
    upsert_snapshots,
)
from edgelab.betting.odds.models import Game
from edgelab.betting.odds.nba_csv import parse_nba_text
from edgelab.core.settings import Settings

# The value-betting seed contract: every market row and bet detail carries these fields.
SEED_FIELDS = frozenset(
    {
        "market_id",
        "game_id",
        "market_type",
        "outcome_label",
        "line",
        "odds_decimal",
        "p_true",
        "p_market",
        "raw_edge",
        "algo_a_value_score",
        "algo_a_confidence",
        "algo_a_market_quality",
        "algo_b_value_score",
        "algo_b_confidence",
        "algo_b_market_quality",
        "time_to_tip_minutes",
        "calc_time",
    }
)
TEAMS = [
    "ATL",
    "BOS",
    "BKN",
    "CHA",
    "CHI",
    "CLE",
    "DAL",
    "DEN",
    "DET",
    "GSW",
    "HOU",
    "IND",
    "LAC",
    "LAL",
    "MEM",
    "MIA",
]
HEADER = (
    "season,date,neutral_site,away_team,home_team,away_rot,home_rot,away_score,home_score,"
    "away_q1,away_q2,away_q3,away_q4,home_q1,home_q2,home_q3,home_q4,home_spread_open,"
    "home_spread_close,total_open,total_close,away_ml,home_ml,home_spread_2h,total_2h,"
    "flag_ml_spread_disagree"
)


def _american(p: float) -> float:
    """Fair probability p plus a 4.5% overround split evenly, as American odds."""
    q = min(max(p * 1.0225, 0.02), 0.98)
    dec = 1.0 / q
    return round((dec - 1) * 100) if dec >= 2.0 else round(-100 / (dec - 1))


def _quarters(score: int) -> list[int]:
    base = score // 4
    return [base, base, base, score - 3 * base]


@dataclass
class SyntheticSeasons:
    csv_text: str
    dates: list[dt.date]
    strengths: dict[str, float]

    @property
    def last_date(self) -> dt.date:
        return self.dates[-1]


def synthetic_seasons(
    *,
    seasons: int = 2,
    days_per_season: int = 40,
    seed: int = 7,
    unplayed_last_day: bool = False,
    upcoming_last_day: bool = False,
) -> SyntheticSeasons:
    """`unplayed_last_day`: the last day's games have no results. `upcoming_last_day`: the last
    day as it stands before its first tip-off: no results and no closing lines, only the
    opening lines. The same random draws either way: the other days do not change."""
    rng = np.random.default_rng(seed)
    strength = {t: float(s) for t, s in zip(TEAMS, rng.normal(0, 5, len(TEAMS)), strict=True)}
    lines = [HEADER]
    dates: list[dt.date] = []
    for s in range(seasons):
        start = dt.date(2030 + s, 10, 20)
        label = f"{2030 + s}-{(2031 + s) % 100:02d}"
        for d in range(days_per_season):
            day = start + dt.timedelta(days=2 * d)
            dates.append(day)
            order = rng.permutation(len(TEAMS))
            last = (unplayed_last_day or upcoming_last_day) and (s, d) == (
                seasons - 1,
                days_per_season - 1,
            )
            no_close = last and upcoming_last_day
            for k in range(0, len(TEAMS), 2):
                home, away = TEAMS[order[k]], TEAMS[order[k + 1]]
                mu = strength[home] - strength[away] + 3.0
                p_home = 0.5 * (1 + math.erf(mu / (12 * math.sqrt(2))))
                margin = round(rng.normal(mu, 12)) or 1
                total = round(rng.normal(215, 18))
                hs, as_ = (total + margin) // 2, (total - margin) // 2
                if hs == as_:
                    hs += 1
                spread_close = -round(mu * 2) / 2
                spread_open = spread_close + float(rng.choice([-1.0, -0.5, 0.0, 0.5, 1.0]))
                total_close = 215.0 + float(rng.choice([-2.0, 0.0, 2.0]))
                total_open = total_close + 1.0
                ml_h, ml_a = _american(p_home), _american(1 - p_home)
                closes: list[object] = [spread_close, total_close, ml_a, ml_h]
                if no_close:
                    closes = ["", "", "", ""]
                score = ["", ""] if last else [str(as_), str(hs)]
                qa = _quarters(as_) if not last else ["", "", "", ""]
                qh = _quarters(hs) if not last else ["", "", "", ""]
                lines.append(
                    ",".join(
                        map(
                            str,
                            [
                                label,
                                day.isoformat(),
                                "False",
                                away,
                                home,
                                501 + k,
                                502 + k,
                                *score,
                                *qa,
                                *qh,
                                spread_open,
                                closes[0],
                                total_open,
                                closes[1],
                                closes[2],
                                closes[3],
                                "",
                                "",
                                0,
                            ],
                        )
                    )
                )
    return SyntheticSeasons("\n".join(lines) + "\n", dates, strength)


async def import_synthetic(
    session: AsyncSession, settings: Settings, data: SyntheticSeasons
) -> ImportStats:
    parsed = parse_nba_text(data.csv_text, name="synthetic.csv")
    return await import_parsed(session, parsed, settings)


# Books quoting the synthetic games live (The Odds API keys): two sharp books sit on the truth,
# the soft ones wobble around it, and one lags (its numbers are a point or two stale).
SHARP_BOOKS = ("lowvig", "betonlineag")
SOFT_BOOKS = ("draftkings", "fanduel", "betmgm", "pointsbetus")
LAGGING_BOOK = "mybookieag"


async def add_book_quotes(
    session: AsyncSession,
    settings: Settings,
    data: SyntheticSeasons,
    *,
    day: dt.date | None = None,
    seed: int = 11,
    hours_before_tip: float = 6.0,
    props: bool = True,
) -> int:
    """Live quotes from seven books for the games of `day` (default the last date), stored as
    The Odds API's quotes are (kind `live`, each book at its own time), and with `props` one
    player-points market per game from four books (as `ingest odds --props` stores them).
    Returns snapshots written. The lagging book's stale numbers are where value appears."""
    from sqlalchemy import select

    from edgelab.betting.odds import ids
    from edgelab.betting.odds.ingest import (
        ImportStats,
        OutcomeSpec,
        SnapshotIn,
        ensure_outcomes,
        upsert_snapshots,
    )
    from edgelab.betting.odds.models import Game

    day = day or data.last_date
    rng = np.random.default_rng(seed)
    games = (await session.execute(select(Game).where(Game.game_date == day))).scalars().all()
    snaps: list[SnapshotIn] = []
    specs: dict[str, OutcomeSpec] = {}

    def quote(gid: str, mtype: str, side: str, book: str, at: dt.datetime, odds: float,
              line: float | None, home: str, away: str) -> None:  # fmt: skip
        oid = ids.outcome_id(gid, mtype, side)
        if mtype == "prop":  # the live ingest's ids: game, stat, player
            mid = f"{gid}-prop-player-points-{home.lower()}-star"
            oid = f"{mid}-{side}"
            label = f"{home} Star {side.capitalize()} (player_points)"
            specs[oid] = OutcomeSpec(mid, gid, mtype, side, label, f"{home} Star: player_points")
        else:
            specs[oid] = OutcomeSpec(ids.market_id(gid, mtype), gid, mtype, side,
                                     ids.outcome_label(mtype, side, home, away))  # fmt: skip
        snaps.append(SnapshotIn(oid, book, "live", at, False, round(odds, 3), line, False,
                                "the-odds-api", mtype, side, gid))  # fmt: skip

    for k, g in enumerate(sorted(games, key=lambda g: g.id)):
        stale = ("spread", "total", "moneyline")[k % 3]  # the one market the lagging book lags
        mu = data.strengths[g.home_team] - data.strengths[g.away_team] + 3.0
        p_home = 0.5 * (1 + math.erf(mu / (12 * math.sqrt(2))))
        for n, book in enumerate((*SHARP_BOOKS, *SOFT_BOOKS, LAGGING_BOOK)):
            at = g.tip_time - dt.timedelta(hours=hours_before_tip, minutes=n)
            lagging = book == LAGGING_BOOK
            lag = 2.0 if lagging and stale == "spread" else 0.0
            wobble = 0.0 if book in SHARP_BOOKS else float(rng.choice([-0.5, 0.0, 0.5]))
            vig = 1.025 if book in SHARP_BOOKS else 1.045
            p = min(max(p_home + (0.06 if lagging and stale == "moneyline" else 0.0), 0.05), 0.95)
            quote(g.id, "moneyline", "home", book, at, 1 / (p * vig), None, g.home_team,
                  g.away_team)  # fmt: skip
            quote(g.id, "moneyline", "away", book, at, 1 / ((1 - p) * vig), None, g.home_team,
                  g.away_team)  # fmt: skip
            handicap = -round((mu - lag + wobble) * 2) / 2
            price = 2.0 / vig
            quote(g.id, "spread", "home", book, at, price, handicap, g.home_team, g.away_team)
            quote(g.id, "spread", "away", book, at, price, -handicap, g.home_team, g.away_team)
            total = 215.0 + wobble - (3.0 if lagging and stale == "total" else 0.0)
            quote(g.id, "total", "over", book, at, price, total, g.home_team, g.away_team)
            quote(g.id, "total", "under", book, at, price, total, g.home_team, g.away_team)
            if props and n >= 3:  # four soft books quote the player's points
                points = 24.5 - (1.0 if lagging and k % 2 == 0 else 0.0)
                quote(g.id, "prop", "over", book, at, price, points, g.home_team, g.away_team)
                quote(g.id, "prop", "under", book, at, price, points, g.home_team, g.away_team)
    await ensure_outcomes(session, specs)
    stats = ImportStats()
    await upsert_snapshots(session, snaps, stats)
    await session.flush()
    return stats.snapshots_new


async def add_game(
    session: AsyncSession, *, day: dt.date, home: str, away: str, tip: dt.datetime
) -> Game:
    """A game first listed by the live odds feed (`odds.live.event_rows`): its real tip-off, no
    result yet."""
    gid = ids.game_id(day, home, away)
    season = day.year + 1 if day.month >= 8 else day.year
    game = GameIn(gid, season, day, tip, False, home, away, None, None, None, None)
    await upsert_games(session, [game], ImportStats())
    stored = await session.get(Game, gid)
    assert stored is not None
    return stored


async def add_quote(
    session: AsyncSession,
    game: Game,
    market_type: str,
    book: str,
    at: dt.datetime,
    prices: tuple[float, float],
    line: float | None = None,
) -> None:
    """One book's two-way quote of a game's moneyline, spread or total, stored as the live
    ingest stores it: both sides captured at `at`, the first side (home, over) at `prices[0]`.
    `line`: the home handicap of a spread (the away side gets minus it), or the total."""
    specs: dict[str, OutcomeSpec] = {}
    snaps: list[SnapshotIn] = []
    for n, (side, odds) in enumerate(zip(ids.SIDES[market_type], prices, strict=True)):
        oid = ids.outcome_id(game.id, market_type, side)
        label = ids.outcome_label(market_type, side, game.home_team, game.away_team)
        specs[oid] = OutcomeSpec(ids.market_id(game.id, market_type), game.id, market_type, side,
                                 label)  # fmt: skip
        side_line = -line if line is not None and market_type == "spread" and n else line
        snaps.append(SnapshotIn(oid, book, "live", at, False, round(odds, 3), side_line, False,
                                "the-odds-api", market_type, side, game.id))  # fmt: skip
    await ensure_outcomes(session, specs)
    await upsert_snapshots(session, snaps, ImportStats())
    await session.flush()
