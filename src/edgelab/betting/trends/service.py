"""Loading the games and lines trends are computed from, and keeping them per data fingerprint.

The games and their one open/close price per market come from the backtest's loader
(`backtest.load_backtest_data`: one bookmaker per game and market, the earliest opening and the
latest closing capture), so the trends and the evaluation read the same lines. Whether the
prices of a market type were assumed (-110 where the data has none) is one aggregate query.

`trends_json` is what `GET /trends` answers: each answer (tens of milliseconds to compute) is
cached under the data fingerprint and the query, so an import that changes the data changes
the key. NumPy and SciPy are imported on first use, not with the app.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict

from sqlalchemy import Integer, cast, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from edgelab.betting import errors
from edgelab.betting.evaluation.backtest import (
    KINDS,
    DataFingerprint,
    data_fingerprint,
    load_backtest_data,
)
from edgelab.betting.odds.models import Market, OddsSnapshot, Outcome
from edgelab.betting.trends import schemas
from edgelab.betting.trends.games import MARKET_TYPES, TrendGames
from edgelab.core.errors import NotFoundError
from edgelab.core.resources import Resources

CACHE_PREFIX = "trends:"
CACHE_TTL = 3600.0  # seconds; keys carry the data fingerprint, so a stale answer is never served


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


async def trends_json(
    resources: Resources,
    *,
    market_type: schemas.TrendMarketType | None,
    season_from: int | None,
    season_to: int | None,
    group: schemas.TrendGroup | None,
    min_n: int,
    alpha: float,
) -> bytes:
    """`schemas.TrendsResponse` as JSON over the seasons in `season_from..season_to` that the
    data has (either bound open: the data's first or last). 404 `no_trend_data` without games,
    `season_not_found` when the range holds none of the data's seasons.

    The fingerprint is read in a short session of its own; the games are loaded once per
    fingerprint into this app's `TrendGamesStore` (seconds, in a session of the store's)."""
    settings, cache, sessions = resources.settings, resources.cache, resources.sessionmaker
    async with sessions() as session:
        fp = await data_fingerprint(session)
    games = await resources.setdefault(TrendGamesStore, TrendGamesStore).get(sessions, fp)
    seasons = games.seasons
    if not seasons:
        raise NotFoundError(
            "No games to compute trends from: run `edgelab import nba-shipped` first.",
            code=errors.NO_TREND_DATA,
        )
    lo = max(season_from if season_from is not None else seasons[0], seasons[0])
    hi = min(season_to if season_to is not None else seasons[-1], seasons[-1])
    if lo > hi:
        raise NotFoundError(
            f"No season in {season_from}..{season_to}: seasons are named by their ending year "
            f"and the data has {seasons[0]}..{seasons[-1]}.",
            code=errors.SEASON_NOT_FOUND,
            details={"seasons": seasons},
        )
    key = (
        f"{CACHE_PREFIX}{fp.digest}:{settings.devig_method}:{market_type}:{lo}:{hi}:{group}:"
        f"{min_n}:{alpha!r}"
    )

    async def fill() -> bytes:
        from edgelab.betting.trends.report import compute_trends

        doc = await asyncio.to_thread(
            compute_trends,
            games,
            season_from=lo,
            season_to=hi,
            market_type=market_type,
            group=group,
            min_n=min_n,
            alpha=alpha,
            devig_method=settings.devig_method,
        )
        return schemas.TrendsResponse.model_validate(doc).model_dump_json().encode()

    return await cache.get_or_fill(key, CACHE_TTL, fill)
