"""Tracked bets: what a user says they placed, settled from the game's result; and bets
imported from a bet-history CSV (`betting.imports`), settled by the file's own result."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from edgelab.core.clock import utcnow
from edgelab.core.db import Base, UTCDateTime


class UserBet(Base):
    """A bet a user says they placed (the bet tracker); settled from the game's result.

    `clv` is the closing-line value in probability points: the de-vigged closing probability
    of the side minus 1/odds taken (see `settlement.closing_line_value`).

    `source` is `tracked` (`POST /me/bets`: one of our markets, `outcome_id` and `game_id` set)
    or `import` (a row of a bet-history CSV: no market of ours, so `outcome_id`, `game_id` and
    the closing line stay null; the file's own texts are kept in `sport`, `event`,
    `market_text` and `selection`, its result in `result`: won, lost, push, void, cashout,
    half_won or half_lost, with `status` the nearest of won/lost/push/void by payout).
    `import_key` (a hash of the row's normalised fields with its date as written, or of the
    bet id) is unique per user, so a row uploaded again is not imported twice.
    """

    __tablename__ = "user_bets"
    __table_args__ = (
        UniqueConstraint("user_id", "external_id"),
        UniqueConstraint("user_id", "import_key"),
        Index("ix_user_bets_user_placed", "user_id", "placed_at"),
        Index("ix_user_bets_status_game", "status", "game_id"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # bet_...
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    external_id: Mapped[str | None] = mapped_column(String(100))
    outcome_id: Mapped[str | None] = mapped_column(ForeignKey("outcomes.id", ondelete="CASCADE"))
    game_id: Mapped[str | None] = mapped_column(ForeignKey("games.id", ondelete="CASCADE"))
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
    source: Mapped[str] = mapped_column(String(8), default="tracked", server_default="tracked")
    import_id: Mapped[str | None] = mapped_column(String(40))  # the bet_imports row it came in
    import_key: Mapped[str | None] = mapped_column(String(64))
    sport: Mapped[str | None] = mapped_column(String(64))
    event: Mapped[str | None] = mapped_column(String(200))
    market_text: Mapped[str | None] = mapped_column(String(120))
    selection: Mapped[str | None] = mapped_column(String(200))
    result: Mapped[str | None] = mapped_column(String(12))


class BetImport(Base):
    """An uploaded bet-history CSV between preview and confirm (`/me/bets/imports`).

    The file's text is kept (at most `EDGELAB_BET_IMPORT_MAX_BYTES`) so each preview and the
    confirm re-read it with the current `mapping` (column name -> role) and `options`; nothing
    reaches `user_bets` before confirm. `result` holds the confirm's counts. Rows live
    `EDGELAB_BET_IMPORT_TTL_SECONDS` from upload and are deleted after (on the next upload).
    """

    __tablename__ = "bet_imports"
    __table_args__ = (
        Index("ix_bet_imports_user_created", "user_id", "created_at"),
        Index("ix_bet_imports_expires_at", "expires_at"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # imp_...
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    filename: Mapped[str] = mapped_column(String(200))
    content: Mapped[str] = mapped_column(Text)
    encoding: Mapped[str] = mapped_column(String(16))
    delimiter: Mapped[str] = mapped_column(String(1))
    mapping: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    options: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(12), default="preview")  # preview|confirmed
    data_rows: Mapped[int] = mapped_column(Integer)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    confirmed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
