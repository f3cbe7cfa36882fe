"""Issue 18: a Redis outage degrades the app, it does not take it down.

Each test starts its own `redis-server` on a free port (`tests.fixtures.private_redis`) and
kills it (SIGKILL) in the middle of the run; the shared Redis is never touched. Checked: reads
answer 200 and nothing answers 500, the rate limits hold per process during the outage and are
shared (in Redis) again after it, jobs enqueued during the outage run exactly once after it,
schedules skip the firings they cannot lock, and `/health` and `/metrics` say what happened.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from edgelab.app import create_app
from edgelab.core.cache import RedisCache
from edgelab.core.db import SessionDep, create_engine, create_sessionmaker
from edgelab.core.jobs import Jobs, enqueue, unit_of_work_jobs
from edgelab.core.jobs.outbox import JobOutboxEntry
from edgelab.core.observability import Degradation
from tests.fixtures.app import resources, serve_app
from tests.fixtures.database import make_settings
from tests.fixtures.private_redis import PrivateRedis, private_redis

pytestmark = pytest.mark.asyncio(loop_scope="session")

MARKETS = "/markets?limit=50"
PROBE_SECONDS = 1.0  # `Degradation.retry_seconds`: Redis is tried again at most this often


@pytest.fixture
def redis_server() -> Iterator[PrivateRedis]:
    with private_redis() as server:
        yield server


async def eventually(check: Callable[[], Awaitable[bool]], what: str, within: float = 30.0) -> None:
    """Wait for `check` to hold (background work: a worker, a relay); fail after `within` s."""
    deadline = time.monotonic() + within
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {within} s: {what}")
        await asyncio.sleep(0.05)


async def burst(client: httpx.AsyncClient, path: str = MARKETS, n: int = 16) -> list[int]:
    """`n` concurrent requests, as 16 connections of load would make."""
    responses = await asyncio.gather(*(client.get(path) for _ in range(n)))
    return [r.status_code for r in responses]


async def test_reads_answer_200_through_a_redis_outage_and_nothing_answers_500(
    db_url: str, redis_server: PrivateRedis
) -> None:
    settings = make_settings(
        db_url,
        redis_url=redis_server.url,
        markets_cache_ttl_seconds=1,  # cached reads: every request asks Redis
        rate_limit_anonymous="100000/minute",
    )
    app = create_app(settings)
    statuses: list[int] = []
    async with serve_app(app) as client:
        statuses += await burst(client)
        redis_server.kill()
        for _ in range(3):
            statuses += await burst(client)
            statuses += await burst(client, "/predictions/markets")
        down = (await client.get("/health")).json()
        metrics = (await client.get("/metrics")).text
        redis_server.start()
        await asyncio.sleep(PROBE_SECONDS + 0.1)
        statuses += await burst(client)
        up = (await client.get("/health")).json()

    assert Counter(statuses) == Counter({200: len(statuses)})
    assert down["status"] == "ok"  # the database answers: still in service
    assert down["backends"]["redis"].startswith("down since ")
    assert up["backends"]["redis"] == "up"
    degradation = resources(app).degradation
    assert degradation.count("redis", "cache") > 0
    assert degradation.count("redis", "ratelimit") > 0
    assert 'edgelab_degraded_total{backend="redis",what="cache"}' in metrics


async def test_rate_limits_hold_per_process_in_the_outage_and_shared_again_after(
    db_url: str, redis_server: PrivateRedis, caplog: pytest.LogCaptureFixture
) -> None:
    """Falling back to per-process windows (not failing open): a caller still meets its limit
    during the outage; after it, counting is in Redis again (the in-process window is full, so
    a request allowed after recovery was counted in Redis)."""
    settings = make_settings(db_url, redis_url=redis_server.url, rate_limit_anonymous="5/minute")
    app = create_app(settings)
    async with serve_app(app) as client:
        shared = [(await client.get(MARKETS)).status_code for _ in range(6)]
        redis_server.kill()
        with caplog.at_level(logging.WARNING, logger="edgelab.degraded"):
            outage = [(await client.get(MARKETS)).status_code for _ in range(6)]
        redis_server.start()  # empty: no persistence, as a crashed host comes back
        await asyncio.sleep(PROBE_SECONDS + 0.1)
        after = [(await client.get(MARKETS)).status_code for _ in range(6)]
        import redis.asyncio as aioredis

        async with aioredis.from_url(redis_server.url) as redis:
            counted = [key async for key in redis.scan_iter(match="edgelab:ratelimit*")]

    assert shared == [200] * 5 + [429]
    assert outage == [200] * 5 + [429]
    assert after == [200] * 5 + [429]
    assert counted  # the counts after recovery live in Redis
    assert any("redis is down" in r.getMessage() for r in caplog.records)
    assert resources(app).degradation.count("redis", "ratelimit") >= 6


def _probe_app(settings_url: str, db_url: str) -> tuple[FastAPI, Counter[int]]:
    """The app, plus a write route that enqueues one job per call and a job counting its
    runs: what any product route that enqueues (a webhook, an upload) does."""
    settings = make_settings(db_url, redis_url=settings_url, rate_limit_anonymous="100000/minute")
    app = create_app(settings)
    runs: Counter[int] = Counter()

    @app.post("/_probe/jobs/{n}")
    async def enqueue_probe(n: int, session: SessionDep) -> dict[str, int]:
        enqueue("probe.count", n=n)
        return {"n": n}

    async def count(n: int) -> None:
        runs[n] += 1

    app.state.probe_task = count
    return app, runs


async def _outbox_size(sessions: async_sessionmaker[AsyncSession]) -> int:
    async with sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(JobOutboxEntry)) or 0)


async def test_jobs_enqueued_during_the_outage_run_exactly_once_after_it(
    db_url: str, redis_server: PrivateRedis
) -> None:
    app, runs = _probe_app(redis_server.url, db_url)
    async with serve_app(app) as client:
        res = resources(app)
        res.jobs.task("probe.count")(app.state.probe_task)
        assert res.jobs.uses_outbox
        before = [(await client.post(f"/_probe/jobs/{n}")).status_code for n in range(3)]

        async def ran_before() -> bool:
            return sum(runs.values()) == 3

        await eventually(ran_before, "the jobs sent while Redis was up ran")

        redis_server.kill()
        during = await asyncio.gather(*(client.post(f"/_probe/jobs/{n}") for n in range(100, 120)))
        kept = await _outbox_size(res.sessionmaker)
        ran_during = sum(runs[n] for n in range(100, 120))
        redis_server.start()

        async def all_ran() -> bool:
            return all(runs[n] >= 1 for n in range(100, 120))

        await eventually(all_ran, "every job enqueued during the outage ran")
        await asyncio.sleep(1.5)  # a duplicate would have arrived by now
        left = await _outbox_size(res.sessionmaker)

    assert before == [200] * 3
    assert [r.status_code for r in during] == [200] * 20  # the writes committed
    assert kept == 20  # each job waited in the database
    assert ran_during == 0
    assert {n: runs[n] for n in range(100, 120)} == dict.fromkeys(range(100, 120), 1)
    assert left == 0
    assert res.degradation.count("redis", "jobs") > 0


async def test_a_schedule_skips_the_firings_it_cannot_lock_and_says_so(
    db_url: str, redis_server: PrivateRedis, caplog: pytest.LogCaptureFixture
) -> None:
    """No lock, no firing: firing without it could fire on every instance. Nothing of the
    skipped firings is kept for later either (the outbox stays empty); firing resumes after."""
    engine = create_engine(make_settings(db_url))
    sessions = create_sessionmaker(engine)
    degradation = Degradation()
    jobs = Jobs(
        redis_server.url,
        queue_name="degrade-schedule",
        session_factory=sessions,
        degradation=degradation,
    )
    fired: list[float] = []

    @jobs.task("probe.tick")
    async def tick() -> None:
        fired.append(time.monotonic())

    jobs.schedule("probe.tick", every_seconds=0.2)
    await jobs.startup()
    worker = asyncio.create_task(jobs.run_worker())
    try:

        async def ticking() -> bool:
            return len(fired) >= 2

        await eventually(ticking, "the schedule fired")
        with caplog.at_level(logging.WARNING, logger="edgelab.jobs"):
            redis_server.kill()
            await asyncio.sleep(1.2)
        kept = await _outbox_size(sessions)
        skipped = degradation.count("redis", "schedule")
        redis_server.start()
        resumed_from = len(fired)

        async def resumed() -> bool:
            return len(fired) > resumed_from

        await eventually(resumed, "the schedule fired again after the outage")
    finally:
        jobs.stop_worker()
        await jobs.shutdown(grace_seconds=2.0)
        await asyncio.gather(worker, return_exceptions=True)
        await engine.dispose()

    assert skipped >= 3  # about one a 0.2 s slot in 1.2 s
    assert kept == 0
    assert any("skipped its firing" in r.getMessage() for r in caplog.records)


async def test_a_job_sent_outside_a_write_is_kept_in_the_outbox_and_runs_once_after(
    db_url: str, redis_server: PrivateRedis
) -> None:
    """A unit of work without a session of its own (a job's follow-up, a GET) sends after the
    fact: when the broker refuses, the job is kept in the outbox instead of being lost."""
    engine = create_engine(make_settings(db_url))
    sessions = create_sessionmaker(engine)
    jobs = Jobs(redis_server.url, queue_name="degrade-deliver", session_factory=sessions)
    runs: Counter[str] = Counter()

    @jobs.task("probe.note")
    async def note(key: str) -> None:
        runs[key] += 1

    await jobs.startup()
    worker = asyncio.create_task(jobs.run_worker())
    try:
        redis_server.kill()
        async with unit_of_work_jobs(jobs) as buffer:
            enqueue("probe.note", key="during")
            sent_now = await buffer.flush()
        kept = await _outbox_size(sessions)
        redis_server.start()

        async def ran() -> bool:
            return runs["during"] >= 1

        await eventually(ran, "the kept job ran after the outage")
        await asyncio.sleep(1.5)  # a duplicate would have arrived by now
    finally:
        jobs.stop_worker()
        await jobs.shutdown(grace_seconds=2.0)
        await asyncio.gather(worker, return_exceptions=True)
        await engine.dispose()

    assert sent_now == []
    assert kept == 1
    assert runs == Counter({"during": 1})


async def test_the_cache_misses_into_process_memory_while_redis_is_down(
    redis_server: PrivateRedis,
) -> None:
    """The cache alone (as the Chess.com, news and upstream caches use it): no call raises,
    what is stored during the outage is served from process memory, Redis again after."""
    degradation = Degradation()
    cache = RedisCache.from_url(redis_server.url, degradation=degradation)
    try:
        await cache.set("chess:gone:/pub/player/x", b"1", 60)
        redis_server.kill()
        missed = await cache.get("chess:gone:/pub/player/x")  # was in Redis: a miss now
        await cache.set("news:quota", b"3", 60)
        during = await cache.get("news:quota")
        filled = await cache.get_or_fill("markets:50", 60, _fill(b"fresh"))
        await cache.delete_prefix("markets:")
        down = degradation.report()["redis"]
        redis_server.start()
        await asyncio.sleep(PROBE_SECONDS + 0.1)
        await cache.set("news:quota", b"4", 60)
        after = await cache.get("news:quota")
        import redis.asyncio as aioredis

        async with aioredis.from_url(redis_server.url) as redis:
            in_redis = await redis.get("edgelab:cache:news:quota")
    finally:
        await cache.close()

    assert missed is None
    assert during == b"3"
    assert filled == b"fresh"
    assert down.startswith("down since ")
    assert (after, in_redis) == (b"4", b"4")
    assert degradation.report()["redis"] == "up"
    assert degradation.count("redis", "cache") >= 4


def _pause(server: PrivateRedis) -> None:
    """SIGSTOP: Redis hangs (a partition, an overloaded host): calls time out, data survives."""
    assert server.process is not None
    server.process.send_signal(signal.SIGSTOP)


def _resume(server: PrivateRedis) -> None:
    assert server.process is not None
    server.process.send_signal(signal.SIGCONT)


def _fill(value: bytes) -> Callable[[], Awaitable[bytes]]:
    async def fill() -> bytes:
        return value

    return fill


async def test_the_app_starts_and_serves_while_redis_is_down(
    db_url: str, redis_server: PrivateRedis
) -> None:
    """A deploy (or a restart) during the outage: start-up does not wait for Redis."""
    redis_server.kill()
    settings = make_settings(db_url, redis_url=redis_server.url, markets_cache_ttl_seconds=1)
    app = create_app(settings)
    async with serve_app(app) as client:
        statuses = await burst(client)
        down = (await client.get("/health")).json()["backends"]["redis"]
        redis_server.start()
        await asyncio.sleep(PROBE_SECONDS + 0.1)
        statuses += await burst(client)
        up = (await client.get("/health")).json()["backends"]["redis"]

    assert statuses == [200] * 32
    assert down.startswith("down since ")
    assert up == "up"


async def test_deletions_in_an_outage_the_rate_limiter_noticed_first_reach_redis_after_it(
    redis_server: PrivateRedis,
) -> None:
    """Redis hangs (SIGSTOP: a partition, not a crash, so its data survives). The rate limiter
    (same `Degradation`, as in the app) finds it down first, so the cache never fails a call of
    its own; a prefix it deletes meanwhile must still be deleted in Redis once Redis is back,
    before the first read there, or the entry from before the outage is served again."""
    from edgelab.core.ratelimit.limiter import RateLimiter

    degradation = Degradation()
    cache = RedisCache.from_url(redis_server.url, degradation=degradation)
    limiter = RateLimiter(redis_server.url, namespace="degrade-f1", degradation=degradation)
    try:
        await cache.set("markets:1", b"old", 600)
        await cache.set("news:1", b"kept", 600)
        _pause(redis_server)
        try:
            allowed = (await limiter.hit("100/minute", "someone")).allowed
            noticed = degradation.is_down("redis")
            failed_by_cache = degradation.count("redis", "cache")
            await cache.delete_prefix("markets:")
        finally:
            _resume(redis_server)
        await asyncio.sleep(PROBE_SECONDS + 0.1)
        after = await cache.get("markets:1")
        other = await cache.get("news:1")
        import redis.asyncio as aioredis

        async with aioredis.from_url(redis_server.url) as redis:
            in_redis = await redis.get("edgelab:cache:markets:1")
    finally:
        await limiter.close()
        await cache.close()

    assert allowed and noticed
    assert failed_by_cache == 0  # the cache had not failed a call itself
    assert after is None
    assert in_redis is None
    assert other == b"kept"
    assert degradation.report()["redis"] == "up"
