"""`edgelab replay prepare`: a paper-trading database knows nothing of the replayed period, and
one that does (the demo's) is refused before anything is written."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import func, select

from edgelab.betting.odds.models import Game, IngestRun
from edgelab.betting.odds.replay.prepare import KnowsTheFuture, prepare_database
from edgelab.core import migrations
from edgelab.core.db import create_engine, create_sessionmaker
from tests.fixtures.database import make_settings

pytestmark = pytest.mark.asyncio(loop_scope="session")

START = dt.datetime(2023, 5, 12, 11, tzinfo=dt.UTC)


async def test_a_database_that_knows_a_final_of_the_replayed_days_is_refused(
    tmp_path: Path,
) -> None:
    settings = make_settings(f"sqlite+aiosqlite:///{tmp_path / 'known.db'}")
    await asyncio.to_thread(migrations.upgrade, settings)  # it runs its own event loop
    engine = create_engine(settings)
    try:
        async with create_sessionmaker(engine)() as session:
            session.add(
                Game(
                    id="nba-2023-05-12-den-phx",
                    game_date=dt.date(2023, 5, 12),
                    season=2023,
                    tip_time=dt.datetime(2023, 5, 12, 2, tzinfo=dt.UTC),
                    home_team="DEN",
                    away_team="PHX",
                    home_score=125,
                    away_score=100,
                )
            )
            await session.commit()
        with pytest.raises(KnowsTheFuture, match="1 finals"):
            await prepare_database(settings, START)
        async with create_sessionmaker(engine)() as session:  # refused before any import
            assert await session.scalar(select(func.count()).select_from(IngestRun)) == 0
            assert await session.scalar(select(func.count()).select_from(Game)) == 1
    finally:
        await engine.dispose()
