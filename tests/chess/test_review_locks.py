"""Issue 16 leftovers of the engine review: starting a review does not hold SQLite's write lock
while Chess.com is asked, and reviews left by a process that died are sent again (or failed
after `EDGELAB_CHESS_REVIEW_MAX_ATTEMPTS`)."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import signal
import sqlite3
import sys
import textwrap
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, select, update

from edgelab.accounts.service import create_user
from edgelab.app import create_app
from edgelab.chess import review, service
from edgelab.chess.jobs import RECOVER_TASK, hold_job, recover_abandoned, run_review
from edgelab.chess.models import ChessReviewJob
from edgelab.chess.review import engine_path
from edgelab.core import migrations
from edgelab.core.auth import issue_access_token
from edgelab.core.clock import ManualClock, ScaledClock, real_utcnow, use_clock, utcnow
from edgelab.core.db import create_engine, create_sessionmaker
from edgelab.core.settings import Settings
from tests.chess.fake_chesscom import PLAYER, UA, FakeChesscom
from tests.fixtures.app import resources, serve_app
from tests.fixtures.database import BACKENDS, fresh_database, make_settings

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def _fresh_settings(
    request: pytest.FixtureRequest,
    backend: str,
    tmp_path: Path,
    fake_url: str,
    **overrides: object,
) -> tuple[Settings, Path]:
    """Settings on an empty, migrated database of its own (the app's engine writes for real
    here, not in a test transaction) and, on SQLite, the database file."""
    path = tmp_path / "locks.db"
    url = await asyncio.to_thread(fresh_database, request, backend, tmp_path, "locks")
    settings = make_settings(
        url,
        chesscom_url=fake_url,
        chesscom_user_agent=UA,
        http_max_retries=0,
        http_timeout_seconds=20.0,
        stockfish_path="/bin/true",  # only its presence is checked when a review is asked
        **overrides,
    )
    await asyncio.to_thread(migrations.upgrade, settings)
    return settings, path


def _write_lock_free(path: Path) -> bool:
    """Whether another connection can take SQLite's write lock now (waiting 0.2 s at most)."""
    conn = sqlite3.connect(path, timeout=0.2, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("ROLLBACK")
        return True
    except sqlite3.OperationalError as exc:
        assert "locked" in str(exc)
        return False
    finally:
        conn.close()


async def test_a_slow_chesscom_does_not_hold_the_write_lock(
    request: pytest.FixtureRequest, tmp_path: Path, fake: FakeChesscom, fake_url: str
) -> None:
    """SQLite only: one writer at a time is SQLite's (PostgreSQL locks rows)."""
    settings, path = await _fresh_settings(request, "sqlite", tmp_path, fake_url)
    app = create_app(settings)
    async with serve_app(app) as client:
        async with resources(app).sessionmaker() as s:
            user = await create_user(s, "slow@chess.test", tier="paid")
            await s.commit()
        paid = {"Authorization": f"Bearer {issue_access_token(settings, user.id)}"}
        fake.hold()
        try:
            started = asyncio.create_task(
                client.post(
                    "/api/analyze/review",
                    json={"username": PLAYER, "game_count": 1},
                    headers=paid,
                )
            )
            assert await asyncio.to_thread(fake.entered.wait, 20)  # Chess.com is being asked
            free_meanwhile = await asyncio.to_thread(_write_lock_free, path)
        finally:
            fake.release()
        answer = await started
        async with resources(app).sessionmaker() as s:
            job = await s.scalar(select(ChessReviewJob))
    assert answer.status_code == 202, answer.text
    assert free_meanwhile, "the review request held the write lock while Chess.com answered"
    assert job is not None and job.games_total == 1


# 2. reviews left by a process that was killed ------------------------------------------------

ROOT = Path(__file__).resolve().parents[2]
STALE = 10.0  # the least EDGELAB_CHESS_REVIEW_STALE_SECONDS allows: heartbeats every 2.5 s
WORKER = """
import asyncio, sys
from tests.fixtures.database import BACKENDS, fresh_database, make_settings
from edgelab.chess.jobs import ReviewSlot
from edgelab.core.db import create_engine, create_sessionmaker

async def main() -> None:
    url, engine_path, stale, *job_ids = sys.argv[1:]
    settings = make_settings(url, stockfish_path=engine_path, chess_review_stale_seconds=stale)
    maker = create_sessionmaker(create_engine(settings))
    slot = ReviewSlot(worker="doomed")
    await asyncio.gather(*(slot.run(maker, settings, job_id) for job_id in job_ids))

asyncio.run(main())
"""


def _queued(created: dt.datetime) -> ChessReviewJob:
    """A job as `POST /api/analyze/review` records it."""
    return ChessReviewJob(
        id=uuid.uuid4().hex,
        status="queued",
        requested_by="someone",
        username=PLAYER,
        depth=1,
        games_total=1,
        games_done=0,
        progress=0.0,
        created_at=created,
        games=['[White "a"]\n[Black "b"]\n[Result "*"]\n\n1. e4 e5 2. Nf3 *'],
    )


async def _poll(maker: Any, check: Any, what: str) -> None:
    for _ in range(300):
        async with maker() as s:
            if await check(s):
                return
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


async def _silent_for(maker: Any, seconds: float, *ids: str) -> None:
    """The jobs' last sign of life `seconds` ago on the real clock (as when their process
    died that long ago): what waiting that long would leave."""
    async with maker() as s:
        await s.execute(
            update(ChessReviewJob)
            .where(ChessReviewJob.id.in_(ids))
            .values(heartbeat_at=real_utcnow() - dt.timedelta(seconds=seconds))
        )
        await s.commit()


async def _rows(maker: Any, *ids: str) -> list[ChessReviewJob]:
    async with maker() as s:
        rows = {j.id: j for j in (await s.scalars(select(ChessReviewJob))).all()}
    return [rows[i] for i in ids]


async def _kill_a_worker_holding(
    tmp_path: Path, settings: Settings, maker: Any, *ids: str
) -> dict[str, dt.datetime | None]:
    """Start a worker process on `ids` (the first runs, forever: its engine never answers; the
    others wait for its slot), check it keeps them alive, then SIGKILL it. The jobs'
    heartbeats when it died."""
    hanging = tmp_path / "hanging-engine"
    hanging.write_text("#!/bin/sh\nexec sleep 600\n")
    hanging.chmod(0o755)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        textwrap.dedent(WORKER),
        settings.database_url,
        str(hanging),
        str(STALE),
        *ids,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": f"{ROOT}:{ROOT / 'src'}"},
        start_new_session=True,  # its own process group: the kill takes its engines too
    )
    try:

        async def held(s: Any) -> bool:
            rows = [await s.get(ChessReviewJob, i, populate_existing=True) for i in ids]
            return rows[0].status == "running" and all(r.worker == "doomed" for r in rows)

        await _poll(maker, held, "the worker to take its jobs")
        [first] = await _rows(maker, ids[0])
        claimed_beat = first.heartbeat_at

        async def beaten(s: Any) -> bool:
            row = await s.get(ChessReviewJob, ids[0], populate_existing=True)
            return row.heartbeat_at > claimed_beat

        await _poll(maker, beaten, "a heartbeat")  # alive: it says so in its rows
        # a live worker's jobs are neither recovered nor run by another process
        async with maker() as s:
            assert await recover_abandoned(s, settings) == {"requeued": [], "failed": []}
            await s.commit()
        assert (await run_review(maker, settings, ids[0]))["status"] == "skipped"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # as when its container or host dies
        await asyncio.wait_for(proc.wait(), 30)
    return {r.id: r.heartbeat_at for r in await _rows(maker, *ids)}


