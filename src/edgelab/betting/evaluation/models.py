"""Stored evaluation reports: one row per data fingerprint, computed by the `betting.evaluate` job.

A row is `queued` (a reader found the data changed and asked for it), `running`, `ready` (the
report: `document` is the JSON every answer is cut from, `arrays` the per-market forecasts the
reliability curves are binned from, an `.npz` archive) or `failed` (`error` says why). The
unique fingerprint is what keeps two readers, or two workers, from computing the same report
twice: the second insert fails.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Float, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from edgelab.core.clock import utcnow
from edgelab.core.db import Base, UTCDateTime

REPORT_STATUSES = ("queued", "running", "ready", "failed")


class EvaluationReport(Base):
    __tablename__ = "evaluation_reports"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    fingerprint: Mapped[str] = mapped_column(String(96), unique=True)
    status: Mapped[str] = mapped_column(String(10), default="queued", index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, index=True)
    seconds: Mapped[float | None] = mapped_column(Float)  # time to compute
    seasons: Mapped[list[int]] = mapped_column(JSON, default=list)
    document: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    arrays: Mapped[bytes | None] = mapped_column(LargeBinary)
    error: Mapped[str | None] = mapped_column(Text)
