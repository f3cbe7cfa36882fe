"""Shared fixtures: real databases built by the migrations, rolled back per test.

Every database test runs on SQLite (a temp file) and, when `EDGELAB_TEST_DATABASE_URL` is set,
again on PostgreSQL; Redis-backed tests likewise need `EDGELAB_TEST_REDIS_URL`. Without them
those parameters are skipped with a reason that names the variable.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
)

from edgelab.core import migrations
from edgelab.core.clock import ManualClock, use_clock
from edgelab.core.db import create_engine
from edgelab.core.settings import Settings
from tests.fixtures.app import app_in_session
from tests.fixtures.database import (
    BACKENDS,
    REDIS_ENV,
    fresh_database,
    make_settings,
)


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


@pytest.fixture
def manual_clock() -> Iterator[ManualClock]:
    """The app's clock (`core.clock`) held still from now on: the test moves it with
    `advance()`, and whatever waits on it (TTLs, schedules) sees time pass at once."""
    with use_clock(ManualClock(dt.datetime.now(dt.UTC))) as clock:
        yield clock


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    url = os.environ.get(REDIS_ENV)
    if not url:
        pytest.skip(f"Redis tests skipped: {REDIS_ENV} is not set")
    yield url
