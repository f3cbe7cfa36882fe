"""Uploaded files: metadata here, bytes in the blob store."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from edgelab.core.clock import utcnow
from edgelab.core.db import Base, UTCDateTime


class Upload(Base):
    """A file a user uploaded (a bet-history CSV or an avatar); the bytes live in a blob store.

    `storage_key` is whatever the store answered for the file (a relative path for the local
    store, the blob URL for Vercel Blob). The file is written before the row, so a file without
    a row is an orphan (a rolled-back request, a deleted user) that the cleanup job removes.
    `expires_at` is set for bet histories (retention) and None for avatars (kept until replaced).
    """

    __tablename__ = "uploads"
    __table_args__ = (Index("ix_uploads_user_id_created_at", "user_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # upl_...
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))  # bet_history | avatar
    content_type: Mapped[str] = mapped_column(String(100))  # detected from the bytes
    size_bytes: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    storage_key: Mapped[str] = mapped_column(String(512), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, index=True)
