"""The e-mail outbox: every message the platform sends, sent or not, and why not; and the
addresses that must not get optional mail (a hard bounce or a spam complaint)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, Index, Integer, String, Text, false
from sqlalchemy.orm import Mapped, mapped_column

from edgelab.core.clock import utcnow
from edgelab.core.db import Base, UTCDateTime


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
    # pending|sent|failed|logged, or suppressed: not sent, the address is suppressed (below)
    status: Mapped[str] = mapped_column(String(12), default="pending")
    backend: Mapped[str] = mapped_column(String(12))  # resend | outbox
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    idempotency_key: Mapped[str] = mapped_column(String(64), unique=True)
    provider_id: Mapped[str | None] = mapped_column(String(100), index=True)  # Resend's email id
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # the body holds a secret (a sign-in link) valid until then: afterwards the body is
    # blanked (`delivery.redact_expired_emails`) and an unsent message is never sent
    secret_expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, index=True)
    # sent even to a suppressed address: sign-in links and address-change mail (the way an
    # owner confirms the address again); alerts, receipts and nudges are not
    essential: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # what Resend's delivery webhooks last said (`core.email.events`): delivered | delayed |
    # bounced | complained | failed | suppressed, at `delivery_event_at` (the event's own
    # time: events arrive in any order, the latest wins), with what went wrong (the bounce's
    # type and message, the failure's reason) in `delivery_detail`
    delivery_status: Mapped[str | None] = mapped_column(String(12))
    delivery_event_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    delivery_detail: Mapped[str | None] = mapped_column(Text)


class EmailSuppression(Base):
    """An address that hard-bounced or complained: it gets no alerts, receipts or nudges until
    its owner confirms it again by signing in through an e-mailed link (which still goes)."""

    __tablename__ = "email_suppressions"

    address: Mapped[str] = mapped_column(String(320), primary_key=True)  # lower-cased
    reason: Mapped[str] = mapped_column(String(12))  # bounced | complained | suppressed
    detail: Mapped[str | None] = mapped_column(Text)  # the bounce's type, subtype and message
    outbox_id: Mapped[int | None] = mapped_column(Integer)  # the message it happened to
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
