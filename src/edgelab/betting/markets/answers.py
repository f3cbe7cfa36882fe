"""The answers of the value-betting routes, for the caller's view: ranked markets (with the
A/B arm, the shared cache and the exposure log), a bet's detail and its score history."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from edgelab.betting.ab import service as ab
from edgelab.betting.markets import schemas, service, views
from edgelab.betting.markets.other_venues import OtherVenues
from edgelab.betting.markets.views import CallerView
from edgelab.core.cache import Cache
from edgelab.core.clock import utcnow
from edgelab.core.db import cached_read
from edgelab.core.settings import Settings


@dataclass(frozen=True)
class MarketQuery:
    """`GET /markets`' filters, validated by the route."""

    algorithm: schemas.Algorithm | None
    market_type: schemas.MarketType | None
    min_value_score: float | None
    min_confidence: float | None
    date: dt.date | None
    limit: int
    offset: int


@dataclass(frozen=True)
class Visitor:
    """Who is asking, for the A/B assignment and the exposure log."""

    header_client_id: str | None
    cookie_client_id: str | None
    request_id: str | None


@dataclass(frozen=True)
class MarketsPage:
    body: bytes
    new_client_id: str | None  # set a cookie with it (a first visit without an id)


async def ranked_markets_page(
    sessions: async_sessionmaker[AsyncSession],
    cache: Cache,
    settings: Settings,
    exposures: ab.ExposureBuffer | None,
    view: CallerView,
    query: MarketQuery,
    visitor: Visitor,
) -> MarketsPage:
    """The free view lists moneylines, spreads and totals at delayed odds, with confidence and
    market quality null; filtering on a paid field or type is a 403, not a silently empty list.
    Answers are cached per view: a paid body never reaches a free caller, nor the reverse.
    Without `algorithm` the ranking is the caller's A/B arm's (`betting.ab`); every answer
    names the arm, and the rows shown are logged as exposures (after the response, batched)."""
    if not view.paid:
        if query.market_type is not None:
            views.refuse_props(query.market_type)
        if query.min_confidence is not None:
            raise views.paid_only("Filtering on confidence needs a paid subscription.")
    assignment = ab.assign(
        experiment=settings.ab_experiment,
        split_b=settings.ab_split_b,
        force_arm=settings.ab_force_arm,
        user_id=view.user_id,
        header_client_id=ab.header_client_id(visitor.header_client_id),
        cookie_client_id=visitor.cookie_client_id,
    )
    used = query.algorithm or assignment.arm
    q = query
    key = (  # the algorithm shown, not the arm: the body's arm is added per request
        f"{views.CACHE_PREFIX}ab|{view.name}|{used}|{q.market_type}|{q.min_value_score}|"
        f"{q.min_confidence}|{q.date}|{q.limit}|{q.offset}"
    )

    async def build(session: AsyncSession) -> bytes:
        now = utcnow()
        window = (now, now + dt.timedelta(hours=settings.markets_window_hours))
        live = (
            q.date is None
            and settings.demo_date is None
            and await service.has_live_markets(session, *window)
        )
        slate_date = None if live else q.date or await service.resolve_slate_date(session, settings)
        as_of = view.as_of()  # at fill time: a cached free answer only gets older

        async def ranked(
            as_of: dt.datetime | None, limit: int, offset: int
        ) -> tuple[list[service.ScoredOutcome], int]:
            return await service.list_markets(
                session,
                algorithm=used,
                slate_date=slate_date,
                market_type=q.market_type,
                min_value_score=q.min_value_score,
                min_confidence=q.min_confidence,
                limit=limit,
                offset=offset,
                as_of=as_of,
                market_types=None if view.paid else views.FREE_MARKET_TYPES,
                tip_window=window if live else None,
            )

        items, total = await ranked(as_of, q.limit, q.offset)
        notes = views.notes_for(items)
        if live:
            notes.append(
                f"Live: the games tipping off in the next {settings.markets_window_hours:g} "
                "hours; a game leaves the list when it starts."
            )
        if not view.paid:
            notes += ([view.delay_note()] if as_of else []) + [views.GATED_NOTE, views.PROPS_NOTE]
        if total == 0 and as_of is not None and (await ranked(None, 1, 0))[1]:
            notes.append("No market here has a score that old yet.")
        elif total == 0 and not live:
            notes.append("No scored markets for this slate: run `edgelab score` (make demo does).")
        body = schemas.MarketList(
            items=[schemas.MarketRow.model_validate(views.row(i, used, view.paid)) for i in items],
            total=total,
            limit=q.limit,
            offset=q.offset,
            algorithm=used,
            slate_date=slate_date,
            view=view.name,
            odds_delay_minutes=view.odds_delay_minutes,
            gated=[] if view.paid else list(views.FREE_GATED_ROW_FIELDS),
            notes=notes,
            arm=used,  # per caller: left out here, added by ab.finish_markets_body
            experiment=settings.ab_experiment,
        ).model_dump_json(exclude={"arm", "experiment"})
        return ab.pack_markets_body(slate_date, [i.score.outcome_id for i in items], body.encode())

    packed = await cached_read(cache, sessions, key, settings.markets_cache_ttl_seconds, build)
    body, shown = ab.finish_markets_body(packed, assignment.arm, settings.ab_experiment)
    if assignment.logged and exposures is not None:
        exposures.append(
            (
                shown,
                q.offset,
                settings.ab_experiment,
                ab.subject_digest(assignment.subject),
                assignment.user_id,
                assignment.arm,
                used,
                q.algorithm is not None,
                utcnow(),
                visitor.request_id,
            )
        )
    return MarketsPage(body, assignment.new_client_id)


