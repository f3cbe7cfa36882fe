"""Loading the games and lines trends are computed from, and keeping them per data fingerprint.

The games and their one open/close price per market come from the backtest's loader
(`backtest.load_backtest_data`: one bookmaker per game and market, the earliest opening and the
latest closing capture), so the trends and the evaluation read the same lines. Whether the
prices of a market type were assumed (-110 where the data has none) is one aggregate query.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict

from sqlalchemy import Integer, cast, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from edgelab.betting.backtest import KINDS, DataFingerprint, load_backtest_data
from edgelab.betting.models import Market, OddsSnapshot, Outcome
from edgelab.betting.trends import MARKET_TYPES, TrendGames


async def price_assumed_by_type(session: AsyncSession) -> dict[str, bool]:
    """Per market type: whether any open/close price of it was assumed rather than in the data."""
    rows = await session.execute(
        select(Market.market_type, func.max(cast(OddsSnapshot.price_assumed, Integer)))
        .join(Outcome, Outcome.market_id == Market.id)
        .join(OddsSnapshot, OddsSnapshot.outcome_id == Outcome.id)
        .where(OddsSnapshot.kind.in_(KINDS), Market.market_type.in_(MARKET_TYPES))
        .group_by(Market.market_type)
    )
    return {str(mtype): bool(assumed) for mtype, assumed in rows}


async def load_trend_games(session: AsyncSession) -> TrendGames:
    data = await load_backtest_data(session)
    return TrendGames.from_markets(
        day=data.day,
        season=data.season,
        home=data.home,
        away=data.away,
        neutral=data.neutral,
        home_score=data.home_score,
        away_score=data.away_score,
        market_game=data.market_game,
        market_type=data.market_type,
        market_kind=data.market_kind,
        line=data.line,
        odds=data.odds,
        price_assumed=await price_assumed_by_type(session),
    )


class TrendGamesStore:
    """The games of the latest data fingerprints in this process, loaded once per fingerprint
    (concurrent first requests wait for one load). An import changes the fingerprint."""

    def __init__(self, max_entries: int = 2) -> None:
        self._items: OrderedDict[str, TrendGames] = OrderedDict()
        self._max = max_entries
        self._lock = asyncio.Lock()

    async def get(
        self, sessions: async_sessionmaker[AsyncSession], fingerprint: DataFingerprint
    ) -> TrendGames:
        key = fingerprint.digest
        if key in self._items:
            return self._items[key]
        async with self._lock:
            if key not in self._items:
                async with sessions() as session:
                    self._items[key] = await load_trend_games(session)
                while len(self._items) > self._max:
                    self._items.popitem(last=False)
            return self._items[key]
