"""Background jobs: sent after commit, dropped on rollback, JSON payloads, schedules.

Behaviour tests run on taskiq's in-memory broker and, when `EDGELAB_TEST_REDIS_URL` is set,
again on the Redis stream broker with a worker running in this process. Each Redis test uses
its own queue name and deletes its keys afterwards.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import math
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import Depends, FastAPI, HTTPException
from sqlalchemy import String, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from edgelab.core.clock import ManualClock
from edgelab.core.jobs import Jobs, enqueue, session_unit_of_work, unit_of_work_jobs

pytestmark = pytest.mark.asyncio(loop_scope="session")

PERIOD = 0.2  # seconds: schedule interval in the schedule tests


@dataclass
class JobsFactory:
    """Makes `Jobs` on one backend and queue, starts workers, and cleans everything up."""

    redis_url: str | None
    queue: str = field(default_factory=lambda: f"edgelab-test-{uuid.uuid4().hex[:12]}")
    made: list[Jobs] = field(default_factory=list)
    workers: list[asyncio.Task[None]] = field(default_factory=list)

    def new(self, **kwargs: Any) -> Jobs:
        jobs = Jobs(self.redis_url, queue_name=self.queue, **kwargs)
        self.made.append(jobs)
        return jobs

    async def start(self, jobs: Jobs, *, worker: bool = True) -> Jobs:
        await jobs.startup()
        if worker and jobs.backend == "redis":
            self.workers.append(asyncio.create_task(jobs.run_worker()))
        return jobs

    async def stream_length(self) -> int:
        from redis.asyncio import Redis

        assert self.redis_url is not None
        async with Redis.from_url(self.redis_url) as redis:
            return int(await redis.xlen(self.queue))

    async def close(self) -> None:
        for jobs in self.made:
            await jobs.shutdown(grace_seconds=2.0)
        await asyncio.gather(*self.workers, return_exceptions=True)
        if self.redis_url is not None:
            from redis.asyncio import Redis

            async with Redis.from_url(self.redis_url) as redis:
                keys = [key async for key in redis.scan_iter(match=f"{self.queue}*")]
                if keys:
                    await redis.delete(*keys)


@pytest.fixture(params=["memory", "redis"])
async def factory(request: pytest.FixtureRequest) -> AsyncIterator[JobsFactory]:
    url = request.getfixturevalue("redis_url") if request.param == "redis" else None
    made = JobsFactory(url)
    yield made
    await made.close()


@pytest.fixture
async def redis_factory(redis_url: str) -> AsyncIterator[JobsFactory]:
    made = JobsFactory(redis_url)
    yield made
    await made.close()


@pytest.fixture
async def memory_factory() -> AsyncIterator[JobsFactory]:
    made = JobsFactory(None)
    yield made
    await made.close()


@pytest.fixture
async def sessions(tmp_path: Path) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """A real SQLite database with one table, for jobs that take a session."""
    engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'jobs.db'}")
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE note (id INTEGER PRIMARY KEY, body TEXT NOT NULL)"))
    yield async_sessionmaker(engine, expire_on_commit=False)
    await engine.dispose()


async def note_exists(session: AsyncSession, body: str) -> bool:
    found = await session.execute(text("SELECT 1 FROM note WHERE body = :b"), {"b": body})
    return found.first() is not None


def recorder(jobs: Jobs) -> list[Any]:
    """Registers `probe.ran(n)`, which appends `n` to the returned list."""
    ran: list[Any] = []

    @jobs.task("probe.ran")
    async def probe(n: Any) -> None:
        ran.append(n)

    return ran


async def wait_for(condition: Callable[[], bool], within: float = 3.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


# --- after commit, never after rollback ---------------------------------------------------


async def test_job_enqueued_in_a_unit_of_work_runs_only_after_flush(factory: JobsFactory) -> None:
    jobs = factory.new()
    ran = recorder(jobs)
    await factory.start(jobs)

    async with unit_of_work_jobs(jobs) as buffer:
        enqueue("probe.ran", n=1)
        await asyncio.sleep(0.1)  # time enough for a job sent too early to have run
        assert ran == []
        assert buffer.pending == [("probe.ran", {"n": 1})]
        ids = await buffer.flush()
    await jobs.drain()

    assert ran == [1]
    assert len(ids) == 1


async def test_job_enqueued_in_a_rolled_back_unit_of_work_never_runs(
    factory: JobsFactory,
) -> None:
    jobs = factory.new()
    ran = recorder(jobs)
    await factory.start(jobs)

    with pytest.raises(RuntimeError, match="route failed"):
        async with unit_of_work_jobs(jobs):
            enqueue("probe.ran", n="rolled back")
            raise RuntimeError("route failed")
    await jobs.send("probe.ran", n="later")  # the queue is processed past where it would be
    await jobs.drain()

    assert ran == ["later"]


async def test_route_jobs_run_after_its_commit_and_not_after_its_rollback(
    memory_factory: JobsFactory, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """The wiring `get_session` takes: the job reads the row the request committed."""
    jobs = memory_factory.new(session_factory=sessions)
    seen: list[tuple[str, bool]] = []

    @jobs.task("notes.added")
    async def note_added(body: str, session: AsyncSession) -> None:
        seen.append((body, await note_exists(session, body)))

    await memory_factory.start(jobs)

    async def unit_of_work() -> AsyncIterator[AsyncSession]:
        async with session_unit_of_work(jobs, sessions) as session:
            yield session

    app = FastAPI()

    @app.post("/notes/{body}")
    async def add_note(
        body: str, session: AsyncSession = Depends(unit_of_work, scope="function")
    ) -> dict[str, str]:
        await session.execute(text("INSERT INTO note (body) VALUES (:b)"), {"b": body})
        enqueue("notes.added", body=body)
        if body == "refused":
            raise HTTPException(409, "refused after writing")
        return {"body": body}

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        assert (await client.post("/notes/kept")).status_code == 200
        assert (await client.post("/notes/refused")).status_code == 409
    await jobs.drain()

    assert seen == [("kept", True)]
    async with sessions() as session:
        assert not await note_exists(session, "refused")


async def test_enqueue_outside_a_unit_of_work_is_an_error(memory_factory: JobsFactory) -> None:
    jobs = memory_factory.new()
    recorder(jobs)
    await memory_factory.start(jobs)

    with pytest.raises(RuntimeError, match="outside a unit of work"):
        enqueue("probe.ran", n=1)


async def test_ending_a_unit_of_work_without_flush_or_discard_is_an_error(
    memory_factory: JobsFactory,
) -> None:
    jobs = memory_factory.new()
    ran = recorder(jobs)
    await memory_factory.start(jobs)

    with pytest.raises(RuntimeError, match="neither flushed nor discarded"):
        async with unit_of_work_jobs(jobs):
            enqueue("probe.ran", n=1)
    await jobs.drain()

    assert ran == []


async def test_a_flushed_unit_of_work_takes_no_more_jobs(memory_factory: JobsFactory) -> None:
    jobs = memory_factory.new()
    recorder(jobs)
    await memory_factory.start(jobs)

    async with unit_of_work_jobs(jobs) as buffer:
        await buffer.flush()
        with pytest.raises(RuntimeError, match="already flushed"):
            enqueue("probe.ran", n=1)


# --- names and payloads -------------------------------------------------------------------


class _Base(DeclarativeBase):
    pass


class _User(_Base):
    __tablename__ = "job_test_user"
    id: Mapped[str] = mapped_column(String, primary_key=True)


NOT_JSON = {
    "orm object": _User(id="u1"),
    "datetime": dt.datetime(2024, 1, 1, tzinfo=dt.UTC),
    "decimal": Decimal("1.5"),
    "tuple": (1, 2),
    "set": {1, 2},
    "nan": math.nan,
    "infinity": math.inf,
    "int key": {1: "a"},
    "nested orm object": {"users": [_User(id="u2")]},
}


@pytest.mark.parametrize("value", NOT_JSON.values(), ids=NOT_JSON.keys())
async def test_payload_that_is_not_json_is_refused_when_enqueued(
    memory_factory: JobsFactory, value: Any
) -> None:
    jobs = memory_factory.new()
    recorder(jobs)
    await memory_factory.start(jobs)

    async with unit_of_work_jobs(jobs) as buffer:
        with pytest.raises(TypeError, match="JSON"):
            enqueue("probe.ran", n=value)
        assert len(buffer) == 0
    with pytest.raises(TypeError, match="JSON"):
        await jobs.send("probe.ran", n=value)
    with pytest.raises(TypeError, match="JSON"):
        jobs.schedule("probe.ran", every_seconds=60, n=value)


async def test_payload_is_copied_when_enqueued(memory_factory: JobsFactory) -> None:
    jobs = memory_factory.new()
    ran = recorder(jobs)
    await memory_factory.start(jobs)
    ids = ["m1", "m2"]

    async with unit_of_work_jobs(jobs) as buffer:
        enqueue("probe.ran", n={"ids": ids, "at": "2024-01-01T00:00:00+00:00"})
        ids.append("m3")  # changed after enqueue, before the commit
        await buffer.flush()
    await jobs.drain()

    assert ran == [{"ids": ["m1", "m2"], "at": "2024-01-01T00:00:00+00:00"}]


async def test_payload_must_fit_the_task_signature(memory_factory: JobsFactory) -> None:
    jobs = memory_factory.new()

    @jobs.task("sentinel.rescore")
    async def rescore(user_id: str, reason: str = "bet") -> None: ...

    await memory_factory.start(jobs)

    with pytest.raises(TypeError, match="does not fit"):
        await jobs.send("sentinel.rescore")
    with pytest.raises(TypeError, match="does not fit"):
        await jobs.send("sentinel.rescore", user_id="u1", colour="red")
    assert await jobs.send("sentinel.rescore", user_id="u1")


async def test_a_job_no_one_registered_is_refused(memory_factory: JobsFactory) -> None:
    jobs = memory_factory.new()
    await memory_factory.start(jobs)

    async with unit_of_work_jobs(jobs):
        with pytest.raises(LookupError, match=r"sentinel\.rescore"):
            enqueue("sentinel.rescore", user_id="u1")
    with pytest.raises(LookupError):
        await jobs.send("sentinel.rescore", user_id="u1")


BAD_NAMES = [
    "rescore",
    "Sentinel.rescore",
    "sentinel.Rescore",
    "sentinel.rescore.now",
    "sentinel-rescore",
    "sentinel:rescore",
    ".rescore",
    "sentinel.",
    "9sentinel.rescore",
    "",
]


@pytest.mark.parametrize("name", BAD_NAMES)
async def test_job_names_must_look_like_product_event(name: str) -> None:
    jobs = Jobs()

    with pytest.raises(ValueError, match=r"product\.event"):
        jobs.task(name)
    with pytest.raises(ValueError, match=r"product\.event"):
        jobs.schedule(name, every_seconds=60)
    with pytest.raises(ValueError, match=r"product\.event"):
        await jobs.send(name)


async def test_product_event_names_register() -> None:
    jobs = Jobs()

    @jobs.task("betting.odds_refresh")
    async def refresh() -> None: ...

    @jobs.task("sentinel.rescore2")
    async def rescore() -> None: ...

    assert jobs.broker.find_task("betting.odds_refresh") is not None


async def test_registration_refuses_sync_functions_duplicates_and_orphan_sessions() -> None:
    jobs = Jobs()

    @jobs.task("probe.once")
    async def once() -> None: ...

    def sync_job() -> None: ...

    async def wants_session(session: AsyncSession) -> None: ...

    with pytest.raises(TypeError, match="async def"):
        jobs.task("probe.sync")(sync_job)  # type: ignore[type-var]
    with pytest.raises(ValueError, match="already registered"):
        jobs.task("probe.once")(once)
    with pytest.raises(TypeError, match="session_factory"):
        jobs.task("probe.session")(wants_session)


async def test_sending_needs_a_started_jobs() -> None:
    jobs = Jobs()
    recorder(jobs)

    with pytest.raises(RuntimeError, match="not running"):
        await jobs.send("probe.ran", n=1)
    await jobs.startup()
    await jobs.shutdown()
    with pytest.raises(RuntimeError, match="not running"):
        await jobs.send("probe.ran", n=1)


# --- a task's own unit of work --------------------------------------------------------------


async def test_a_task_sends_its_follow_ups_after_its_session_commits(
    factory: JobsFactory, sessions: async_sessionmaker[AsyncSession]
) -> None:
    jobs = factory.new(session_factory=sessions)
    seen: list[tuple[str, bool]] = []

    @jobs.task("notes.write")
    async def write(body: str, session: AsyncSession) -> None:
        await session.execute(text("INSERT INTO note (body) VALUES (:b)"), {"b": body})
        enqueue("notes.check", body=body)
        await asyncio.sleep(0.1)  # a follow-up sent now would run before the commit

    @jobs.task("notes.check")
    async def check(body: str) -> None:
        async with sessions() as session:  # its own session, as a task without `session`
            seen.append((body, await note_exists(session, body)))

    await factory.start(jobs)
    await jobs.send("notes.write", body="hello")
    await jobs.drain()

    assert seen == [("hello", True)]


async def test_a_task_without_a_session_sends_its_follow_ups_after_it_returns(
    factory: JobsFactory,
) -> None:
    jobs = factory.new()
    events: list[str] = []

    @jobs.task("probe.parent")
    async def parent() -> None:
        enqueue("probe.child")
        await asyncio.sleep(0.05)
        events.append("parent done")

    @jobs.task("probe.child")
    async def child() -> None:
        events.append("child")

    await factory.start(jobs)
    await jobs.send("probe.parent")
    await jobs.drain()

    assert events == ["parent done", "child"]


async def test_a_failing_task_is_logged_rolled_back_and_the_worker_carries_on(
    factory: JobsFactory,
    sessions: async_sessionmaker[AsyncSession],
    caplog: pytest.LogCaptureFixture,
) -> None:
    jobs = factory.new(session_factory=sessions)
    ran = recorder(jobs)

    @jobs.task("notes.broken")
    async def broken(body: str, session: AsyncSession) -> None:
        await session.execute(text("INSERT INTO note (body) VALUES (:b)"), {"b": body})
        enqueue("probe.ran", n="follow-up of a failed job")
        raise ValueError("upstream answered garbage")

    await factory.start(jobs)
    with caplog.at_level(logging.ERROR, logger="edgelab.jobs"):
        failed_id = await jobs.send("notes.broken", body="half-written")
        await jobs.drain()
    await jobs.send("probe.ran", n="next")
    await jobs.drain()

    assert ran == ["next"]
    async with sessions() as session:
        assert not await note_exists(session, "half-written")
    failures = [r for r in caplog.records if r.name == "edgelab.jobs" and r.exc_info]
    assert len(failures) == 1
    assert "notes.broken" in failures[0].getMessage()
    assert failed_id in failures[0].getMessage()
    result = await jobs.broker.result_backend.get_result(failed_id)
    assert result.is_err


async def test_a_task_returning_something_not_json_fails_and_drops_its_follow_ups(
    memory_factory: JobsFactory, caplog: pytest.LogCaptureFixture
) -> None:
    jobs = memory_factory.new()
    ran = recorder(jobs)

    @jobs.task("probe.returns_datetime")
    async def returns_datetime() -> dt.datetime:
        enqueue("probe.ran", n="follow-up")
        return dt.datetime.now(dt.UTC)

    await memory_factory.start(jobs)
    with caplog.at_level(logging.ERROR, logger="edgelab.jobs"):
        await jobs.send("probe.returns_datetime")
        await jobs.drain()

    assert ran == []
    assert any("return value" in str(r.exc_info[1]) for r in caplog.records if r.exc_info)


async def test_drain_times_out_when_no_worker_consumes_the_queue(
    redis_factory: JobsFactory,
) -> None:
    jobs = redis_factory.new()
    recorder(jobs)
    await redis_factory.start(jobs, worker=False)
    await jobs.send("probe.ran", n=1)

    with pytest.raises(TimeoutError, match="1 jobs still running"):
        await jobs.drain(0.2)


# --- schedules -------------------------------------------------------------------------------


async def test_interval_schedule_fires_repeatedly_and_stops_on_shutdown(
    factory: JobsFactory, manual_clock: ManualClock
) -> None:
    jobs = factory.new()
    ran = recorder(jobs)
    jobs.schedule("probe.ran", every_seconds=60, n="tick")
    await factory.start(jobs)

    for firings in (1, 2, 3):  # each minute of the app's clock, one firing
        await wait_for(lambda: manual_clock.sleepers >= 1)  # the loop waits for the boundary
        manual_clock.advance(60)
        await wait_for(lambda n=firings: len(ran) >= n)  # type: ignore[misc]
    await jobs.shutdown()
    fired = len(ran)
    manual_clock.advance(600)
    await asyncio.sleep(0.05)  # a loop still running would have fired ten times by now

    assert len(ran) == fired == 3
    assert set(ran) == {"tick"}


async def test_an_offset_schedule_fires_that_long_after_each_boundary(
    memory_factory: JobsFactory, manual_clock: ManualClock
) -> None:
    manual_clock.set(dt.datetime(2030, 1, 1, 10, 0, tzinfo=dt.UTC))
    jobs = memory_factory.new()
    ran = recorder(jobs)
    jobs.schedule("probe.ran", every_seconds=3600, offset_seconds=300, n="hourly")
    await memory_factory.start(jobs)

    await wait_for(lambda: manual_clock.sleepers >= 1)
    manual_clock.advance(299)  # 10:04:59
    for _ in range(5):
        await asyncio.sleep(0)
    assert ran == []
    manual_clock.advance(1)  # 10:05:00
    await wait_for(lambda: ran == ["hourly"])
    await wait_for(lambda: manual_clock.sleepers >= 1)
    manual_clock.advance(3600)  # 11:05:00
    await wait_for(lambda: ran == ["hourly", "hourly"])


async def test_a_schedule_of_an_unknown_job_fails_at_startup(memory_factory: JobsFactory) -> None:
    jobs = memory_factory.new()
    jobs.schedule("probe.missing", every_seconds=60)

    with pytest.raises(LookupError, match=r"probe\.missing"):
        await jobs.startup()


async def test_schedules_do_not_run_when_disabled(
    memory_factory: JobsFactory, manual_clock: ManualClock
) -> None:
    jobs = memory_factory.new(run_schedules=False)
    ran = recorder(jobs)
    jobs.schedule("probe.ran", every_seconds=60, n="tick")
    await memory_factory.start(jobs)

    manual_clock.advance(600)
    await asyncio.sleep(0.05)

    assert ran == []


async def test_two_instances_fire_a_shared_schedule_once_per_interval(
    redis_factory: JobsFactory,
) -> None:
    worker = redis_factory.new(run_schedules=False)
    ran = recorder(worker)
    await redis_factory.start(worker)
    instances = []
    for _ in range(2):
        app_instance = redis_factory.new()
        recorder(app_instance)
        app_instance.schedule("probe.ran", every_seconds=PERIOD, n="tick")
        instances.append(app_instance)

    first_started = time.time()
    for app_instance in instances:
        await redis_factory.start(app_instance, worker=False)
    all_started = time.time()
    await asyncio.sleep(5 * PERIOD)
    first_stopping = time.time()
    for app_instance in instances:
        await app_instance.shutdown()
    all_stopped = time.time()

    def slots(start: float, end: float) -> int:
        return math.floor(end / PERIOD) - math.floor(start / PERIOD)

    sent = await redis_factory.stream_length()
    assert slots(all_started, first_stopping) - 1 <= sent <= slots(first_started, all_stopped)
    await wait_for(lambda: len(ran) == sent)
