"""Recalibration: refit the ratings, the reliability (shrinkage) and a calibration map of p_true.

The map, how its method is chosen and how it is measured are `calibration` (pure).

The job (`run_job`, task `betting.recalibrate`) records its stages in `model_jobs` as it goes;
its writes to the scoring tables (a new `ModelFit` with the map in its params, the slate's
re-scored `ValueScore` rows) commit in one transaction together with the job's `succeeded`
status, so a failure leaves nothing half-written: the job is marked `failed` with the error and
its slot is freed. A succeeded job enqueues `betting.evaluate`: the evaluation's stored report
is recomputed for the new model.

`CalibrationMap` is imported from here by `betting.markets.slate` together with
`current_calibration`, hence its explicit re-export below.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from edgelab.betting.evaluation.jobs import EVALUATE_TASK
from edgelab.betting.model.calibration import CalibrationMap as CalibrationMap
from edgelab.betting.model.calibration import calibrate, out_of_sample
from edgelab.betting.model.jobs import ACTIVE_STATUSES, RECALIBRATE_TASK, ModelJob
from edgelab.betting.model.models import ModelFit
from edgelab.core.clock import utcnow
from edgelab.core.jobs import Jobs, enqueue
from edgelab.core.settings import Settings

log = logging.getLogger("edgelab.betting.model.recalibration")


# ---- the current model -------------------------------------------------------------------------


async def current_model(session: AsyncSession) -> tuple[str | None, CalibrationMap | None]:
    """The version made by the last succeeded job and its map (None, None before any job)."""
    version = (
        await session.execute(
            select(ModelJob.model_version)
            .where(ModelJob.status == "succeeded", ModelJob.model_version.is_not(None))
            .order_by(ModelJob.finished_at.desc())
            .limit(1)
        )
    ).scalar_one_or_none()
    if version is None:
        return None, None
    fit = await session.get(ModelFit, version)
    doc = (fit.params or {}).get("calibration") if fit is not None else None
    return version, CalibrationMap.from_dict(doc) if isinstance(doc, dict) else None


async def current_calibration(session: AsyncSession) -> CalibrationMap | None:
    """The map `score_slate` applies: the last succeeded job's, None before any job."""
    return (await current_model(session))[1]


# ---- the job -----------------------------------------------------------------------------------

Sessions = async_sessionmaker[AsyncSession]
StageHook = Callable[[str, float], None]


class _Tracker:
    """Writes the job's stage and progress in short transactions of their own (so a reader sees
    them while the job works), and keeps the per-stage timings."""

    def __init__(self, sessions: Sessions, job_id: str, hook: StageHook | None) -> None:
        self.sessions = sessions
        self.job_id = job_id
        self.hook = hook
        self.timings: dict[str, float] = {}
        self._t = time.perf_counter()

    def lap(self, name: str) -> None:
        t = time.perf_counter()
        self.timings[name] = round(t - self._t, 3)
        self._t = t

    async def _set(self, **values: Any) -> None:
        async with self.sessions() as s:
            await s.execute(update(ModelJob).where(ModelJob.id == self.job_id).values(**values))
            await s.commit()

    async def stage(self, stage: str, progress: float) -> None:
        if self.hook is not None:
            self.hook(stage, progress)
        await self._set(stage=stage, progress=round(progress, 4))

    async def start(self) -> bool:
        """Mark the job running; False when it is not queued or running (already finished)."""
        async with self.sessions() as s:
            job = await s.get(ModelJob, self.job_id)
            if job is None or job.status not in ACTIVE_STATUSES:
                return False
            job.status, job.started_at, job.stage, job.progress = "running", utcnow(), "starting", 0
            await s.commit()
        self._t = time.perf_counter()
        return True

    async def fail(self, exc: BaseException) -> None:
        message = f"{type(exc).__name__}: {exc}"[:2000]
        await self._set(
            status="failed",
            active=None,
            finished_at=utcnow(),
            error=message,
            timings=self.timings,
        )


