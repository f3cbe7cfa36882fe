"""The A/B test's exposure log: which ranked markets a client was shown, in which arm.

One row per market shown per `/markets` request (at most the first 50 of the page), written in
batches by `betting.ab.exposures.ExposureBuffer`. Arms need no table: they are a hash of the
subject (`betting.ab.assignment.arm_of`). `subject` is an opaque digest of the subject key
(`u:<user id>` or `c:<client id>`), never the raw client id. `outcome_id` is deliberately not a
foreign key: the log must outlive a re-import of the slate, and a batch insert must not fail on
one stale id.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, Boolean, Date, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from edgelab.core.db import Base, UTCDateTime

# 64-bit ids on PostgreSQL (50 rows per request adds up); SQLite autoincrements INTEGER only
EXPOSURE_ID = BigInteger().with_variant(Integer(), "sqlite")


class AbExposure(Base):
    __tablename__ = "ab_exposures"
    __table_args__ = (
        # attribution: a user's latest exposure of one market at or before a bet
        Index("ix_ab_exposures_user_outcome_shown", "user_id", "outcome_id", "shown_at"),
        # the online report: per experiment and arm
        Index("ix_ab_exposures_experiment_arm", "experiment", "arm"),
    )

    id: Mapped[int] = mapped_column(EXPOSURE_ID, primary_key=True, autoincrement=True)
    experiment: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(String(64))  # sha256 hex of the subject key
    user_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    arm: Mapped[str] = mapped_column(String(1))  # the caller's arm: a | b
    algorithm: Mapped[str] = mapped_column(String(1))  # the algorithm shown: a | b
    forced: Mapped[bool] = mapped_column(Boolean, default=False)  # explicit ?algorithm=
    outcome_id: Mapped[str] = mapped_column(String(160))  # the API's market id
    rank: Mapped[int] = mapped_column(Integer)  # 1-based in the whole ranking (offset included)
    slate_date: Mapped[dt.date | None] = mapped_column(Date)
    shown_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    request_id: Mapped[str | None] = mapped_column(String(128))
