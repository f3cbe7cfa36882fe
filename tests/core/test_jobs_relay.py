"""The job outbox relay (`core.jobs.relay`) against a real database and a stand-in broker.

The broker is a `kick` function (what `Jobs` hands the relay) that records, fails or hangs, as
Redis or a closing `Jobs` make the real one do. Checked: a send that waited for the write lock
does not call a broker found down meanwhile; on SQLite a hanging broker does not hold the write
lock for other writers; only Redis errors count as Redis being down, and a row that cannot be
sent neither blocks the newer ones nor stays forever.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from taskiq.exceptions import SendTaskError

from edgelab.core.db import create_sessionmaker, take_write_lock
from edgelab.core.jobs.outbox import JobOutboxEntry, new_entry
from edgelab.core.jobs.relay import MAX_SEND_ATTEMPTS, Relay, broker_failed
from edgelab.core.observability import Degradation

pytestmark = pytest.mark.asyncio(loop_scope="session")


class Broker:
    """A stand-in `kick`: records what it sends; raises `fail[name]` for a job so named;
    never answers while `hang` is set (a Redis that stopped answering but keeps the socket)."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.fail: dict[str, BaseException] = {}
        self.hang = False

    async def kick(self, name: str, payload: dict[str, Any], task_id: str) -> str:
        if self.hang:
            await asyncio.Event().wait()
        if name in self.fail:
            raise self.fail[name]
        self.sent.append(name)
        return task_id


def redis_down() -> SendTaskError:
    """What taskiq raises when Redis refuses: its error, the Redis one as the cause."""
    try:
        raise SendTaskError from RedisConnectionError("Connection refused")
    except SendTaskError as exc:
        return exc


@pytest.fixture
async def sessions(engine: AsyncEngine) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    factory = create_sessionmaker(engine)

    async def clear() -> None:
        async with factory() as session:
            await session.execute(delete(JobOutboxEntry))
            await session.commit()

    await clear()
    yield factory
    await clear()


async def _commit_rows(sessions: async_sessionmaker[AsyncSession], *names: str) -> list[str]:
    """Outbox rows committed in this order (oldest first), as writes that enqueued jobs do."""
    ids: list[str] = []
    for name in names:
        async with sessions() as session:
            row = new_entry(name, {})
            session.add(row)
            await session.commit()
            ids.append(row.id)
    return ids


async def _waiting(sessions: async_sessionmaker[AsyncSession]) -> list[str]:
    async with sessions() as session:
        query = select(JobOutboxEntry.name).order_by(JobOutboxEntry.created_at)
        return list((await session.scalars(query)).all())


async def test_only_redis_errors_count_as_the_broker_failing() -> None:
    assert broker_failed(redis_down())
    assert broker_failed(TimeoutError())  # a send cut off by the SQLite bound
    assert not broker_failed(RuntimeError("cannot send 'x.y': Jobs is closed, not running"))
    assert not broker_failed(ValueError("bad payload"))