@pytest.mark.parametrize("backend", BACKENDS)
async def test_reviews_of_a_killed_worker_are_sent_again_and_run(
    request: pytest.FixtureRequest, backend: str, tmp_path: Path, fake_url: str
) -> None:
    settings, _ = await _fresh_settings(
        request,
        backend,
        tmp_path,
        fake_url,
        chess_review_stale_seconds=STALE,
        chess_review_max_attempts=3,
    )
    engine = create_engine(settings)
    maker = create_sessionmaker(engine)
    running, waiting = _queued(utcnow()), _queued(utcnow() + dt.timedelta(seconds=1))
    async with maker() as s:
        s.add_all([running, waiting])
        await s.commit()
    try:
        await _kill_a_worker_holding(tmp_path, settings, maker, running.id, waiting.id)
        stranded = await _rows(maker, running.id, waiting.id)
        assert [r.status for r in stranded] == ["running", "queued"]  # as the kill left them
        # before the stale time nothing moves; after it both are sent again
        await _silent_for(maker, STALE - 2, running.id, waiting.id)
        async with maker() as s:
            assert (await recover_abandoned(s, settings))["requeued"] == []
        await _silent_for(maker, STALE + 1, running.id, waiting.id)
        async with maker() as s:
            recovered = await recover_abandoned(s, settings)
            await s.commit()
        assert recovered == {"requeued": [running.id, waiting.id], "failed": []}
        rows = await _rows(maker, running.id, waiting.id)
        assert [(r.status, r.worker, r.attempts) for r in rows] == [
            ("queued", None, 1),
            ("queued", None, 0),
        ]
        # another worker takes them now
        path = engine_path(None)
        live = settings.model_copy(update={"stockfish_path": path or "/nonexistent"})
        for row in rows:
            if path is None:
                with pytest.raises(Exception):  # noqa: B017 (recorded in the row)
                    await run_review(maker, live, row.id)
            else:
                assert (await run_review(maker, live, row.id))["status"] == "succeeded"
        done = await _rows(maker, running.id, waiting.id)
        expected = "succeeded" if path else "failed"
        assert [r.status for r in done] == [expected, expected]
        assert [r.attempts for r in done] == [2, 1]
    finally:
        await engine.dispose()


