"""The composition root: `create_app(settings)` wires routers, middleware, errors, lifespan.

Nothing is created at import time: the engine, session factory, cache and HTTP clients are
made in the lifespan and closed with it, so tests and the CLI can build as many apps as they
like with different settings.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import gc
import json
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import Response
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import edgelab
from edgelab.accounts import service as accounts_service
from edgelab.accounts.billing_router import router as billing_router
from edgelab.accounts.router import router as accounts_router
from edgelab.accounts.uploads_router import router as uploads_router
from edgelab.betting import service as betting_service
from edgelab.betting.ab import ExposureBuffer
from edgelab.betting.alerts_router import router as alerts_router
from edgelab.betting.bets_router import router as bets_router
from edgelab.betting.evaluation_router import router as evaluation_router
from edgelab.betting.model_router import router as model_router
from edgelab.betting.router import router as betting_router
from edgelab.betting.trends_router import router as trends_router
from edgelab.chess.router import router as chess_router
from edgelab.core.cache import make_cache
from edgelab.core.db import (
    ReadSessionMakerDep,
    SessionDep,
    create_engine,
    create_sessionmaker,
    get_sessionmaker,
)
from edgelab.core.deps import CacheDep, SettingsDep
from edgelab.core.errors import envelope, error_responses, install_error_handlers
from edgelab.core.jobs import Jobs
from edgelab.core.observability import RequestIdMiddleware, configure_logging
from edgelab.core.ratelimit import RateLimiter, RateLimitHeadersMiddleware, RateLimitPolicy
from edgelab.core.settings import Settings
from edgelab.predictions import service as predictions_service
from edgelab.predictions.router import router as predictions_router
from edgelab.sentinel.interventions_router import router as interventions_router
from edgelab.sentinel.router import router as sentinel_router
from edgelab.web.router import install_dashboard

if TYPE_CHECKING:
    from edgelab.accounts.resend import ResendClient

log = logging.getLogger("edgelab.app")
FRESHNESS_TTL = 10.0  # seconds; the aggregates scan large tables


class Health(BaseModel):
    status: str = Field(description="ok when the database answers.")
    version: str
    env: str
    database: str = Field(description="Backend in use: sqlite or postgresql.")
    database_ok: bool
    cache: str = Field(description="Cache backend in use: memory or redis.")
    live_odds: str = Field(description="The Odds API when a key is set, else offline.")
    predictions: str = Field(
        description="Prediction-markets backends: Polymarket (scheduled ingest or off) and news."
    )
    demo_date: dt.date | None
    data: dict[str, Any]
    uptime_seconds: float


def _operation_id(route: APIRoute) -> str:
    tag = str(route.tags[0]) if route.tags else "default"
    return f"{tag}-{route.name}"


def _predictions_backend(settings: Settings, data: dict[str, Any]) -> str:
    """Where prediction-market data comes from, and whether any has been ingested."""
    every = settings.polymarket_ingest_minutes
    ingest = f"ingest every {every:g} min" if every > 0 else "scheduled ingest off"
    news = "newsapi" if settings.newsapi_key else "news off (no EDGELAB_NEWSAPI_KEY)"
    if not data.get("prediction_markets"):
        return f"polymarket ({ingest}; no data ingested: run `edgelab ingest polymarket`), {news}"
    return f"polymarket ({ingest}; {data['prediction_markets']} markets), {news}"


def _health_router() -> APIRouter:
    router = APIRouter(tags=["platform"])

    @router.get(
        "/health",
        response_model=Health,
        responses=error_responses(503),
    )
    async def health(
        request: Request,
        session: SessionDep,
        sessions: ReadSessionMakerDep,
        settings: SettingsDep,
        cache: CacheDep,
    ) -> Response:
        """Liveness of the database on every call (503 when it fails), data freshness cached.

        The freshness aggregates scan large tables, so they are cached; their refill opens its
        own session because it may run in the background after this request has finished.
        """
        started: float = getattr(health, "_started", time.monotonic())
        ok = True
        data: dict[str, Any] = {}

        async def freshness() -> bytes:
            async with sessions() as own:
                fresh = await betting_service.data_freshness(own)
                fresh.update(await predictions_service.freshness(own))
                return json.dumps(fresh).encode()

        try:
            await session.execute(text("SELECT 1"))
            data = json.loads(await cache.get_or_fill("health:freshness", FRESHNESS_TTL, freshness))
        except Exception:  # the point of /health is to report this, not to fail on it
            log.exception("database check failed")
            ok = False
        body = Health(
            status="ok" if ok else "degraded",
            version=edgelab.__version__,
            env=settings.env,
            database="sqlite" if settings.is_sqlite else "postgresql",
            database_ok=ok,
            cache=settings.cache_backend,
            live_odds="the-odds-api" if settings.odds_api_key else "offline (shipped data)",
            predictions=_predictions_backend(settings, data),
            demo_date=settings.demo_date,
            data=data,
            uptime_seconds=round(time.monotonic() - started, 3),
        )
        if not ok:  # load balancers act on the status; the envelope carries the report
            return envelope(
                request,
                503,
                "database_unavailable",
                "The database does not answer.",
                body.model_dump(mode="json"),
            )
        return Response(body.model_dump_json(), media_type="application/json")

    health._started = time.monotonic()  # type: ignore[attr-defined]
    return router


def _register_jobs(jobs: Jobs, settings: Settings) -> ResendClient | None:
    """Every product's background jobs and schedules, on this app's `Jobs`.

    Modules are imported here, not at the top: start-up time counts. Returns the Resend client
    (when a key is set) so the lifespan can close it.
    """
    from edgelab.accounts.billing import register_billing_jobs
    from edgelab.accounts.uploads import register_upload_jobs
    from edgelab.betting.alerts import register_alert_jobs
    from edgelab.betting.recalibration import register_model_jobs
    from edgelab.chess.jobs import register_chess_jobs
    from edgelab.predictions.jobs import register_prediction_jobs
    from edgelab.sentinel.jobs import register_sentinel_jobs

    register_billing_jobs(jobs, settings)
    register_upload_jobs(jobs, settings)
    register_alert_jobs(jobs, settings)
    register_model_jobs(jobs, settings)
    register_sentinel_jobs(jobs, settings)
    register_prediction_jobs(jobs, settings)
    register_chess_jobs(jobs, settings)
    resend = None
    if settings.resend_api_key:
        from edgelab.accounts.delivery import register_email_jobs
        from edgelab.accounts.resend import ResendClient

        resend = ResendClient(
            settings,
            api_key=settings.resend_api_key.get_secret_value(),
            base_url=settings.resend_url,
        )
        register_email_jobs(jobs, settings, resend)
    return resend


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    configure_logging(settings.log_level)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(settings)
        app.state.engine = engine
        app.state.sessionmaker = create_sessionmaker(engine)
        app.state.cache = make_cache(settings.redis_url)
        from edgelab.accounts.blob_store import make_upload_store

        app.state.upload_store = make_upload_store(settings)  # no I/O until first use
        from edgelab.sentinel.anthropic_client import make_explainer

        app.state.sentinel_explainer = make_explainer(settings)  # None without a key
        from edgelab.predictions.clients import PredictionClients

        app.state.predictions = PredictionClients.create(settings)  # no I/O until first use
        from edgelab.chess.chesscom import ChesscomClient

        app.state.chesscom = ChesscomClient(settings, app.state.cache)  # no I/O until first use
        jobs = Jobs(
            settings.redis_url,
            queue_name=settings.jobs_queue,
            session_factory=app.state.sessionmaker,
        )
        resend = _register_jobs(jobs, settings)
        await jobs.startup()
        app.state.jobs = jobs
        worker = (
            asyncio.get_running_loop().create_task(jobs.run_worker())
            if jobs.backend == "redis" and settings.jobs_worker_in_process
            else None
        )
        app.state.ratelimiter = (
            RateLimiter(settings.redis_url) if settings.rate_limits_enabled else None
        )
        # A/B exposures go through the routes' sessionmaker, overrides included (a test's then
        # shares the test's connection, which two tasks must not use at once: no timed flushes)
        override = app.dependency_overrides.get(get_sessionmaker)

        async def exposure_sessions() -> async_sessionmaker[AsyncSession]:
            maker: async_sessionmaker[AsyncSession]
            maker = await override() if override is not None else app.state.sessionmaker
            return maker

        app.state.ab_exposures.start(
            exposure_sessions, None if override else settings.ab_exposure_flush_seconds
        )
        log.info(
            "edgelab %s up: database=%s cache=%s live_odds=%s",
            edgelab.__version__,
            engine.dialect.name,
            app.state.cache.backend,
            "the-odds-api" if settings.odds_api_key else "offline",
        )
        # Move everything made at start-up out of the collector's sight: full collections then
        # walk only per-request garbage, which cuts the tail latency under load.
        if settings.gc_freeze_on_startup:
            gc.collect()
            gc.freeze()
        try:
            yield
        finally:
            if settings.gc_freeze_on_startup:
                gc.unfreeze()
            await app.state.ab_exposures.stop()
            if worker is not None:
                jobs.stop_worker()
                await asyncio.gather(worker, return_exceptions=True)
            await jobs.shutdown()
            if resend is not None:
                await resend.aclose()
            await app.state.upload_store.aclose()
            if app.state.sentinel_explainer is not None:
                await app.state.sentinel_explainer.aclose()
            if app.state.ratelimiter is not None:
                await app.state.ratelimiter.close()
            await app.state.predictions.aclose()
            await app.state.chesscom.aclose()
            await app.state.cache.close()
            await engine.dispose()

    app = FastAPI(
        title="edgelab",
        version=edgelab.__version__,
        description="Betting and game analytics: NBA value betting (more products to come).",
        lifespan=lifespan,
        generate_unique_id_function=_operation_id,
    )
    app.state.settings = settings
    app.state.principal_resolver = accounts_service.resolve_principal
    app.state.ratelimit_policy = RateLimitPolicy(
        anonymous=settings.rate_limit_anonymous,
        free=settings.rate_limit_free,
        paid=settings.rate_limit_paid,
        auth_per_email=settings.rate_limit_auth_per_email,
        auth_per_ip=settings.rate_limit_auth_per_ip,
        trusted_proxies=frozenset(settings.trusted_proxies),
    )
    install_error_handlers(app)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["*"],
            allow_headers=["*"],
            expose_headers=[
                "X-Request-ID",
                "Retry-After",
                "X-RateLimit-Limit",
                "X-RateLimit-Remaining",
                "X-RateLimit-Reset",
            ],
        )
    app.add_middleware(RateLimitHeadersMiddleware)
    app.add_middleware(RequestIdMiddleware)
    app.include_router(_health_router())
    app.include_router(betting_router)
    app.include_router(accounts_router)
    app.include_router(billing_router)
    app.include_router(uploads_router)
    app.include_router(bets_router)
    app.include_router(alerts_router)
    app.include_router(evaluation_router)
    app.include_router(model_router)
    app.include_router(trends_router)
    app.include_router(sentinel_router)
    app.include_router(interventions_router)
    app.include_router(predictions_router)
    app.include_router(chess_router)
    install_dashboard(app)  # /app/: the pages, a view over the routes above

    from prometheus_client import CollectorRegistry
    from prometheus_fastapi_instrumentator import Instrumentator

    # a registry per app: the process-wide default would freeze every app but the first
    registry = CollectorRegistry()
    app.state.ab_exposures = ExposureBuffer(settings.ab_exposure_buffer_max_rows, registry)
    Instrumentator(excluded_handlers=["/metrics"], registry=registry).instrument(app).expose(
        app, endpoint="/metrics", include_in_schema=False
    )
    return app
