"""HTTP layer of `GET /trends`: situational betting trends over the historical data, for paid
users (historical analytics, like `/evaluation`), rate limited per user by tier.

The games are loaded once per data fingerprint and kept in this process (`TrendGamesStore`,
about 2-3 s on the shipped seasons); each answer (tens of milliseconds to compute) is cached under
the fingerprint and the query, so an import that changes the data changes the key. NumPy and
SciPy are imported on first use, not with the app.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response

from edgelab.betting.trends import schemas
from edgelab.core.auth import PaidUser
from edgelab.core.deps import ResourcesDep
from edgelab.core.errors import error_responses
from edgelab.core.ratelimit import rate_limit

router = APIRouter(tags=["trends"])
SeasonQuery = Annotated[
    int | None,
    Query(ge=1900, le=2999, description="Season by its ending year (2019 = 2018-19), inclusive."),
]


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
    resources: ResourcesDep,
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
    from edgelab.betting.trends.service import trends_json  # NumPy and SciPy: on first use

    body = await trends_json(
        resources,
        market_type=market_type,
        season_from=season_from,
        season_to=season_to,
        group=group,
        min_n=min_n,
        alpha=alpha,
    )
    return Response(body, media_type="application/json")
