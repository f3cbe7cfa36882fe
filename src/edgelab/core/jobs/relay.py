"""Sending through the job outbox (see `outbox`): after commit, on a broker outage, and after.

`Relay` belongs to a Redis `Jobs` with a session factory. The buffer of a writing unit of work
`stage`s its jobs as outbox rows before the commit and `dispatch`es them after; a unit of work
without a session (`unit_of_work_jobs` alone, a GET request, a schedule's firing) `deliver`s
each job: sent at once, or kept in the outbox when the broker fails. A background loop sends
what the outbox holds once Redis answers again.

While Redis is known down (`Degradation`), nothing waits on it: jobs go straight to the outbox
and count in `edgelab_degraded_total{backend="redis",what="jobs"}`. Only a Redis error (a
refused or dropped connection, a timeout) counts as Redis being down; any other failure of a
send (a `Jobs` shutting down, a row that cannot be sent) leaves that row in the outbox and
the others go on. The relay tries such a row `MAX_SEND_ATTEMPTS` times (counted per process),
then deletes it with an error log that holds its payload: a dead job, not one that blocks
every newer row.

On SQLite the claim holds the one write lock, so a send under it is bounded to
`LOCKED_SEND_SECONDS` (a hanging Redis otherwise held every other writer up to the broker's
socket timeout, twice, per job), and a send that waited for the lock looks again whether Redis
went down meanwhile. A send cut off by that bound may have reached Redis: its row stays and is
sent again, the same at-least-once as a process dying after a send (`outbox`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from edgelab.core.observability import Degradation

log = logging.getLogger("edgelab.jobs")
Kick = Callable[[str, dict[str, Any], str], Awaitable[str]]
"""Hand a checked job to the broker under a given task id; raises when the broker fails."""
Staged = list[tuple[str, str, dict[str, Any]]]  # (outbox id = task id, name, payload)
LOCKED_SEND_SECONDS = 1.0  # SQLite: the longest a send may hold the database's write lock
MAX_SEND_ATTEMPTS = 5  # failed sends (not Redis outages) before the relay drops a row


def broker_failed(exc: BaseException) -> bool:
    """Whether a send failed because Redis did (taskiq wraps the Redis error in its own)."""
    from edgelab.core.cache import redis_errors

    errors = redis_errors()
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, errors):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


class Relay:
    def __init__(
        self,
        kick: Kick,
        session_factory: Callable[[], AsyncSession],
        degradation: Degradation,
        *,
        sweep_seconds: float = 30.0,
        locked_send_seconds: float = LOCKED_SEND_SECONDS,
    ) -> None:
        self._kick = kick
        self._sessions = session_factory
        self._degradation = degradation
        self._sweep_seconds = sweep_seconds
        self._locked_send_seconds = locked_send_seconds
        self._attempts: dict[str, int] = {}  # outbox id -> failed sends (not outages) so far
        self._wake = asyncio.Event()
        self._loop: asyncio.Task[None] | None = None
        self.relayed = 0  # jobs this process sent from the outbox after a failure

    # the unit of work's side --------------------------------------------------------------

    def stage(self, session: AsyncSession, jobs: list[tuple[str, dict[str, Any]]]) -> Staged:
        """Add an outbox row per job to `session` (committed with the work)."""
        from edgelab.core.jobs.outbox import new_entry

        rows = [new_entry(name, payload) for name, payload in jobs]
        session.add_all(rows)
        return [(row.id, name, payload) for row, (name, payload) in zip(rows, jobs, strict=True)]

    def _broker_down(self) -> bool:
        if self._degradation.available("redis"):
            return False
        self._degradation.fell_back("redis", "jobs")
        return True

    def _went_down(self, probe: bool) -> bool:
        """After waiting for the write lock: whether Redis was found down meanwhile (by another
        caller; a probe, `Degradation.available`, is let through to try it)."""
        if probe or not self._degradation.is_down("redis"):
            return False
        self._degradation.fell_back("redis", "jobs")
        return True

    async def _send(
        self, session: AsyncSession, name: str, payload: dict[str, Any], task_id: str
    ) -> None:
        """`kick` inside `session`'s transaction: on SQLite (the write lock) bounded in time."""
        if session.get_bind().dialect.name != "sqlite":
            await self._kick(name, payload, task_id)
            return
        await asyncio.wait_for(self._kick(name, payload, task_id), self._locked_send_seconds)

    async def dispatch(self, staged: Staged) -> list[str]:
        """Send committed outbox rows now, each claimed in its own short transaction."""
        from edgelab.core.db import take_write_lock
        from edgelab.core.jobs.outbox import claim

        if self._broker_down():
            self.wake()
            return []
        probe = self._degradation.is_down("redis")  # let through to try Redis again
        sent: list[str] = []
        for entry_id, name, payload in staged:
            try:
                async with self._sessions() as session:
                    await take_write_lock(session)
                    if not await claim(session, entry_id):  # SQLite, PG: may wait for a lock
                        continue  # the relay sent it already
                    if self._went_down(probe):
                        await session.rollback()
                        self.wake()
                        return sent
                    try:
                        await self._send(session, name, payload, entry_id)
                    except Exception as exc:
                        await session.rollback()
                        self.wake()
                        if not broker_failed(exc):
                            log.exception("job %s kept in the outbox: its send failed", name)
                            continue
                        self._degradation.failed("redis", "jobs", exc)
                        log.warning("job %s kept in the outbox: the broker failed", name)
                        return sent
                    await session.commit()
                    self._degradation.succeeded("redis")
                    sent.append(entry_id)
            except Exception:  # the database failed: the row (committed) waits for the relay
                log.exception("job %s left in the outbox for the relay", name)
                self.wake()
                return sent
        return sent

    async def deliver(self, name: str, payload: dict[str, Any], task_id: str) -> str | None:
        """Send now, or keep in the outbox when the broker fails; None when kept (or lost)."""
        if not self._broker_down():
            try:
                sent = await self._kick(name, payload, task_id)
            except Exception as exc:
                if broker_failed(exc):
                    self._degradation.failed("redis", "jobs", exc)
                else:
                    log.exception("job %s: its send failed; kept in the outbox", name)
            else:
                self._degradation.succeeded("redis")
                return sent
        await self.keep(name, payload)
        return None

    async def keep(self, name: str, payload: dict[str, Any]) -> bool:
        from edgelab.core.jobs.outbox import new_entry

        try:
            async with self._sessions() as session:
                session.add(new_entry(name, payload))
                await session.commit()
        except Exception:
            log.exception("job %s lost: the broker and the outbox both failed: %r", name, payload)
            return False
        log.warning("job %s kept in the outbox until the broker answers", name)
        self.wake()
        return True

    async def table_ready(self) -> bool:
        """Whether the database has the outbox table (a database the migrations built). A
        database that does not answer now is assumed to have it."""
        from edgelab.core.db import is_database_unavailable
        from edgelab.core.jobs.outbox import any_waiting

        try:
            async with self._sessions() as session:
                await any_waiting(session)
        except Exception as exc:
            if is_database_unavailable(exc):
                return True
            log.warning("no job outbox (%s): jobs a broker outage meets are lost", exc)
            return False
        return True

    # the background side ------------------------------------------------------------------

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        self._wake.set()  # a first sweep: rows left by a previous run
        self._loop = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._loop is not None:
            self._loop.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop
            self._loop = None

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._sweep_seconds)
            self._wake.clear()
            try:
                left = await self.relay_once()
            except Exception:
                log.exception("job outbox relay failed; trying again")
                left = True
            if left:
                await asyncio.sleep(self._degradation.retry_seconds)
                self._wake.set()

    async def relay_once(self) -> bool:
        """Send what the outbox holds (a batch); True when rows are left to send."""
        from edgelab.core.db import take_write_lock
        from edgelab.core.jobs.outbox import RELAY_BATCH, any_waiting, claim_batch

        async with self._sessions() as session:  # a plain read first: no lock when empty
            if not await any_waiting(session):
                return False
        if not self._degradation.available("redis"):
            return True
        probe = self._degradation.is_down("redis")  # let through to try Redis again
        sent = 0
        async with self._sessions() as session:
            await take_write_lock(session)
            if self._went_down(probe):
                return True
            rows = await claim_batch(session)
            # failed sends (not outages) of this batch's rows so far; older ids are forgotten
            attempts = {row.id: self._attempts[row.id] for row in rows if row.id in self._attempts}
            failed = False
            for row in rows:
                try:
                    await self._send(session, row.name, json.loads(row.payload), row.id)
                except LookupError:  # kept by a version that had this job: nothing can run it
                    log.error("job outbox: %s is not a registered job; dropped", row.name)
                    await session.delete(row)
                    continue
                except Exception as exc:
                    if broker_failed(exc):
                        self._degradation.failed("redis", "jobs", exc)
                        failed = True
                        break
                    tried = attempts.get(row.id, 0) + 1
                    if tried < MAX_SEND_ATTEMPTS:
                        log.warning("job outbox: %s failed (try %d): %r", row.name, tried, exc)
                        attempts[row.id] = tried
                        continue
                    log.error(
                        "job outbox: %s dropped after %d failed sends (%r): payload %s",
                        row.name,
                        tried,
                        exc,
                        row.payload,
                    )
                    attempts.pop(row.id, None)
                    await session.delete(row)
                    continue
                attempts.pop(row.id, None)
                await session.delete(row)
                sent += 1
            await session.commit()
        self._attempts = attempts
        if sent:
            self._degradation.succeeded("redis")
            self.relayed += sent
            log.warning("job outbox: %d jobs kept during a broker outage sent now", sent)
        return failed or bool(attempts) or len(rows) == RELAY_BATCH
