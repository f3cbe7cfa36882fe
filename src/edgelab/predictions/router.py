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

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response

from edgelab.core.auth import PaidUser
from edgelab.core.db import ReadSessionMakerDep, SessionDep
from edgelab.core.deps import CacheDep, SettingsDep
from edgelab.core.errors import InvalidInputError, error_responses
from edgelab.core.formats import IsoDatetime
from edgelab.core.ratelimit import rate_limit
from edgelab.core.resources import resource
from edgelab.predictions import charts, schemas, service, views
from edgelab.predictions.sources.clients import PredictionClients

router = APIRouter(tags=["predictions"])
MarketKey = Annotated[
    str, Path(min_length=1, max_length=300, description="Market id, slug or condition id.")
]
AwareDatetime = Annotated[
    IsoDatetime | None, Query(description="ISO 8601 with an offset, e.g. 2026-12-31T00:00:00Z.")
]


ClientsDep = Annotated[PredictionClients, Depends(resource(PredictionClients))]


def _aware(name: str, value: dt.datetime | None) -> None:
    if value is not None and value.tzinfo is None:
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
    recorded: Annotated[
        bool | None,
        Query(description="true: only markets from a shipped recording; false: only live ones."),
    ] = None,
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
        active, closed, tag, q, min_volume, min_liquidity, ending_before, ending_after, recorded
    )
    body = await service.market_list_json(
        settings,
        cache,
        sessions,
        filters,
        query=request.query_params.multi_items(),
        sort=sort,
        order=order,
        limit=limit,
        offset=offset,
    )
    return Response(body, media_type="application/json")


@router.get(
    "/predictions/markets/{market_id}",
    dependencies=[Depends(rate_limit("GET /predictions/markets/{id}"))],
    response_model=schemas.MarketDetail,
    responses=error_responses(401, 404, 422, 429),
    summary="One market: outcomes and prices, book top, volume, liquidity, resolution",
)
async def get_prediction_market(market_id: MarketKey, session: SessionDep) -> schemas.MarketDetail:
    market, outcomes = await service.market_with_outcomes(session, market_id)
    return views.market_detail(market, outcomes)


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
    raw = await service.history_json(
        settings,
        cache,
        sessions,
        clients,
        market_id,
        outcome=outcome,
        interval=interval,
        fidelity=fidelity,
        fmt=format,
    )
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
    market, answer = await service.news_of_market(settings, cache, sessions, clients, market_id)
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
    session: SessionDep,
    market_id: Annotated[str | None, Query(min_length=1, max_length=300)] = None,
    series_type: schemas.SeriesType = "line",
    theme: schemas.Theme = "dark",
    interval: schemas.Interval = "1w",
) -> schemas.ChartConfig:
    market: dict[str, object] | None = None
    outcomes: list[dict[str, object]] = []
    if market_id is not None:
        m, rows = await service.market_with_outcomes(session, market_id)
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
    _user: PaidUser, session: SessionDep, settings: SettingsDep
) -> schemas.ValueList:
    """Each side of a matched game whose edge after fees exceeds
    EDGELAB_PREDICTIONS_VALUE_THRESHOLD, largest first (how it is computed: `crossvenue`)."""
    found = await service.cross_venue_value(session, settings)
    return schemas.ValueList(
        items=[schemas.ValueRow.model_validate(r) for r in found.rows],
        threshold=settings.predictions_value_threshold,
        fee_rate=settings.polymarket_fee_rate,
        matched_games=found.matched_games,
        notes=found.notes,
    )
