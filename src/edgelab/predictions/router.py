"""HTTP layer of prediction markets: Polymarket markets, history for charts, news, value.

Free and paid, like value betting's split (current data free, historical analytics paid):

| route                                    | free (and anonymous) | paid |
| `GET /predictions/markets`, `/{id}`      | yes                  | yes  |
| `GET /charts/config`                     | yes                  | yes  |
| `GET /predictions/markets/{id}/history`  | 403                  | yes  |
| `GET /predictions/markets/{id}/news`     | 403                  | yes  |
| `GET /predictions/value`                 | 403                  | yes  |

History and cross-venue value are historical analytics (paid, as `/trends`, `/evaluation`);
news is paid because each answer spends a share of NewsAPI's 100 requests a day. Refusals are
403 `paid_subscription_required`; every route is rate limited per user by tier, or per IP.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import orjson
from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response

from edgelab.core.auth import PaidUser
from edgelab.core.db import ReadSessionMakerDep
from edgelab.core.deps import CacheDep, SettingsDep
from edgelab.core.errors import error_responses
from edgelab.core.ratelimit import rate_limit
from edgelab.predictions import charts, schemas, service
from edgelab.predictions.clients import PredictionClients
from edgelab.predictions.models import PredictionMarket, PredictionOutcome

router = APIRouter(tags=["predictions"])
CACHE_PREFIX = "predictions:markets:"  # cleared by `edgelab ingest polymarket` on Redis
HISTORY_CACHE_PREFIX = "predictions:markets:history:"  # cleared with it
MarketKey = Annotated[
    str, Path(min_length=1, max_length=300, description="Market id, slug or condition id.")
]
AwareDatetime = Annotated[
    dt.datetime | None, Query(description="ISO 8601 with an offset, e.g. 2026-12-31T00:00:00Z.")
]


async def get_clients(request: Request) -> PredictionClients:
    clients: PredictionClients = request.app.state.predictions
    return clients


ClientsDep = Annotated[PredictionClients, Depends(get_clients)]


def _outcomes(rows: list[PredictionOutcome]) -> list[schemas.OutcomePrice]:
    return [schemas.OutcomePrice(name=o.name, token_id=o.token_id, price=o.price) for o in rows]


def _summary(m: PredictionMarket, outcomes: list[PredictionOutcome]) -> schemas.MarketSummary:
    return schemas.MarketSummary(
        id=m.id,
        condition_id=m.condition_id,
        slug=m.slug,
        question=m.question,
        event_title=m.event_title,
        tags=list(m.tags or []),
        active=m.active,
        closed=m.closed,
        end_date=m.end_date,
        volume=m.volume,
        volume_24h=m.volume_24h,
        liquidity=m.liquidity,
        best_bid=m.best_bid,
        best_ask=m.best_ask,
        spread=m.spread,
        price_change_24h=m.price_change_24h,
        resolution_status=m.resolution_status,
        outcomes=_outcomes(outcomes),
    )


def _aware(name: str, value: dt.datetime | None) -> None:
    if value is not None and value.tzinfo is None:
        from edgelab.core.errors import InvalidInputError

        raise InvalidInputError(f"{name} needs a UTC offset (e.g. Z or +00:00).")


@router.get(
    "/predictions/markets",
    dependencies=[Depends(rate_limit("GET /predictions/markets"))],
    response_model=schemas.MarketList,
    responses=error_responses(400, 401, 422, 429),
    summary="Polymarket markets: filters, sorting, paging",
)
async def list_prediction_markets(
    request: Request,
    sessions: ReadSessionMakerDep,
    settings: SettingsDep,
    cache: CacheDep,
    active: bool | None = None,
    closed: bool | None = None,
    tag: Annotated[str | None, Query(max_length=100, description="Tag label or slug.")] = None,
    q: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
    min_volume: Annotated[float | None, Query(ge=0)] = None,
    min_liquidity: Annotated[float | None, Query(ge=0)] = None,
    ending_before: AwareDatetime = None,
    ending_after: AwareDatetime = None,
    sort: schemas.SortKey = "volume_24h",
    order: schemas.SortOrder = "desc",
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> Response:
    """Markets as last ingested; no filter on `closed` unless asked (Polymarket's own listing
    hides closed markets by default, this one does not). Nulls sort last either way. Answers
    are cached EDGELAB_PREDICTIONS_CACHE_TTL_SECONDS (the same for every caller: free data)."""
    _aware("ending_before", ending_before)
    _aware("ending_after", ending_after)
    filters = service.MarketFilters(
        active, closed, tag, q, min_volume, min_liquidity, ending_before, ending_after
    )

    async def build() -> bytes:
        async with sessions() as session:  # read-only; may run after this request ends
            markets, outcomes, total = await service.list_markets(
                session, filters, sort=sort, order=order, limit=limit, offset=offset
            )
            run = await service.latest_run(session)
            notes = []
            if total == 0 and not await service.has_data(session):
                notes.append(service.NO_DATA_NOTE)
            if service.empty_window(ending_before, ending_after):
                notes.append(service.EMPTY_WINDOW_NOTE)
        last = (
            schemas.IngestInfo(
                run_id=run.id,
                finished_at=run.finished_at,
                ok=run.ok,
                fetched=run.fetched,
                written=run.written,
                errors=run.errors[:5],
            )
            if run
            else None
        )
        body = schemas.MarketList(
            items=[_summary(m, outcomes[m.id]) for m in markets],
            total=total,
            limit=limit,
            offset=offset,
            sort=sort,
            order=order,
            last_ingest=last,
            notes=notes,
        )
        return body.model_dump_json().encode()

    key = f"{CACHE_PREFIX}{sorted(request.query_params.multi_items())}"
    body = await cache.get_or_fill(key, settings.predictions_cache_ttl_seconds, build)
    return Response(body, media_type="application/json")


def _resolution(m: PredictionMarket) -> schemas.Resolution:
    if m.resolved_outcome:
        status = "resolved"
    elif m.closed:
        status = "closed"
    else:
        status = "open"
    return schemas.Resolution(
        status=status, uma_status=m.resolution_status, outcome=m.resolved_outcome
    )


@router.get(
    "/predictions/markets/{market_id}",
    dependencies=[Depends(rate_limit("GET /predictions/markets/{id}"))],
    response_model=schemas.MarketDetail,
    responses=error_responses(401, 404, 422, 429),
    summary="One market: outcomes and prices, book top, volume, liquidity, resolution",
)
async def get_prediction_market(
    market_id: MarketKey, sessions: ReadSessionMakerDep
) -> schemas.MarketDetail:
    async with sessions() as session:
        m = await service.get_market(session, market_id)
        outcomes = (await service.outcomes_of(session, [m.id]))[m.id]
    base = f"/predictions/markets/{m.id}"
    return schemas.MarketDetail(
        **_summary(m, outcomes).model_dump(),
        description=m.description,
        category=m.category,
        event_id=m.event_id,
        event_slug=m.event_slug,
        archived=m.archived,
        start_date=m.start_date,
        game_start_time=m.game_start_time,
        last_trade_price=m.last_trade_price,
        tick_size=m.tick_size,
        resolution=_resolution(m),
        updated_at=m.upstream_updated_at,
        fetched_at=m.fetched_at,
        links={
            "history": f"{base}/history",
            "news": f"{base}/news",
            "chart_config": f"/charts/config?market_id={m.id}",
            "polymarket": f"https://polymarket.com/market/{m.slug}" if m.slug else "",
        },
    )


@router.get(
    "/predictions/markets/{market_id}/history",
    dependencies=[Depends(rate_limit("GET /predictions/markets/{id}/history"))],
    response_model=schemas.History,
    responses=error_responses(401, 403, 404, 422, 429, 502, 503),
    summary="Price history of one outcome in Lightweight Charts' format (paid)",
)
async def get_prediction_history(
    market_id: MarketKey,
    _user: PaidUser,
    sessions: ReadSessionMakerDep,
    settings: SettingsDep,
    cache: CacheDep,
    clients: ClientsDep,
    outcome: Annotated[
        str | None,
        Query(max_length=300, description="Outcome name or token id; default the first."),
    ] = None,
    interval: schemas.Interval = "max",
    fidelity: Annotated[
        int | None, Query(ge=1, le=10_080, description="Bucket minutes; default per interval.")
    ] = None,
    format: schemas.HistoryFormat = "line",
) -> Response:
    """`time` is UNIX seconds, strictly ascending and unique: pass `data` to `setData`.

    The same for every paid caller, so cached EDGELAB_PREDICTIONS_CACHE_TTL_SECONDS with one
    refresh at a time (the old answer served meanwhile). The refresh is its own unit of work:
    it stores what the CLOB sent and may finish after this request."""

    async def build() -> bytes:
        async with sessions() as session:
            market = await service.get_market(session, market_id)
            series = await service.price_history(
                session,
                settings,
                cache,
                clients,
                market,
                outcome=outcome,
                interval=interval,
                fidelity=fidelity,
                fmt=format,
            )
            await session.commit()
        return orjson.dumps(
            {
                "market_id": market.id,
                "outcome": series.outcome.name,
                "token_id": series.outcome.token_id,
                "format": format,
                "series_type": "Candlestick" if format == "candles" else "Line",
                "interval": interval,
                "fidelity": series.fidelity,
                "data": series.data,
                "points": len(series.data),
                "source": series.source,
                "stale": series.stale,
                "notes": series.notes,
            }
        )

    key = f"{HISTORY_CACHE_PREFIX}{market_id}|{outcome}|{interval}|{fidelity}|{format}"
    raw = await cache.get_or_fill(key, settings.predictions_cache_ttl_seconds, build)
    return Response(raw, media_type="application/json")


@router.get(
    "/predictions/markets/{market_id}/news",
    dependencies=[Depends(rate_limit("GET /predictions/markets/{id}/news"))],
    response_model=schemas.News,
    responses=error_responses(401, 403, 404, 422, 429, 502, 503),
    summary="News about a market, deduplicated, newest first (paid)",
)
async def get_prediction_news(
    market_id: MarketKey,
    _user: PaidUser,
    sessions: ReadSessionMakerDep,
    settings: SettingsDep,
    cache: CacheDep,
    clients: ClientsDep,
) -> schemas.News:
    """Cached for EDGELAB_NEWSAPI_CACHE_TTL_SECONDS; NewsAPI failing (or the daily budget
    spent) serves the last answer with `stale: true`, or 503 `upstream_rate_limited` /
    502 `upstream_auth_failed` when there is none."""
    async with sessions() as session:
        market = await service.get_market(session, market_id)
    answer = await service.market_news(settings, cache, clients, market)
    return schemas.News(
        market_id=market.id,
        query=answer.query,
        articles=[schemas.Article.model_validate(a) for a in answer.articles],
        total_results=answer.total_results,
        stale=answer.stale,
        fetched_at=answer.fetched_at,
        budget=answer.budget,
        notes=answer.notes,
    )


@router.get(
    "/charts/config",
    dependencies=[Depends(rate_limit("GET /charts/config"))],
    response_model=schemas.ChartConfig,
    responses=error_responses(401, 404, 422, 429),
    summary="A Lightweight Charts widget config for a market (or a generic probability chart)",
)
async def get_chart_config(
    sessions: ReadSessionMakerDep,
    market_id: Annotated[str | None, Query(min_length=1, max_length=300)] = None,
    series_type: schemas.SeriesType = "line",
    theme: schemas.Theme = "dark",
    interval: schemas.Interval = "1w",
) -> schemas.ChartConfig:
    market: dict[str, object] | None = None
    outcomes: list[dict[str, object]] = []
    if market_id is not None:
        async with sessions() as session:
            m = await service.get_market(session, market_id)
            rows = (await service.outcomes_of(session, [m.id]))[m.id]
        market = {"id": m.id, "question": m.question, "tick_size": m.tick_size}
        outcomes = [{"name": o.name, "token_id": o.token_id} for o in rows]
    config = charts.widget_config(
        market=market, outcomes=outcomes, series_type=series_type, theme=theme, interval=interval
    )
    return schemas.ChartConfig.model_validate(config)


@router.get(
    "/predictions/value",
    dependencies=[Depends(rate_limit("GET /predictions/value"))],
    response_model=schemas.ValueList,
    responses=error_responses(401, 403, 422, 429),
    summary="NBA games where Polymarket and the de-vigged sportsbook price disagree (paid)",
)
async def list_cross_venue_value(
    _user: PaidUser, sessions: ReadSessionMakerDep, settings: SettingsDep
) -> schemas.ValueList:
    """Each side of a matched game whose edge after fees exceeds
    EDGELAB_PREDICTIONS_VALUE_THRESHOLD, largest first (how it is computed: `crossvenue`)."""
    from edgelab.predictions.crossvenue import value_rows

    async with sessions() as session:
        found = await value_rows(session, settings)
        notes = []
        if not await service.has_data(session):
            notes.append(service.NO_DATA_NOTE)
        elif found.matched_games == 0:
            notes.append(
                "No Polymarket NBA game market matches a scored game of ours (same two teams, "
                "same date): ingest live odds and score the slate, and ingest Polymarket."
            )
    return schemas.ValueList(
        items=[schemas.ValueRow.model_validate(r) for r in found.rows],
        threshold=settings.predictions_value_threshold,
        fee_rate=settings.polymarket_fee_rate,
        matched_games=found.matched_games,
        notes=notes,
    )
