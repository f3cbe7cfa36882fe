"""SQLite's one writer: a unit that reads and then writes fails at once when another writer
committed in between ("database is locked", whatever the busy timeout); one that takes the
write lock first (`take_write_lock`: BEGIN IMMEDIATE) waits instead, and a job that meets the
lock is run once more."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from edgelab.core.db import (
    create_engine,
    create_sessionmaker,
    is_sqlite_busy,
    take_write_lock,
    unit_bind,
)
from edgelab.core.jobs import Jobs
from tests.fixtures.database import make_settings

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'lock.db'}"
    engine = create_engine(make_settings(url))
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE note (id INTEGER PRIMARY KEY, body TEXT NOT NULL)"))
    yield engine
    await engine.dispose()


async def _write(sessions: async_sessionmaker[AsyncSession], body: str) -> None:
    async with sessions() as other:
        await other.execute(text("INSERT INTO note (body) VALUES (:b)"), {"b": body})
        await other.commit()


async def _bodies(sessions: async_sessionmaker[AsyncSession]) -> list[str]:
    async with sessions() as s:
        return list((await s.execute(text("SELECT body FROM note ORDER BY id"))).scalars())


async def test_read_then_write_fails_at_once_after_another_commit(engine: AsyncEngine) -> None:
    sessions = create_sessionmaker(engine)
    async with sessions() as reader:
        await reader.execute(text("SELECT count(*) FROM note"))  # snapshot taken
        await _write(sessions, "other")
        with pytest.raises(OperationalError) as caught:
            await reader.execute(text("INSERT INTO note (body) VALUES ('mine')"))
    assert is_sqlite_busy(caught.value)


async def test_a_unit_that_takes_the_write_lock_first_makes_the_other_writer_wait(
    engine: AsyncEngine,
) -> None:
    sessions = create_sessionmaker(engine)
    async with sessions() as writer:
        await take_write_lock(writer)
        await writer.execute(text("SELECT count(*) FROM note"))  # holds the lock from here
        other = asyncio.create_task(_write(sessions, "other"))
        await asyncio.sleep(0.2)  # the other writer is waiting on the lock, not failing
        assert not other.done()
        await writer.execute(text("INSERT INTO note (body) VALUES ('mine')"))
        await writer.commit()
    await other
    assert await _bodies(sessions) == ["mine", "other"]


async def test_a_job_that_meets_the_lock_is_run_once_more(engine: AsyncEngine) -> None:
    sessions = create_sessionmaker(engine)
    jobs = Jobs(None, queue_name="lock-test", session_factory=sessions)
    attempts: list[int] = []
    done = asyncio.Event()

    @jobs.task("probe.note")
    async def note(session: AsyncSession) -> dict[str, Any]:
        attempts.append(1)
        seen = (await session.execute(text("SELECT count(*) FROM note"))).scalar_one()
        if len(attempts) == 1:
            await _write(sessions, "meanwhile")  # a request commits while the job reads
        await session.execute(text("INSERT INTO note (body) VALUES ('job')"))
        done.set()
        return {"seen": seen}

    await jobs.startup()
    try:
        await jobs.send("probe.note")
        await asyncio.wait_for(done.wait(), 10)
        await asyncio.sleep(0)  # the unit of work commits after the task returns
        for _ in range(100):
            if "job" in await _bodies(sessions):
                break
            await asyncio.sleep(0.02)
    finally:
        await jobs.shutdown(grace_seconds=2.0)
    assert len(attempts) == 2  # the first attempt met the lock and was rolled back
    assert await _bodies(sessions) == ["meanwhile", "job"]


@pytest.mark.parametrize(("method", "waits"), [("POST", True), ("DELETE", True), ("GET", False)])
async def test_a_request_that_may_write_holds_the_lock_from_its_first_statement(
    engine: AsyncEngine, method: str, waits: bool
) -> None:
    sessions = create_sessionmaker(engine)
    async with sessions(bind=unit_bind(engine, method)) as unit:
        await unit.execute(text("SELECT count(*) FROM note"))
        other = asyncio.create_task(_write(sessions, "other"))
        await asyncio.sleep(0.2)
        assert other.done() is not waits  # a GET's read does not keep writers out
        await unit.rollback()
    await other
    assert await _bodies(sessions) == ["other"]


async def test_a_request_refused_for_the_lock_answers_503_database_busy() -> None:
    import sqlite3

    import httpx
    from fastapi import FastAPI

    from edgelab.core.errors import install_error_handlers

    app = FastAPI()
    install_error_handlers(app)

    @app.post("/write")
    async def write() -> None:
        raise OperationalError("INSERT", {}, sqlite3.OperationalError("database is locked"))

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        r = await client.post("/write")
    assert r.status_code == 503 and r.headers["retry-after"] == "1"
    assert r.json()["error"]["code"] == "database_busy"
