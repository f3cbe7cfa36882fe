"""What the evaluation reads from the database: the games, and every settled market's moment a
bet would be taken at and its close, each a set of books' two-way quotes.

The moments are the live slate's (`markets.quotes`): each book's latest quote at the market's
last pre-tip moment (`live` and `open` quotes), and the `close` moment from `close` quotes.
Where a market has no pre-tip quote (the older seasons, closing lines only) the moment a bet
would be taken at is the close itself, as the slate's current row is. Only games with a final
score are read (`SETTLED`), their snapshots too: nothing else can be evaluated, and what the
evaluation reads is then exactly what its fingerprint covers (`jobs.current_fingerprint`), so
live quotes of upcoming games neither change a report nor mark it stale. Seasons not asked for
are read for their pre-tip moments only (what the walk-forward blend weight learns from), one
season per query, so memory stays at one season's snapshots.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence

import numpy as np
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from edgelab.betting.evaluation.engine import MARKET_TYPES, EvaluationData, Games, Markets
from edgelab.betting.evaluation.jobs import SETTLED
from edgelab.betting.markets.quotes import (
    PRE_TIP_KINDS,
    MarketMoment,
    SnapshotRow,
    book_quotes,
    market_moments,
)
from edgelab.betting.odds.models import Game, Market, OddsSnapshot, Outcome

Progress = Callable[[str], None]


async def load_games(session: AsyncSession) -> Games:
    """Every settled game in date order (the rating model walks them)."""
    rows = (
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
            )
            .where(SETTLED)
            .order_by(Game.game_date, Game.id)
        )
    ).all()
    return Games(
        id=[r[0] for r in rows],
        date=[r[1] for r in rows],
        season=np.array([r[2] for r in rows], dtype=np.int64),
        home=[r[3] for r in rows],
        away=[r[4] for r in rows],
        neutral=np.array([bool(r[5]) for r in rows], dtype=bool),
        home_score=np.array([np.nan if r[6] is None else r[6] for r in rows], dtype=np.float64),
        away_score=np.array([np.nan if r[7] is None else r[7] for r in rows], dtype=np.float64),
    )


async def seasons_with_results(session: AsyncSession) -> list[int]:
    rows = await session.execute(select(Game.season).where(SETTLED).group_by(Game.season))
    return sorted(int(s) for s in rows.scalars())


async def _season_rows(
    session: AsyncSession, season: int, kinds: Sequence[str] | None
) -> tuple[list[SnapshotRow], dict[str, tuple[str, str]]]:
    """The season's settled games' snapshots, and each market's (game id, type)."""
    settled = (Game.season == season) & SETTLED
    stmt = (
        select(
            OddsSnapshot.id,
            Market.id,
            Market.market_type,
            Outcome.side,
            OddsSnapshot.bookmaker,
            OddsSnapshot.kind,
            OddsSnapshot.captured_at,
            OddsSnapshot.odds_decimal,
            OddsSnapshot.line,
            OddsSnapshot.seen_at,  # a quote listed again later is still fresh then
        )
        .join(Outcome, Outcome.id == OddsSnapshot.outcome_id)
        .join(Market, Market.id == Outcome.market_id)
        .join(Game, Game.id == Market.game_id)
        .where(settled)
    )
    if kinds is not None:
        stmt = stmt.where(OddsSnapshot.kind.in_(list(kinds)))
    rows = [SnapshotRow(*tuple(r)) for r in (await session.execute(stmt)).all()]
    markets = await session.execute(
        select(Market.id, Market.game_id, Market.market_type)
        .join(Game, Game.id == Market.game_id)
        .where(settled)
    )
    return rows, {mid: (gid, mtype) for mid, gid, mtype in markets.all()}


async def _tips(session: AsyncSession, season: int) -> dict[str, dt.datetime]:
    rows = await session.execute(
        select(Game.id, Game.tip_time).where(Game.season == season, SETTLED)
    )
    return {gid: tip for gid, tip in rows.all()}


def _last_moments(
    moments: Iterable[MarketMoment],
) -> tuple[dict[str, MarketMoment], dict[str, MarketMoment]]:
    pre: dict[str, MarketMoment] = {}
    close: dict[str, MarketMoment] = {}
    for m in moments:
        if m.kind == "close":
            close[m.market_id] = m
        elif m.market_id not in pre or m.at > pre[m.market_id].at:
            pre[m.market_id] = m
    return pre, close


async def load_evaluation_data(
    session: AsyncSession, seasons: Sequence[int], progress: Progress | None = None
) -> EvaluationData:
    """`seasons` read whole; every earlier season with results for its pre-tip moments."""
    say = progress or (lambda _msg: None)
    games = await load_games(session)
    index = {gid: i for i, gid in enumerate(games.id)}
    wanted = set(seasons)
    last = max(wanted, default=0)
    out = Markets([], [], [], [], [])
    for season in [s for s in games.seasons_played() if s <= last]:
        whole = season in wanted
        say(f"reading season {season}" + ("" if whole else " (pre-tip quotes only)"))
        rows, market_of = await _season_rows(session, season, None if whole else PRE_TIP_KINDS)
        tip_of_game = await _tips(session, season)
        tips = {mid: tip_of_game[gid] for mid, (gid, _t) in market_of.items()}
        pre, close = _last_moments(market_moments(book_quotes(rows), tips))
        for mid in sorted(set(pre) | set(close)):
            gid, mtype = market_of[mid]
            if mtype not in MARKET_TYPES:
                continue
            bet = pre.get(mid) or close.get(mid)
            out.market_id.append(mid)
            out.game.append(index[gid])
            out.market_type.append(mtype)
            out.bet.append(bet)
            out.close.append(close.get(mid))
    return EvaluationData(games, out, sorted(wanted))
