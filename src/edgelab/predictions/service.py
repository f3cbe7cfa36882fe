"""Prediction-market use cases: list and read markets, price history, news, freshness.

Takes a session and plain arguments; flushes, never commits (the request or job does). The
answers cached for every caller (the market list, a price history) are filled here in a
session of their own (`core.db.cached_read`), under keys that start with `CACHE_PREFIX`.

Over 400 lines on purpose: every use case the product's routes call is here, one screen each
(listing, backend, news, history, value); the package is at its 15 modules, and splitting the
use cases across sub-packages would scatter one product's small routes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from edgelab.betting.errors import MARKET_NOT_FOUND
from edgelab.core.cache import Cache
from edgelab.core.db import cached_read
from edgelab.core.error_codes import UPSTREAM_RATE_LIMITED
from edgelab.core.errors import NotFoundError
from edgelab.core.http.stale import StaleCache
from edgelab.core.http.upstream import upstream_error
from edgelab.core.settings import Settings
from edgelab.predictions import schemas, views
from edgelab.predictions.history import price_history
from edgelab.predictions.models import PredictionIngestRun, PredictionMarket, PredictionOutcome
from edgelab.predictions.sources import news_query
from edgelab.predictions.sources.clients import PredictionClients
from edgelab.predictions.sources.newsapi import NewsBudget, seconds_to_utc_midnight

CACHE_PREFIX = "predictions:markets:"  # cleared by `edgelab ingest polymarket` on Redis
HISTORY_CACHE_PREFIX = "predictions:markets:history:"  # cleared with it (same prefix)
NO_DATA_NOTE = (
    "No Polymarket data has been ingested yet: run `edgelab ingest polymarket` (or wait for "
    "the scheduled ingest every EDGELAB_POLYMARKET_INGEST_MINUTES) to fetch the markets."
)
SORT_COLUMNS = {
    "volume": PredictionMarket.volume,
    "volume_24h": PredictionMarket.volume_24h,
    "liquidity": PredictionMarket.liquidity,
    "price_change_24h": PredictionMarket.price_change_24h,
    "end_date": PredictionMarket.end_date,
}


@dataclass(frozen=True)
class MarketFilters:
    active: bool | None = None
    closed: bool | None = None
    tag: str | None = None
    q: str | None = None
    min_volume: float | None = None
    min_liquidity: float | None = None
    ending_before: dt.datetime | None = None
    ending_after: dt.datetime | None = None
    recorded: bool | None = None  # True: only recorded markets; False: only live ones


def _like(text: str) -> str:
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _filtered(stmt: Select[Any], f: MarketFilters) -> Select[Any]:
    m = PredictionMarket
    if f.active is not None:
        stmt = stmt.where(m.active.is_(f.active))
    if f.closed is not None:
        stmt = stmt.where(m.closed.is_(f.closed))
    if f.tag:
        from edgelab.predictions.sources.polymarket import tag_slug

        stmt = stmt.where(m.tag_slugs.like(_like(f"|{tag_slug(f.tag)}|"), escape="\\"))
    if f.q:
        pattern = _like(f.q.strip())
        stmt = stmt.where(
            or_(
                func.lower(m.question).like(pattern, escape="\\"),
                func.lower(func.coalesce(m.event_title, "")).like(pattern, escape="\\"),
                func.lower(func.coalesce(m.slug, "")).like(pattern, escape="\\"),
            )
        )
    if f.min_volume is not None:
        stmt = stmt.where(m.volume >= f.min_volume)
    if f.min_liquidity is not None:
        stmt = stmt.where(m.liquidity >= f.min_liquidity)
    if f.ending_before is not None:
        stmt = stmt.where(m.end_date < f.ending_before)
    if f.ending_after is not None:
        stmt = stmt.where(m.end_date > f.ending_after)
    if f.recorded is not None:
        stmt = stmt.where(m.recorded_at.is_not(None) if f.recorded else m.recorded_at.is_(None))
    return stmt


async def list_markets(
    session: AsyncSession,
    filters: MarketFilters,
    *,
    sort: str,
    order: str,
    limit: int,
    offset: int,
) -> tuple[list[PredictionMarket], dict[str, list[PredictionOutcome]], int]:
    """A page of markets, their outcomes, and the total: three queries whatever the page."""
    total = int(
        (
            await session.execute(_filtered(select(func.count(PredictionMarket.id)), filters))
        ).scalar_one()
    )
    column = SORT_COLUMNS[sort]
    key = column.asc() if order == "asc" else column.desc()
    stmt = (
        _filtered(select(PredictionMarket), filters)
        .order_by(key.nulls_last(), PredictionMarket.id)
        .limit(limit)
        .offset(offset)
    )
    markets = list((await session.execute(stmt)).scalars())
    return markets, await outcomes_of(session, [m.id for m in markets]), total


async def outcomes_of(
    session: AsyncSession, market_ids: Sequence[str]
) -> dict[str, list[PredictionOutcome]]:
    out: dict[str, list[PredictionOutcome]] = {mid: [] for mid in market_ids}
    if not market_ids:
        return out
    rows = await session.execute(
        select(PredictionOutcome)
        .where(PredictionOutcome.market_id.in_(market_ids))
        .order_by(PredictionOutcome.market_id, PredictionOutcome.position)
    )
    for outcome in rows.scalars():
        out[outcome.market_id].append(outcome)
    return out


async def has_data(session: AsyncSession) -> bool:
    return (await session.execute(select(PredictionMarket.id).limit(1))).first() is not None


async def latest_run(session: AsyncSession) -> PredictionIngestRun | None:
    stmt = select(PredictionIngestRun).order_by(PredictionIngestRun.id.desc()).limit(1)
    return (await session.execute(stmt)).scalar_one_or_none()


async def get_market(session: AsyncSession, key: str) -> PredictionMarket:
    """By Gamma id, slug, or condition id; 404 `market_not_found`."""
    m = PredictionMarket
    stmt = select(m).where(or_(m.id == key, m.slug == key, m.condition_id == key)).limit(2)
    found = list((await session.execute(stmt)).scalars())
    if not found:
        raise NotFoundError(f"No prediction market with id {key!r}.", code=MARKET_NOT_FOUND)
    return next((x for x in found if x.id == key), found[0])


async def has_live_data(session: AsyncSession) -> bool:
    """Whether any market came from a live ingest (recorded ones do not count)."""
    m = PredictionMarket
    stmt = select(m.id).where(m.recorded_at.is_(None)).limit(1)
    return (await session.execute(stmt)).first() is not None


async def backend(session: AsyncSession) -> schemas.Backend:
    """Where the stored markets come from: live ingests once any succeeded (`reachable` says
    whether the latest did), else the shipped recording (offline: nothing live stored)."""
    m = PredictionMarket
    live = int(
        (await session.execute(select(func.count(m.id)).where(m.recorded_at.is_(None)))).scalar()
        or 0
    )
    counted = (
        await session.execute(
            select(func.count(m.id), func.max(m.recorded_at)).where(m.recorded_at.is_not(None))
        )
    ).one()
    recorded, recorded_at = int(counted[0] or 0), counted[1]
    if isinstance(recorded_at, str):  # SQLite's max() of a datetime column is its text
        recorded_at = dt.datetime.fromisoformat(recorded_at).replace(tzinfo=dt.UTC)
    run = await latest_run(session)
    reachable = run.ok if run else None
    name: Any = "polymarket" if live else "recording" if recorded else "none"
    return schemas.Backend(
        name=name,
        live_markets=live,
        recorded_markets=recorded,
        recorded_at=recorded_at,
        reachable=reachable,
    )


def recording_note(info: schemas.Backend) -> str:
    when = info.recorded_at.strftime("%Y-%m-%d %H:%M UTC") if info.recorded_at else "?"
    why = (
        "Polymarket could not be reached at the latest ingest"
        if info.reachable is False
        else "no live Polymarket ingest has run"
    )
    return (
        f"Offline: {why}, so these are real Polymarket markets as recorded (latest recording "
        f"{when}), shipped with edgelab: their prices are not live."
    )


async def freshness(session: AsyncSession) -> dict[str, Any]:
    markets = int((await session.execute(select(func.count(PredictionMarket.id)))).scalar_one())
    run = await latest_run(session)
    info = await backend(session)
    return {
        "prediction_markets": markets,
        "prediction_markets_recorded": info.recorded_markets,
        "polymarket_backend": info.name,
        "polymarket_recorded_at": info.recorded_at.isoformat() if info.recorded_at else None,
        "polymarket_last_ingest": run.finished_at.isoformat() if run and run.finished_at else None,
        "polymarket_last_ingest_ok": run.ok if run else None,
    }


# ---------------------------------------------------------------- news


@dataclass
class NewsAnswer:
    query: str | None
    articles: list[dict[str, Any]]
    total_results: int
    stale: bool
    fetched_at: dt.datetime | None
    budget: dict[str, int]
    notes: list[str]


async def market_news(
    settings: Settings, cache: Cache, clients: PredictionClients, market: PredictionMarket
) -> NewsAnswer:
    """Articles about the market's question, cached; a daily budget guards the free plan."""
    budget = NewsBudget(cache, settings.newsapi_daily_budget)
    query = news_query.build_query(market.question)
    if not clients.news.configured or query is None:
        note = (
            "News is off: set EDGELAB_NEWSAPI_KEY (a key from https://newsapi.org) to see "
            "articles about this market."
            if query is not None
            else "The market's question has no words worth searching for."
        )
        usage = {"used": await budget.used(), "limit": budget.limit}
        return NewsAnswer(query, [], 0, False, None, usage, [note])

    async def fill() -> dict[str, Any]:
        if not await budget.take():
            upstream_error(
                "NewsAPI",
                UPSTREAM_RATE_LIMITED,
                f"Today's NewsAPI budget ({budget.limit} requests, "
                "EDGELAB_NEWSAPI_DAILY_BUDGET) is spent; news returns after midnight UTC.",
                retry_after=seconds_to_utc_midnight(),
            )
        page = await clients.news.everything(query, sort_by="publishedAt")
        return {"total": page.total_results, "articles": page.articles}

    ttl = settings.newsapi_cache_ttl_seconds
    cached = await StaleCache(cache, "predictions:news:", service="NewsAPI").fetch(
        f"{market.id}:{settings.newsapi_language}", ttl, fill
    )
    notes = []
    if cached.stale:
        notes.append("NewsAPI could not be asked now: this is the last answer it gave.")
    articles = news_query.dedupe_newest_first(list(cached.value["articles"]))
    return NewsAnswer(
        query,
        articles,
        int(cached.value["total"]),
        cached.stale,
        dt.datetime.fromtimestamp(cached.fetched_at, dt.UTC),
        {"used": await budget.used(), "limit": budget.limit},
        notes,
    )


