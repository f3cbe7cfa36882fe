"""HTTP layer of value betting: `/markets`, `/bet/{id}`, `/bet/{id}/history`.

Who sees what (free and paid views) is `views`; the answers are `answers`. Every route here is
rate limited per user by tier, or per IP for anonymous callers (`core.ratelimit`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response

from edgelab.betting.ab import service as ab
from edgelab.betting.markets import answers, schemas, views
from edgelab.betting.markets.other_venues import OtherVenues
from edgelab.betting.markets.views import CallerView
from edgelab.core.auth import refuse_if_restricted
from edgelab.core.db import ReadSessionMakerDep, SessionDep
from edgelab.core.deps import CacheDep, ResourcesDep, SettingsDep
from edgelab.core.errors import error_responses
from edgelab.core.formats import IsoDate
from edgelab.core.observability import request_id_of
from edgelab.core.ratelimit import limited_caller
from edgelab.core.resources import optional_resource

router = APIRouter(tags=["betting"])
OtherVenuesDep = Annotated[OtherVenues | None, Depends(optional_resource(OtherVenues))]
MarketIdPath = Annotated[str, Path(min_length=1, max_length=160, description="Market id.")]


def caller_view(scope: str) -> Callable[..., Awaitable[CallerView]]:
    """The route's dependency: the caller (`core.auth`, fresh each request), counted against
    their rate limit for `scope` (`core.ratelimit`), and the view that gives them. One
    dependency, not three: on a cached `/markets` each dependency is a visible share of the
    request."""
    caller = limited_caller(scope)

    async def view(
        request: Request, sessions: ReadSessionMakerDep, settings: SettingsDep
    ) -> CallerView:
        principal = await caller(request, sessions)
        refuse_if_restricted(principal)  # a Sentinel time-out pauses the feed (403)
        user_id = principal.id if principal is not None else None
        if principal is not None and principal.tier == "paid":
            return CallerView(paid=True, odds_delay_minutes=0, user_id=user_id)
        return CallerView(
            paid=False, odds_delay_minutes=settings.free_odds_delay_minutes, user_id=user_id
        )

    return view


MarketsView = Annotated[CallerView, Depends(caller_view("GET /markets"))]
BetView = Annotated[CallerView, Depends(caller_view("GET /bet/{market_id}"))]
HistoryView = Annotated[CallerView, Depends(caller_view("GET /bet/{market_id}/history"))]
PropsView = Annotated[CallerView, Depends(caller_view("GET /markets/props"))]


@router.get(
    "/markets",
    response_model=schemas.MarketList,
    responses=error_responses(401, 403, 422, 429),
    summary="Ranked markets of the slate by value score",
    openapi_extra={"parameters": ab.OPENAPI_PARAMETERS},
)
async def list_markets(
    request: Request,
    view: MarketsView,
    sessions: ReadSessionMakerDep,
    settings: SettingsDep,
    cache: CacheDep,
    resources: ResourcesDep,
    algorithm: Annotated[
        schemas.Algorithm | None,
        Query(description="Value-score algorithm; default: the caller's A/B arm (`arm`)."),
    ] = None,
    market_type: Annotated[
        schemas.MarketType | None, Query(description="Only this type; `prop` is paid.")
    ] = None,
    min_value_score: Annotated[float | None, Query(ge=0, le=100)] = None,
    min_confidence: Annotated[
        float | None,
        Query(ge=0, le=1, description="Paid: confidence is a paid field (free callers get 403)."),
    ] = None,
    date: Annotated[
        IsoDate | None, Query(description="Slate date; default the demo slate.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> Response:
    """The free view lists moneylines, spreads and totals at delayed odds, with confidence and
    market quality null; filtering on a paid field or type is a 403, not a silently empty list.
    Answers are cached per view: a paid body never reaches a free caller, nor the reverse.
    Without `algorithm` the ranking is the caller's A/B arm's (`betting.ab`); every answer
    names the arm, and the rows shown are logged as exposures (after the response, batched)."""
    # The client id header and cookie are read here, not declared as parameters: FastAPI's
    # per-parameter work was a measurable share of a cached answer (OpenAPI: openapi_extra).
    page = await answers.ranked_markets_page(
        sessions,
        cache,
        settings,
        resources.find(ab.ExposureBuffer),
        view,
        answers.MarketQuery(
            algorithm, market_type, min_value_score, min_confidence, date, limit, offset
        ),
        answers.Visitor(
            request.headers.get(ab.CLIENT_ID_HEADER),
            request.cookies.get(ab.CLIENT_ID_COOKIE),
            request_id_of(request),
        ),
    )
    response = Response(page.body, media_type="application/json")
    if page.new_client_id is not None:  # not set_cookie(): its SimpleCookie costs ~20 us
        secure = settings.app_base_url.startswith("https://")
        response.raw_headers.append(ab.client_id_cookie(page.new_client_id, secure=secure))
    return response


@router.get(
    "/markets/props",
    response_model=schemas.MarketList,
    responses=error_responses(401, 403, 422, 429),
    summary="Player props ranked by value score (paid)",
    openapi_extra={"parameters": ab.OPENAPI_PARAMETERS},
)
async def list_props(
    request: Request,
    view: PropsView,
    sessions: ReadSessionMakerDep,
    settings: SettingsDep,
    cache: CacheDep,
    resources: ResourcesDep,
    algorithm: Annotated[
        schemas.Algorithm | None,
        Query(description="Value-score algorithm; default: the caller's A/B arm (`arm`)."),
    ] = None,
    min_value_score: Annotated[float | None, Query(ge=0, le=100)] = None,
    date: Annotated[
        IsoDate | None, Query(description="Slate date; default the demo slate.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> Response:
    """Player props (points, rebounds, assists, threes, ...) priced as the other markets are:
    the consensus of the books quoting the same player, stat and line, value at the best price
    and line. The same as `/markets?market_type=prop`; paid only (403 otherwise)."""
    if not view.paid:
        raise views.paid_only("Props markets need a paid subscription.")
    return await list_markets(
        request, view, sessions, settings, cache, resources, algorithm, "prop",
        min_value_score, None, date, limit, offset,
    )  # fmt: skip


@router.get(
    "/bet/{market_id}",
    response_model=schemas.BetDetail,
    responses=error_responses(401, 403, 404, 422, 429),
    summary="One market's full breakdown under both algorithms",
)
async def get_bet(
    market_id: MarketIdPath,
    view: BetView,
    session: SessionDep,
    settings: SettingsDep,
    venues: OtherVenuesDep,
) -> schemas.BetDetail:
    """Free view: the delayed score, breakdowns and the stake suggestion null (named in
    `gated`); props are 403. The likely-loser note is for everyone."""
    return await answers.bet_detail(session, settings, view, market_id, venues)


@router.get(
    "/bet/{market_id}/history",
    response_model=schemas.BetHistory,
    responses=error_responses(401, 403, 404, 422, 429),
    summary="A market's scores over time as the odds moved (open to close)",
)
async def get_bet_history(
    market_id: MarketIdPath, view: HistoryView, session: SessionDep
) -> schemas.BetHistory:
    """Free callers get 200 with `points: null` (the seed contract calls it anonymously);
    paid callers get every score as the odds moved."""
    return await answers.bet_history(session, view, market_id)
