"""`loop_runs`: every run of the live loop that called The Odds API or wrote something, and
every failed one, with what it cost. The loop reads its own state back from here (the last
fetch, consecutive failures, the latest quota headers, a spent month), so it survives restarts
and is shared by every process running the jobs."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from edgelab.core.db import Base, UTCDateTime


class LoopRun(Base):
    __tablename__ = "loop_runs"
    __table_args__ = (
        Index("ix_loop_runs_job_started", "job", "started_at"),
        Index("ix_loop_runs_started_at", "started_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job: Mapped[str] = mapped_column(String(64))  # betting.poll_odds | betting.poll_scores
    # the job delivery that ran it: a delivery again after its worker died takes its row over
    job_id: Mapped[str | None] = mapped_column(String(64))
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)  # null while running
    calls: Mapped[int] = mapped_column(Integer, default=0)  # The Odds API requests answered
    credits_used: Mapped[int] = mapped_column(Integer, default=0)  # sum of x-requests-last
    credits_remaining: Mapped[int | None] = mapped_column(Integer)  # the last x-requests-remaining
    requests_used: Mapped[int | None] = mapped_column(Integer)  # the last x-requests-used
    rows_written: Mapped[int] = mapped_column(Integer, default=0)
    error_code: Mapped[str | None] = mapped_column(String(64))
    error: Mapped[str | None] = mapped_column(Text)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
