"""Storing Polymarket markets, outcomes and price snapshots; one recorded run per ingest.

Writes are bulk upserts, a few statements per page of markets whatever its size (no N+1):
markets and outcomes are `INSERT ... ON CONFLICT DO UPDATE` (PostgreSQL and SQLite both speak
it), snapshots `INSERT ... ON CONFLICT DO NOTHING` on (token, second), so a second run over the
same answers changes nothing and adds no row. A market's snapshot is its outcome prices at
Gamma's `updatedAt` (the fetch time, to the minute, when absent): an unchanged market adds no
point, a moved one adds one. `--history` also backfills each outcome's CLOB price path.

A run that fails upstream (offline, 5xx, 429) is not an exception: it is recorded with
`ok=false` and its errors, and what earlier pages wrote is kept (every page is idempotent).

A recording (`sources.recording`) is stored the same way, each market marked with when it was
recorded; a live market is never overwritten by one, and a live ingest clears the mark.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Table, case, delete, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from edgelab.core.clock import utcnow
from edgelab.core.db import Base
from edgelab.core.errors import AppError
from edgelab.core.settings import Settings
from edgelab.predictions.candles import INTERVAL_SECONDS
from edgelab.predictions.models import (
    PredictionIngestRun,
    PredictionMarket,
    PredictionOutcome,
    PredictionPriceSnapshot,
)
from edgelab.predictions.sources.polymarket import (
    BATCH_HISTORY_MAX,
    GammaMarket,
    MarketPages,
    PolymarketClient,
    tag_slug,
)
from edgelab.predictions.sources.recording import Recording

log = logging.getLogger(__name__)
CHUNK = 500
SNAPSHOT_CHUNK = 5000
HISTORY_CONCURRENCY = 8


def _table(model: type[Base]) -> Table:
    table = model.__table__
    assert isinstance(table, Table)
    return table


def _insert(session: AsyncSession, table: Table) -> Any:
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


async def upsert(
    session: AsyncSession,
    model: type[Base],
    rows: Sequence[dict[str, Any]],
    keys: Sequence[str],
    *,
    update: bool = True,
) -> int:
    """Insert `rows`, updating (or, `update=False`, leaving) those whose `keys` exist.

    A few statements per chunk whatever its size; returns the rows written (for `update=False`
    the rows actually inserted).
    """
    if not rows:
        return 0
    table = _table(model)
    written = 0
    for start in range(0, len(rows), SNAPSHOT_CHUNK):
        chunk = rows[start : start + SNAPSHOT_CHUNK]
        stmt = _insert(session, table)
        if update:
            columns = [c for c in chunk[0] if c not in keys]
            stmt = stmt.on_conflict_do_update(
                index_elements=list(keys), set_={c: stmt.excluded[c] for c in columns}
            )
            await session.execute(stmt, list(chunk))
            written += len(chunk)  # every row is inserted or updated
        else:
            # RETURNING reports exactly the rows inserted (executemany rowcounts are not
            # reliable across drivers); SQLAlchemy batches it as multi-row INSERTs
            stmt = stmt.on_conflict_do_nothing(index_elements=list(keys)).returning(
                table.c[keys[0]]
            )
            written += len((await session.execute(stmt, list(chunk))).all())
    return written


def _snapshot_ts(market: GammaMarket, fetched_at: dt.datetime) -> int:
    when = market.updated_at
    if when is None:
        return int(fetched_at.timestamp()) // 60 * 60
    return int(when.timestamp())


def market_row(m: GammaMarket, fetched_at: dt.datetime) -> dict[str, Any]:
    slugs = [tag_slug(t) for t in m.tags]
    return {
        "id": m.id,
        "condition_id": m.condition_id,
        "slug": m.slug,
        "question": m.question,
        "description": m.description,
        "category": m.category,
        "event_id": m.event_id,
        "event_slug": m.event_slug,
        "event_title": m.event_title,
        "tags": m.tags,
        "tag_slugs": "|" + "".join(f"{s}|" for s in slugs if s),
        "active": m.active,
        "closed": m.closed,
        "archived": m.archived,
        "start_date": m.start_date,
        "end_date": m.end_date,
        "game_start_time": m.game_start_time,
        "volume": m.volume,
        "volume_24h": m.volume_24h,
        "liquidity": m.liquidity,
        "best_bid": m.best_bid,
        "best_ask": m.best_ask,
        "spread": m.spread,
        "last_trade_price": m.last_trade_price,
        "tick_size": m.tick_size,
        "price_change_24h": m.price_change_24h,
        "resolution_status": m.resolution_status,
        "resolved_outcome": m.resolved_outcome,
        "upstream_updated_at": m.updated_at,
        "fetched_at": fetched_at,
        "recorded_at": None,  # live data: not (or no longer) a recording
        "recording": None,
    }


async def store_markets(
    session: AsyncSession,
    markets: Iterable[GammaMarket],
    fetched_at: dt.datetime,
    *,
    recording: Recording | None = None,
) -> tuple[int, int]:
    """Upsert markets and outcomes, append snapshots; (markets written, snapshots added).
    From a `recording`, markets are marked with it; a CLOB recording adds no Gamma snapshot
    (its markets have no `updatedAt`: their points are the recorded price paths)."""
    unique = {m.id: m for m in markets}  # a page boundary may repeat a row
    # a condition id names one market: the latest row wins, an older id loses it
    by_condition = {m.condition_id: m.id for m in unique.values() if m.condition_id}
    for m in unique.values():
        if m.condition_id and by_condition[m.condition_id] != m.id:
            m.condition_id = None
    items = list(unique.values())
    written = snapshots = 0
    for start in range(0, len(items), CHUNK):
        chunk = items[start : start + CHUNK]
        rows = [market_row(m, fetched_at) for m in chunk]
        if recording is not None:
            for row in rows:
                row["recorded_at"], row["recording"] = recording.recorded_at, recording.name
        written += await upsert(session, PredictionMarket, rows, ["id"])
        outcomes = [
            {
                "token_id": o.token_id,
                "market_id": m.id,
                "position": i,
                "name": o.name[:300],
                "price": o.price,
            }
            for m in chunk
            for i, o in enumerate(m.outcomes)
        ]
        # an outcome whose token changed (rare) would collide on (market, position)
        keep = [(row["market_id"], row["token_id"]) for row in outcomes]
        ids = [m.id for m in chunk]
        stale = delete(PredictionOutcome).where(PredictionOutcome.market_id.in_(ids))
        if keep:
            pairs = tuple_(PredictionOutcome.market_id, PredictionOutcome.token_id)
            stale = stale.where(pairs.not_in(keep))
        await session.execute(stale)
        await upsert(session, PredictionOutcome, outcomes, ["token_id"])
        points = [
            {
                "token_id": o.token_id,
                "ts": _snapshot_ts(m, fetched_at),
                "price": o.price,
                "source": "gamma",
            }
            for m in chunk
            for o in m.outcomes
            if o.price is not None and (recording is None or recording.kind == "gamma")
        ]
        snapshots += await upsert(
            session, PredictionPriceSnapshot, points, ["token_id", "ts"], update=False
        )
    return written, snapshots


async def store_history(
    session: AsyncSession, token_id: str, points: Sequence[tuple[int, float]], source: str
) -> int:
    latest = dict(points)  # one point per second: the later given wins, as on a chart
    rows = [
        {"token_id": token_id, "ts": t, "price": p, "source": source} for t, p in latest.items()
    ]
    return await upsert(session, PredictionPriceSnapshot, rows, ["token_id", "ts"], update=False)


async def mark_covered(session: AsyncSession, tokens: Sequence[str], start: int, end: int) -> None:
    """Record that the CLOB's history of `tokens` was fetched for [start, end] (unix seconds):
    a range touching the one already covered widens it, one apart from it replaces it (the
    covered range stays one contiguous range)."""
    if not tokens:
        return
    o = PredictionOutcome
    apart = (o.clob_from_ts.is_(None)) | (o.clob_to_ts < start) | (o.clob_from_ts > end)
    for first in range(0, len(tokens), CHUNK):
        chunk = list(tokens[first : first + CHUNK])
        await session.execute(
            update(o).where(o.token_id.in_(chunk), apart).values(clob_from_ts=start, clob_to_ts=end)
        )
        await session.execute(
            update(o)
            .where(o.token_id.in_(chunk), ~apart)
            .values(
                clob_from_ts=case((o.clob_from_ts > start, start), else_=o.clob_from_ts),
                clob_to_ts=case((o.clob_to_ts < end, end), else_=o.clob_to_ts),
            )
        )


async def import_recording(
    session: AsyncSession, recordings: Sequence[Recording]
) -> dict[str, Any]:
    """Store recordings (oldest first) as recorded markets, their points and price paths;
    markets stored live are left as they are. Idempotent: a second import adds no point.
    Counts are of distinct markets (one in two pages counts once)."""
    stored: set[str] = set()
    live: set[str] = set()
    files, added = [], 0
    for rec in recordings:
        ids = [m.id for m in rec.markets]
        for first in range(0, len(ids), CHUNK):
            found = await session.execute(
                select(PredictionMarket.id).where(
                    PredictionMarket.id.in_(ids[first : first + CHUNK]),
                    PredictionMarket.recorded_at.is_(None),
                )
            )
            live.update(found.scalars())
        markets = [m for m in rec.markets if m.id not in live]
        written, points = await store_markets(session, markets, utcnow(), recording=rec)
        kept = {o.token_id for m in markets for o in m.outcomes}
        paths = [(t, p, k) for k, path in rec.points.items() if k in kept for t, p in path]
        added += points + await _flush_points(session, paths)
        if rec.kind == "clob":  # whole paths (interval=max) up to when they were recorded
            end = int(rec.recorded_at.timestamp())
            await mark_covered(session, [k for k in rec.points if k in kept], 0, end)
        stored.update(m.id for m in markets)
        files.append({"name": rec.name, "recorded_at": rec.recorded_at, "markets": written})
    await session.flush()
    return {"files": files, "markets": len(stored), "points": added, "skipped_live": len(live)}


async def _backfill(
    session: AsyncSession,
    client: PolymarketClient,
    markets: list[GammaMarket],
    interval: str,
    fidelity: int,
    errors: list[dict[str, Any]],
) -> int:
    """Each outcome's CLOB price path, 20 tokens a call (one by one where the CLOB has no batch
    endpoint), a few calls at a time, stored as they arrive."""
    tokens = [o.token_id for m in markets for o in m.outcomes]
    batches = [tokens[i : i + BATCH_HISTORY_MAX] for i in range(0, len(tokens), BATCH_HISTORY_MAX)]
    gate = asyncio.Semaphore(HISTORY_CONCURRENCY)

    def failed(token: str, exc: AppError) -> None:
        if len(errors) < 20:
            errors.append({"token_id": token, "code": exc.code, "message": exc.message})

    async def one(token: str) -> list[tuple[str, list[tuple[int, float]]]]:
        try:
            return [
                (token, await client.prices_history(token, interval=interval, fidelity=fidelity))
            ]
        except AppError as exc:
            failed(token, exc)
            return []

    async def fetch(batch: list[str]) -> list[tuple[str, list[tuple[int, float]]]]:
        async with gate:
            try:
                got = await client.batch_prices_history(batch, interval=interval, fidelity=fidelity)
            except AppError as exc:
                failed(batch[0], exc)
                return []
            if got is not None:
                return list(got.items())
            return [pair for token in batch for pair in await one(token)]

    added = 0
    pending: list[tuple[int, float, str]] = []
    answered: list[str] = []
    now = int(time.time())
    for done in asyncio.as_completed([fetch(b) for b in batches]):
        for token, points in await done:
            pending.extend((t, p, token) for t, p in points)
            answered.append(token)
        if len(pending) >= SNAPSHOT_CHUNK:
            added += await _flush_points(session, pending)
            pending = []
    added += await _flush_points(session, pending)
    window = INTERVAL_SECONDS.get(interval)
    await mark_covered(session, answered, now - window if window is not None else 0, now)
    return added


async def _flush_points(session: AsyncSession, pending: list[tuple[int, float, str]]) -> int:
    latest = {(k, t): p for t, p, k in pending}
    rows = [{"token_id": k, "ts": t, "price": p, "source": "clob"} for (k, t), p in latest.items()]
    return await upsert(session, PredictionPriceSnapshot, rows, ["token_id", "ts"], update=False)


async def ingest_polymarket(
    session: AsyncSession,
    settings: Settings,
    *,
    limit: int | None = None,
    trigger: str = "cli",
    history: bool = False,
    history_interval: str = "1w",
    history_fidelity: int = 60,
    client: PolymarketClient | None = None,
) -> dict[str, Any]:
    """Fetch active, open markets (at most `limit`, default EDGELAB_POLYMARKET_INGEST_MAX_
    MARKETS) and store them; the run is recorded and returned as a summary."""
    started = time.perf_counter()
    run = PredictionIngestRun(trigger=trigger, started_at=utcnow())
    own = client is None
    api = client or PolymarketClient(settings)
    report = MarketPages()
    errors: list[dict[str, Any]] = []
    fetched = written = snapshots = history_points = 0
    cap = limit if limit is not None else settings.polymarket_ingest_max_markets
    try:
        async for page in api.iter_markets(limit=cap, order="volume24hr", report=report):
            fetched_at = utcnow()
            fetched += len(page)
            w, s = await store_markets(session, page, fetched_at)
            written, snapshots = written + w, snapshots + s
            if history:
                history_points += await _backfill(
                    session, api, page, history_interval, history_fidelity, errors
                )
    except AppError as exc:
        errors.append({"code": exc.code, "message": exc.message, "details": exc.details})
        log.warning("polymarket ingest failed after %d markets: %s", fetched, exc.message)
    finally:
        if own:
            await api.aclose()
    run.finished_at = utcnow()
    run.ok = not any("token_id" not in e for e in errors)
    run.fetched = fetched + report.dropped
    run.written = written
    run.snapshots = snapshots + history_points
    run.failed = report.dropped
    run.errors = errors
    session.add(run)
    await session.flush()
    return {
        "run_id": run.id,
        "ok": run.ok,
        "fetched": run.fetched,
        "written": written,
        "snapshots": snapshots,
        "history_points": history_points,
        "failed": report.dropped,
        "paging": report.paging,
        "pages": report.pages,
        "errors": errors,
        "seconds": round(time.perf_counter() - started, 3),
    }