EMPTY_WINDOW_NOTE = (
    "ending_after is not earlier than ending_before: no market can end in that window."
)


def empty_window(before: dt.datetime | None, after: dt.datetime | None) -> bool:
    """An end-date window that nothing can fall in: an empty answer, not an error (each bound is
    valid on its own, so a schema-valid request is answered)."""
    return before is not None and after is not None and after >= before


# ---------------------------------------------------------------- what the routes answer

Sessions = async_sessionmaker[AsyncSession]


async def market_list_json(
    settings: Settings,
    cache: Cache,
    sessions: Sessions,
    filters: MarketFilters,
    *,
    query: Iterable[tuple[str, str]],
    sort: schemas.SortKey,
    order: schemas.SortOrder,
    limit: int,
    offset: int,
) -> bytes:
    """A page of markets as `schemas.MarketList` JSON, the same for every caller: cached
    EDGELAB_PREDICTIONS_CACHE_TTL_SECONDS under the request's query parameters (`query`, in
    any order), filled in a read-only session that may outlive the request."""

    async def build(session: AsyncSession) -> bytes:
        markets, outcomes, total = await list_markets(
            session, filters, sort=sort, order=order, limit=limit, offset=offset
        )
        run = await latest_run(session)
        info = await backend(session)
        notes = []
        if total == 0 and not await has_data(session):
            notes.append(NO_DATA_NOTE)
        if info.name == "recording":
            notes.append(recording_note(info))
        if empty_window(filters.ending_before, filters.ending_after):
            notes.append(EMPTY_WINDOW_NOTE)
        body = schemas.MarketList(
            items=[views.market_summary(m, outcomes[m.id]) for m in markets],
            total=total,
            limit=limit,
            offset=offset,
            sort=sort,
            order=order,
            last_ingest=views.ingest_info(run),
            backend=info,
            notes=notes,
        )
        return body.model_dump_json().encode()

    key = f"{CACHE_PREFIX}{sorted(query)}"
    return await cached_read(cache, sessions, key, settings.predictions_cache_ttl_seconds, build)


