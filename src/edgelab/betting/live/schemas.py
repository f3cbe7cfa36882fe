"""Response models of `GET /admin/runs`."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class LoopRunOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    job: str = Field(examples=["betting.poll_odds"])
    started_at: dt.datetime
    finished_at: dt.datetime | None = Field(description="Null while the run is going.")
    calls: int = Field(description="The Odds API requests answered.")
    credits_used: int = Field(description="Credits these calls cost (x-requests-last summed).")
    credits_remaining: int | None = Field(description="x-requests-remaining after the run.")
    requests_used: int | None = Field(description="x-requests-used (this month) after the run.")
    rows_written: int = Field(description="Games, snapshots, closes, finals and settlements.")
    error_code: str | None = Field(description="Null when the run succeeded.")
    error: str | None
    details: dict[str, Any] = Field(
        description="What the run decided and did: stretch, interval, dates scored, props..."
    )


class LoopRunList(BaseModel):
    items: list[LoopRunOut]
    total: int
    limit: int
    offset: int
