"""Paddle billing use cases: checkout data, webhook intake, the user's subscription.

Intake (`receive_paddle_webhook`) verifies the signature over the raw bytes, records the event
once in the core inbound-event table and enqueues `accounts.process_paddle_event`; a redelivery
changes nothing. Applying the event, and the user's tier that follows from it, is `processing`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from edgelab.accounts import errors
from edgelab.accounts.billing.models import Subscription
from edgelab.accounts.billing.paddle import (
    InvalidNotification,
    parse_notification,
    verify_signature,
)
from edgelab.accounts.billing.plans import default_price_id, plans
from edgelab.accounts.service import active_user, audit
from edgelab.core.auth import Principal, UnauthorizedError
from edgelab.core.errors import AppError, ConflictError, InvalidInputError
from edgelab.core.jobs import enqueue
from edgelab.core.settings import Settings
from edgelab.core.webhooks import record_once

SOURCE = "paddle"
PAID_STATUSES = frozenset({"active", "trialing", "past_due"})


class BillingNotConfiguredError(AppError):
    status_code = 503
    code = errors.BILLING_NOT_CONFIGURED


class WebhookSignatureError(UnauthorizedError):
    pass


@dataclass(frozen=True)
class Intake:
    event_id: str
    duplicate: bool


# --- checkout -------------------------------------------------------------------------------


async def checkout(
    session: AsyncSession, settings: Settings, principal: Principal, plan: str | None = None
) -> dict[str, Any]:
    """What Paddle.js needs: `Paddle.Initialize({token, environment})`, then
    `Paddle.Checkout.open({items, customer, customData, settings})`, for `plan` (a name of
    EDGELAB_PADDLE_PRICE_IDS) or the default plan."""
    price_id = default_price_id(settings)
    if not price_id:
        raise BillingNotConfiguredError(
            "Billing is not configured here (neither EDGELAB_PADDLE_PRICE_ID nor "
            "EDGELAB_PADDLE_PRICE_IDS is set)."
        )
    if plan is not None:
        catalogue = plans(settings)
        if plan not in catalogue:
            raise InvalidInputError(
                f"No plan named {plan!r}.",
                code=errors.UNKNOWN_PLAN,
                details={"plans": [*catalogue]},
            )
        price_id = catalogue[plan]
    user = await active_user(session, principal.id)
    current = await current_subscription(session, user.id)
    if current is not None and current.status in PAID_STATUSES:
        raise ConflictError(
            "You already have a subscription; change its plan with POST /billing/change-plan.",
            code=errors.ALREADY_SUBSCRIBED,
        )
    return {
        "environment": settings.paddle_environment,
        "client_token": (
            settings.paddle_client_token.get_secret_value()
            if settings.paddle_client_token
            else None
        ),
        "items": [{"price_id": price_id, "quantity": 1}],
        "customer": {"email": user.email},
        "custom_data": {"user_id": user.id},
        "settings": {"success_url": f"{settings.app_base_url.rstrip('/')}/billing/subscription"},
    }


# --- intake ---------------------------------------------------------------------------------


async def receive_paddle_webhook(
    session: AsyncSession,
    settings: Settings,
    *,
    raw_body: bytes,
    signature: str | None,
    ip: str | None,
) -> Intake:
    """Verify, record once, enqueue. Refusals are audited and change nothing else."""
    secret = settings.paddle_webhook_secret
    if secret is None:
        raise BillingNotConfiguredError(
            "Paddle webhooks are not accepted here (EDGELAB_PADDLE_WEBHOOK_SECRET is not set)."
        )
    verdict = verify_signature(
        signature,
        raw_body,
        secret.get_secret_value(),
        tolerance_seconds=settings.paddle_webhook_tolerance_seconds,
    )
    if not verdict.ok:
        await audit(
            session, "webhook_rejected", ip=ip, success=False, source=SOURCE, reason=verdict.reason
        )
        raise WebhookSignatureError(
            "The Paddle-Signature does not verify.",
            code=errors.INVALID_WEBHOOK_SIGNATURE,
            persist_changes=True,  # keep the audit entry
        )
    try:
        document = json.loads(raw_body)
        notification = parse_notification(document)
    except (ValueError, InvalidNotification) as exc:
        raise InvalidInputError(
            f"Not a Paddle notification: {exc}", code=errors.INVALID_WEBHOOK_PAYLOAD
        ) from exc
    recorded = await record_once(
        session,
        source=SOURCE,
        external_id=notification.event_id,
        event_type=notification.event_type,
        occurred_at=notification.occurred_at,
        payload=document,
    )
    if recorded.created:
        enqueue("accounts.process_paddle_event", webhook_event_id=recorded.id)
    return Intake(notification.event_id, duplicate=not recorded.created)


# --- reading --------------------------------------------------------------------------------


async def current_subscription(session: AsyncSession, user_id: str) -> Subscription | None:
    """The user's subscription that matters: a paying one first, else the most recent."""
    rows = list(
        (
            await session.execute(
                select(Subscription)
                .where(Subscription.user_id == user_id)
                .order_by(Subscription.last_event_at.desc(), Subscription.id)
            )
        ).scalars()
    )
    for sub in rows:
        if sub.status in PAID_STATUSES:
            return sub
    return rows[0] if rows else None


async def subscription_view(session: AsyncSession, principal: Principal) -> dict[str, Any]:
    user = await active_user(session, principal.id)
    sub = await current_subscription(session, user.id)
    if sub is None:
        return {
            "status": "none",
            "tier": user.tier,
            "plan": None,
            "current_period": None,
            "scheduled_change": None,
            "next_billed_at": None,
            "canceled_at": None,
            "subscription_id": None,
            "updated_at": None,
        }
    return {
        "status": sub.status,
        "tier": user.tier,
        "subscription_id": sub.id,
        "plan": {
            "price_id": sub.price_id,
            "name": sub.plan_name,
            "unit_price_minor": sub.unit_price_minor,
            "currency_code": sub.currency_code,
            "billing_interval": sub.billing_interval,
            "billing_frequency": sub.billing_frequency,
        },
        "current_period": (
            {"starts_at": sub.current_period_starts_at, "ends_at": sub.current_period_ends_at}
            if sub.current_period_starts_at and sub.current_period_ends_at
            else None
        ),
        "scheduled_change": sub.scheduled_change,
        "next_billed_at": sub.next_billed_at,
        "canceled_at": sub.canceled_at,
        "updated_at": sub.last_event_at,
    }