async def market_with_outcomes(
    session: AsyncSession, key: str
) -> tuple[PredictionMarket, list[PredictionOutcome]]:
    """The market (by id, slug or condition id; 404 `market_not_found`) and its outcomes."""
    market = await get_market(session, key)
    return market, (await outcomes_of(session, [market.id]))[market.id]


async def history_json(
    settings: Settings,
    cache: Cache,
    sessions: Sessions,
    clients: PredictionClients,
    market_key: str,
    *,
    outcome: str | None,
    interval: schemas.Interval,
    fidelity: int | None,
    fmt: schemas.HistoryFormat,
) -> bytes:
    """One outcome's price history as `schemas.History` JSON, the same for every paid caller:
    cached EDGELAB_PREDICTIONS_CACHE_TTL_SECONDS with one refresh at a time (the old answer
    served meanwhile). The refresh is its own unit of work, committed: it stores what the CLOB
    sent and may finish after the request that started it."""

    async def build(session: AsyncSession) -> bytes:
        market, outcomes = await market_with_outcomes(session, market_key)
        series = await price_history(
            session,
            settings,
            cache,
            clients,
            market,
            outcomes,
            outcome=outcome,
            interval=interval,
            fidelity=fidelity,
            fmt=fmt,
        )
        return views.history_json(market, series, fmt=fmt, interval=interval)

    key = f"{HISTORY_CACHE_PREFIX}{market_key}|{outcome}|{interval}|{fidelity}|{fmt}"
    ttl = settings.predictions_cache_ttl_seconds
    return await cached_read(cache, sessions, key, ttl, build, commit=True)