async def test_a_dispatch_that_waited_for_the_lock_does_not_send_once_redis_is_found_down(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """Redis fails (another caller finds it) while the after-commit send waits for the write
    lock (SQLite) or the row lock (PostgreSQL): it must not try Redis then, the relay will."""
    broker = Broker()
    degradation = Degradation(retry_seconds=60)
    relay = Relay(broker.kick, sessions, degradation)
    (entry_id,) = await _commit_rows(sessions, "probe.a")
    async with sessions() as holder:
        await take_write_lock(holder)
        query = select(JobOutboxEntry).where(JobOutboxEntry.id == entry_id).with_for_update()
        assert (await holder.scalars(query)).one()
        dispatch = asyncio.create_task(relay.dispatch([(entry_id, "probe.a", {})]))
        await asyncio.sleep(0.2)  # it checked Redis (up) and waits for the lock
        degradation.failed("redis", "ratelimit", RedisConnectionError("refused"))
        await holder.commit()
    sent = await dispatch

    assert sent == []
    assert broker.sent == []
    assert await _waiting(sessions) == ["probe.a"]
    assert degradation.count("redis", "jobs") == 1  # counted as a fallback


async def test_a_hanging_broker_does_not_hold_the_write_lock_from_other_writers(
    sessions: async_sessionmaker[AsyncSession], engine: AsyncEngine
) -> None:
    """Redis stops answering while the relay sends (its socket timeout is 10 s, twice, per
    job). Another writer must get its commit in (SQLite: no `database is locked` after the
    busy timeout); on SQLite the relay's send is cut off, Redis counts as down, the row stays."""
    broker = Broker()
    broker.hang = True
    degradation = Degradation()
    relay = Relay(broker.kick, sessions, degradation)
    await _commit_rows(sessions, "probe.hung")
    relaying = asyncio.create_task(relay.relay_once())
    await asyncio.sleep(0.2)  # it holds its claim and waits on the broker
    try:
        await _commit_rows(sessions, "probe.other")  # another write request
        writer_committed = True
    finally:
        if not relaying.done():
            relaying.cancel()
        result = await asyncio.gather(relaying, return_exceptions=True)

    assert writer_committed
    assert sorted(await _waiting(sessions)) == ["probe.hung", "probe.other"]
    assert broker.sent == []
    if engine.dialect.name == "sqlite":
        assert result[0] is True  # rows are left
        assert degradation.is_down("redis")


async def test_a_failed_send_that_is_not_redis_leaves_redis_up_and_the_next_jobs_going(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """The after-commit send: a `Jobs` shutting down refuses one job; it waits in the outbox,
    the cache and rate limits keep Redis, and the next job of the same write is sent."""
    broker = Broker()
    broker.fail["probe.closing"] = RuntimeError("cannot send: Jobs is closed, not running")
    degradation = Degradation()
    relay = Relay(broker.kick, sessions, degradation)
    ids = await _commit_rows(sessions, "probe.closing", "probe.next")
    sent = await relay.dispatch(
        [(ids[0], "probe.closing", {}), (ids[1], "probe.next", {})],
    )

    assert sent == [ids[1]]
    assert broker.sent == ["probe.next"]
    assert await _waiting(sessions) == ["probe.closing"]
    assert not degradation.is_down("redis")
    assert degradation.count("redis", "jobs") == 0


async def test_a_row_that_cannot_be_sent_does_not_block_newer_rows_and_is_dropped_at_last(
    sessions: async_sessionmaker[AsyncSession], caplog: pytest.LogCaptureFixture
) -> None:
    broker = Broker()
    broker.fail["probe.poison"] = ValueError("cannot be sent")
    degradation = Degradation()
    relay = Relay(broker.kick, sessions, degradation)
    await _commit_rows(sessions, "probe.poison", "probe.b", "probe.c")
    left = await relay.relay_once()
    after_first = await _waiting(sessions)
    with caplog.at_level(logging.ERROR, logger="edgelab.jobs"):
        for _ in range(MAX_SEND_ATTEMPTS - 1):
            last = await relay.relay_once()

    assert left is True  # the poison row waits for another try
    assert after_first == ["probe.poison"]
    assert broker.sent == ["probe.b", "probe.c"]
    assert not degradation.is_down("redis")
    assert last is False
    assert await _waiting(sessions) == []
    assert any(
        "probe.poison dropped after" in r.getMessage() and r.levelno == logging.ERROR
        for r in caplog.records
    )


async def test_a_redis_failure_in_the_relay_stops_the_batch_and_marks_redis_down(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    broker = Broker()
    broker.fail["probe.a"] = redis_down()
    degradation = Degradation()
    relay = Relay(broker.kick, sessions, degradation)
    await _commit_rows(sessions, "probe.a", "probe.b")
    left = await relay.relay_once()

    assert left is True
    assert broker.sent == []  # not tried against a Redis that just refused
    assert await _waiting(sessions) == ["probe.a", "probe.b"]
    assert degradation.is_down("redis")
