"""The engine-review job table: one row per `POST /api/analyze/review`, its progress and result.

Light on purpose (a request imports it); the review itself is `review` (python-chess, a
process pool of Stockfish engines).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Float, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from edgelab.core.clock import utcnow
from edgelab.core.db import Base, UTCDateTime

JOB_STATUSES = ("queued", "running", "succeeded", "failed")
REVIEW_TASK = "chess.review"


class ChessReviewJob(Base):
    __tablename__ = "chess_review_jobs"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # uuid4 hex
    status: Mapped[str] = mapped_column(String(10), default="queued")  # JOB_STATUSES
    requested_by: Mapped[str] = mapped_column(String(64), index=True)  # user id
    username: Mapped[str] = mapped_column(String(50))  # the Chess.com player reviewed
    depth: Mapped[int] = mapped_column(Integer)
    games_total: Mapped[int] = mapped_column(Integer, default=0)
    games_done: Mapped[int] = mapped_column(Integer, default=0)
    progress: Mapped[float] = mapped_column(Float, default=0.0)  # 0..1
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    games: Mapped[list[str]] = mapped_column(JSON, default=list)  # the PGNs to review
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text)
    # issue 16: the process holding the job (running it, or keeping it waiting for its one
    # review slot) and its last sign of life; a queued or running job whose sign of life
    # (`heartbeat_at`, else `created_at`) is older than EDGELAB_CHESS_REVIEW_STALE_SECONDS was
    # left by a process that died, and is sent again (`jobs.recover_abandoned`)
    worker: Mapped[str | None] = mapped_column(String(64))
    heartbeat_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")  # runs begun
