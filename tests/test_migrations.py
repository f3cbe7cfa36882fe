"""The Alembic history: it builds the schema the models describe, and it can be walked back.

Each test gets its own empty database (`<name>_mig` on PostgreSQL, a temp file on SQLite).
`migrations.upgrade/downgrade` call `asyncio.run` inside env.py, so they run in a worker thread.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

import edgelab.tables  # noqa: F401  (registers every table on Base.metadata)
from edgelab.core import migrations
from edgelab.core.db import Base, create_engine
from edgelab.core.settings import Settings
from tests.fixtures.database import BACKENDS, fresh_database, make_settings

pytestmark = pytest.mark.asyncio(loop_scope="session")

APP_TABLES = frozenset(Base.metadata.tables)


@pytest.fixture(params=BACKENDS)
def mig_settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    return make_settings(fresh_database(request, request.param, tmp_path, "mig"))


def _head() -> str:
    script = ScriptDirectory.from_config(migrations.alembic_config("sqlite://"))
    head = script.get_current_head()
    assert head is not None
    return head


async def _snapshot(settings: Settings) -> tuple[set[str], list[str]]:
    """(tables present, revisions in alembic_version)."""
    engine = create_engine(settings)
    try:
        async with engine.connect() as conn:
            tables = set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
            revisions: list[str] = []
            if "alembic_version" in tables:
                rows = await conn.execute(text("SELECT version_num FROM alembic_version"))
                revisions = [r[0] for r in rows]
        return tables, revisions
    finally:
        await engine.dispose()


async def _schema_diff(settings: Settings) -> list[Any]:
    def compare(sync_conn: Connection) -> list[Any]:
        context = MigrationContext.configure(sync_conn, opts={"compare_type": True})
        return list(compare_metadata(context, Base.metadata))

    engine = create_engine(settings)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(compare)
    finally:
        await engine.dispose()


async def test_models_define_the_app_tables() -> None:
    assert {
        "games",
        "markets",
        "outcomes",
        "odds_snapshots",
        "value_scores",
        "model_fits",
        "ingest_runs",
    } <= APP_TABLES


async def test_upgrade_downgrade_upgrade_round_trip(mig_settings: Settings) -> None:
    head = _head()

    await asyncio.to_thread(migrations.upgrade, mig_settings, "head")
    tables, revisions = await _snapshot(mig_settings)
    assert tables >= APP_TABLES
    assert revisions == [head]

    await asyncio.to_thread(migrations.upgrade, mig_settings, "head")  # again: a no-op
    assert await _snapshot(mig_settings) == (tables, revisions)

    await asyncio.to_thread(migrations.downgrade, mig_settings, "base")
    tables_after, revisions_after = await _snapshot(mig_settings)
    assert not (tables_after & APP_TABLES), f"left behind: {tables_after & APP_TABLES}"
    assert tables_after <= {"alembic_version"}
    assert revisions_after == []

    await asyncio.to_thread(migrations.upgrade, mig_settings, "head")
    assert await _snapshot(mig_settings) == (tables, revisions)


async def test_migrated_schema_matches_the_models(mig_settings: Settings) -> None:
    await asyncio.to_thread(migrations.upgrade, mig_settings, "head")
    diff = await _schema_diff(mig_settings)
    assert diff == [], "models and migrations disagree; autogenerate a revision:\n" + "\n".join(
        map(repr, diff)
    )


async def test_unmigrated_database_differs_from_the_models(mig_settings: Settings) -> None:
    """The comparison above can fail: on an empty database every table is reported missing."""
    diff = await _schema_diff(mig_settings)
    added = {d[1].name for d in diff if isinstance(d, tuple) and d[0] == "add_table"}
    assert added == set(APP_TABLES)


async def test_migrated_schema_enforces_foreign_keys(mig_settings: Settings) -> None:
    """A market for a game that does not exist is refused (SQLite pragmas on, PG constraints)."""
    await asyncio.to_thread(migrations.upgrade, mig_settings, "head")
    engine = create_engine(mig_settings)
    try:
        async with engine.connect() as conn:
            with pytest.raises(Exception, match=r"(?i)foreign key"):
                await conn.execute(
                    text(
                        "INSERT INTO markets (id, game_id, market_type) "
                        "VALUES ('m1', 'no-such-game', 'spread')"
                    )
                )
            await conn.rollback()
    finally:
        await engine.dispose()
