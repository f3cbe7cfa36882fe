"""HTTP layer of the evaluation: the walk-forward backtest's verdicts, for paid users.

Answers come from one backtest per (data fingerprint, model version, de-vig method), computed
on the first request that needs it (a few seconds on the shipped seasons) and kept in this
process; each answer's bytes are cached under the same fingerprint, so an import that changes
the data changes the key and the next request recomputes. NumPy, scikit-learn and matplotlib
are imported on first use, not with the app.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response

from edgelab.betting.evaluation import schemas, service
from edgelab.core.auth import PaidUser
from edgelab.core.deps import ResourcesDep
from edgelab.core.errors import error_responses

router = APIRouter(tags=["evaluation"])
SeasonQuery = Annotated[int | None, schemas.Season]
ERRORS = error_responses(401, 403, 404, 422)


@router.get(
    "/compare",
    response_model=schemas.CompareResponse,
    responses=ERRORS,
    summary="Algorithm A vs B, and p_true vs the market, on the walk-forward backtest",
)
async def compare(
    _user: PaidUser,
    resources: ResourcesDep,
    season: SeasonQuery = None,
    market_type: schemas.EvaluatedMarketType | None = None,
) -> Response:
    """Brier, log loss and calibration of p_true, algorithm B's shrunk probability and the
    de-vigged market (every method) at the closing and opening lines; the bets each algorithm
    scores >= 50 and >= 70 (count, hit rate, ROI with a bootstrap interval, closing-line
    value); and every A-vs-B difference with a paired bootstrap interval over games. Read CLV
    and Brier first: ROI cannot separate the algorithms at these sample sizes. `online` is the
    live A/B test (`betting.ab`), computed fresh (cached 10 s), not with the backtest."""
    body = await service.compare_json(resources, season=season, market_type=market_type)
    return Response(body, media_type="application/json")


@router.get(
    "/calibration",
    response_model=schemas.CalibrationResponse,
    responses={
        200: {
            "description": "The reliability curve as JSON, or as a PNG plot with format=png.",
            "content": {"image/png": {"schema": {"type": "string", "format": "binary"}}},
        },
        **ERRORS,
    },
    summary="Reliability curve of an algorithm's probability beside the market's",
)
async def calibration(
    _user: PaidUser,
    resources: ResourcesDep,
    algorithm: schemas.Algorithm = "a",
    market_type: schemas.EvaluatedMarketType | None = None,
    season: SeasonQuery = None,
    line: Annotated[
        schemas.LineKind, Query(description="Opening lines exist for spreads and totals only.")
    ] = "close",
    bins: Annotated[int, Query(ge=2, le=50, description="Equal-width probability bins.")] = 10,
    format: Annotated[
        Literal["json", "png"], Query(description="png: the plot a person would rather read.")
    ] = "json",
) -> Response:
    """Per bin: mean predicted probability, observed rate and count, for the algorithm's
    probability (A: p_true, B: p_shrunk) and the de-vigged market on the same markets."""
    body = await service.calibration_answer(
        resources,
        algorithm=algorithm,
        market_type=market_type,
        season=season,
        line=line,
        bins=bins,
        fmt=format,
    )
    media = "image/png" if format == "png" else "application/json"
    return Response(body, media_type=media)