async def run_job(
    sessions: Sessions,
    settings: Settings,
    job_id: str,
    *,
    hook: StageHook | None = None,
) -> dict[str, Any]:
    """Run a queued job to its end (see the module docstring); returns a JSON summary.

    A job that is no longer queued or running (a redelivery) is skipped. On failure the job is
    recorded as failed and the error re-raised.
    """
    tracker = _Tracker(sessions, job_id, hook)
    if not await tracker.start():
        return {"job_id": job_id, "status": "skipped"}
    try:
        return await _recalibrate(sessions, settings, tracker)
    except Exception as exc:
        log.exception("model update %s failed", job_id)
        await tracker.fail(exc)
        raise


async def _recalibrate(sessions: Sessions, settings: Settings, tr: _Tracker) -> dict[str, Any]:
    from edgelab.betting.evaluation import backtest
    from edgelab.betting.markets.service import resolve_slate_date
    from edgelab.betting.markets.slate import score_slate

    await tr.stage("loading games and closing lines", 0.02)
    async with sessions() as s:
        data = await backtest.load_backtest_data(s)
        current_version, current_map = await current_model(s)
        slate_date = await resolve_slate_date(s, settings)
    if slate_date is None:
        raise LookupError("no games imported: run `edgelab import nba-shipped` first")
    tr.lap("load")

    seasons = data.evaluable_seasons()
    results = []
    for done, season in enumerate(seasons):
        await tr.stage(
            f"walk-forward out-of-sample predictions: season {season}",
            0.05 + 0.7 * done / max(len(seasons), 1),
        )
        results.append(
            await asyncio.to_thread(
                backtest.run_backtest, data, devig_method=settings.devig_method, seasons=[season]
            )
        )
    tr.lap("walk_forward")

    await tr.stage("fitting the calibration map", 0.76)
    oos = out_of_sample(data, results)
    cal = await asyncio.to_thread(calibrate, oos, settings.calibration_method, current_map)
    if cal.metrics_before is not None:
        cal.metrics_before["model_version"] = current_version
    tr.lap("calibration")

    await tr.stage("refitting ratings and reliability; re-scoring the slate", 0.8)
    async with sessions() as s:
        scored = await score_slate(s, settings, slate_date, calibration=cal.map)
        tr.lap("refit_and_score")
        report = {**cal.report, "out_of_sample_markets": len(oos)}
        await s.execute(
            update(ModelJob)
            .where(ModelJob.id == tr.job_id)
            .values(
                status="succeeded",
                active=None,
                progress=1.0,
                stage="done",
                finished_at=utcnow(),
                timings=tr.timings,
                metrics_before=cal.metrics_before,
                metrics_after=cal.metrics_after,
                calibration=report,
                model_version=scored.model_version,
            )
        )
        await s.commit()
    if tr.hook is not None:
        tr.hook("done", 1.0)
    await _drop_shared_caches(settings)
    return {
        "job_id": tr.job_id,
        "status": "succeeded",
        "model_version": scored.model_version,
        "slate_date": scored.slate_date.isoformat(),
        "scored_rows": scored.scored,
        "timings": tr.timings,
        "calibration": report,
        "metrics_before": cal.metrics_before,
        "metrics_after": cal.metrics_after,
    }


async def _drop_shared_caches(settings: Settings) -> None:
    """Drop the slate's cached rankings shared through Redis (an in-process cache expires by its
    short TTL; the evaluation's keys change with the job, see `evaluation_fingerprint`)."""
    if not settings.redis_url:
        return
    from edgelab.core.cache import make_cache

    cache = make_cache(settings.redis_url)
    try:
        await cache.delete_prefix("markets:")
    except Exception:  # the job's work is committed; a stale cache entry expires by its TTL
        log.warning("could not drop the shared markets cache after a model update", exc_info=True)
    finally:
        await cache.close()


def register_model_jobs(jobs: Jobs, settings: Settings) -> None:
    async def recalibrate(session: AsyncSession, job_id: str) -> dict[str, Any]:
        """The job writes in transactions of its own (progress must be visible while it runs,
        and a failure must still be recorded): the unit of work's session only lends its engine."""
        bind = session.bind
        assert bind is not None
        maker = async_sessionmaker(bind, expire_on_commit=False, autoflush=False)
        result = await run_job(maker, settings, job_id)
        if result.get("status") == "succeeded":  # a new model: the evaluation's report anew
            enqueue(EVALUATE_TASK)
        return result

    jobs.task(RECALIBRATE_TASK)(recalibrate)
