"""Model recalibration jobs (`POST /model/update`): one row per request, its progress and result.

At most one job is queued or running at a time, and the database guarantees it: `active` is 1
while the job is queued or running and NULL afterwards, under a unique constraint (SQLite and
PostgreSQL both allow any number of NULLs in a unique column). Two concurrent requests cannot
both insert an active row: the second one's insert fails and it answers 409.

This module is what a request needs (the table, creating and reading a job) and stays light;
the job itself, with NumPy and scikit-learn, is `recalibration`.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, Float, ForeignKey, Integer, String, Text, UniqueConstraint, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from edgelab.betting import errors
from edgelab.core.clock import utcnow
from edgelab.core.db import Base, UTCDateTime
from edgelab.core.errors import ConflictError, NotFoundError
from edgelab.core.jobs import enqueue

if TYPE_CHECKING:
    from edgelab.betting.evaluation.jobs import DataFingerprint

JOB_STATUSES = ("queued", "running", "succeeded", "failed")
ACTIVE_STATUSES = ("queued", "running")
RECALIBRATE_TASK = "betting.recalibrate"
STALE_AFTER = dt.timedelta(hours=2)  # a job queued/running this long was lost with its process


class ModelJob(Base):
    __tablename__ = "model_jobs"
    __table_args__ = (UniqueConstraint("active"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # uuid4 hex
    status: Mapped[str] = mapped_column(String(10), default="queued")  # JOB_STATUSES
    active: Mapped[int | None] = mapped_column(Integer, default=1)  # 1 queued/running, else NULL
    requested_by: Mapped[str] = mapped_column(String(64))  # user id, or "admin-token"
    progress: Mapped[float] = mapped_column(Float, default=0.0)  # 0..1
    stage: Mapped[str] = mapped_column(Text, default="queued")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    timings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # stage -> seconds
    metrics_before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    metrics_after: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    calibration: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # method chosen, why
    # the ModelFit it made (committed together with it)
    model_version: Mapped[str | None] = mapped_column(ForeignKey("model_fits.version"))
    error: Mapped[str | None] = mapped_column(Text)


async def active_job(session: AsyncSession) -> ModelJob | None:
    return (
        await session.execute(select(ModelJob).where(ModelJob.active.is_not(None)))
    ).scalar_one_or_none()


async def get_job(session: AsyncSession, job_id: str) -> ModelJob | None:
    return await session.get(ModelJob, job_id)


async def job_status(session: AsyncSession, job_id: str) -> ModelJob:
    """The job as stored now (the job writes its row in transactions of its own, so not as
    this session may have seen it before), or 404 `model_job_not_found`."""
    job = await session.get(ModelJob, job_id, populate_existing=True)
    if job is None:
        raise NotFoundError(f"No model job with id {job_id!r}.", code=errors.MODEL_JOB_NOT_FOUND)
    return job


async def _insert(session: AsyncSession, job: ModelJob) -> bool:
    """Insert an active job; False when another active one holds the slot (unique `active`)."""
    try:
        async with session.begin_nested():
            session.add(job)
            await session.flush()
    except IntegrityError:
        return False
    return True


async def create_job(session: AsyncSession, requested_by: str, *, send: bool = True) -> ModelJob:
    """Record a queued job and (with `send`) enqueue it after the commit; 409 while another is
    queued or running. The insert comes first: the database, not an earlier read, decides a
    race. A job queued or running for longer than `STALE_AFTER` was lost with its process: it
    is marked failed and its slot taken."""
    job = ModelJob(
        id=uuid.uuid4().hex,
        status="queued",
        active=1,
        requested_by=requested_by[:64],
        progress=0.0,
        stage="queued",
        created_at=utcnow(),
        timings={},
    )
    if not await _insert(session, job):
        running = await active_job(session)
        ok = False
        if running is not None and utcnow() - running.created_at > STALE_AFTER:
            running.status, running.active, running.finished_at = "failed", None, utcnow()
            running.error = f"abandoned: still at {running.stage!r} after {STALE_AFTER}"
            await session.flush()
            ok = await _insert(session, job)
            running = None if ok else await active_job(session)
        if not ok:
            raise ConflictError(
                "A model update is already queued or running; wait for it to finish.",
                code=errors.MODEL_UPDATE_RUNNING,
                details={
                    "job_id": running.id if running else None,
                    "status": running.status if running else None,
                    "status_url": f"/model/jobs/{running.id}" if running else None,
                },
            )
    if send:
        enqueue(RECALIBRATE_TASK, job_id=job.id)
    return job


async def evaluation_fingerprint(session: AsyncSession, fp: DataFingerprint) -> DataFingerprint:
    """The evaluation's identity: the data's plus the last succeeded model update, so a report
    computed before a recalibration is recomputed after it (the job asks for it at once)."""
    last = (
        await session.execute(
            select(ModelJob.id)
            .where(ModelJob.status == "succeeded")
            .order_by(ModelJob.finished_at.desc())
            .limit(1)
        )
    ).scalar_one_or_none()
    return fp if last is None else replace(fp, digest=f"{fp.digest}-m{last[:8]}")
