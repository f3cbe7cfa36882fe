"""HTTP layer of `GET /trends`: situational betting trends over the historical data, for paid
users (historical analytics, like `/evaluation`), rate limited per user by tier.

The games are loaded once per data fingerprint and kept in this process (`TrendGamesStore`,
about 2-3 s on the shipped seasons); each answer (tens of milliseconds to compute) is cached under
the fingerprint and the query, so an import that changes the data changes the key. NumPy and
SciPy are imported on first use, not with the app.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response

from edgelab.betting import trends_schemas as schemas
from edgelab.core.auth import PaidUser
from edgelab.core.db import ReadSessionMakerDep
from edgelab.core.deps import CacheDep, SettingsDep
from edgelab.core.errors import NotFoundError, error_responses
from edgelab.core.ratelimit import rate_limit

if TYPE_CHECKING:
    from edgelab.betting.trends_service import TrendGamesStore

router = APIRouter(tags=["trends"])
CACHE_PREFIX = "trends:"
CACHE_TTL = 3600.0  # seconds; keys carry the data fingerprint, so a stale answer is never served
SeasonQuery = Annotated[
    int | None,
    Query(ge=1900, le=2999, description="Season by its ending year (2019 = 2018-19), inclusive."),
]


def _store(request: Request) -> TrendGamesStore:
    """This app's memo of loaded games (made on first use: nothing is built at import time)."""
    store: TrendGamesStore | None = getattr(request.app.state, "trend_games", None)
    if store is None:
        from edgelab.betting.trends_service import TrendGamesStore

        store = request.app.state.trend_games = TrendGamesStore()
    return store


def _bad_range(season_from: int, season_to: int) -> RequestValidationError:
    return RequestValidationError(
        [
            {
                "loc": ("query", "season_from"),
                "msg": f"season_from ({season_from}) is after season_to ({season_to})",
                "type": "value_error",
                "input": season_from,
            }
        ]
    )


@router.get(
    "/trends",
    dependencies=[Depends(rate_limit("GET /trends"))],
    response_model=schemas.TrendsResponse,
    responses=error_responses(401, 403, 404, 422, 429),
    summary="Situational betting trends, with Benjamini-Hochberg correction",
)
async def list_trends(
    _user: PaidUser,
    sessions: ReadSessionMakerDep,
    settings: SettingsDep,
    cache: CacheDep,
    request: Request,
    market_type: schemas.TrendMarketType | None = None,
    season_from: SeasonQuery = None,
    season_to: SeasonQuery = None,
    group: schemas.TrendGroup | None = None,
    min_n: Annotated[
        int, Query(ge=1, le=100_000, description="Leave out trends with fewer bets.")
    ] = 50,
    alpha: Annotated[
        float,
        Query(gt=0, le=0.5, description="False discovery rate: significant = q_value <= alpha."),
    ] = 0.05,
) -> Response:
    """Rest, venue, favourite size, line movement, totals by month and by pace, division games:
    each with n, wins, pushes, rate with a Wilson interval, ROI at the closing price with an
    interval, a p-value against the market's fair probability, and the Benjamini-Hochberg
    q-value over every trend in this answer (so `market_type`, `group` and `min_n` change the
    family corrected for). Most trends are noise, and say so."""
    if season_from is not None and season_to is not None and season_from > season_to:
        raise _bad_range(season_from, season_to)
    from edgelab.betting.backtest import data_fingerprint

    async with sessions() as session:
        fp = await data_fingerprint(session)
    games = await _store(request).get(sessions, fp)
    seasons = games.seasons
    if not seasons:
        raise NotFoundError(
            "No games to compute trends from: run `edgelab import nba-shipped` first.",
            code="no_trend_data",
        )
    lo = max(season_from if season_from is not None else seasons[0], seasons[0])
    hi = min(season_to if season_to is not None else seasons[-1], seasons[-1])
    if lo > hi:
        raise NotFoundError(
            f"No season in {season_from}..{season_to}: seasons are named by their ending year "
            f"and the data has {seasons[0]}..{seasons[-1]}.",
            code="season_not_found",
            details={"seasons": seasons},
        )
    key = (
        f"{CACHE_PREFIX}{fp.digest}:{settings.devig_method}:{market_type}:{lo}:{hi}:{group}:"
        f"{min_n}:{alpha!r}"
    )

    async def fill() -> bytes:
        from edgelab.betting.trends import compute_trends

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

    body = await cache.get_or_fill(key, CACHE_TTL, fill)
    return Response(body, media_type="application/json")
