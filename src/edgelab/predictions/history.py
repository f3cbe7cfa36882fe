"""Price history of a market's outcome for charts: stored snapshots, topped up from the CLOB.

Polymarket's CLOB is asked (and what it sends stored) only when the window has no point, or its
last point is older than a bucket for a market still open; its answers are kept in a stale-on-
error cache so a failing CLOB serves the stored points marked `stale`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from edgelab.core.cache import Cache
from edgelab.core.errors import NotFoundError, UpstreamError
from edgelab.core.http.stale import StaleCache
from edgelab.core.settings import Settings
from edgelab.predictions import candles, errors
from edgelab.predictions.ingest import store_history
from edgelab.predictions.models import PredictionMarket, PredictionOutcome, PredictionPriceSnapshot
from edgelab.predictions.sources.clients import PredictionClients


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
        raise NotFoundError("This market has no tradable outcome.", code=errors.OUTCOME_NOT_FOUND)
    if wanted is None:
        return outcomes[0]
    for o in outcomes:
        if o.token_id == wanted or o.name.lower() == wanted.strip().lower():
            return o
    names = ", ".join(o.name for o in outcomes)
    raise NotFoundError(
        f"No outcome {wanted!r} in this market (it has: {names}).", code=errors.OUTCOME_NOT_FOUND
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
    outcomes: list[PredictionOutcome],
    *,
    outcome: str | None,
    interval: str,
    fidelity: int | None,
    fmt: str,
    now: float | None = None,
) -> Series:
    """Stored snapshots of the window; Polymarket's CLOB is asked (and its points stored) when
    the window has none, or its last point is older than a bucket for a market still open.
    If the CLOB fails, stored points answer with `stale` (none stored: the error, 502/503).
    `outcomes` are the market's (`service.outcomes_of`); `outcome` picks one by name or token."""
    chosen = pick_outcome(outcomes, outcome)
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
            cached = await StaleCache(
                cache, "predictions:clob:history:", service="Polymarket"
            ).fetch(key, ttl, fill)
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
