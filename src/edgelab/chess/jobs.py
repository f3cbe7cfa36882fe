"""The engine-review job (task `chess.review`): games in a process pool, progress in the row.

The row is written in short transactions of its own so `GET /api/analyze/{job_id}` sees the
progress while the job works. A redelivered job that already finished is skipped.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from edgelab.chess.models import REVIEW_TASK, ChessReviewJob, utcnow
from edgelab.core.jobs import Jobs
from edgelab.core.settings import Settings

log = logging.getLogger("edgelab.chess.jobs")
Sessions = Callable[[], AsyncSession]


def pool_size(games: int) -> int:
    return max(1, min(games, os.cpu_count() or 1))


async def _set(sessions: Sessions, job_id: str, **values: Any) -> None:
    async with sessions() as s:
        await s.execute(update(ChessReviewJob).where(ChessReviewJob.id == job_id).values(**values))
        await s.commit()


async def run_review(sessions: Sessions, settings: Settings, job_id: str) -> dict[str, Any]:
    from edgelab.chess import review

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
            raise RuntimeError(f"engine unavailable: {review.INSTALL_HINT}")
        loop = asyncio.get_running_loop()
        summaries: list[dict[str, Any] | None] = [None] * len(pgns)
        ctx = multiprocessing.get_context("spawn")  # no fork of a threaded, async process
        with ProcessPoolExecutor(max_workers=pool_size(len(pgns)), mp_context=ctx) as pool:

            async def one(index: int, pgn: str) -> tuple[int, dict[str, Any]]:
                data = await loop.run_in_executor(pool, review.analyse_game, pgn, path, depth)
                return index, data

            pending = [one(i, p) for i, p in enumerate(pgns)]
            for done, next_done in enumerate(asyncio.as_completed(pending), start=1):
                index, data = await next_done
                summaries[index] = review.summarise_game(data, username)
                await _set(
                    sessions,
                    job_id,
                    games_done=done,
                    progress=round(done / max(1, len(pgns)), 4),
                )
        result = review.summarise([s for s in summaries if s is not None], username)
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
            error=f"{type(exc).__name__}: {exc}"[:2000],
        )
        raise


def register_chess_jobs(jobs: Jobs, settings: Settings) -> None:
    async def review_task(session: AsyncSession, job_id: str) -> dict[str, Any]:
        bind = session.bind
        assert bind is not None
        maker = async_sessionmaker(bind, expire_on_commit=False, autoflush=False)
        return await run_review(maker, settings, job_id)

    jobs.task(REVIEW_TASK)(review_task)
