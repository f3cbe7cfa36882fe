"""`GET /health`: the database checked on every call, data freshness and backends reported.

A platform route, not a product's: it reads every product's freshness, so it sits beside the
composition root (`app`, `api`) rather than in `core`.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field
from sqlalchemy import text

import edgelab
from edgelab.betting.live import service as live_loop_service
from edgelab.betting.markets import service as betting_service
from edgelab.core import clock
from edgelab.core.db import ReadSessionMakerDep, SessionDep
from edgelab.core.deps import CacheDep, ResourcesDep, SettingsDep
from edgelab.core.error_codes import DATABASE_UNAVAILABLE
from edgelab.core.errors import DATABASE_RETRY_AFTER_SECONDS, envelope, error_responses
from edgelab.core.resources import Resources
from edgelab.core.settings import Settings
from edgelab.predictions import service as predictions_service

log = logging.getLogger("edgelab.app")
FRESHNESS_TTL = 10.0  # seconds; the aggregates scan large tables


class Health(BaseModel):
    status: str = Field(description="ok when the database answers.")
    version: str
    env: str
    database: str = Field(description="Backend in use: sqlite or postgresql.")
    database_ok: bool
    cache: str = Field(description="Cache backend in use: memory or redis.")
    live_odds: str = Field(
        description="The Odds API when a key is set (and until when it is paused when the "
        "month's credits are spent), else offline."
    )
    live_loop: dict[str, Any] = Field(
        description="The live loop: `state` (off, polling, holding_reserve, out_of_credits), "
        "the quota as last told, the interval stretch, each job's latest run and failure."
    )
    predictions: str = Field(
        description="Prediction-markets backends: Polymarket (scheduled ingest or off) and news."
    )
    demo_date: dt.date | None
    clock: dict[str, Any] = Field(
        description="The app's time: `now` and `source` (`system`, or the replay's "
        "`/replay/clock` URL followed through EDGELAB_CLOCK_URL, with its `speed`)."
    )
    data: dict[str, Any]
    uptime_seconds: float
    backends: dict[str, str] = Field(
        default_factory=dict,
        description="Each backend's state: `database` and, with EDGELAB_REDIS_URL, `redis`: "
        "`up`, or `down since <UTC time> (<last error>)`. While Redis is down the app serves "
        "on fallbacks (in-process cache and rate limits, jobs kept in the database), so the "
        "answer stays 200; each fallback counts in `edgelab_degraded_total`.",
    )


def _predictions_backend(settings: Settings, data: dict[str, Any]) -> str:
    """Where prediction-market data comes from, and whether any has been ingested."""
    every = settings.polymarket_ingest_minutes
    ingest = f"ingest every {every:g} min" if every > 0 else "scheduled ingest off"
    news = "newsapi" if settings.newsapi_key else "news off (no EDGELAB_NEWSAPI_KEY)"
    if not data.get("prediction_markets"):
        return f"polymarket ({ingest}; no data ingested: run `edgelab ingest polymarket`), {news}"
    return f"polymarket ({ingest}; {data['prediction_markets']} markets), {news}"


def _live_odds(settings: Settings, loop: dict[str, Any]) -> str:
    if not settings.odds_api_key:
        return "offline (shipped data)"
    if loop.get("state") == "out_of_credits":
        return f"the-odds-api: out of usage credits, paused until {loop['stopped_until']}"
    return "the-odds-api"


def _clock(resources: Resources) -> dict[str, Any]:
    followed = resources.followed_clock
    now = clock.utcnow().isoformat().replace("+00:00", "Z")
    if followed is None:
        return {"now": now, "source": "system"}
    return {"now": now, "source": followed.url, "speed": followed.speed}


async def _probe_redis(resources: Resources) -> None:
    """Ask Redis (when configured) whether it answers, so `backends` is current even when no
    request used it lately. Through the cache, whose failures already feed `Degradation`."""
    if resources.settings.redis_url is None:
        return
    await resources.cache.get("health:probe")


router = APIRouter(tags=["platform"])


@router.get(
    "/health",
    response_model=Health,
    responses=error_responses(503),
)
async def health(
    request: Request,
    resources: ResourcesDep,
    session: SessionDep,
    sessions: ReadSessionMakerDep,
    settings: SettingsDep,
    cache: CacheDep,
) -> Response:
    """Liveness of the database on every call (503 when it fails), data freshness cached.

    The freshness aggregates scan large tables, so they are cached; their refill opens its
    own session because it may run in the background after this request has finished.
    """
    ok = True
    data: dict[str, Any] = {}

    async def freshness() -> bytes:
        async with sessions() as own:
            fresh = await betting_service.data_freshness(own)
            fresh.update(await predictions_service.freshness(own))
            return json.dumps(fresh).encode()

    loop: dict[str, Any] = {"state": "unknown"}
    degradation = resources.degradation
    degradation.watch("database")
    try:
        await session.execute(text("SELECT 1"))
    except Exception as exc:  # the point of /health is to report this, not to fail on it
        log.warning("database check failed: %s", exc)
        degradation.failed("database", "health", exc)
        ok = False
    else:
        degradation.succeeded("database")
    if ok:
        try:
            data = json.loads(await cache.get_or_fill("health:freshness", FRESHNESS_TTL, freshness))
            loop = await live_loop_service.loop_status(session, settings, clock.utcnow())
        except Exception:
            log.exception("database check failed")
            ok = False
    await _probe_redis(resources)
    body = Health(
        status="ok" if ok else "degraded",
        version=edgelab.__version__,
        env=settings.env,
        database="sqlite" if settings.is_sqlite else "postgresql",
        database_ok=ok,
        cache=settings.cache_backend,
        live_odds=_live_odds(settings, loop),
        live_loop=loop,
        predictions=_predictions_backend(settings, data),
        demo_date=settings.demo_date,
        clock=_clock(resources),
        data=data,
        uptime_seconds=round(clock.monotonic() - resources.started_monotonic, 3),
        backends=degradation.report(),
    )
    if not ok:  # load balancers act on the status; the envelope carries the report
        if session.in_transaction():
            await session.rollback()  # the unit of work then has nothing left to commit
        return envelope(
            request,
            DATABASE_UNAVAILABLE.status,
            DATABASE_UNAVAILABLE,
            "The database does not answer.",
            body.model_dump(mode="json"),
            headers={"Retry-After": str(DATABASE_RETRY_AFTER_SECONDS)},
        )
    return Response(body.model_dump_json(), media_type="application/json")
