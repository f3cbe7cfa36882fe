"""Tracked bets: what a user says they placed, settled from the game's result."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    BigInteger,
    Float,
    ForeignKey,
    Index,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from edgelab.core.clock import utcnow
from edgelab.core.db import Base, UTCDateTime


class UserBet(Base):
    """A bet a user says they placed (the bet tracker); settled from the game's result.

    `clv` is the closing-line value in probability points: the de-vigged closing probability
    of the side minus 1/odds taken (see `settlement.closing_line_value`).
    """

    __tablename__ = "user_bets"
    __table_args__ = (
        UniqueConstraint("user_id", "external_id"),
        Index("ix_user_bets_user_placed", "user_id", "placed_at"),
        Index("ix_user_bets_status_game", "status", "game_id"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # bet_...
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    external_id: Mapped[str | None] = mapped_column(String(100))
    outcome_id: Mapped[str] = mapped_column(ForeignKey("outcomes.id", ondelete="CASCADE"))
    game_id: Mapped[str] = mapped_column(ForeignKey("games.id", ondelete="CASCADE"))
    market_type: Mapped[str] = mapped_column(String(16))
    side: Mapped[str] = mapped_column(String(16))
    line: Mapped[float | None] = mapped_column(Float)
    odds_decimal: Mapped[float] = mapped_column(Float)
    stake_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    bookmaker: Mapped[str | None] = mapped_column(String(64))
    placed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(8), default="open")  # open|won|lost|push|void
    payout_minor: Mapped[int | None] = mapped_column(BigInteger)
    settled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    closing_odds_decimal: Mapped[float | None] = mapped_column(Float)
    p_close_fair: Mapped[float | None] = mapped_column(Float)
    clv: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
