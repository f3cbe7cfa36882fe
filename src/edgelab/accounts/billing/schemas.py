"""Request and response models of the billing API (Paddle)."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, Field


class CheckoutItem(BaseModel):
    price_id: str
    quantity: int = Field(ge=1)


class CheckoutCustomer(BaseModel):
    email: str | None


class CheckoutSettings(BaseModel):
    success_url: str


class Checkout(BaseModel):
    """Pass to Paddle.js: `Paddle.Initialize({token: client_token, environment})`, then
    `Paddle.Checkout.open({items: [{priceId, quantity}], customer: {email},
    customData: custom_data, settings: {successUrl}})`."""

    environment: Literal["sandbox", "production"]
    client_token: str | None = Field(
        description="Paddle.js client-side token (public); null when not configured."
    )
    items: list[CheckoutItem]
    customer: CheckoutCustomer
    custom_data: dict[str, str] = Field(
        description="Carries our `user_id`: the webhook links the subscription by it."
    )
    settings: CheckoutSettings


class WebhookAck(BaseModel):
    status: Literal["accepted", "duplicate"]
    event_id: str


class Plan(BaseModel):
    price_id: str | None
    name: str | None
    unit_price_minor: int | None = Field(description="Price in minor units (cents).")
    currency_code: str | None
    billing_interval: str | None
    billing_frequency: int | None


class Period(BaseModel):
    starts_at: dt.datetime
    ends_at: dt.datetime


class SubscriptionOut(BaseModel):
    status: Literal["none", "active", "trialing", "past_due", "paused", "canceled"] = Field(
        description="Paddle's subscription status, or `none` when the user never subscribed."
    )
    tier: Literal["free", "paid"]
    subscription_id: str | None
    plan: Plan | None
    current_period: Period | None
    scheduled_change: dict[str, Any] | None = Field(
        description="Paddle's scheduled change: {action: cancel|pause|resume, effective_at, "
        "resume_at}, or null."
    )
    next_billed_at: dt.datetime | None
    canceled_at: dt.datetime | None
    updated_at: dt.datetime | None = Field(description="When the state we show occurred.")
