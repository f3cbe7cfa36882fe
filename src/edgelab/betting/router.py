"""HTTP layer of value betting: parse, call the service, shape the response.

Free and paid views, enforced here on every route (the caller comes from `core.auth`, fresh on
every request, so a tier change shows on the next request; anonymous callers get the free view):

| feature                              | free (and anonymous)                 | paid      |
| odds freshness                       | as of EDGELAB_FREE_ODDS_DELAY_MINUTES | real time |
| value scores, p_true, p_market, edge | yes                                  | yes       |
| confidence, market quality breakdown | null, named in `gated`               | yes       |
| stake suggestion (`/bet`)            | null, named in `gated`               | yes       |
| props markets                        | not listed; asked for: 403           | yes       |
| score history                        | `points: null`, `gated: ["points"]`  | yes       |

Refusals are 403 `paid_subscription_required`. Every route here is rate limited per user by tier,
or per IP for anonymous callers (`core.ratelimit`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession

from edgelab.betting import ab, schemas, service
from edgelab.betting.models import ValueScore
from edgelab.core.auth import ForbiddenError, refuse_if_restricted
from edgelab.core.db import ReadSessionMakerDep, SessionDep
from edgelab.core.deps import CacheDep, SettingsDep
from edgelab.core.errors import error_responses
from edgelab.core.observability import request_id_of
from edgelab.core.ratelimit import limited_caller
from edgelab.core.settings import Settings

router = APIRouter(tags=["betting"])
CACHE_PREFIX = "markets:"
FREE_MARKET_TYPES = ("moneyline", "spread", "total")  # every other type (props) is paid
# Row fields null in the free view; the bet detail also nulls the breakdowns' insides.
FREE_GATED_ROW_FIELDS = (
    "algo_a_confidence",
    "algo_a_market_quality",
    "algo_b_confidence",
    "algo_b_market_quality",
)
FREE_GATED_BREAKDOWN_FIELDS = ("confidence", "market_quality", "components")
FREE_GATED_DETAIL_FIELDS = (
    *FREE_GATED_ROW_FIELDS,
    "algo_a_components",
    "algo_b_components",
    *(f"algo_{a}.{f}" for a in ("a", "b") for f in FREE_GATED_BREAKDOWN_FIELDS),
    "stake_suggestion",
)
PROPS_NOTE = "Props markets are for paid subscribers: the free view does not list them."
GATED_NOTE = (
    "Confidence and market-quality breakdowns are for paid subscribers: the fields in `gated` "
    "are null in the free view."
)
HISTORY_NOTE = "Score history is for paid subscribers: `points` is null in the free view."
# Short forms of the formulas documented in full in betting/scoring.py.
FORMULA_A = "100 * (1 - exp(-max(raw_edge, 0) * confidence * market_quality / 0.05))"
FORMULA_B = "100 * (1 - exp(-stake / 0.01)), stake = 0.25 * max(kelly(p_shrunk), 0)"
MarketIdPath = Annotated[str, Path(min_length=1, max_length=160, description="Market id.")]


@dataclass(frozen=True)
class CallerView:
    """What this caller may see: the paid view, or the free one with odds this many minutes
    old (0 = real time, `EDGELAB_FREE_ODDS_DELAY_MINUTES=0`)."""

    paid: bool
    odds_delay_minutes: int
    user_id: str | None = None  # the signed-in caller (the A/B subject), None when anonymous

    @property
    def name(self) -> schemas.View:
        return "paid" if self.paid else "free"

    def as_of(self) -> dt.datetime | None:
        """The newest odds time this caller may see; None for real time."""
        if self.odds_delay_minutes == 0:
            return None
        return dt.datetime.now(dt.UTC) - dt.timedelta(minutes=self.odds_delay_minutes)

    def delay_note(self) -> str:
        return (
            f"Free view: each market as of its latest score at least {self.odds_delay_minutes} "
            "minutes old; a paid subscription shows real-time odds."
        )


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


def _paid_only(message: str) -> ForbiddenError:
    return ForbiddenError(message, code="paid_subscription_required")


def _refuse_props(market_type: str) -> None:
    if market_type not in FREE_MARKET_TYPES:
        raise _paid_only(f"{market_type.capitalize()} markets need a paid subscription.")


def _row(item: service.ScoredOutcome, algorithm: str, paid: bool) -> dict[str, object]:
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
        "algo_a_confidence": s.algo_a_confidence if paid else None,
        "algo_a_market_quality": s.algo_a_market_quality if paid else None,
        "algo_b_value_score": s.algo_b_value_score,
        "algo_b_confidence": s.algo_b_confidence if paid else None,
        "algo_b_market_quality": s.algo_b_market_quality if paid else None,
        "tip_time": g.tip_time,
        "tip_time_estimated": g.tip_time_estimated,
        "time_to_tip_minutes": s.time_to_tip_minutes,
        "calc_time": s.calc_time,
        "best_price": s.model_components.get("best_price")
        or {"odds": s.odds_decimal, "bookmaker": s.bookmaker},  # scored before best prices
    }


# Stored with the model's numbers (`slate.score_slate`) but shown as their own fields.
MARKET_VIEW_COMPONENTS = ("consensus_books", "best_price")


def _stake_suggestion(s: ValueScore, settings: Settings) -> dict[str, object]:
    """Fractional Kelly (`scoring.stake_suggestion`) on algorithm B's shrunk probability, the
    same p_shrunk B's value score stakes on."""
    from edgelab.betting import scoring  # SciPy: not at start-up

    k = scoring.stake_suggestion(
        s.algo_b_components["p_shrunk"],
        s.odds_decimal,
        fraction=settings.kelly_fraction,
        max_stake=settings.kelly_max_stake,
    )
    if k.full_kelly <= 0:
        explanation = (
            f"No edge once p_true is shrunk toward the market: p {k.p_used:.1%} at "
            f"{k.odds:.2f} is below the break-even {1 / k.odds:.1%}, so stake nothing."
        )
    else:
        explanation = (
            f"Full Kelly at p {k.p_used:.1%} and odds {k.odds:.2f} is {k.full_kelly:.1%} of "
            f"bankroll; {k.kelly_fraction:g} of it is {k.kelly_fraction * k.full_kelly:.2%}"
            + (f", capped at {k.max_stake:.1%}." if k.capped else ".")
            + " Fractional Kelly trades a little growth for far less risk from an "
            "overestimated p."
        )
    return {**asdict(k), "explanation": explanation}


