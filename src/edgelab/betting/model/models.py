"""Fitted rating models: parameters, the last date each saw, and its measured skill."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    Date,
    Integer,
    String,
)
from sqlalchemy.orm import Mapped, mapped_column

from edgelab.core.clock import utcnow
from edgelab.core.db import Base, UTCDateTime


class ModelFit(Base):
    """A fitted rating model: its parameters, the last date it saw, and its measured skill."""

    __tablename__ = "model_fits"

    version: Mapped[str] = mapped_column(String(64), primary_key=True)
    fitted_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    trained_through: Mapped[dt.date] = mapped_column(Date)
    n_games: Mapped[int] = mapped_column(Integer)
    params: Mapped[dict[str, Any]] = mapped_column(JSON)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON)