async def visible_score(
    session: AsyncSession, market_id: str, view: CallerView
) -> service.ScoredOutcome:
    """The market's score this caller may see: current for paid, delayed for free (403 when
    it has no score that old yet, or it is a props market)."""
    item = await service.current_score(session, market_id)
    if view.paid:
        return item
    views.refuse_props(item.market.market_type)
    as_of = view.as_of()
    if as_of is None or item.score.calc_time <= as_of:
        return item
    delayed = await service.score_as_of(session, market_id, item.score.model_version, as_of)
    if delayed is None:
        raise views.paid_only(
            f"This market has no price at least {view.odds_delay_minutes} minutes old yet: "
            "real-time odds need a paid subscription."
        )
    return delayed


async def bet_detail(
    session: AsyncSession,
    settings: Settings,
    view: CallerView,
    market_id: str,
    venues: OtherVenues | None,
) -> schemas.BetDetail:
    """Free view: the delayed score, breakdowns and the stake suggestion null (named in
    `gated`); props are 403. The likely-loser note is for everyone."""
    item = await visible_score(session, market_id, view)
    fit = await service.model_fit(session, item.score.model_version)
    s, paid = item.score, view.paid
    notes = views.notes_for([item]) + views.likely_loser_note(s)
    if not paid:
        notes += ([view.delay_note()] if view.odds_delay_minutes else []) + [views.GATED_NOTE]
    other_markets: list[dict[str, object]] = []
    if item.market.market_type == "moneyline" and venues is not None:  # e.g. Polymarket
        g = item.game
        prices = await venues.prices(
            session, settings, game_date=g.game_date, home=g.home_team, away=g.away_team
        )
        other_markets = [prices[item.outcome.side]] if item.outcome.side in prices else []
    return views.detail(item, fit, view, settings, notes, other_markets)


async def bet_history(
    session: AsyncSession, view: CallerView, market_id: str
) -> schemas.BetHistory:
    """Historical analytics are paid, yet free callers get 200 here, not 403: this route predates
    gating and the value-betting seed contract calls it anonymously and requires a 200. So the
    free view is `points: null` with `gated: ["points"]` and a note (unknown markets are still
    404, props 403). Historical endpoints added since answer 403 `paid_subscription_required`.
    """
    if not view.paid:
        item = await service.current_score(session, market_id)
        views.refuse_props(item.market.market_type)
        return schemas.BetHistory(
            market_id=market_id,
            model_version=item.score.model_version,
            points=None,
            view="free",
            gated=["points"],
            notes=[views.HISTORY_NOTE],
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
