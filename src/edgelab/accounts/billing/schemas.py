"""Request and response models of the billing API (Paddle)."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import AwareDatetime, BaseModel, Field


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


class ScheduledChange(BaseModel):
    """A change Paddle will make at `effective_at` (a cancel or pause at the period's end)."""

    action: str = Field(description="`cancel`, `pause` or `resume`.")
    effective_at: dt.datetime | None
    resume_at: dt.datetime | None = None


class SubscriptionOut(BaseModel):
    status: Literal["none", "active", "trialing", "past_due", "paused", "canceled"] = Field(
        description="Paddle's subscription status, or `none` when the user never subscribed."
    )
    tier: Literal["free", "paid"]
    subscription_id: str | None
    plan: Plan | None
    current_period: Period | None
    scheduled_change: ScheduledChange | None = Field(
        description="Paddle's scheduled change (e.g. a cancel at the period's end), or null."
    )
    next_billed_at: dt.datetime | None
    canceled_at: dt.datetime | None
    updated_at: dt.datetime | None = Field(description="When the state we show occurred.")


# --- self-service -----------------------------------------------------------------------------


class CheckoutRequest(BaseModel):
    plan: str | None = Field(
        None,
        min_length=1,
        max_length=64,
        description="A plan of EDGELAB_PADDLE_PRICE_IDS; null = the default plan.",
    )


class CancelRequest(BaseModel):
    when: Literal["end_of_period", "now"] = Field(
        "end_of_period",
        description="`end_of_period`: Paddle schedules the cancel and the subscription (and "
        "the paid tier) lasts until the period ends; `now`: it ends at once.",
    )


class PauseRequest(BaseModel):
    when: Literal["end_of_period", "now"] = "end_of_period"
    resume_at: AwareDatetime | None = Field(
        None, description="When Paddle resumes it by itself (ISO 8601 with offset); null = never."
    )


class ChangePlanRequest(BaseModel):
    plan: str = Field(
        min_length=1, max_length=64, description="A plan name (`GET /billing/plans`)."
    )


class BillingChange(BaseModel):
    """What Paddle answered to a requested change. Our copy of the subscription and the tier
    change only when Paddle's webhook arrives (`GET /billing/subscription` then shows it)."""

    subscription_id: str
    status: str = Field(description="Paddle's status after the request.")
    scheduled_change: ScheduledChange | None
    price_id: str | None
    plan: str | None = Field(description="Our plan name for `price_id`, if we sell it.")
    next_billed_at: dt.datetime | None
    tier: Literal["free", "paid"] = Field(description="The tier applied now (until the webhook).")


class PlanOut(BaseModel):
    name: str
    price_id: str
    default: bool


class PaymentMethodUpdate(BaseModel):
    """Open with Paddle.js (`Paddle.Initialize({token: client_token, environment})`, then
    `Paddle.Checkout.open({transactionId: transaction_id})`) or go to `checkout_url`."""

    transaction_id: str
    checkout_url: str | None
    environment: Literal["sandbox", "production"]
    client_token: str | None


class PortalLink(BaseModel):
    """Temporary links into Paddle's customer portal (they carry a login token): follow them
    now, never store or frame them."""

    url: str
    cancel_url: str | None
    update_payment_method_url: str | None


class TransactionOut(BaseModel):
    id: str
    status: str = Field(description="`billed`, `paid`, `completed` or `past_due`.")
    origin: str | None
    subscription_id: str | None
    billed_at: dt.datetime | None
    created_at: dt.datetime | None
    currency_code: str | None
    total_minor: int | None = Field(description="Grand total in minor units (cents).")
    tax_minor: int | None
    invoice_number: str | None
    invoice_url: str | None = Field(
        description="Our route answering a temporary link to the invoice PDF; null without one."
    )


class TransactionList(BaseModel):
    transactions: list[TransactionOut]
    next: str | None = Field(
        None,
        description="Pass as `after` for the older transactions; null on the last page.",
    )


class InvoiceLink(BaseModel):
    transaction_id: str
    url: str = Field(description="Paddle's temporary link to the invoice PDF.")
