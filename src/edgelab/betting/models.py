"""Value-betting tables: games, markets, outcomes, odds snapshots, value scores, model fits.

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
    BigInteger,
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

from edgelab.core.db import Base, UTCDateTime

MARKET_TYPES = ("moneyline", "spread", "total", "prop")
SNAPSHOT_KINDS = ("open", "close", "live")


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


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


class ValueScore(Base):
    """One row per outcome per calculation (a snapshot scored by one fitted model)."""

    __tablename__ = "value_scores"
    __table_args__ = (
        UniqueConstraint("snapshot_id", "model_version"),
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


class ModelFit(Base):
    """A fitted rating model: its parameters, the last date it saw, and its measured skill."""

    __tablename__ = "model_fits"

    version: Mapped[str] = mapped_column(String(64), primary_key=True)
    fitted_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    trained_through: Mapped[dt.date] = mapped_column(Date)
    n_games: Mapped[int] = mapped_column(Integer)
    params: Mapped[dict[str, Any]] = mapped_column(JSON)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON)


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
