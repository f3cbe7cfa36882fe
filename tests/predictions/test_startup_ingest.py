"""The first Polymarket ingest runs at start-up when no live market is stored (a new install
with internet sees markets at once), in the background: the app answers meanwhile."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from edgelab.app import create_app
from edgelab.core import migrations
from edgelab.core.db import create_engine, create_sessionmaker
from edgelab.core.settings import Settings
from edgelab.predictions.ingest import import_recording
from edgelab.predictions.models import PredictionMarket
from edgelab.predictions.sources import recording
from edgelab.predictions.wiring import FirstIngest
from tests.fixtures.app import resources, serve_app
from tests.fixtures.database import fresh_database, make_settings
from tests.predictions.fake_polymarket import FakePolymarket, make_market

SLOW_GAMMA_SECONDS = 10.0


@pytest.fixture
def own_settings(
    request: pytest.FixtureRequest, db_url: str, tmp_path: Path, fake_url: str
) -> Settings:
    """An empty migrated database of the run's backend (the app commits in it), with the
    schedule on and Polymarket at the fake."""
    backend = "sqlite" if db_url.startswith("sqlite") else "postgresql"
    url = fresh_database(request, backend, tmp_path, "h3_startup")
    migrations.upgrade(make_settings(url))
    return make_settings(
        url,
        polymarket_gamma_url=fake_url,
        polymarket_clob_url=fake_url,
        polymarket_ingest_minutes=60,
        http_max_retries=1,
    )


async def _count(settings: Settings, *, live: bool) -> int:
    engine = create_engine(settings)
    try:
        async with create_sessionmaker(engine)() as session:
            stmt = select(func.count(PredictionMarket.id))
            if live:
                stmt = stmt.where(PredictionMarket.recorded_at.is_(None))
            return int((await session.execute(stmt)).scalar_one())
    finally:
        await engine.dispose()


async def _record_one(settings: Settings, tmp_path: Path) -> None:
    page = tmp_path / "page.json"
    page.write_text('[{"id": "1", "question": "Recorded?", "updatedAt": "2026-01-01T00:00:00Z"}]')
    engine = create_engine(settings)
    try:
        async with create_sessionmaker(engine)() as session:
            await import_recording(session, recording.read([page]))
            await session.commit()
    finally:
        await engine.dispose()


async def test_the_first_ingest_runs_at_start_up_in_the_background(
    own_settings: Settings, fake: FakePolymarket, tmp_path: Path
) -> None:
    await _record_one(own_settings, tmp_path)  # a recording alone is no live data
    fake.markets = [make_market(i) for i in range(3)]
    fake.plan(path="/markets", delay=SLOW_GAMMA_SECONDS)  # Gamma answers slowly
    app = create_app(own_settings)
    async with serve_app(app) as client:
        health = await client.get("/health")
        assert health.status_code == 200  # answered while the ingest waits on Gamma
        assert await _count(own_settings, live=True) == 0
        res = resources(app)
        assert await res.get(FirstIngest).task is True  # it was sent
        await res.jobs.drain(timeout=SLOW_GAMMA_SECONDS * 3)
        assert await _count(own_settings, live=True) == 3
    assert fake.calls("/markets/keyset")  # by the ingest's own paging


async def test_no_ingest_at_start_up_when_live_markets_are_stored(
    own_settings: Settings, fake: FakePolymarket
) -> None:
    fake.markets = [make_market(1)]
    app = create_app(own_settings)
    async with serve_app(app):  # the first start ingests
        res = resources(app)
        await res.get(FirstIngest).task
        await res.jobs.drain(timeout=30)
    assert await _count(own_settings, live=True) == 1
    fake.requests.clear()
    again = create_app(own_settings)
    async with serve_app(again):
        assert await resources(again).get(FirstIngest).task is False
    assert fake.requests == []


async def test_no_start_up_ingest_when_the_schedule_is_off(
    own_settings: Settings, fake: FakePolymarket
) -> None:
    off = own_settings.model_copy(update={"polymarket_ingest_minutes": 0})
    app = create_app(off)
    async with serve_app(app):
        assert resources(app).find(FirstIngest) is None
    assert fake.requests == []
