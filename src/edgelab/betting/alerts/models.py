"""Alert rules (a paid user's standing order) and the deliveries that keep each market sent once."""

from __future__ import annotations

import datetime as dt

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


class AlertRule(Base):
    """A paid user's standing order: e-mail me current scores that pass these filters.

    `market_types` is a list of MARKET_TYPES; `teams` a list of team codes (empty = any team,
    else the game's home or away team must be one of them). `min_value_score` is 0-100 on the
    rule's `algorithm` (a or b).
    """

    __tablename__ = "alert_rules"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # alr_...
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    min_value_score: Mapped[float] = mapped_column(Float)
    algorithm: Mapped[str] = mapped_column(String(1))
    market_types: Mapped[list[str]] = mapped_column(JSON)
    teams: Mapped[list[str]] = mapped_column(JSON)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class AlertDelivery(Base):
    """One market (outcome) e-mailed to one user, ever: the unique key is what keeps a market
    from being sent twice, even when two alert runs overlap. The score and price are as sent."""

    __tablename__ = "alert_deliveries"
    __table_args__ = (
        UniqueConstraint("user_id", "outcome_id"),
        Index("ix_alert_deliveries_user_created", "user_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    outcome_id: Mapped[str] = mapped_column(
        ForeignKey("outcomes.id", ondelete="CASCADE"), index=True
    )
    rule_id: Mapped[str | None] = mapped_column(
        ForeignKey("alert_rules.id", ondelete="SET NULL"), index=True
    )
    slate_date: Mapped[dt.date] = mapped_column(Date)
    algorithm: Mapped[str] = mapped_column(String(1))
    value_score: Mapped[float] = mapped_column(Float)
    odds_decimal: Mapped[float] = mapped_column(Float)
    line: Mapped[float | None] = mapped_column(Float)
    email_id: Mapped[int | None] = mapped_column(Integer)  # the outbox row (no FK: pruned apart)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
