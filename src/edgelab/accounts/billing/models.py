"""Billing tables: Paddle customers, subscriptions (the tier comes from them) and payments."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from edgelab.core.clock import utcnow
from edgelab.core.db import Base, UTCDateTime


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
