"""Response models of the model-update API (`POST /model/update`, `GET /model/jobs/{id}`)."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, Field

JobStatus = Literal["queued", "running", "succeeded", "failed"]


class ModelUpdateAccepted(BaseModel):
    job_id: str = Field(description="Poll `status_url` for progress and the result.")
    status: JobStatus
    status_url: str = Field(examples=["/model/jobs/6f1c0e3b9a2d4c58b1e7f0a9d3c2b1a0"])


class ModelJobOut(BaseModel):
    """A recalibration job: where it is, how long each stage took, what it measured."""

    job_id: str
    status: JobStatus
    progress: float = Field(ge=0, le=1, description="Share of the work done, 0 to 1.")
    stage: str = Field(description="What the job is doing (or `done`).")
    requested_by: str = Field(description="The admin's user id, or `admin-token`.")
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    timings: dict[str, float] = Field(
        description="Seconds per finished stage: load, walk_forward, calibration, refit_and_score."
    )
    metrics_before: dict[str, Any] | None = Field(
        description="The current model's Brier, log loss and ECE on the held-out (latest) "
        "season's closing lines, overall and by market type; null until the job succeeds."
    )
    metrics_after: dict[str, Any] | None = Field(
        description="The same with the new calibration map, fitted on earlier seasons only."
    )
    calibration: dict[str, Any] | None = Field(
        description="Per market type the method chosen (isotonic, platt or none) and every "
        "candidate's held-out scores; the maps themselves are in the model fit's params."
    )
    model_version: str | None = Field(
        description="The model version the job made: every value score it wrote records it."
    )
    error: str | None = Field(description="Why the job failed, when it did.")
