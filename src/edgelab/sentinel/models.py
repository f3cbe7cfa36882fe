"""Sentinel tables: players, their bet and account-transaction logs, scores and scoring runs.

A player is known to us by the operator's stable id (`player_id`, e.g. `PLR_12345_NJ`); rows
reference players by an integer surrogate key (`player_pk`) because the scoring run reads a
million bets at a time and integers group faster than strings. `user_id` will link a player to
one of our own accounts (the bet tracker's users: `tracker.py` derives their player id).

Bets and transactions are idempotent on `(source, external_id)`: `source` says which way a row
came in (`operator` for the bulk API and CSV imports, `simulated`, `payments_dib`, `tracker` for
our own users' tracked bets) so ids of different origins never collide. Money is in minor units
with its currency code.

Incremental scoring: every ingest that adds rows for a player increments its
`activity_version`; a scoring run stores the version it read in `scored_version`. A player
needs rescoring exactly when the two differ (see `rescore.py` for why a counter and not times).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
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

BET_STATUSES = ("won", "lost", "void", "open")
TX_KINDS = ("deposit", "withdrawal", "withdrawal_reversal")
TX_STATUSES = ("approved", "declined")
CATEGORIES = ("CRITICAL", "HIGH", "MEDIUM", "LOW")


class SentinelPlayer(Base):
    __tablename__ = "sentinel_players"
    __table_args__ = (Index("ix_sentinel_players_category_score", "risk_category", "composite"),)

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    player_id: Mapped[str] = mapped_column(String(64), unique=True)
    source: Mapped[str] = mapped_column(String(20))  # where the player was first seen
    # our own account, for players who are edgelab users (set by `tracker.py`)
    user_id: Mapped[str | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), unique=True
    )
    time_zone: Mapped[str | None] = mapped_column(String(64))  # IANA; None = the default
    gamalyze_score: Mapped[float | None] = mapped_column(Float)  # external self-test, 0-1
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_activity_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)  # last ingest
    activity_version: Mapped[int] = mapped_column(Integer, default=0)
    scored_version: Mapped[int | None] = mapped_column(Integer)
    # the latest score, kept here so the ranked list needs no "latest row per player" query
    scored_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    composite: Mapped[float | None] = mapped_column(Float)
    risk_category: Mapped[str | None] = mapped_column(String(8))


class SentinelBet(Base):
    __tablename__ = "sentinel_bets"
    __table_args__ = (
        UniqueConstraint("source", "external_id"),
        Index("ix_sentinel_bets_player_placed", "player_pk", "placed_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(20))
    external_id: Mapped[str] = mapped_column(String(100))
    player_pk: Mapped[int] = mapped_column(ForeignKey("sentinel_players.pk", ondelete="CASCADE"))
    placed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    settled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    sport: Mapped[str] = mapped_column(String(40))
    market_type: Mapped[str] = mapped_column(String(40))
    # crc32 of "sport|market_type" (31 bits): scoring reads an integer, not two strings
    market_code: Mapped[int] = mapped_column(Integer)
    is_live: Mapped[bool] = mapped_column(Boolean)
    stake_minor: Mapped[int] = mapped_column(BigInteger)
    payout_minor: Mapped[int | None] = mapped_column(BigInteger)  # stake included; None open
    currency: Mapped[str] = mapped_column(String(3))
    odds_decimal: Mapped[float] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(5))  # won | lost | void | open
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class SentinelTransaction(Base):
    __tablename__ = "sentinel_transactions"
    __table_args__ = (
        UniqueConstraint("source", "external_id"),
        Index("ix_sentinel_transactions_player_occurred", "player_pk", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(20))
    external_id: Mapped[str] = mapped_column(String(100))
    player_pk: Mapped[int] = mapped_column(ForeignKey("sentinel_players.pk", ondelete="CASCADE"))
    occurred_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    kind: Mapped[str] = mapped_column(String(20))  # deposit | withdrawal | withdrawal_reversal
    status: Mapped[str] = mapped_column(String(8))  # approved | declined
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class SentinelScoreRun(Base):
    """One scoring run (hourly job, `edgelab sentinel rescore`, or an on-demand analysis).

    A full run also stores the population reference (per-feature quantiles) that later
    incremental runs score against, so a player's score is relative to the population as of
    the last full run.
    """

    __tablename__ = "sentinel_score_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    mode: Mapped[str] = mapped_column(String(12))  # full | incremental | players
    trigger: Mapped[str] = mapped_column(String(12))  # job | cli | analyze | bench
    status: Mapped[str] = mapped_column(String(10), default="running")  # ok|failed|locked
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    duration_seconds: Mapped[float | None] = mapped_column(Float)
    players_scored: Mapped[int] = mapped_column(Integer, default=0)
    bets_read: Mapped[int] = mapped_column(Integer, default=0)
    transactions_read: Mapped[int] = mapped_column(Integer, default=0)
    errors: Mapped[int] = mapped_column(Integer, default=0)
    error_detail: Mapped[str | None] = mapped_column(Text)
    timings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    reference: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class SentinelScore(Base):
    """A player's score at one scoring: components 0-1 (None = absent), composite 0-1, the
    category, and the features that contributed most (the explanation's raw material)."""

    __tablename__ = "sentinel_scores"
    __table_args__ = (Index("ix_sentinel_scores_player_scored", "player_pk", "scored_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    player_pk: Mapped[int] = mapped_column(ForeignKey("sentinel_players.pk", ondelete="CASCADE"))
    run_id: Mapped[int | None] = mapped_column(
        ForeignKey("sentinel_score_runs.id", ondelete="SET NULL"), index=True
    )
    scored_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    as_of: Mapped[dt.datetime] = mapped_column(UTCDateTime)  # end of the scored window
    composite: Mapped[float] = mapped_column(Float)
    risk_category: Mapped[str] = mapped_column(String(8))
    loss_chase: Mapped[float | None] = mapped_column(Float)
    bet_escalation: Mapped[float | None] = mapped_column(Float)
    market_drift: Mapped[float | None] = mapped_column(Float)
    temporal_risk: Mapped[float | None] = mapped_column(Float)
    behavioural: Mapped[float | None] = mapped_column(Float)
    absent: Mapped[list[str]] = mapped_column(JSON, default=list)
    top_features: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    features: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


INTERVENTION_TYPES = ("nudge", "timeout", "watchlist", "referral")


class SentinelIntervention(Base):
    """An analyst's decision about a player (the seed's Intervention), and what it did.

    `status` stores `active` or `cancelled`; a timeout whose `ends_at` has passed reads as
    `expired` (derived, so nothing has to run when it ends). `user_id` is set when the player
    is one of our own accounts: then the decision is enforced here (see `interventions.py`);
    for an operator's player it is only published for the operator to poll. `updated_at`
    moves on every change so operators can poll with `updated_since`.
    """

    __tablename__ = "sentinel_interventions"
    __table_args__ = (
        Index("ix_sentinel_interventions_player_created", "player_pk", "created_at"),
        Index("ix_sentinel_interventions_updated", "updated_at"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # int_<hex>
    player_pk: Mapped[int] = mapped_column(ForeignKey("sentinel_players.pk", ondelete="CASCADE"))
    player_id: Mapped[str] = mapped_column(String(64))  # copied: lists need no join
    user_id: Mapped[str | None] = mapped_column(String(40), index=True)  # our own account
    intervention_type: Mapped[str] = mapped_column(String(10))  # nudge|timeout|watchlist|referral
    analyst_id: Mapped[str] = mapped_column(String(64))
    created_by: Mapped[str] = mapped_column(String(40))  # the signed-in analyst's user id
    reason: Mapped[str] = mapped_column(Text)
    note: Mapped[str | None] = mapped_column(Text)  # e.g. where a referral was handed to
    duration_hours: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(10), default="active")  # active | cancelled
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    ends_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)  # timeouts only
    cancelled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    cancelled_by: Mapped[str | None] = mapped_column(String(40))
    cancel_reason: Mapped[str | None] = mapped_column(Text)
    # what enforcement did, for our own users: {"restricted_until": ..., "email_id": ...}
    effects: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


LIMIT_TYPES = ("deposit", "loss", "wager", "session")
LIMIT_CHANGES = ("increase", "decrease", "removed", "set")


class SentinelLimitChange(Base):
    """A deposit, loss, wager or session limit change an operator reported for a player.

    Idempotent on `(source, external_id)` like bets and transactions. Raising or removing a
    limit (`increase`, `removed`) is the behavioural marker the scoring counts (SENTINEL §4
    category f, see `features.behavioural_features`); `decrease` and `set` are kept for the
    record and tell the scoring the operator reports limits for the player.
    """

    __tablename__ = "sentinel_limit_changes"
    __table_args__ = (
        UniqueConstraint("source", "external_id"),
        Index("ix_sentinel_limit_changes_player_occurred", "player_pk", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(20))
    external_id: Mapped[str] = mapped_column(String(100))
    player_pk: Mapped[int] = mapped_column(ForeignKey("sentinel_players.pk", ondelete="CASCADE"))
    occurred_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    limit_type: Mapped[str] = mapped_column(String(8))  # deposit | loss | wager | session
    change: Mapped[str] = mapped_column(String(8))  # increase | decrease | removed | set
    amount_minor: Mapped[int | None] = mapped_column(BigInteger)  # the new limit, if any
    currency: Mapped[str | None] = mapped_column(String(3))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
