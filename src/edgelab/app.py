"""The composition root: `create_app(settings)` builds the app from core and the products.

Nothing is created at import time: the engine, sessions, cache, jobs, limiter and every
product's clients are made in the lifespan and closed with it, so tests and the CLI can build
as many apps as they like with different settings. The URL map is `edgelab.api`; what each
product adds at start-up is its `wiring.PRODUCT`; the typed objects live on `Resources`.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

from fastapi import Depends, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.routing import APIRoute

import edgelab
from edgelab.accounts import service as accounts_service
from edgelab.accounts import wiring as accounts
from edgelab.accounts.billing.plans import document_plans
from edgelab.accounts.uploads import service as uploads_service
from edgelab.api import mount_api
from edgelab.betting import wiring as betting
from edgelab.chess import wiring as chess
from edgelab.core import clock
from edgelab.core.cache import make_cache
from edgelab.core.db import create_engine, create_sessionmaker
from edgelab.core.email.delivery import register_delivery
from edgelab.core.errors import document_database_unavailable, install_error_handlers
from edgelab.core.guards.body_limit import BodyLimitMiddleware
from edgelab.core.guards.metrics_access import require_metrics_access
from edgelab.core.jobs import Jobs
from edgelab.core.observability import Degradation, RequestIdMiddleware, configure_logging
from edgelab.core.ratelimit import RateLimiter, RateLimitHeadersMiddleware, RateLimitPolicy
from edgelab.core.resources import Product, Resources
from edgelab.core.settings import Settings, development_secret_refusal
from edgelab.predictions import wiring as predictions
from edgelab.sentinel import schemas as sentinel_schemas
from edgelab.sentinel import wiring as sentinel
from edgelab.web.router import install_dashboard

log = logging.getLogger("edgelab.app")
# lowest first: a product's start may use what a lower one provided
PRODUCTS: tuple[Product, ...] = (
    accounts.PRODUCT,
    sentinel.PRODUCT,
    betting.PRODUCT,
    predictions.PRODUCT,
    chess.PRODUCT,
)


class InsecureStartupError(RuntimeError):
    """The app would serve other machines with the development JWT secret."""


PGN_PATHS = ("/api/analyze/pgn", "/app/chess/pgn")  # the API and the chess page's form
BET_IMPORT_PATHS = ("/me/bets/imports", "/app/my-bets/import")


def _operation_id(route: APIRoute) -> str:
    tag = str(route.tags[0]) if route.tags else "default"
    return f"{tag}-{route.name}"


def register_all_jobs(jobs: Jobs, settings: Settings, stack: AsyncExitStack) -> None:
    """Every product's background jobs and schedules, and e-mail delivery when Resend is set.

    Shared by the app and `edgelab jobs worker`, so a worker runs exactly the app's tasks. The
    Resend client (when a key is set) is closed with `stack`.
    """
    for product in PRODUCTS:
        if product.register_jobs is not None:
            product.register_jobs(jobs, settings)
    register_delivery(jobs, settings, stack)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    configure_logging(settings.log_level)
    from prometheus_client import CollectorRegistry

    metrics = CollectorRegistry()
    resources = Resources(
        settings=settings,
        ratelimit_policy=RateLimitPolicy.from_settings(settings),
        principal_resolver=accounts_service.resolve_principal,
        user_erasers=[p.erase_user for p in PRODUCTS if p.erase_user is not None],
        # a registry per app: the process-wide default would freeze every app but the first
        metrics=metrics,
        degradation=Degradation(metrics),
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # `edgelab serve` checks its bind address first; this covers any other server, which
        # must then say where it binds in EDGELAB_HOST
        refusal = development_secret_refusal(settings)
        if refusal is not None:
            log.error("%s", refusal)
            raise InsecureStartupError(refusal)
        async with AsyncExitStack() as stack:
            await _start(resources, stack)
            # Move everything made at start-up out of the collector's sight: full collections
            # then walk only per-request garbage, which cuts the tail latency under load.
            if settings.gc_freeze_on_startup:
                gc.collect()
                gc.freeze()
                stack.callback(gc.unfreeze)
            yield

    app = FastAPI(
        title="edgelab",
        version=edgelab.__version__,
        description="Betting and game analytics: NBA value betting (more products to come).",
        lifespan=lifespan,
        generate_unique_id_function=_operation_id,
    )
    app.state.resources = resources
    install_error_handlers(app)
    # innermost of the middleware, so a 413 still gets CORS and request-id headers.
    # `POST /uploads` caps its body itself (per kind, answering `upload_too_large`): here it
    # only gets a backstop far enough above that cap that the route's own check trips first;
    # Sentinel's bulk routes take up to 10,000 rows; a PGN file or a bet-history CSV gets a
    # backstop twice its own cap (EDGELAB_CHESS_PGN_MAX_BYTES, EDGELAB_BET_IMPORT_MAX_BYTES)
    app.add_middleware(
        BodyLimitMiddleware,
        max_bytes=settings.max_body_bytes,
        overrides={
            "/uploads": 2 * uploads_service.body_cap(settings),
            **dict.fromkeys(sentinel_schemas.BULK_PATHS, sentinel_schemas.BULK_BODY_MAX_BYTES),
            # files read whole by their routes, which answer their own 413 below these
            **dict.fromkeys(PGN_PATHS, 2 * settings.chess_pgn_max_bytes),
            **dict.fromkeys(BET_IMPORT_PATHS, 2 * settings.bet_import_max_bytes),
        },
    )
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
    mount_api(app)
    install_dashboard(app)  # /app/: the pages, a view over the routes above
    document_database_unavailable(app)  # every operation may meet a database outage (503)
    document_plans(app, settings)  # the configured plans are the `plan` fields' enum

    from prometheus_fastapi_instrumentator import Instrumentator

    Instrumentator(excluded_handlers=["/metrics"], registry=resources.metrics).instrument(
        app
    ).expose(
        app,
        endpoint="/metrics",
        include_in_schema=False,
        dependencies=[Depends(require_metrics_access)],
    )
    return app


async def _start(resources: Resources, stack: AsyncExitStack) -> None:
    """Open core's objects, then each product's (lowest first); `stack` closes them in reverse,
    so a product's clients close before the jobs, cache and engine they may still use."""
    settings = resources.settings
    if settings.clock_url:  # first: schedules and stamps start on the followed time
        from edgelab.core.clock.followed import follow

        resources.followed_clock, previous = await follow(settings.clock_url)
        stack.callback(clock.set_clock, previous)
    resources.started_monotonic = clock.monotonic()
    engine = create_engine(settings)
    stack.push_async_callback(engine.dispose)
    resources.engine = engine
    resources.sessionmaker = create_sessionmaker(engine)
    resources.cache = make_cache(settings.redis_url, resources.degradation)
    stack.push_async_callback(resources.cache.close)
    from edgelab.core.storage.store import make_upload_store

    resources.blob_store = make_upload_store(settings)  # no I/O until first use
    stack.push_async_callback(resources.blob_store.aclose)
    jobs = Jobs(
        settings.redis_url,
        queue_name=settings.jobs_queue,
        session_factory=resources.sessionmaker,
        run_schedules=settings.jobs_schedules_in_process,
        redeliver_after_seconds=settings.jobs_redeliver_after_seconds,
        degradation=resources.degradation,
    )
    register_all_jobs(jobs, settings, stack)
    await jobs.startup()
    stack.push_async_callback(jobs.shutdown)
    resources.jobs = jobs
    if jobs.backend == "redis" and settings.jobs_worker_in_process:
        worker = asyncio.get_running_loop().create_task(jobs.run_worker())

        async def stop_worker() -> None:
            jobs.stop_worker()
            await asyncio.gather(worker, return_exceptions=True)

        stack.push_async_callback(stop_worker)
    if settings.rate_limits_enabled:
        limiter = RateLimiter(settings.redis_url, degradation=resources.degradation)
        stack.push_async_callback(limiter.close)
        resources.ratelimiter = limiter
    for product in PRODUCTS:
        if product.start is not None:
            await product.start(resources, stack)
    log.info(
        "edgelab %s up: database=%s cache=%s live_odds=%s",
        edgelab.__version__,
        engine.dialect.name,
        resources.cache.backend,
        "the-odds-api" if settings.odds_api_key else "offline",
    )