async def news_of_market(
    settings: Settings,
    cache: Cache,
    sessions: Sessions,
    clients: PredictionClients,
    market_key: str,
) -> tuple[PredictionMarket, NewsAnswer]:
    """The market (404 `market_not_found`) and `market_news` about it. The market is read in a
    short session of its own, closed before NewsAPI is asked: no database connection is held
    while an outside service answers (or times out)."""
    async with sessions() as session:
        market = await get_market(session, market_key)
    return market, await market_news(settings, cache, clients, market)


@dataclass
class CrossVenueValue:
    rows: list[dict[str, Any]]
    matched_games: int
    notes: list[str]


async def cross_venue_value(session: AsyncSession, settings: Settings) -> CrossVenueValue:
    """Sides whose edge after fees exceeds EDGELAB_PREDICTIONS_VALUE_THRESHOLD (`crossvenue`),
    with a note saying what is missing when nothing could be matched."""
    from edgelab.predictions.crossvenue import value_rows  # it imports this module

    found = await value_rows(session, settings)
    notes = []
    if not await has_data(session):
        notes.append(NO_DATA_NOTE)
    elif found.matched_games == 0:
        notes.append(
            "No Polymarket NBA game market matches a scored game of ours (same two teams, "
            "same date): ingest live odds and score the slate, and ingest Polymarket."
        )
    return CrossVenueValue(list(found.rows), found.matched_games, notes)
