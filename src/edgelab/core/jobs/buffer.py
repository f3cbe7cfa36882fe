"""Jobs enqueued in a unit of work are sent after its commit and dropped on its rollback.

A job that reads what the request wrote must not start before that write is committed (it
would not find the row), and a job for work that was rolled back must never start at all. So
`enqueue()` only appends to the current unit of work's `JobBuffer`; the boundary that commits
sends them (`flush`) and the boundary that rolls back forgets them (`discard`).

The protocol, for whoever owns a unit of work (the request's session dependency, the job
runner, a CLI command):

    async with unit_of_work_jobs(jobs) as buffer:   # enqueue() now appends to `buffer`
        async with sessions() as session:
            ...                                     # work; may call enqueue()
            buffer.stage(session)                   # (Redis) jobs into the job outbox ...
            await session.commit()                  # ... committed with the work first ...
        await buffer.flush()                        # ... then send, in enqueue order

An exception leaving the block discards the buffer. Leaving it normally with jobs neither
flushed nor discarded is a bug in the boundary and raises `RuntimeError` (they are dropped).
`session_unit_of_work` is exactly this block with the session's commit and rollback.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from contextvars import ContextVar, Token
from typing import Any, Literal, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

log = logging.getLogger("edgelab.jobs")


class JobSender(Protocol):
    """What a buffer needs from `Jobs`: check a job when enqueued, send it when flushed.

    A `Jobs` with an outbox (Redis) also has `uses_outbox`, `stage(session, jobs)`,
    `dispatch(staged)` and `deliver(name, payload)`; a sender without them (a test's fake) is
    sent to with `send` alone.
    """

    def prepare(self, name: str, payload: dict[str, Any]) -> dict[str, Any]: ...

    async def send(self, name: str, /, **payload: Any) -> str: ...


class JobBuffer:
    """The jobs of one unit of work, in enqueue order, until it commits or rolls back."""

    def __init__(self, jobs: JobSender) -> None:
        self._jobs = jobs
        self._pending: list[tuple[str, dict[str, Any]]] = []
        self._staged: list[Any] | None = None
        self.state: Literal["open", "flushed", "discarded"] = "open"

    def __len__(self) -> int:
        return len(self._pending)

    @property
    def pending(self) -> list[tuple[str, dict[str, Any]]]:
        return list(self._pending)

    def enqueue(self, name: str, /, **payload: Any) -> None:
        """Check name, signature and JSON now; send on `flush`."""
        if self.state != "open":
            raise RuntimeError(
                f"cannot enqueue {name!r}: this unit of work is already {self.state}"
            )
        self._pending.append((name, self._jobs.prepare(name, payload)))

    def stage(self, session: AsyncSession) -> None:
        """Before the commit: with the Redis broker, add the buffered jobs to `session` as job
        outbox rows, so they commit (or roll back) with the work and survive a broker outage
        (`core.jobs.outbox`). Nothing to do with the in-process broker."""
        if self.state != "open" or self._staged is not None or not self._pending:
            return
        if not getattr(self._jobs, "uses_outbox", False):
            return
        self._staged = self._jobs.stage(session, self._pending)  # type: ignore[attr-defined]

    async def flush(self) -> list[str]:
        """Send every buffered job (call after commit); returns the task ids sent now.

        The work is committed by now and cannot be undone. Staged jobs are already in the job
        outbox: they are sent, or left there for the relay when the broker is down. Unstaged
        ones are sent, or (with the Redis broker) kept in the outbox when the send fails; only
        when that fails too (or with a sender that has no outbox) is a job logged as lost, with
        its name and payload, and the others are still sent.
        """
        if self.state != "open":
            raise RuntimeError(f"cannot flush: this unit of work is already {self.state}")
        self.state = "flushed"
        pending, self._pending = self._pending, []
        sent: list[str] = []
        if self._staged is not None:  # the jobs enqueued before `stage`, in order
            staged, self._staged = self._staged, None
            sent += await self._jobs.dispatch(staged)  # type: ignore[attr-defined]
            pending = pending[len(staged) :]
        deliver = getattr(self._jobs, "deliver", None)
        for name, payload in pending:
            if deliver is not None:
                task_id = await deliver(name, payload)
                if task_id is not None:
                    sent.append(task_id)
                continue
            try:
                sent.append(await self._jobs.send(name, **payload))
            except Exception:
                log.exception("job %s lost after commit: could not send payload %r", name, payload)
        return sent

    def discard(self) -> None:
        """Forget every buffered job (call on rollback). A no-op once flushed."""
        if self.state == "flushed":
            return
        self.state = "discarded"
        self._pending.clear()
        self._staged = None


_current: ContextVar[JobBuffer | None] = ContextVar("edgelab_job_buffer", default=None)


def current_buffer() -> JobBuffer | None:
    return _current.get()


def enqueue(name: str, /, **payload: Any) -> None:
    """Send job `name` with `payload` once the current unit of work commits.

    Raises `RuntimeError` outside a unit of work (no request, job or `unit_of_work_jobs`
    block), `ValueError` for a name that is not `product.event`, `LookupError` for a job no one
    registered, and `TypeError` for a payload that is not JSON or does not fit the task.
    """
    buffer = _current.get()
    if buffer is None:
        raise RuntimeError(
            f"enqueue({name!r}) outside a unit of work: call it inside a request, a job, or "
            "`async with unit_of_work_jobs(jobs)`; use `await jobs.send(...)` to send at once"
        )
    buffer.enqueue(name, **payload)


@asynccontextmanager
async def unit_of_work_jobs(jobs: JobSender) -> AsyncIterator[JobBuffer]:
    """Make `enqueue()` append to a new buffer for the duration of the block (see module doc)."""
    buffer = JobBuffer(jobs)
    token = _current.set(buffer)
    try:
        yield buffer
    except BaseException:
        buffer.discard()
        raise
    else:
        if buffer.state == "open":
            unsent = [name for name, _ in buffer.pending]
            buffer.discard()
            if unsent:
                raise RuntimeError(
                    f"unit of work ended with jobs neither flushed nor discarded: {unsent}; "
                    "call `await buffer.flush()` after commit"
                )
    finally:
        _reset(token)


def _reset(token: Token[JobBuffer | None]) -> None:
    try:
        _current.reset(token)
    except ValueError:  # exited in another context (a generator closed elsewhere)
        _current.set(None)


@asynccontextmanager
async def session_unit_of_work(
    jobs: JobSender, session_factory: Callable[[], AsyncSession]
) -> AsyncIterator[AsyncSession]:
    """A session and its jobs: commit then send on success, roll back and drop on error.

    This is the shape `get_session` takes once jobs are wired in, and what runs around every
    task that asks for a `session`.
    """
    async with unit_of_work_jobs(jobs) as buffer:
        async with session_factory() as session:
            try:
                yield session
            except BaseException:
                await session.rollback()
                raise
            buffer.stage(session)
            await session.commit()
        await buffer.flush()
