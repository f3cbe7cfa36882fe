"""Prediction-market tables: Polymarket markets, their outcomes, price snapshots, ingest runs.

A market loaded from a shipped recording carries `recorded_at` (and `recording`); a live
ingest of the same market clears them (live data replaces the recording).

A market is keyed by Gamma's id (numeric text, stable); its `condition_id` keys it on the CLOB.
An outcome is keyed by its CLOB token id (the `clobTokenIds` entry at the outcome's index), the
id every CLOB price endpoint takes. Snapshots are (token, unix second) -> price in 0..1, append
only: the composite primary key makes a second write of the same point a no-op, and is also
the index a history query reads in order.
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


class PredictionMarket(Base):
    __tablename__ = "prediction_markets"
    __table_args__ = (
        Index("ix_prediction_markets_volume", "volume"),
        Index("ix_prediction_markets_volume_24h", "volume_24h"),
        Index("ix_prediction_markets_liquidity", "liquidity"),
        Index("ix_prediction_markets_end_date", "end_date"),
        Index("ix_prediction_markets_state", "active", "closed"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # Gamma id, e.g. "1066851"
    condition_id: Mapped[str | None] = mapped_column(String(80), unique=True)
    slug: Mapped[str | None] = mapped_column(String(300), index=True)
    question: Mapped[str] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    category: Mapped[str | None] = mapped_column(String(100))
    event_id: Mapped[str | None] = mapped_column(String(40))
    event_slug: Mapped[str | None] = mapped_column(String(300))
    event_title: Mapped[str | None] = mapped_column(Text)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)  # labels as Gamma shows them
    tag_slugs: Mapped[str] = mapped_column(String(2000), default="|")  # "|nba|sports|": LIKE
    active: Mapped[bool | None] = mapped_column(Boolean)
    closed: Mapped[bool | None] = mapped_column(Boolean)
    archived: Mapped[bool | None] = mapped_column(Boolean)
    start_date: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    end_date: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    game_start_time: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    volume: Mapped[float | None] = mapped_column(Float)  # USDC, all time
    volume_24h: Mapped[float | None] = mapped_column(Float)
    liquidity: Mapped[float | None] = mapped_column(Float)
    best_bid: Mapped[float | None] = mapped_column(Float)  # 0..1
    best_ask: Mapped[float | None] = mapped_column(Float)
    spread: Mapped[float | None] = mapped_column(Float)
    last_trade_price: Mapped[float | None] = mapped_column(Float)
    tick_size: Mapped[float | None] = mapped_column(Float)  # orderPriceMinTickSize
    price_change_24h: Mapped[float | None] = mapped_column(Float)  # Gamma oneDayPriceChange
    resolution_status: Mapped[str | None] = mapped_column(String(40))  # UMA's, when any
    resolved_outcome: Mapped[str | None] = mapped_column(String(200))
    upstream_updated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    fetched_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    # set for a market loaded from a shipped recording (`edgelab import polymarket-recording`):
    # when its answers were recorded, and which recording; null for a live ingest
    recorded_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    recording: Mapped[str | None] = mapped_column(String(200))


class PredictionOutcome(Base):
    __tablename__ = "prediction_outcomes"
    __table_args__ = (UniqueConstraint("market_id", "position"),)

    token_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    market_id: Mapped[str] = mapped_column(
        ForeignKey("prediction_markets.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(Integer)  # index in Gamma's outcomes list
    name: Mapped[str] = mapped_column(String(300))
    price: Mapped[float | None] = mapped_column(Float)  # 0..1, Gamma's outcomePrices
    # the one contiguous range (unix seconds) the CLOB's price history was fetched for: a
    # chart asks the CLOB only for the part of its window outside it (`history.py`)
    clob_from_ts: Mapped[int | None] = mapped_column(BigInteger)
    clob_to_ts: Mapped[int | None] = mapped_column(BigInteger)


class PredictionPriceSnapshot(Base):
    __tablename__ = "prediction_price_snapshots"

    token_id: Mapped[str] = mapped_column(
        ForeignKey("prediction_outcomes.token_id", ondelete="CASCADE"), primary_key=True
    )
    ts: Mapped[int] = mapped_column(BigInteger, primary_key=True)  # unix seconds, UTC
    price: Mapped[float] = mapped_column(Float)  # 0..1
    source: Mapped[str] = mapped_column(String(8))  # gamma | clob


class PredictionIngestRun(Base):
    """One `edgelab ingest polymarket` or scheduled run: what it fetched, wrote, and failed."""

    __tablename__ = "prediction_ingest_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    trigger: Mapped[str] = mapped_column(String(16))  # cli | job
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    ok: Mapped[bool] = mapped_column(Boolean, default=True)
    fetched: Mapped[int] = mapped_column(Integer, default=0)  # market rows received
    written: Mapped[int] = mapped_column(Integer, default=0)  # markets upserted
    snapshots: Mapped[int] = mapped_column(Integer, default=0)  # price points appended
    failed: Mapped[int] = mapped_column(Integer, default=0)  # rows dropped as unusable
    errors: Mapped[list[Any]] = mapped_column(JSON, default=list)