@pytest.mark.parametrize("backend", BACKENDS)
async def test_a_review_interrupted_too_often_fails_with_a_clear_reason(
    request: pytest.FixtureRequest, backend: str, tmp_path: Path, fake_url: str
) -> None:
    settings, _ = await _fresh_settings(
        request,
        backend,
        tmp_path,
        fake_url,
        chess_review_stale_seconds=STALE,
        chess_review_max_attempts=1,
    )
    engine = create_engine(settings)
    maker = create_sessionmaker(engine)
    job = _queued(utcnow())
    async with maker() as s:
        s.add(job)
        await s.commit()
    try:
        await _kill_a_worker_holding(tmp_path, settings, maker, job.id)
        await _silent_for(maker, STALE + 1, job.id)
        async with maker() as s:
            assert await recover_abandoned(s, settings) == {"requeued": [], "failed": [job.id]}
            await s.commit()
        [row] = await _rows(maker, job.id)
        assert row.status == "failed" and row.finished_at is not None
        code, message = service.review_failure(row.error)
        assert code == "review_interrupted" and message and "interrupted" in message
        # sent again anyway (a late redelivery), it is not run
        assert (await run_review(maker, settings, job.id))["status"] == "skipped"
    finally:
        await engine.dispose()


async def test_the_app_schedules_the_recovery(
    request: pytest.FixtureRequest, tmp_path: Path, fake_url: str
) -> None:
    settings, _ = await _fresh_settings(request, "sqlite", tmp_path, fake_url)
    app = create_app(settings)
    async with serve_app(app):
        jobs = resources(app).jobs
        assert jobs is not None
        assert RECOVER_TASK in {s.name for s in jobs._schedules}


# 3. liveness on the real clock, writes only by the holder, recovery under SQLite's lock ---------


@pytest.mark.parametrize("backend", BACKENDS)
async def test_a_replays_fast_clock_does_not_make_a_live_review_look_abandoned(
    request: pytest.FixtureRequest, backend: str, tmp_path: Path, fake_url: str
) -> None:
    """Heartbeats sleep in real time; a replay's clock runs faster (here far ahead): a job
    that beat just now is neither recovered nor taken by another process."""
    settings, _ = await _fresh_settings(
        request, backend, tmp_path, fake_url, chess_review_stale_seconds=STALE
    )
    engine = create_engine(settings)
    maker = create_sessionmaker(engine)
    job = _queued(utcnow())
    async with maker() as s:
        s.add(job)
        await s.commit()
    try:
        assert await hold_job(maker, settings, job.id, "alive")  # its heartbeat: now, real
        for clock in (ScaledClock(real_utcnow(), speed=60), ManualClock(real_utcnow())):
            with use_clock(clock):
                if isinstance(clock, ManualClock):
                    clock.advance(STALE * 100)  # a replay hours ahead of the real clock
                else:
                    await asyncio.sleep(0.2)  # 12 s of the replay's time: past STALE
                async with maker() as s:
                    assert await recover_abandoned(s, settings) == {"requeued": [], "failed": []}
                    await s.commit()
                assert not await hold_job(maker, settings, job.id, "another")
                assert (await run_review(maker, settings, job.id))["status"] == "skipped"
        [row] = await _rows(maker, job.id)
        assert (row.status, row.worker, row.attempts) == ("queued", "alive", 0)
    finally:
        await engine.dispose()


