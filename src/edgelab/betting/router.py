"""HTTP layer of value betting: parse, call the service, shape the response."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Path, Query
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession

from edgelab.betting import schemas, service
from edgelab.core.db import ReadSessionMakerDep, SessionDep
from edgelab.core.deps import CacheDep, SettingsDep
from edgelab.core.errors import error_responses

router = APIRouter(tags=["betting"])
CACHE_PREFIX = "markets:"
# Short forms of the formulas documented in full in betting/scoring.py.
FORMULA_A = "100 * (1 - exp(-max(raw_edge, 0) * confidence * market_quality / 0.05))"
FORMULA_B = "100 * (1 - exp(-stake / 0.01)), stake = 0.25 * max(kelly(p_shrunk), 0)"
MarketIdPath = Annotated[str, Path(min_length=1, max_length=160, description="Market id.")]


def _row(item: service.ScoredOutcome, algorithm: str) -> dict[str, object]:
    s, g = item.score, item.game
    return {
        "market_id": s.outcome_id,
        "game_id": g.id,
        "market_type": item.market.market_type,
        "outcome_label": item.outcome.label,
        "side": item.outcome.side,
        "home_team": g.home_team,
        "away_team": g.away_team,
        "line": s.line,
        "odds_decimal": s.odds_decimal,
        "odds_kind": s.odds_kind,
        "bookmaker": s.bookmaker,
        "price_assumed": item.price_assumed,
        "p_true": s.p_true,
        "p_market": s.p_market,
        "raw_edge": s.raw_edge,
        "value_score": s.algo_a_value_score if algorithm == "a" else s.algo_b_value_score,
        "algo_a_value_score": s.algo_a_value_score,
        "algo_a_confidence": s.algo_a_confidence,
        "algo_a_market_quality": s.algo_a_market_quality,
        "algo_b_value_score": s.algo_b_value_score,
        "algo_b_confidence": s.algo_b_confidence,
        "algo_b_market_quality": s.algo_b_market_quality,
        "tip_time": g.tip_time,
        "tip_time_estimated": g.tip_time_estimated,
        "time_to_tip_minutes": s.time_to_tip_minutes,
        "calc_time": s.calc_time,
    }


def _notes(items: list[service.ScoredOutcome]) -> list[str]:
    notes = []
    if any(i.game.tip_time_estimated for i in items):
        notes.append(service.ESTIMATED_TIME_NOTE)
    if any(i.price_assumed for i in items):
        notes.append(service.ASSUMED_PRICE_NOTE)
    return notes


@router.get(
    "/markets",
    response_model=schemas.MarketList,
    responses=error_responses(422),
    summary="Ranked markets of the slate by value score",
)
async def list_markets(
    sessions: ReadSessionMakerDep,
    settings: SettingsDep,
    cache: CacheDep,
    algorithm: Annotated[schemas.Algorithm, Query(description="Value-score algorithm.")] = "a",
    market_type: schemas.MarketType | None = None,
    min_value_score: Annotated[float | None, Query(ge=0, le=100)] = None,
    min_confidence: Annotated[float | None, Query(ge=0, le=1)] = None,
    date: Annotated[
        dt.date | None, Query(description="Slate date; default the demo slate.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> Response:
    key = (
        f"{CACHE_PREFIX}{algorithm}|{market_type}|{min_value_score}|{min_confidence}|"
        f"{date}|{limit}|{offset}"
    )

    async def build() -> bytes:
        async with sessions() as session:  # read-only: nothing to commit
            return await _market_list(session)

    async def _market_list(session: AsyncSession) -> bytes:
        slate_date = date or await service.resolve_slate_date(session, settings)
        items, total = await service.list_markets(
            session,
            algorithm=algorithm,
            slate_date=slate_date,
            market_type=market_type,
            min_value_score=min_value_score,
            min_confidence=min_confidence,
            limit=limit,
            offset=offset,
        )
        notes = _notes(items)
        if total == 0:
            notes.append("No scored markets for this slate: run `edgelab score` (make demo does).")
        return (
            schemas.MarketList(
                items=[schemas.MarketRow.model_validate(_row(i, algorithm)) for i in items],
                total=total,
                limit=limit,
                offset=offset,
                algorithm=algorithm,
                slate_date=slate_date,
                notes=notes,
            )
            .model_dump_json()
            .encode()
        )

    body = await cache.get_or_fill(key, settings.markets_cache_ttl_seconds, build)
    return Response(body, media_type="application/json")


@router.get(
    "/bet/{market_id}",
    response_model=schemas.BetDetail,
    responses=error_responses(404, 422),
    summary="One market's full breakdown under both algorithms",
)
async def get_bet(market_id: MarketIdPath, session: SessionDep) -> schemas.BetDetail:
    item = await service.current_score(session, market_id)
    fit = await service.model_fit(session, item.score.model_version)
    s = item.score
    return schemas.BetDetail.model_validate(
        {
            **_row(item, "a"),
            "p_market_by_method": s.p_market_methods,
            "devig_method": s.devig_method,
            "margin": s.margin,
            "algo_a_components": s.algo_a_components,
            "algo_b_components": s.algo_b_components,
            "algo_a": {
                "value_score": s.algo_a_value_score,
                "confidence": s.algo_a_confidence,
                "market_quality": s.algo_a_market_quality,
                "components": s.algo_a_components,
                "formula": FORMULA_A,
            },
            "algo_b": {
                "value_score": s.algo_b_value_score,
                "confidence": s.algo_b_confidence,
                "market_quality": s.algo_b_market_quality,
                "components": s.algo_b_components,
                "formula": FORMULA_B,
            },
            "model": {
                "version": fit.version,
                "trained_through": fit.trained_through,
                "n_games": fit.n_games,
                "components": s.model_components,
            },
            "game_date": item.game.game_date,
            "notes": _notes([item]),
        }
    )


@router.get(
    "/bet/{market_id}/history",
    response_model=schemas.BetHistory,
    responses=error_responses(404, 422),
    summary="A market's scores over time as the odds moved (open to close)",
)
async def get_bet_history(market_id: MarketIdPath, session: SessionDep) -> schemas.BetHistory:
    version, rows = await service.score_history(session, market_id)
    points = [
        schemas.HistoryPoint(
            calc_time=r.calc_time,
            odds_kind=r.odds_kind,  # type: ignore[arg-type]
            bookmaker=r.bookmaker,
            odds_decimal=r.odds_decimal,
            line=r.line,
            time_to_tip_minutes=r.time_to_tip_minutes,
            p_true=r.p_true,
            p_market=r.p_market,
            raw_edge=r.raw_edge,
            algo_a_value_score=r.algo_a_value_score,
            algo_b_value_score=r.algo_b_value_score,
        )
        for r in rows
    ]
    notes = [service.ESTIMATED_TIME_NOTE] if points else []
    return schemas.BetHistory(
        market_id=market_id, model_version=version, points=points, notes=notes
    )
