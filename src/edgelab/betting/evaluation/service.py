"""Evaluation use cases: the walk-forward backtest's verdicts as cached answers (bytes).

Answers come from one backtest per (data fingerprint, model version, de-vig method), computed
on the first request that needs it and kept in this process (`BacktestStore`, one per app in
its `Resources`); each answer's bytes are cached under the same fingerprint, so an import or a
model update changes the key and the next request recomputes. The fingerprint is read in a
short session of its own, closed before a backtest that may take seconds. NumPy, scikit-learn
and matplotlib are imported on first use, not with the app.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Literal

from sqlalchemy.ext.asyncio import AsyncSession

from edgelab.betting import errors
from edgelab.betting.evaluation import schemas
from edgelab.core.db import cached_read
from edgelab.core.errors import NotFoundError
from edgelab.core.resources import Resources

if TYPE_CHECKING:
    from edgelab.betting.evaluation.backtest import BacktestStore, DataFingerprint

CACHE_PREFIX = "evaluation:"
CACHE_TTL = 3600.0  # seconds; keys carry the data fingerprint, so a stale answer is never served
PNG_CACHE_TTL = 60.0  # plots are ~80 kB: kept briefly, so many variants cannot fill the cache
ONLINE_CACHE_TTL = 10.0  # seconds; the live A/B figures change with every bet and exposure


def backtests(resources: Resources) -> BacktestStore:
    """This app's backtest memo (made on first use: nothing is built at import time)."""
    from edgelab.betting.evaluation.backtest import BacktestStore

    return resources.setdefault(BacktestStore, BacktestStore)


async def evaluation_fingerprint(resources: Resources, season: int | None) -> DataFingerprint:
    """The data's fingerprint (and the last model update's); 404 `no_evaluation_data` when no
    season can be evaluated, `season_not_found` when `season` cannot."""
    from edgelab.betting.evaluation.backtest import data_fingerprint
    from edgelab.betting.model.jobs import evaluation_fingerprint as with_model

    async with resources.sessionmaker() as session:  # read-only, closed before any backtest
        fp = await with_model(session, await data_fingerprint(session))
    if not fp.seasons:
        raise NotFoundError(
            "No season can be evaluated: import at least two seasons of results first "
            "(`edgelab import nba-shipped`).",
            code=errors.NO_EVALUATION_DATA,
        )
    if season is not None and season not in fp.seasons:
        raise NotFoundError(
            f"Season {season} cannot be evaluated: seasons are named by their ending year and "
            f"the data has {fp.seasons[0]}..{fp.seasons[-1]} (the first season in the data only "
            "trains the model).",
            code=errors.SEASON_NOT_FOUND,
            details={"seasons": list(fp.seasons)},
        )
    return fp


async def compare_json(
    resources: Resources,
    *,
    season: int | None,
    market_type: schemas.EvaluatedMarketType | None,
) -> bytes:
    """`schemas.CompareResponse` as JSON: the backtest's part cached CACHE_TTL under the
    fingerprint, and `online` (the live A/B test) spliced in, cached ONLINE_CACHE_TTL."""
    settings, cache, sessions = resources.settings, resources.cache, resources.sessionmaker
    fp = await evaluation_fingerprint(resources, season)
    key = f"{CACHE_PREFIX}compare:{fp.digest}:{settings.devig_method}:{season}:{market_type}"

    async def fill() -> bytes:
        from edgelab.betting.evaluation import report as evaluation_report

        result = await backtests(resources).get(sessions, fp, settings.devig_method)
        doc = await asyncio.to_thread(
            evaluation_report.compare, result, season=season, market_type=market_type
        )
        response = schemas.CompareResponse.model_validate(doc)
        return response.model_dump_json(exclude={"online"}).encode()

    async def online(session: AsyncSession) -> bytes:
        from edgelab.betting.ab.service import online_report

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
    live = await cached_read(cache, sessions, online_key, ONLINE_CACHE_TTL, online)
    return b"".join((memoryview(body)[:-1], b',"online":', live, b"}"))


async def calibration_answer(
    resources: Resources,
    *,
    algorithm: schemas.Algorithm,
    market_type: schemas.EvaluatedMarketType | None,
    season: int | None,
    line: schemas.LineKind,
    bins: int,
    fmt: Literal["json", "png"],
) -> bytes:
    """The reliability curve as `schemas.CalibrationResponse` JSON, or (`fmt` png) its plot;
    cached CACHE_TTL (plots PNG_CACHE_TTL) under the fingerprint and the query."""
    settings, cache, sessions = resources.settings, resources.cache, resources.sessionmaker
    fp = await evaluation_fingerprint(resources, season)
    key = (
        f"{CACHE_PREFIX}calibration:{fp.digest}:{settings.devig_method}:{algorithm}:"
        f"{market_type}:{season}:{line}:{bins}:{fmt}"
    )

    async def fill() -> bytes:
        from edgelab.betting.evaluation import report as evaluation_report

        result = await backtests(resources).get(sessions, fp, settings.devig_method)
        doc = evaluation_report.calibration(
            result,
            algorithm=algorithm,
            season=season,
            market_type=market_type,
            line=line,
            n_bins=bins,
        )
        body = schemas.CalibrationResponse.model_validate(doc)
        if fmt == "json":
            return body.model_dump_json().encode()
        from edgelab.betting.evaluation.plots import reliability_png

        return await asyncio.to_thread(reliability_png, body.model_dump())

    return await cache.get_or_fill(key, PNG_CACHE_TTL if fmt == "png" else CACHE_TTL, fill)