@pytest.mark.parametrize("backend", BACKENDS)
async def test_a_run_that_lost_its_claim_writes_nothing_and_stops(
    request: pytest.FixtureRequest,
    backend: str,
    tmp_path: Path,
    fake_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A run that went silent past the stale time (a stalled process) was recovered and taken
    by another worker meanwhile: its outcome does not overwrite the new run's row."""
    settings, _ = await _fresh_settings(
        request, backend, tmp_path, fake_url, chess_review_stale_seconds=STALE
    )
    engine = create_engine(settings)
    maker = create_sessionmaker(engine)
    job = _queued(utcnow())
    async with maker() as s:
        s.add(job)
        await s.commit()

    async def stalled(pgns: list[str], path: str, depth: int, **_: Any) -> None:
        await _silent_for(maker, STALE + 1, job.id)
        async with maker() as s:
            assert (await recover_abandoned(s, settings))["requeued"] == [job.id]
            await s.commit()
        assert await hold_job(maker, settings, job.id, "newcomer")

    monkeypatch.setattr(review, "engine_path", lambda configured: "/bin/true")
    monkeypatch.setattr(review, "review_games", stalled)
    try:
        outcome = await run_review(maker, settings, job.id, worker="stalled")
        [row] = await _rows(maker, job.id)
    finally:
        await engine.dispose()
    assert outcome == {"job_id": job.id, "status": "lost"}
    assert (row.status, row.worker, row.result, row.finished_at) == (
        "queued",
        "newcomer",
        None,
        None,
    )


async def test_recovery_is_not_failed_by_a_heartbeat_committed_while_it_reads(
    request: pytest.FixtureRequest, tmp_path: Path, fake_url: str
) -> None:
    """SQLite only: a transaction that reads then writes fails at once ("database is
    locked") if another writer committed in between, so recovery takes the write lock first
    and a heartbeat arriving meanwhile waits for it instead."""
    settings, path = await _fresh_settings(
        request, "sqlite", tmp_path, fake_url, chess_review_stale_seconds=STALE
    )
    engine = create_engine(settings)
    maker = create_sessionmaker(engine)
    dead, alive = _queued(utcnow()), _queued(utcnow())
    async with maker() as s:
        s.add_all([dead, alive])
        await s.commit()
    assert await hold_job(maker, settings, alive.id, "alive")
    await _silent_for(maker, STALE + 1, dead.id)
    beats: list[bool] = []

    def heartbeat_meanwhile(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        """Between recovery's SELECT and its UPDATE, the live worker beats (a commit from
        another connection; it gives up at once when the lock is held, as recovery's is)."""
        if beats or not statement.lstrip().upper().startswith("UPDATE CHESS_REVIEW_JOBS"):
            return
        other = sqlite3.connect(path, timeout=0.2, isolation_level=None)
        try:
            other.execute(
                "UPDATE chess_review_jobs SET heartbeat_at = heartbeat_at WHERE id = ?",
                (alive.id,),
            )
            beats.append(True)
        except sqlite3.OperationalError as exc:
            assert "locked" in str(exc)
            beats.append(False)
        finally:
            other.close()

    event.listen(engine.sync_engine, "before_cursor_execute", heartbeat_meanwhile)
    try:
        async with maker() as s:
            recovered = await recover_abandoned(s, settings)
            await s.commit()
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", heartbeat_meanwhile)
        await engine.dispose()
    assert beats == [False]  # the heartbeat waited for recovery's lock
    assert recovered == {"requeued": [dead.id], "failed": []}