def _likely_loser_note(s: ValueScore) -> list[str]:
    """Value on the side the model expects to lose confuses many users: say it plainly."""
    if not (s.p_true < 0.5 and s.raw_edge > 0):
        return []
    return [
        f"The model expects this side to lose more often than not (p_true {s.p_true:.0%}); "
        f"the value is in the price: at {s.odds_decimal:.2f} it needs to win only "
        f"{1 / s.odds_decimal:.0%} of the time to break even, so it wins often enough to "
        "profit over many bets."
    ]


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
        dt.date | None, Query(description="Slate date; default the demo slate.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> Response:
    """The free view lists moneylines, spreads and totals at delayed odds, with confidence and
    market quality null; filtering on a paid field or type is a 403, not a silently empty list.
    Answers are cached per view: a paid body never reaches a free caller, nor the reverse.
    Without `algorithm` the ranking is the caller's A/B arm's (`betting.ab`); every answer
    names the arm, and the rows shown are logged as exposures (after the response, batched)."""
    if not view.paid:
        if market_type is not None:
            _refuse_props(market_type)
        if min_confidence is not None:
            raise _paid_only("Filtering on confidence needs a paid subscription.")
    # The client id header and cookie are read here, not declared as parameters: FastAPI's
    # per-parameter work was a measurable share of a cached answer (OpenAPI: openapi_extra).
    assignment = ab.assign(
        experiment=settings.ab_experiment,
        split_b=settings.ab_split_b,
        force_arm=settings.ab_force_arm,
        user_id=view.user_id,
        header_client_id=ab.header_client_id(request.headers.get(ab.CLIENT_ID_HEADER)),
        cookie_client_id=request.cookies.get(ab.CLIENT_ID_COOKIE),
    )
    used = algorithm or assignment.arm
    key = (  # the algorithm shown, not the arm: the body's arm is added per request
        f"{CACHE_PREFIX}ab|{view.name}|{used}|{market_type}|{min_value_score}|"
        f"{min_confidence}|{date}|{limit}|{offset}"
    )

    async def build() -> bytes:
        async with sessions() as session:  # read-only: nothing to commit
            return await _market_list(session)

    async def _market_list(session: AsyncSession) -> bytes:
        slate_date = date or await service.resolve_slate_date(session, settings)
        as_of = view.as_of()  # at fill time: a cached free answer only gets older

        async def ranked(
            as_of: dt.datetime | None, limit: int, offset: int
        ) -> tuple[list[service.ScoredOutcome], int]:
            return await service.list_markets(
                session,
                algorithm=used,
                slate_date=slate_date,
                market_type=market_type,
                min_value_score=min_value_score,
                min_confidence=min_confidence,
                limit=limit,
                offset=offset,
                as_of=as_of,
                market_types=None if view.paid else FREE_MARKET_TYPES,
            )

        items, total = await ranked(as_of, limit, offset)
        notes = _notes(items)
        if not view.paid:
            notes += ([view.delay_note()] if as_of else []) + [GATED_NOTE, PROPS_NOTE]
        if total == 0 and as_of is not None and (await ranked(None, 1, 0))[1]:
            notes.append("No market here has a score that old yet.")
        elif total == 0:
            notes.append("No scored markets for this slate: run `edgelab score` (make demo does).")
        body = schemas.MarketList(
            items=[schemas.MarketRow.model_validate(_row(i, used, view.paid)) for i in items],
            total=total,
            limit=limit,
            offset=offset,
            algorithm=used,
            slate_date=slate_date,
            view=view.name,
            odds_delay_minutes=view.odds_delay_minutes,
            gated=[] if view.paid else list(FREE_GATED_ROW_FIELDS),
            notes=notes,
            arm=used,  # per caller: left out here, added by ab.finish_markets_body
            experiment=settings.ab_experiment,
        ).model_dump_json(exclude={"arm", "experiment"})
        return ab.pack_markets_body(slate_date, [i.score.outcome_id for i in items], body.encode())

    packed = await cache.get_or_fill(key, settings.markets_cache_ttl_seconds, build)
    body, shown = ab.finish_markets_body(packed, assignment.arm, settings.ab_experiment)
    exposures: ab.ExposureBuffer | None = getattr(request.app.state, "ab_exposures", None)
    if assignment.logged and exposures is not None:
        exposures.append(
            (
                shown,
                offset,
                settings.ab_experiment,
                ab.subject_digest(assignment.subject),
                assignment.user_id,
                assignment.arm,
                used,
                algorithm is not None,
                dt.datetime.now(dt.UTC),
                request_id_of(request),
            )
        )
    response = Response(body, media_type="application/json")
    if assignment.new_client_id is not None:  # not set_cookie(): its SimpleCookie costs ~20 us
        secure = settings.app_base_url.startswith("https://")
        response.raw_headers.append(ab.client_id_cookie(assignment.new_client_id, secure=secure))
    return response


def _breakdown(
    value_score: float,
    confidence: float,
    market_quality: float,
    components: dict[str, float],
    formula: str,
    paid: bool,
) -> dict[str, object]:
    return {
        "value_score": value_score,
        "confidence": confidence if paid else None,
        "market_quality": market_quality if paid else None,
        "components": components if paid else None,
        "formula": formula,
    }


async def _visible_score(
    session: AsyncSession, market_id: str, view: CallerView
) -> service.ScoredOutcome:
    """The market's score this caller may see: current for paid, delayed for free (403 when
    it has no score that old yet, or it is a props market)."""
    item = await service.current_score(session, market_id)
    if view.paid:
        return item
    _refuse_props(item.market.market_type)
    as_of = view.as_of()
    if as_of is None or item.score.calc_time <= as_of:
        return item
    delayed = await service.score_as_of(session, market_id, item.score.model_version, as_of)
    if delayed is None:
        raise _paid_only(
            f"This market has no price at least {view.odds_delay_minutes} minutes old yet: "
            "real-time odds need a paid subscription."
        )
    return delayed


@router.get(
    "/bet/{market_id}",
    response_model=schemas.BetDetail,
    responses=error_responses(401, 403, 404, 422, 429),
    summary="One market's full breakdown under both algorithms",
)
async def get_bet(
    market_id: MarketIdPath, view: BetView, session: SessionDep, settings: SettingsDep
) -> schemas.BetDetail:
    """Free view: the delayed score, breakdowns and the stake suggestion null (named in
    `gated`); props are 403. The likely-loser note is for everyone."""
    item = await _visible_score(session, market_id, view)
    fit = await service.model_fit(session, item.score.model_version)
    s, paid = item.score, view.paid
    notes = _notes([item]) + _likely_loser_note(s)
    if not paid:
        notes += ([view.delay_note()] if view.odds_delay_minutes else []) + [GATED_NOTE]
    other_markets: list[dict[str, object]] = []
    if item.market.market_type == "moneyline":  # the same side on Polymarket, when matched
        from edgelab.predictions.crossvenue import polymarket_prices

        g = item.game
        prices = await polymarket_prices(
            session, settings, game_date=g.game_date, home=g.home_team, away=g.away_team
        )
        other_markets = [prices[item.outcome.side]] if item.outcome.side in prices else []
    return schemas.BetDetail.model_validate(
        {
            **_row(item, "a", paid),
            "p_market_by_method": s.p_market_methods,
            "p_market_books": s.model_components.get("consensus_books") or [s.bookmaker],
            "stake_suggestion": _stake_suggestion(s, settings) if paid else None,
            "devig_method": s.devig_method,
            "margin": s.margin,
            "algo_a_components": s.algo_a_components if paid else None,
            "algo_b_components": s.algo_b_components if paid else None,
            "algo_a": _breakdown(
                s.algo_a_value_score,
                s.algo_a_confidence,
                s.algo_a_market_quality,
                s.algo_a_components,
                FORMULA_A,
                paid,
            ),
            "algo_b": _breakdown(
                s.algo_b_value_score,
                s.algo_b_confidence,
                s.algo_b_market_quality,
                s.algo_b_components,
                FORMULA_B,
                paid,
            ),
            "model": {
                "version": fit.version,
                "trained_through": fit.trained_through,
                "n_games": fit.n_games,
                "components": {
                    k: v for k, v in s.model_components.items() if k not in MARKET_VIEW_COMPONENTS
                },
            },
            "game_date": item.game.game_date,
            "view": view.name,
            "odds_delay_minutes": view.odds_delay_minutes,
            "gated": [] if paid else list(FREE_GATED_DETAIL_FIELDS),
            "notes": notes,
            "other_markets": other_markets,
        }
    )


@router.get(
    "/bet/{market_id}/history",
    response_model=schemas.BetHistory,
    responses=error_responses(401, 403, 404, 422, 429),
    summary="A market's scores over time as the odds moved (open to close)",
)
async def get_bet_history(
    market_id: MarketIdPath, view: HistoryView, session: SessionDep
) -> schemas.BetHistory:
    """Historical analytics are paid, yet free callers get 200 here, not 403: this route predates
    gating and the value-betting seed contract calls it anonymously and requires a 200. So the
    free view is `points: null` with `gated: ["points"]` and a note (unknown markets are still
    404, props 403). Historical endpoints added since answer 403 `paid_subscription_required`.
    """
    if not view.paid:
        item = await service.current_score(session, market_id)
        _refuse_props(item.market.market_type)
        return schemas.BetHistory(
            market_id=market_id,
            model_version=item.score.model_version,
            points=None,
            view="free",
            gated=["points"],
            notes=[HISTORY_NOTE],
        )
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
        market_id=market_id,
        model_version=version,
        points=points,
        view="paid",
        gated=[],
        notes=notes,
    )
