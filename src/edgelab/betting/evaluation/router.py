"""HTTP layer of the evaluation: the value model's walk-forward evaluation, for paid users.

Answers come from the stored report (`service`, computed by the `betting.evaluate` job), in
milliseconds; when the data changed since, the report is served marked stale (`report.stale`)
and a recompute is enqueued. 503 `evaluation_pending` (with
`Retry-After`) before the first report exists.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from edgelab.betting.evaluation import schemas, service
from edgelab.core.auth import PaidUser
from edgelab.core.deps import ResourcesDep
from edgelab.core.errors import error_responses
from edgelab.core.ratelimit import count_request, rate_limit

router = APIRouter(tags=["evaluation"])
SeasonQuery = Annotated[int | None, schemas.Season]
ERRORS = error_responses(401, 403, 404, 422, 503)


@router.get(
    "/compare",
    response_model=schemas.CompareResponse,
    responses=ERRORS,
    summary="The value model's walk-forward evaluation: forecasts, flagged bets, baselines",
)
async def compare(
    _user: PaidUser,
    resources: ResourcesDep,
    season: SeasonQuery = None,
    market_type: schemas.EvaluatedMarketType | None = None,
) -> Response:
    """Per market type: Brier and log loss of p_true, of the consensus at the last pre-tip
    moment and of the close; the bets each rule flags (`a>=50`, `a>=70`, `b>=50`, `b>=70`,
    `ev>=1%`, `ev>=2%`, `ev>=3%`, `default`) and each baseline takes (Kaunitz at alpha 0, 0.02,
    0.05; line shopping) with count, hit rate, ROI and closing-line value (95% bootstrap
    intervals over games) and the share that beat the close; the rating model's blend weight
    per season. `report` says which stored report answered and whether it is stale; `online`
    is the live A/B test, fresh within 10 s."""
    body = await service.compare_json(resources, season=season, market_type=market_type)
    return Response(body, media_type="application/json")


@router.get(
    "/calibration",
    dependencies=[Depends(rate_limit("GET /evaluation/calibration"))],
    response_model=schemas.CalibrationResponse,
    responses={
        200: {
            "description": "The reliability curve as JSON, or as a PNG plot with format=png.",
            "content": {"image/png": {"schema": {"type": "string", "format": "binary"}}},
        },
        **ERRORS,
        **error_responses(429),
    },
    summary="Reliability curve of p_true beside the close or the consensus",
)
async def calibration(
    request: Request,
    user: PaidUser,
    resources: ResourcesDep,
    algorithm: schemas.Algorithm = "a",
    market_type: schemas.EvaluatedMarketType | None = None,
    season: SeasonQuery = None,
    line: Annotated[
        schemas.LineKind,
        Query(
            description="close: beside the de-vigged close; open: beside the consensus at "
            "the last pre-tip moment."
        ),
    ] = "close",
    bins: Annotated[int, Query(ge=2, le=50, description="Equal-width probability bins.")] = 10,
    format: Annotated[
        Literal["json", "png"], Query(description="png: the plot a person would rather read.")
    ] = "json",
) -> Response:
    """Per bin: mean predicted probability, observed rate and count, for p_true (both
    algorithms rank by it) and the market forecast on the same markets. Every call counts
    against the caller's tier limit; a PNG (rendered per parameter set) also against
    `EDGELAB_RATE_LIMIT_RENDER`."""
    if format == "png":
        await count_request(request, user, "GET /evaluation/calibration png", policy_limit="render")
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
