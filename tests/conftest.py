"""Shared fixtures: real databases built by the migrations, rolled back per test.

Every database test runs on SQLite (a temp file) and, when `EDGELAB_TEST_DATABASE_URL` is set,
again on PostgreSQL; Redis-backed tests likewise need `EDGELAB_TEST_REDIS_URL`. Without them
those parameters are skipped with a reason that names the variable.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
)

from edgelab.core import migrations
from edgelab.core.db import create_engine
from edgelab.core.settings import Settings
from tests.fixtures.app import app_in_session

PG_ENV = "EDGELAB_TEST_DATABASE_URL"
REDIS_ENV = "EDGELAB_TEST_REDIS_URL"
# never ./var/uploads: an app's hourly upload sweep would take a developer's files for orphans
TEST_UPLOAD_DIR = Path(tempfile.gettempdir()) / f"edgelab-test-uploads-{os.getpid()}"
BACKENDS = ["sqlite", "postgresql"]


def asyncpg_url(url: str) -> str:
    parsed = make_url(url)
    return parsed.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)


def make_settings(database_url: str, **overrides: Any) -> Settings:
    base: dict[str, Any] = {
        "database_url": database_url,
        "env": "test",
        "markets_cache_ttl_seconds": 0,
        "redis_url": None,
        "odds_api_key": None,
        "demo_date": None,
        "jwt_secret": "test-secret-for-the-suite-only-0123456789abcdef",
        "resend_api_key": None,
        "upload_dir": TEST_UPLOAD_DIR,
        "polymarket_ingest_minutes": 0,  # no scheduled call to the real Polymarket
        # hundreds of apps in one process: a full collection at each start-up walks the whole
        # (growing) heap, over a second each late in the run
        "gc_freeze_on_startup": False,
        # requests and a timed exposure flush must not share the test's one connection: tests
        # that check exposures flush the buffer themselves
        "ab_exposure_flush_seconds": 3600,
    }
    base.update(overrides)
    return Settings(_env_file=None, **base)  # type: ignore[call-arg]


async def _recreate_pg_database(url: str, suffix: str) -> str:
    """A fresh sibling database `<name>_<suffix>` on the same server (for isolated fixtures)."""
    import asyncpg

    parsed = make_url(url)
    name = f"{parsed.database}_{suffix}"
    conn = await asyncpg.connect(
        user=parsed.username or "postgres",
        password=parsed.password,
        host=parsed.host,
        port=parsed.port or 5432,
        database=parsed.database,
    )
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return asyncpg_url(parsed.set(database=name).render_as_string(hide_password=False))


def fresh_database(request: pytest.FixtureRequest, backend: str, tmp: Path, suffix: str) -> str:
    """An empty database of the given backend, or a skip saying what is missing."""
    if backend == "sqlite":
        return f"sqlite+aiosqlite:///{tmp / f'{suffix}.db'}"
    url = os.environ.get(PG_ENV)
    if not url:
        pytest.skip(f"PostgreSQL tests skipped: {PG_ENV} is not set")
    return asyncio.run(_recreate_pg_database(url, suffix))


@pytest.fixture(scope="session", params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A migrated, empty database per backend, shared by the session's tests."""
    url = fresh_database(request, request.param, tmp_path_factory.mktemp("db"), "unit")
    migrations.upgrade(make_settings(url))
    return url


@pytest.fixture(scope="session")
async def engine(db_url: str) -> AsyncIterator[AsyncEngine]:
    eng = create_engine(make_settings(db_url))
    yield eng
    await eng.dispose()


@pytest.fixture
async def connection(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    async with engine.connect() as conn:
        trans = await conn.begin()
        yield conn
        if trans.is_active:
            await trans.rollback()


@pytest.fixture
async def session(connection: AsyncConnection) -> AsyncIterator[AsyncSession]:
    """A session whose commits are savepoints inside a transaction rolled back after the test."""
    sess = AsyncSession(
        bind=connection, expire_on_commit=False, join_transaction_mode="create_savepoint"
    )
    yield sess
    await sess.close()


@pytest.fixture
async def settings(db_url: str) -> Settings:
    return make_settings(db_url)


@pytest.fixture
async def client(settings: Settings, session: AsyncSession) -> AsyncIterator[httpx.AsyncClient]:
    """The real app over ASGI; its units of work run in the test's rolled-back session
    (`tests.fixtures.app.bind_to_session` says how)."""
    async with app_in_session(settings, session) as (_, c):
        yield c


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    url = os.environ.get(REDIS_ENV)
    if not url:
        pytest.skip(f"Redis tests skipped: {REDIS_ENV} is not set")
    yield url
