"""Games, their markets and outcomes, and every odds snapshot we hold (with ingest runs).

IDs are stable strings a client can keep: a game is `nba-2019-04-10-bos-was` (date, home,
away), a market `...-spread`, an outcome (what the API calls a market: one side you can bet)
`...-spread-home`. Odds are decimal; lines are the outcome's own handicap (spread) or the
total points line (total).
"""

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
from sqlalchemy.orm import Mapped, mapped_column, relationship

from edgelab.core.clock import utcnow
from edgelab.core.db import Base, UTCDateTime

MARKET_TYPES = ("moneyline", "spread", "total", "prop")


SNAPSHOT_KINDS = ("open", "close", "live")


class Game(Base):
    __tablename__ = "games"
    __table_args__ = (
        UniqueConstraint("game_date", "home_team", "away_team"),
        Index("ix_games_season_date", "season", "game_date"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    sport: Mapped[str] = mapped_column(String(32), default="basketball_nba")
    season: Mapped[int] = mapped_column(Integer)  # by ending year: 2018-19 -> 2019
    game_date: Mapped[dt.date] = mapped_column(Date, index=True)  # US local date
    tip_time: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    tip_time_estimated: Mapped[bool] = mapped_column(Boolean, default=True)
    home_team: Mapped[str] = mapped_column(String(8))
    away_team: Mapped[str] = mapped_column(String(8))
    home_score: Mapped[int | None] = mapped_column(Integer)
    away_score: Mapped[int | None] = mapped_column(Integer)
    neutral_site: Mapped[bool | None] = mapped_column(Boolean)
    playoffs: Mapped[bool | None] = mapped_column(Boolean)
    external_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    markets: Mapped[list[Market]] = relationship(back_populates="game", lazy="raise")


class Market(Base):
    __tablename__ = "markets"

    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    game_id: Mapped[str] = mapped_column(ForeignKey("games.id", ondelete="CASCADE"), index=True)
    market_type: Mapped[str] = mapped_column(String(16))
    description: Mapped[str | None] = mapped_column(String(200))  # props: player and stat

    game: Mapped[Game] = relationship(back_populates="markets", lazy="raise")
    outcomes: Mapped[list[Outcome]] = relationship(back_populates="market", lazy="raise")


class Outcome(Base):
    __tablename__ = "outcomes"

    id: Mapped[str] = mapped_column(String(160), primary_key=True)
    market_id: Mapped[str] = mapped_column(ForeignKey("markets.id", ondelete="CASCADE"), index=True)
    side: Mapped[str] = mapped_column(String(16))  # home | away | over | under
    label: Mapped[str] = mapped_column(String(200))

    market: Mapped[Market] = relationship(back_populates="outcomes", lazy="raise")


class OddsSnapshot(Base):
    __tablename__ = "odds_snapshots"
    __table_args__ = (UniqueConstraint("outcome_id", "bookmaker", "kind", "captured_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    outcome_id: Mapped[str] = mapped_column(
        ForeignKey("outcomes.id", ondelete="CASCADE"), index=True
    )
    bookmaker: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(8))  # open | close | live
    captured_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    captured_at_estimated: Mapped[bool] = mapped_column(Boolean, default=False)
    odds_decimal: Mapped[float] = mapped_column(Float)
    line: Mapped[float | None] = mapped_column(Float)
    price_assumed: Mapped[bool] = mapped_column(Boolean, default=False)  # -110 when not in data
    source: Mapped[str] = mapped_column(String(200))
    # when a fetch (or a recorded snapshot) last listed this quote unchanged; a book that keeps a
    # price up keeps its `last_update`, so the quote's age is measured from here (None: only
    # seen at `captured_at`)
    seen_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class IngestRun(Base):
    """What an import or ingest fetched, wrote and skipped (data freshness and audit)."""

    __tablename__ = "ingest_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(32), index=True)  # nba_csv | odds_api
    source: Mapped[str] = mapped_column(String(300))
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    ok: Mapped[bool] = mapped_column(Boolean, default=True)
    stats: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
