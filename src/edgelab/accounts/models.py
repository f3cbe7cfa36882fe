"""Accounts tables: users, sign-in links, refresh tokens, API keys, e-mail outbox, audit log.

Secrets (sign-in tokens, refresh tokens, API keys) are stored only as SHA-256 hashes: the
plaintext is shown once and a database leak does not hand out sessions. IDs are stable
prefixed strings (`usr_...`, `key_...`).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from edgelab.core.db import Base, UTCDateTime

ROLES = ("user", "analyst", "admin")
TIERS = ("free", "paid")


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class User(Base):
    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    email: Mapped[str | None] = mapped_column(
        String(320), unique=True
    )  # lower-cased; None once anonymised
    role: Mapped[str] = mapped_column(String(16), default="user")
    tier: Mapped[str] = mapped_column(String(8), default="free")
    display_name: Mapped[str | None] = mapped_column(String(120))
    time_zone: Mapped[str] = mapped_column(String(64), default="America/New_York")
    alert_preferences: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_sign_in_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    deleted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # a Sentinel time-out: paid feeds, alerts and bet tracking refused until then (if future)
    restricted_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class MagicLink(Base):
    __tablename__ = "magic_links"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class RefreshToken(Base):
    """One link of a rotation chain; every token of a sign-in shares its `family_id`."""

    __tablename__ = "refresh_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    family_id: Mapped[str] = mapped_column(String(40), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)  # rotated
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(16))  # shown in lists so a user can tell keys apart
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class OutboxEmail(Base):
    """Every e-mail the platform sends, sent or not: the record of what went out and why not."""

    __tablename__ = "email_outbox"
    __table_args__ = (Index("ix_email_outbox_status_created", "status", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    to_address: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(String(300))
    template: Mapped[str] = mapped_column(String(40))
    html: Mapped[str] = mapped_column(Text)
    text: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(12), default="pending")  # pending|sent|failed|logged
    backend: Mapped[str] = mapped_column(String(12))  # resend | outbox
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    idempotency_key: Mapped[str] = mapped_column(String(64), unique=True)
    provider_id: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class AuditEvent(Base):
    """Security-relevant events (sign-in, failed verification, keys, webhooks, deletions)."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    event: Mapped[str] = mapped_column(String(40), index=True)
    user_id: Mapped[str | None] = mapped_column(String(40), index=True)
    ip: Mapped[str | None] = mapped_column(String(64))
    success: Mapped[bool] = mapped_column(Boolean, default=True)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class BillingCustomer(Base):
    """A Paddle customer and its e-mail: links a subscription to a user when custom_data lacks
    our user id (Paddle's subscription payload carries only `customer_id`)."""

    __tablename__ = "billing_customers"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # ctm_...
    email: Mapped[str | None] = mapped_column(String(320), index=True)  # lower-cased
    last_event_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Subscription(Base):
    """A Paddle subscription's latest known state; the user's tier is derived from these rows.

    `last_event_at` is the `occurred_at` of the event the state came from: an event that is not
    newer (Paddle delivers out of order) does not overwrite it.
    """

    __tablename__ = "subscriptions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # sub_...
    user_id: Mapped[str | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    customer_id: Mapped[str | None] = mapped_column(String(64), index=True)
    status: Mapped[str] = mapped_column(String(16))  # active|trialing|past_due|paused|canceled
    price_id: Mapped[str | None] = mapped_column(String(64))
    plan_name: Mapped[str | None] = mapped_column(String(200))
    unit_price_minor: Mapped[int | None] = mapped_column(Integer)
    currency_code: Mapped[str | None] = mapped_column(String(3))
    billing_interval: Mapped[str | None] = mapped_column(String(16))
    billing_frequency: Mapped[int | None] = mapped_column(Integer)
    current_period_starts_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    current_period_ends_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    next_billed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    canceled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    paused_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    scheduled_change: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    custom_data: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    last_event_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    last_event_id: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Payment(Base):
    """A Paddle transaction we heard about (completed or failed); amounts in minor units."""

    __tablename__ = "payments"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # txn_...
    user_id: Mapped[str | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    subscription_id: Mapped[str | None] = mapped_column(String(64), index=True)
    customer_id: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(20))  # completed | payment_failed | ...
    currency_code: Mapped[str | None] = mapped_column(String(3))
    total_minor: Mapped[int | None] = mapped_column(Integer)
    tax_minor: Mapped[int | None] = mapped_column(Integer)
    billed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_event_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    receipt_sent: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


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
