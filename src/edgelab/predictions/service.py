"""Prediction-market use cases: list and read markets, price history, news, freshness.

Takes a session and plain arguments; flushes, never commits (the request or job does).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Select, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from edgelab.core.cache import Cache
from edgelab.core.errors import NotFoundError, UpstreamError
from edgelab.core.settings import Settings
from edgelab.predictions import candles, news_query
from edgelab.predictions.clients import PredictionClients
from edgelab.predictions.ingest import store_history
from edgelab.predictions.models import (
    PredictionIngestRun,
    PredictionMarket,
    PredictionOutcome,
    PredictionPriceSnapshot,
)
from edgelab.predictions.newsapi import NewsBudget, seconds_to_utc_midnight
from edgelab.predictions.upstream import StaleCache, upstream_error

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
        from edgelab.predictions.polymarket import tag_slug

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
        raise NotFoundError(f"No prediction market with id {key!r}.", code="market_not_found")
    return next((x for x in found if x.id == key), found[0])


async def freshness(session: AsyncSession) -> dict[str, Any]:
    markets = int((await session.execute(select(func.count(PredictionMarket.id)))).scalar_one())
    run = await latest_run(session)
    return {
        "prediction_markets": markets,
        "polymarket_last_ingest": run.finished_at.isoformat() if run and run.finished_at else None,
        "polymarket_last_ingest_ok": run.ok if run else None,
    }


# ---------------------------------------------------------------- history


@dataclass
class Series:
    outcome: PredictionOutcome
    data: list[dict[str, Any]]
    fidelity: int
    source: str
    stale: bool
    notes: list[str] = field(default_factory=list)


def pick_outcome(outcomes: list[PredictionOutcome], wanted: str | None) -> PredictionOutcome:
    if not outcomes:
        raise NotFoundError("This market has no tradable outcome.", code="outcome_not_found")
    if wanted is None:
        return outcomes[0]
    for o in outcomes:
        if o.token_id == wanted or o.name.lower() == wanted.strip().lower():
            return o
    names = ", ".join(o.name for o in outcomes)
    raise NotFoundError(
        f"No outcome {wanted!r} in this market (it has: {names}).", code="outcome_not_found"
    )


async def _stored_points(
    session: AsyncSession, token_id: str, since: int | None
) -> list[tuple[int, float]]:
    s = PredictionPriceSnapshot
    stmt = select(s.ts, s.price).where(s.token_id == token_id).order_by(s.ts)
    if since is not None:
        stmt = stmt.where(s.ts >= since)
    # a Core result on the session's connection: plain tuples, no ORM row processing (a
    # 10,000-point history spends most of its time here otherwise)
    conn = await session.connection()
    rows: Any = (await conn.execute(stmt)).all()  # Rows index like (ts, price) tuples
    return list(rows)


async def price_history(
    session: AsyncSession,
    settings: Settings,
    cache: Cache,
    clients: PredictionClients,
    market: PredictionMarket,
    *,
    outcome: str | None,
    interval: str,
    fidelity: int | None,
    fmt: str,
    now: float | None = None,
) -> Series:
    """Stored snapshots of the window; Polymarket's CLOB is asked (and its points stored) when
    the window has none, or its last point is older than a bucket for a market still open.
    If the CLOB fails, stored points answer with `stale` (none stored: the error, 502/503)."""
    chosen = pick_outcome((await outcomes_of(session, [market.id]))[market.id], outcome)
    fid = fidelity or candles.DEFAULT_FIDELITY_MINUTES[interval]
    bucket = fid * 60
    now = time.time() if now is None else now
    window = candles.INTERVAL_SECONDS[interval]
    since = int(now) - window if window is not None else None
    points = await _stored_points(session, chosen.token_id, since)
    ttl = settings.polymarket_cache_ttl_seconds
    refresh_after = max(bucket, ttl)
    need = not points or (not market.closed and now - points[-1][0] > refresh_after)
    source, stale, notes = "stored", False, []
    if need:
        fetched = False

        async def fill() -> int:
            nonlocal fetched
            got = await clients.polymarket.prices_history(
                chosen.token_id, interval=interval, fidelity=fid
            )
            fetched = True
            return await store_history(session, chosen.token_id, got, "clob")

        key = f"{chosen.token_id}:{interval}:{fid}"
        try:
            cached = await StaleCache(cache, "predictions:clob:history:").fetch(key, ttl, fill)
            stale = cached.stale
        except UpstreamError as exc:
            if not points:
                raise
            stale = True
            notes.append(f"Polymarket failed ({exc.code}): the stored points are shown.")
        if stale:
            notes.append("Polymarket did not answer: these are the last stored prices.")
        if fetched:
            source = "clob"
            points = await _stored_points(session, chosen.token_id, since)
    ts, ps = candles.as_arrays(points)
    data = candles.candles(ts, ps, bucket) if fmt == "candles" else candles.line(ts, ps, bucket)
    if not data:
        notes.append("No prices in this window.")
    return Series(chosen, data, fid, source, stale, notes)


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
                "upstream_rate_limited",
                f"Today's NewsAPI budget ({budget.limit} requests, "
                "EDGELAB_NEWSAPI_DAILY_BUDGET) is spent; news returns after midnight UTC.",
                retry_after=seconds_to_utc_midnight(),
            )
        page = await clients.news.everything(query, sort_by="publishedAt")
        return {"total": page.total_results, "articles": page.articles}

    ttl = settings.newsapi_cache_ttl_seconds
    cached = await StaleCache(cache, "predictions:news:").fetch(
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
