"""The engine-review job (task `chess.review`): the games shared out over one Stockfish process
per core (`review.review_games`), progress in the row.

The row is written in short transactions of its own so `GET /api/analyze/{job_id}` sees the
progress while the job works. A redelivered job that already finished is skipped.

One review at a time per process (`ReviewSlot`, issue 16): a review job that finds another
review running in its process leaves its id with that one and returns at once, so the worker's
job slots stay free for sign-in e-mails, Paddle events and the rest while reviews queue; the
job holding the slot runs the waiting reviews after its own, oldest first (stopped, as on a
worker's shutdown, it sends the ones still waiting again, for another worker). Waiting on a
semaphore instead would bound the engines but not the slots: ten queued reviews would hold a
worker's ten slots. A separate queue would need its own worker processes. The engines of the
running review still use every core (one per core, `review.review_games`).

A failure is logged with its exception; the row keeps only a code from
`schemas.REVIEW_ERRORS` (the user sees its message, never the exception's text).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from edgelab.chess.models import REVIEW_TASK, ChessReviewJob
from edgelab.chess.schemas import REVIEW_BAD_PGN, REVIEW_ENGINE_UNAVAILABLE, REVIEW_FAILED
from edgelab.core.clock import utcnow
from edgelab.core.jobs import Jobs
from edgelab.core.settings import Settings

log = logging.getLogger("edgelab.chess.jobs")
Sessions = Callable[[], AsyncSession]


async def _set(sessions: Sessions, job_id: str, **values: Any) -> None:
    async with sessions() as s:
        await s.execute(update(ChessReviewJob).where(ChessReviewJob.id == job_id).values(**values))
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


async def run_review(sessions: Sessions, settings: Settings, job_id: str) -> dict[str, Any]:
    from edgelab.chess import review, review_summary

    async with sessions() as s:
        job = await s.get(ChessReviewJob, job_id)
        if job is None or job.status not in ("queued", "running"):
            return {"job_id": job_id, "status": "skipped"}
        pgns, username, depth = list(job.games), job.username, job.depth
        job.status, job.started_at = "running", utcnow()
        await s.commit()
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
                games_done=done,
                progress=round(done / max(1, len(pgns)), 4),
            )

        await review.review_games(pgns, path, depth, on_game=on_game)
        result = review_summary.summarise([s for s in summaries if s is not None], username)
        await _set(
            sessions,
            job_id,
            status="succeeded",
            progress=1.0,
            finished_at=utcnow(),
            result=result,
        )
        return {"job_id": job_id, "status": "succeeded", "games": len(pgns)}
    except Exception as exc:
        log.exception("chess review %s failed", job_id)
        await _set(
            sessions,
            job_id,
            status="failed",
            finished_at=utcnow(),
            error=failure_code(exc),
        )
        raise


class ReviewSlot:
    """The one review running in this process, and the review ids waiting for it."""

    def __init__(self, resend: Callable[[str], Awaitable[object]] | None = None) -> None:
        self.busy = False
        self.waiting: deque[str] = deque()
        self._resend = resend  # sends a review job again (the waiting ones, when stopped)

    async def run(self, sessions: Sessions, settings: Settings, job_id: str) -> dict[str, Any]:
        """Review `job_id` now if no review runs in this process, else leave it to the one
        that runs (answering `deferred` at once)."""
        if self.busy:
            self.waiting.append(job_id)
            return {"job_id": job_id, "status": "deferred"}
        self.busy = True
        try:
            failure: Exception | None = None
            try:
                outcome = await run_review(sessions, settings, job_id)
            except Exception as exc:  # recorded in its row; raised once the waiting ones ran
                failure = exc
            while self.waiting:
                with contextlib.suppress(Exception):  # recorded in its row and logged
                    await run_review(sessions, settings, self.waiting[0])
                self.waiting.popleft()  # only once run: a stop mid-review sends it again
        except asyncio.CancelledError:
            await self._hand_over()
            raise
        finally:
            self.busy = False
        if failure is not None:
            raise failure
        return outcome

    async def _hand_over(self) -> None:
        """Stopped with reviews waiting: send their jobs again so they are not left queued."""
        while self.waiting:
            job_id = self.waiting.popleft()
            try:
                if self._resend is None:
                    raise RuntimeError("no way to send the job again")
                await self._resend(job_id)
            except Exception:
                log.exception("chess review %s left queued: could not send it again", job_id)


def register_chess_jobs(jobs: Jobs, settings: Settings) -> None:
    async def resend(job_id: str) -> object:
        return await jobs.send(REVIEW_TASK, job_id=job_id)

    slot = ReviewSlot(resend)  # one per `Jobs`, so one per process

    async def review_task(session: AsyncSession, job_id: str) -> dict[str, Any]:
        bind = session.bind
        assert bind is not None
        maker = async_sessionmaker(bind, expire_on_commit=False, autoflush=False)
        return await slot.run(maker, settings, job_id)

    jobs.task(REVIEW_TASK)(review_task)
