"""HTTP layer of the evaluation: the walk-forward backtest's verdicts, for paid users.

Answers come from one backtest per (data fingerprint, model version, de-vig method), computed
on the first request that needs it (a few seconds on the shipped seasons) and kept in this
process; each answer's bytes are cached under the same fingerprint, so an import that changes
the data changes the key and the next request recomputes. NumPy, scikit-learn and matplotlib
are imported on first use, not with the app.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from edgelab.betting import evaluation_schemas as schemas
from edgelab.core.auth import PaidUser
from edgelab.core.db import ReadSessionMakerDep
from edgelab.core.deps import CacheDep, SettingsDep
from edgelab.core.errors import NotFoundError, error_responses

if TYPE_CHECKING:
    from edgelab.betting.backtest import BacktestStore, DataFingerprint

router = APIRouter(prefix="/evaluation", tags=["evaluation"])
CACHE_PREFIX = "evaluation:"
CACHE_TTL = 3600.0  # seconds; keys carry the data fingerprint, so a stale answer is never served
PNG_CACHE_TTL = 60.0  # plots are ~80 kB: kept briefly, so many variants cannot fill the cache
ONLINE_CACHE_TTL = 10.0  # seconds; the live A/B figures change with every bet and exposure
SeasonQuery = Annotated[int | None, schemas.Season]
ERRORS = error_responses(401, 403, 404, 422)


def _backtests(request: Request) -> BacktestStore:
    """This app's backtest memo (made on first use: nothing is built at import time)."""
    store: BacktestStore | None = getattr(request.app.state, "backtests", None)
    if store is None:
        from edgelab.betting.backtest import BacktestStore

        store = request.app.state.backtests = BacktestStore()
    return store


async def _fingerprint(sessions: ReadSessionMakerDep, season: int | None) -> DataFingerprint:
    """The data's fingerprint; 404 when the season (or any season) cannot be evaluated."""
    from edgelab.betting.backtest import data_fingerprint
    from edgelab.betting.model_jobs import evaluation_fingerprint

    async with sessions() as session:  # a model update changes the key too: recomputed after it
        fp = await evaluation_fingerprint(session, await data_fingerprint(session))
    if not fp.seasons:
        raise NotFoundError(
            "No season can be evaluated: import at least two seasons of results first "
            "(`edgelab import nba-shipped`).",
            code="no_evaluation_data",
        )
    if season is not None and season not in fp.seasons:
        raise NotFoundError(
            f"Season {season} cannot be evaluated: seasons are named by their ending year and "
            f"the data has {fp.seasons[0]}..{fp.seasons[-1]} (the first season in the data only "
            "trains the model).",
            code="season_not_found",
            details={"seasons": list(fp.seasons)},
        )
    return fp


@router.get(
    "/compare",
    response_model=schemas.CompareResponse,
    responses=ERRORS,
    summary="Algorithm A vs B, and p_true vs the market, on the walk-forward backtest",
)
async def compare(
    _user: PaidUser,
    sessions: ReadSessionMakerDep,
    settings: SettingsDep,
    cache: CacheDep,
    request: Request,
    season: SeasonQuery = None,
    market_type: schemas.EvaluatedMarketType | None = None,
) -> Response:
    """Brier, log loss and calibration of p_true, algorithm B's shrunk probability and the
    de-vigged market (every method) at the closing and opening lines; the bets each algorithm
    scores >= 50 and >= 70 (count, hit rate, ROI with a bootstrap interval, closing-line
    value); and every A-vs-B difference with a paired bootstrap interval over games. Read CLV
    and Brier first: ROI cannot separate the algorithms at these sample sizes. `online` is the
    live A/B test (`betting.ab`), computed fresh (cached 10 s), not with the backtest."""
    fp = await _fingerprint(sessions, season)
    key = f"{CACHE_PREFIX}compare:{fp.digest}:{settings.devig_method}:{season}:{market_type}"

    async def fill() -> bytes:
        from edgelab.betting import evaluation_report

        result = await _backtests(request).get(sessions, fp, settings.devig_method)
        doc = await asyncio.to_thread(
            evaluation_report.compare, result, season=season, market_type=market_type
        )
        response = schemas.CompareResponse.model_validate(doc)
        return response.model_dump_json(exclude={"online"}).encode()

    async def online() -> bytes:
        from edgelab.betting.ab import online_report

        async with sessions() as session:
            report = await online_report(
                session,
                experiment=settings.ab_experiment,
                days=settings.ab_attribution_days,
                split_b=settings.ab_split_b,
                force_arm=settings.ab_force_arm,
            )
        return schemas.OnlineComparison.model_validate(report).model_dump_json().encode()

    body = await cache.get_or_fill(key, CACHE_TTL, fill)
    online_key = f"{CACHE_PREFIX}online:{settings.ab_experiment}"
    live = await cache.get_or_fill(online_key, ONLINE_CACHE_TTL, online)
    body = b"".join((memoryview(body)[:-1], b',"online":', live, b"}"))
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
    sessions: ReadSessionMakerDep,
    settings: SettingsDep,
    cache: CacheDep,
    request: Request,
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
    fp = await _fingerprint(sessions, season)
    key = (
        f"{CACHE_PREFIX}calibration:{fp.digest}:{settings.devig_method}:{algorithm}:"
        f"{market_type}:{season}:{line}:{bins}:{format}"
    )

    async def fill() -> bytes:
        from edgelab.betting import evaluation_report

        result = await _backtests(request).get(sessions, fp, settings.devig_method)
        doc = evaluation_report.calibration(
            result,
            algorithm=algorithm,
            season=season,
            market_type=market_type,
            line=line,
            n_bins=bins,
        )
        body = schemas.CalibrationResponse.model_validate(doc)
        if format == "json":
            return body.model_dump_json().encode()
        from edgelab.betting.calibration_plot import reliability_png

        return await asyncio.to_thread(reliability_png, body.model_dump())

    body = await cache.get_or_fill(key, PNG_CACHE_TTL if format == "png" else CACHE_TTL, fill)
    media = "image/png" if format == "png" else "application/json"
    return Response(body, media_type=media)
