"""Value scores: one row per outcome per calculation (a snapshot scored by one fitted model)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from edgelab.core.clock import utcnow
from edgelab.core.db import Base, UTCDateTime


class ValueScore(Base):
    """One row per outcome per calculation (a snapshot scored by one fitted model)."""

    __tablename__ = "value_scores"
    __table_args__ = (
        UniqueConstraint("outcome_id", "model_version", "calc_time"),
        Index("ix_value_scores_current_a", "is_current", "algo_a_value_score"),
        Index("ix_value_scores_current_b", "is_current", "algo_b_value_score"),
        Index("ix_value_scores_outcome_calc", "outcome_id", "calc_time"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    outcome_id: Mapped[str] = mapped_column(ForeignKey("outcomes.id", ondelete="CASCADE"))
    snapshot_id: Mapped[int] = mapped_column(
        ForeignKey("odds_snapshots.id", ondelete="CASCADE"), index=True
    )
    model_version: Mapped[str] = mapped_column(ForeignKey("model_fits.version"), index=True)
    slate_date: Mapped[dt.date] = mapped_column(Date, index=True)
    is_current: Mapped[bool] = mapped_column(Boolean, default=False)
    calc_time: Mapped[dt.datetime] = mapped_column(UTCDateTime)  # the as-of moment scored
    computed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    odds_kind: Mapped[str] = mapped_column(String(8))
    bookmaker: Mapped[str] = mapped_column(String(64))
    odds_decimal: Mapped[float] = mapped_column(Float)
    line: Mapped[float | None] = mapped_column(Float)
    margin: Mapped[float] = mapped_column(Float)
    devig_method: Mapped[str] = mapped_column(String(16))
    p_true: Mapped[float] = mapped_column(Float)
    p_market: Mapped[float] = mapped_column(Float)
    p_market_methods: Mapped[dict[str, float]] = mapped_column(JSON)
    raw_edge: Mapped[float] = mapped_column(Float)
    time_to_tip_minutes: Mapped[int] = mapped_column(Integer)
    algo_a_value_score: Mapped[float] = mapped_column(Float)
    algo_a_confidence: Mapped[float] = mapped_column(Float)
    algo_a_market_quality: Mapped[float] = mapped_column(Float)
    algo_a_components: Mapped[dict[str, Any]] = mapped_column(JSON)
    algo_b_value_score: Mapped[float] = mapped_column(Float)
    algo_b_confidence: Mapped[float] = mapped_column(Float)
    algo_b_market_quality: Mapped[float] = mapped_column(Float)
    algo_b_components: Mapped[dict[str, Any]] = mapped_column(JSON)
    model_components: Mapped[dict[str, Any]] = mapped_column(JSON)
