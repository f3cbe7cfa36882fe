"""The engine-review job (task `chess.review`): the games shared out over one Stockfish process
per core (`review.review_games`), progress in the row.

The row is written in short transactions of its own so `GET /api/analyze/{job_id}` sees the
progress while the job works. A redelivered job that already finished is skipped.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from edgelab.chess.models import REVIEW_TASK, ChessReviewJob
from edgelab.core.clock import utcnow
from edgelab.core.jobs import Jobs
from edgelab.core.settings import Settings

log = logging.getLogger("edgelab.chess.jobs")
Sessions = Callable[[], AsyncSession]


async def _set(sessions: Sessions, job_id: str, **values: Any) -> None:
    async with sessions() as s:
        await s.execute(update(ChessReviewJob).where(ChessReviewJob.id == job_id).values(**values))
        await s.commit()


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
            raise RuntimeError(f"engine unavailable: {review.INSTALL_HINT}")
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
