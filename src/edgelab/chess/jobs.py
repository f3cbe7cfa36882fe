"""The engine-review job (task `chess.review`): the games shared out over one Stockfish process
per core (`review.review_games`), progress in the row.

The row is written in short transactions of its own so `GET /api/analyze/{job_id}` sees the
progress while the job works. A redelivered job that already finished is skipped.

One review at a time per process (`ReviewSlot`, issue 16): a review job that finds another
review running in its process leaves its id with that one and returns at once, so the worker's
job slots stay free for sign-in e-mails, Paddle events and the rest while reviews queue; the
job holding the slot runs the waiting reviews after its own, oldest first (stopped, as on a
worker's shutdown, it sends the running one and the ones still waiting again, for another
worker). Waiting on a
semaphore instead would bound the engines but not the slots: ten queued reviews would hold a
worker's ten slots. A separate queue would need its own worker processes. The engines of the
running review still use every core (one per core, `review.review_games`).

A failure is logged with its exception; the row keeps only a code from
`schemas.REVIEW_ERRORS` (the user sees its message, never the exception's text).

A process that dies without a word (SIGKILL, out of memory, a lost host) cannot hand its jobs
over, so the rows say who holds them (issue 16): a job is claimed with one conditional UPDATE
(`worker`, `attempts + 1`), a waiting one is marked with the slot's `worker` too, and while the
slot is busy it refreshes `heartbeat_at` of every job it holds every quarter of
`EDGELAB_CHESS_REVIEW_STALE_SECONDS`. The schedule `chess.recover_reviews` (every half of that)
finds queued or running jobs with no sign of life for longer, and sends them again, or fails
them (`review_interrupted`) once `EDGELAB_CHESS_REVIEW_MAX_ATTEMPTS` runs have begun. A job held
by a live process is never claimed by another, so a job sent twice runs once.

Signs of life are read on the real wall clock (`clock.real_utcnow`), never the app's clock: a
replay's `ScaledClock` runs faster than the heartbeats, which sleep in real time, and would make
a live review look abandoned. Every write of a running job's progress or outcome is conditional
on the row still naming this process as its `worker`: a process that lost its claim (its job
recovered and taken by another) stops working on it (`ClaimLostError`) and writes nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
import socket
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from edgelab.chess.models import REVIEW_TASK, ChessReviewJob
from edgelab.chess.schemas import (
    REVIEW_BAD_PGN,
    REVIEW_ENGINE_UNAVAILABLE,
    REVIEW_FAILED,
    REVIEW_INTERRUPTED,
)
from edgelab.core.clock import real_utcnow
from edgelab.core.db import take_write_lock
from edgelab.core.jobs import Jobs, enqueue
from edgelab.core.settings import Settings

log = logging.getLogger("edgelab.chess.jobs")
Sessions = Callable[[], AsyncSession]
RECOVER_TASK = "chess.recover_reviews"
ACTIVE = ("queued", "running")


def worker_name() -> str:
    """This process, as the rows name it: host, pid and a random tail (a pid is reused)."""
    return f"{socket.gethostname()[:30]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _last_sign_of_life() -> ColumnElement[dt.datetime]:
    return func.coalesce(ChessReviewJob.heartbeat_at, ChessReviewJob.created_at)


def _abandoned(settings: Settings, now: dt.datetime) -> ColumnElement[bool]:
    stale = now - dt.timedelta(seconds=settings.chess_review_stale_seconds)
    return and_(ChessReviewJob.status.in_(ACTIVE), _last_sign_of_life() < stale)


def _claimable(settings: Settings, worker: str, now: dt.datetime) -> ColumnElement[bool]:
    """Queued or running, and held by nobody, by `worker` itself, or by a process silent for
    longer than the stale time; fewer runs begun than the attempts allowed."""
    return and_(
        ChessReviewJob.status.in_(ACTIVE),
        ChessReviewJob.attempts < settings.chess_review_max_attempts,
        or_(
            ChessReviewJob.worker.is_(None),
            ChessReviewJob.worker == worker,
            _abandoned(settings, now),
        ),
    )


class ClaimLostError(RuntimeError):
    """The job's row no longer names this process as its worker (it was recovered as
    abandoned, and maybe taken by another): stop working on it."""


async def _set(sessions: Sessions, job_id: str, worker: str, **values: Any) -> None:
    """Write a running job's progress or outcome, if `worker` still holds it; else
    `ClaimLostError` (nothing written)."""
    async with sessions() as s:
        written = await s.execute(
            update(ChessReviewJob)
            .where(ChessReviewJob.id == job_id, ChessReviewJob.worker == worker)
            .values(**values)
        )
        await s.commit()
    if not getattr(written, "rowcount", 0):
        raise ClaimLostError(f"chess review {job_id} is no longer held by {worker}")


async def release_job(sessions: Sessions, job_id: str, worker: str, *, began: bool = False) -> None:
    """Let go of a job this process held but will not run or finish (stopped): queued, held by
    nobody; a run it `began` and stopped does not count as an attempt."""
    values: dict[str, Any] = {"status": "queued", "worker": None}
    if began:
        values["attempts"] = ChessReviewJob.attempts - 1
    async with sessions() as s:
        await s.execute(
            update(ChessReviewJob)
            .where(
                ChessReviewJob.id == job_id,
                ChessReviewJob.worker == worker,
                ChessReviewJob.status.in_(ACTIVE),
            )
            .values(**values)
        )
        await s.commit()


class EngineMissingError(RuntimeError):
    """Stockfish was there when the review was accepted and is not now."""


def failure_code(exc: BaseException) -> str:
    """The code stored for a failed review (see `schemas.REVIEW_ERRORS`)."""
    from edgelab.chess.review import UnreadableGameError

    if isinstance(exc, EngineMissingError):
        return REVIEW_ENGINE_UNAVAILABLE
    if isinstance(exc, UnreadableGameError):
        return REVIEW_BAD_PGN
    return REVIEW_FAILED


async def run_review(
    sessions: Sessions, settings: Settings, job_id: str, *, worker: str | None = None
) -> dict[str, Any]:
    from edgelab.chess import review, review_summary

    worker = worker or worker_name()
    now = real_utcnow()
    async with sessions() as s:
        claimed = await s.execute(
            update(ChessReviewJob)
            .where(ChessReviewJob.id == job_id, _claimable(settings, worker, now))
            .values(
                status="running",
                worker=worker,
                heartbeat_at=now,
                started_at=now,
                attempts=ChessReviewJob.attempts + 1,
            )
        )
        await s.commit()
        if not getattr(claimed, "rowcount", 0):  # finished, unknown, or held by a live process
            return {"job_id": job_id, "status": "skipped"}
        job = await s.get(ChessReviewJob, job_id)
        if job is None:
            return {"job_id": job_id, "status": "skipped"}
        pgns, username, depth = list(job.games), job.username, job.depth
    path = review.engine_path(settings.stockfish_path)
    try:
        if path is None:
            raise EngineMissingError(f"engine unavailable: {review.INSTALL_HINT}")
        summaries: list[dict[str, Any] | None] = [None] * len(pgns)

        async def on_game(done: int, index: int, data: dict[str, Any]) -> None:
            summaries[index] = review_summary.summarise_game(data, username)
            await _set(
                sessions,
                job_id,
                worker,
                games_done=done,
                progress=round(done / max(1, len(pgns)), 4),
                heartbeat_at=real_utcnow(),
            )

        await review.review_games(pgns, path, depth, on_game=on_game)
        result = review_summary.summarise([s for s in summaries if s is not None], username)
        await _set(
            sessions,
            job_id,
            worker,
            status="succeeded",
            progress=1.0,
            finished_at=real_utcnow(),
            result=result,
        )
        return {"job_id": job_id, "status": "succeeded", "games": len(pgns)}
    except asyncio.CancelledError:  # a graceful stop: another process may take it at once
        await release_job(sessions, job_id, worker, began=True)
        raise
    except ClaimLostError:  # recovered as abandoned meanwhile: its new run owns the row
        log.warning("chess review %s: claim lost to recovery, stopped", job_id)
        return {"job_id": job_id, "status": "lost"}
    except Exception as exc:
        log.exception("chess review %s failed", job_id)
        with contextlib.suppress(ClaimLostError):  # lost meanwhile: the row is not ours
            await _set(
                sessions,
                job_id,
                worker,
                status="failed",
                finished_at=real_utcnow(),
                error=failure_code(exc),
            )
        raise


async def hold_job(sessions: Sessions, settings: Settings, job_id: str, worker: str) -> bool:
    """Mark a waiting job as `worker`'s (its heartbeat keeps it so); False when it is not
    there to wait for (finished, unknown, or held by another live process)."""
    now = real_utcnow()
    async with sessions() as s:
        held = await s.execute(
            update(ChessReviewJob)
            .where(ChessReviewJob.id == job_id, _claimable(settings, worker, now))
            .values(worker=worker, heartbeat_at=now)
        )
        await s.commit()
    return bool(getattr(held, "rowcount", 0))


async def heartbeat(sessions: Sessions, settings: Settings, worker: str) -> None:
    """While a slot is busy: the jobs `worker` holds are alive (see the module's docstring)."""
    every = settings.chess_review_stale_seconds / 4
    while True:
        await asyncio.sleep(every)
        try:
            async with sessions() as s:
                await s.execute(
                    update(ChessReviewJob)
                    .where(ChessReviewJob.worker == worker, ChessReviewJob.status.in_(ACTIVE))
                    .values(heartbeat_at=real_utcnow())
                )
                await s.commit()
        except (SQLAlchemyError, OSError):  # a busy or unreachable database: the next beat
            log.warning("chess review heartbeat failed", exc_info=True)


class ReviewSlot:
    """The one review running in this process, and the review ids waiting for it."""

    def __init__(
        self,
        resend: Callable[[str], Awaitable[object]] | None = None,
        *,
        worker: str | None = None,
    ) -> None:
        self.busy = False
        self.waiting: deque[str] = deque()
        self._resend = resend  # sends a review job again (the waiting ones, when stopped)
        self.worker = worker or worker_name()

    async def run(self, sessions: Sessions, settings: Settings, job_id: str) -> dict[str, Any]:
        """Review `job_id` now if no review runs in this process, else leave it to the one
        that runs (answering `deferred` at once; `skipped` when a live process holds it)."""
        if self.busy:
            if not await hold_job(sessions, settings, job_id, self.worker):
                return {"job_id": job_id, "status": "skipped"}
            self.waiting.append(job_id)
            return {"job_id": job_id, "status": "deferred"}
        self.busy = True
        beating = asyncio.create_task(heartbeat(sessions, settings, self.worker))
        own_done = False
        try:
            failure: Exception | None = None
            try:
                outcome = await run_review(sessions, settings, job_id, worker=self.worker)
            except Exception as exc:  # recorded in its row; raised once the waiting ones ran
                failure = exc
            own_done = True
            while self.waiting:
                with contextlib.suppress(Exception):  # recorded in its row and logged
                    await run_review(sessions, settings, self.waiting[0], worker=self.worker)
                self.waiting.popleft()  # only once run: a stop mid-review sends it again
        except asyncio.CancelledError:
            if not own_done:  # stopped in its own run (released by `run_review`): send it too
                self.waiting.appendleft(job_id)
            await self._hand_over(sessions)
            raise
        finally:
            beating.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beating
            self.busy = False
        if failure is not None:
            raise failure
        return outcome

    async def _hand_over(self, sessions: Sessions) -> None:
        """Stopped: let go of the rows of the running review and of those waiting, and send
        their jobs again, so another process takes them at once rather than after the stale
        time (a job that finished meanwhile is skipped when it comes back)."""
        while self.waiting:
            job_id = self.waiting.popleft()
            try:
                await release_job(sessions, job_id, self.worker)
                if self._resend is None:
                    raise RuntimeError("no way to send the job again")
                await self._resend(job_id)
            except Exception:
                log.exception("chess review %s left queued: could not send it again", job_id)


async def recover_abandoned(session: AsyncSession, settings: Settings) -> dict[str, list[str]]:
    """Queued or running jobs silent for longer than the stale time (their process died): set
    back to queued with nobody holding them (`requeued`: the caller sends each again), or
    failed with `review_interrupted` once `EDGELAB_CHESS_REVIEW_MAX_ATTEMPTS` runs began
    (`failed`). Each row is changed under the same condition it was found by, so a job whose
    process spoke up meanwhile is left alone. Takes the write lock first: on SQLite a read
    then a write fails at once on a heartbeat committed in between (see
    `core.db.take_write_lock`)."""
    await take_write_lock(session)
    now = real_utcnow()
    found = (
        await session.execute(
            select(ChessReviewJob.id, ChessReviewJob.attempts)
            .where(_abandoned(settings, now))
            .order_by(ChessReviewJob.created_at)
            .limit(500)
        )
    ).all()
    out: dict[str, list[str]] = {"requeued": [], "failed": []}
    for job_id, attempts in found:
        again = attempts < settings.chess_review_max_attempts
        values: dict[str, Any] = (
            {"status": "queued", "worker": None, "heartbeat_at": now}
            if again
            else {
                "status": "failed",
                "worker": None,
                "finished_at": now,
                "error": REVIEW_INTERRUPTED,
            }
        )
        changed = await session.execute(
            update(ChessReviewJob)
            .where(ChessReviewJob.id == job_id, _abandoned(settings, now))
            .values(**values)
        )
        if getattr(changed, "rowcount", 0):
            out["requeued" if again else "failed"].append(job_id)
    if found:
        log.warning("chess reviews left by a dead process: %s", out)
    return out


def register_chess_jobs(jobs: Jobs, settings: Settings) -> None:
    async def resend(job_id: str) -> object:
        return await jobs.send(REVIEW_TASK, job_id=job_id)

    slot = ReviewSlot(resend)  # one per `Jobs`, so one per process

    @jobs.task(RECOVER_TASK)
    async def recover_task(session: AsyncSession) -> dict[str, list[str]]:
        recovered = await recover_abandoned(session, settings)
        for job_id in recovered["requeued"]:
            enqueue(REVIEW_TASK, job_id=job_id)  # sent after this job's commit
        return recovered

    jobs.schedule(RECOVER_TASK, every_seconds=settings.chess_review_stale_seconds / 2)

    async def review_task(session: AsyncSession, job_id: str) -> dict[str, Any]:
        bind = session.bind
        assert bind is not None
        maker = async_sessionmaker(bind, expire_on_commit=False, autoflush=False)
        return await slot.run(maker, settings, job_id)

    jobs.task(REVIEW_TASK)(review_task)
