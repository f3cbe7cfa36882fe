"""HTTP layer of the model update (recalibration): admin only."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response

from edgelab.betting.model import jobs as model_jobs
from edgelab.betting.model.jobs import ModelJob
from edgelab.betting.model.schemas import ModelJobOut, ModelUpdateAccepted
from edgelab.core.auth import AdminCaller
from edgelab.core.db import SessionDep
from edgelab.core.errors import error_responses

router = APIRouter(tags=["model"])
JobIdPath = Annotated[str, Path(min_length=1, max_length=40)]


def _status_url(job_id: str) -> str:
    return f"/model/jobs/{job_id}"


@router.post(
    "/update",
    status_code=202,
    response_model=ModelUpdateAccepted,
    responses=error_responses(401, 403, 409),
    summary="Refit ratings, shrinkage and the calibration map as a background job",
)
async def update_model(
    caller: AdminCaller, session: SessionDep, response: Response
) -> ModelUpdateAccepted:
    """Starts a recalibration job and answers at once (202) with its id; poll `status_url`.
    409 `model_update_running` (with the running job's id) while another is queued or running.
    Admins only: `Authorization: Bearer <EDGELAB_ADMIN_TOKEN>` or a user with the admin role."""
    job = await model_jobs.create_job(session, caller.id)
    response.headers["Location"] = _status_url(job.id)
    return ModelUpdateAccepted(job_id=job.id, status="queued", status_url=_status_url(job.id))


def _out(job: ModelJob) -> ModelJobOut:
    return ModelJobOut(
        job_id=job.id,
        status=job.status,  # type: ignore[arg-type]  # one of JOB_STATUSES by construction
        progress=job.progress,
        stage=job.stage,
        requested_by=job.requested_by,
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
        timings=job.timings or {},
        metrics_before=job.metrics_before,
        metrics_after=job.metrics_after,
        calibration=job.calibration,
        model_version=job.model_version,
        error=job.error,
    )


@router.get(
    "/jobs/{job_id}",
    response_model=ModelJobOut,
    responses=error_responses(401, 403, 404, 422),
    summary="Status, progress, timings and before/after metrics of a model update",
)
async def get_model_job(
    _caller: AdminCaller, session: SessionDep, job_id: JobIdPath
) -> ModelJobOut:
    return _out(await model_jobs.job_status(session, job_id))
