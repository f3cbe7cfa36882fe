"""Price history of a market's outcome for charts: stored snapshots, backfilled from the CLOB.

A chart's window is answered from stored points. The part of it the CLOB's history has not
been fetched for (each outcome keeps the one range it was fetched for, `clob_from_ts` ..
`clob_to_ts`) is fetched first (`startTs`/`endTs`, or `interval=max` for the whole past) and
stored (a second write of a point is a no-op); for a market still open the range's end is
fetched again once it is older than a bucket (or EDGELAB_POLYMARKET_CACHE_TTL_SECONDS). So a
market ingested without `--history`, whose only point is Gamma's, gets its week on first ask.

Polymarket failing (offline, 5xx, 429) is no error here: the stored points answer, marked
`stale` with a note, and the failure is remembered for EDGELAB_POLYMARKET_BACKFILL_RETRY_SECONDS
(for every token when the CLOB as a whole failed: unreachable, 5xx, 429; else for the token),
so no chart asks again meanwhile and an offline app pays the wait once. A recorded market's
window ends where its recording does (its last stored point), so it asks the CLOB at most once
for a window (never for a CLOB recording, whose paths are whole up to when they were recorded).
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from edgelab.core.cache import Cache
from edgelab.core.error_codes import UPSTREAM_RATE_LIMITED, UPSTREAM_UNAVAILABLE
from edgelab.core.errors import AppError, NotFoundError
from edgelab.core.settings import Settings
from edgelab.predictions import candles, errors
from edgelab.predictions.ingest import mark_covered, store_history
from edgelab.predictions.models import PredictionMarket, PredictionOutcome, PredictionPriceSnapshot
from edgelab.predictions.sources.clients import PredictionClients

FAILED_PREFIX = "predictions:backfill:failed:"  # + token id: a failed backfill, remembered
FAILED_EVERYWHERE = FAILED_PREFIX + "*"  # the CLOB itself failed: no token is asked meanwhile
# failures of the CLOB as a whole (unreachable, 5xx, rate limited), not of one token's request
SERVICE_WIDE = frozenset({UPSTREAM_UNAVAILABLE.code, UPSTREAM_RATE_LIMITED.code})


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


def missing_ranges(
    covered: tuple[int | None, int | None],
    since: int | None,
    end: int,
    refresh_after: float,
    *,
    moving: bool,
) -> list[tuple[int | None, int]]:
    """The parts of the window [since (None: the beginning), end] outside the `covered` range
    the CLOB was fetched for; its end counts as missing once more than `refresh_after`
    seconds old while prices still `moving`. A start of None means "everything before"."""
    first, last = covered
    if first is None or last is None:
        return [(since, end)]
    gaps: list[tuple[int | None, int]] = []
    if (since or 0) < first:
        gaps.append((since, first))
    if moving and end - last > refresh_after:
        gaps.append((last, end))
    return gaps


async def _window_end(session: AsyncSession, market: PredictionMarket, token: str, now: int) -> int:
    """Now; for a recorded market the end of its recording (its last stored point)."""
    if market.recorded_at is None:
        return now
    s = PredictionPriceSnapshot
    last = (await session.execute(select(func.max(s.ts)).where(s.token_id == token))).scalar()
    return int(last) if last is not None else int(market.recorded_at.timestamp())


def _moving(market: PredictionMarket, covered_to: int | None) -> bool:
    """Whether prices may have changed since `covered_to`: an open market's do; a closed one's
    only up to its end date; a recording's never after its end (the window stops there)."""
    if market.recorded_at is not None or not market.closed:
        return True
    end = market.end_date
    return covered_to is None or (end is not None and covered_to < end.timestamp())


async def _backfill(
    session: AsyncSession,
    clients: PredictionClients,
    chosen: PredictionOutcome,
    gaps: list[tuple[int | None, int]],
    fidelity: int,
) -> int:
    """Fetch every gap, then store the points and widen the covered range: nothing is written
    before the last request, so the transaction (committed by the caller) holds no write lock
    (SQLite's database lock, PostgreSQL's row locks) while Polymarket is asked. A gap from
    the beginning (start None) is fetched with Polymarket's "max" window, which reaches now,
    so the other gaps are not asked for. When a request fails, the gaps fetched before it are
    still stored, then the failure is raised. Points added."""
    whole = [(start, stop) for start, stop in gaps if start is None]
    if whole:  # one "max" request covers every gap, up to the last one's end
        gaps = [(None, max(stop for _, stop in gaps))]
    fetched: list[tuple[int | None, int, list[tuple[int, float]]]] = []
    try:
        for start, stop in gaps:
            if start is None:
                got = await clients.polymarket.prices_history(
                    chosen.token_id, interval="max", fidelity=fidelity
                )
            else:
                got = await clients.polymarket.prices_history(
                    chosen.token_id, interval=None, fidelity=fidelity, start_ts=start, end_ts=stop
                )
            fetched.append((start, stop, list(got)))
    finally:  # on a failure too: what was fetched is kept
        added = 0
        for start, stop, points in fetched:
            added += await store_history(
                session, chosen.token_id, [(t, p) for t, p in points if t <= stop], "clob"
            )
            await mark_covered(session, [chosen.token_id], start or 0, stop)
    return added


def _when(seconds: float) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


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
    """The window's stored points after the CLOB was asked for the part of it not fetched yet
    (see the module). `outcomes` are the market's (`service.outcomes_of`); `outcome` picks one
    by name or token."""
    chosen = pick_outcome(outcomes, outcome)
    token = chosen.token_id
    fid = fidelity or candles.DEFAULT_FIDELITY_MINUTES[interval]
    bucket = fid * 60
    now = time.time() if now is None else now
    end = await _window_end(session, market, token, int(now))
    window = candles.INTERVAL_SECONDS[interval]
    since = end - window if window is not None else None
    refresh_after = max(bucket, settings.polymarket_cache_ttl_seconds)
    covered = (chosen.clob_from_ts, chosen.clob_to_ts)
    gaps = missing_ranges(
        covered, since, end, refresh_after, moving=_moving(market, chosen.clob_to_ts)
    )
    source, stale, notes = "stored", False, []
    if gaps:
        remembered = await cache.get(FAILED_EVERYWHERE) or await cache.get(FAILED_PREFIX + token)
        if remembered is not None:
            failed = orjson.loads(remembered)
            stale = True
            notes.append(
                f"Polymarket failed at {_when(failed['at'])} ({failed['code']}): these are the "
                f"stored prices; it is asked again after {_when(failed['retry_at'])}."
            )
        else:
            try:
                await _backfill(session, clients, chosen, gaps, fid)
                source = "clob"
            except AppError as exc:  # offline, 5xx, 429, a refused request
                retry = settings.polymarket_backfill_retry_seconds
                body = {"code": exc.code, "at": now, "retry_at": now + retry}
                if retry > 0:
                    key = FAILED_EVERYWHERE if exc.code in SERVICE_WIDE else FAILED_PREFIX + token
                    await cache.set(key, orjson.dumps(body), retry)
                stale = True
                notes.append(
                    f"Polymarket could not be asked for this window ({exc.code}): these are "
                    "the stored prices."
                )
    if market.recorded_at is not None:
        notes.append(
            f"Recorded market: prices as recorded up to {_when(end)} "
            f"({market.recording or 'a recording'}), not live."
        )
    points = await _stored_points(session, token, since)
    ts, ps = candles.as_arrays(points)
    data = candles.candles(ts, ps, bucket) if fmt == "candles" else candles.line(ts, ps, bucket)
    if not data:
        notes.append("No prices in this window.")
    return Series(chosen, data, fid, source, stale, notes)
