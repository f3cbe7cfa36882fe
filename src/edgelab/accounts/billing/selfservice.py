"""Subscription self-service through Paddle's API: cancel, resume, pause, change plan, update
the card, the customer portal, transactions and invoices.

These use cases ask Paddle for a change and answer what Paddle answered; they never write our
subscription rows nor the user's tier. The change comes back as a signed webhook
(`subscription.updated`, `.canceled`, `.paused`, `.resumed`), which `processing` applies like
any other: until it arrives, `GET /billing/subscription` shows the state we last heard of.

`resume` covers both ways back: a paused subscription is resumed now; an active one with a
scheduled cancel or pause has that change removed. Decisions that depend on the state (is
anything scheduled, is this already the plan) read the live subscription from Paddle first,
since our copy lags by a webhook.

**No database transaction is open while Paddle is asked.** Each use case reads what it needs
(the user, their subscription row, their tier) in a short read-only session of its own, closes
it, and only then calls Paddle; it writes nothing. The routes take no unit of work: on SQLite
an unsafe-method request's unit begins IMMEDIATE, i.e. holds the one write lock from its first
statement (`core.db.unit_bind`), and a slow Paddle (up to the HTTP timeout times the retries)
would hold up every other writer; on PostgreSQL it would hold a pooled connection as long.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from edgelab.accounts import errors
from edgelab.accounts.billing.models import Subscription
from edgelab.accounts.billing.paddle_api import (
    TRANSACTIONS_PER_PAGE,
    PaddleApi,
    PaddleSubscription,
)
from edgelab.accounts.billing.plans import plan_of, plans
from edgelab.accounts.billing.service import BillingNotConfiguredError, current_subscription
from edgelab.accounts.service import active_user
from edgelab.core.auth import Principal
from edgelab.core.errors import ConflictError, InvalidInputError, NotFoundError
from edgelab.core.settings import Settings

Sessions = async_sessionmaker[AsyncSession]
When = Literal["end_of_period", "now"]
_EFFECTIVE: dict[str, Literal["next_billing_period", "immediately"]] = {
    "end_of_period": "next_billing_period",
    "now": "immediately",
}


def require_api(api: PaddleApi | None) -> PaddleApi:
    if api is None:
        raise BillingNotConfiguredError(
            "Subscription self-service is not configured here (EDGELAB_PADDLE_API_KEY is not set)."
        )
    return api


async def _subscription(sessions: Sessions, principal: Principal) -> tuple[Subscription, str]:
    """The user's current subscription row and tier, read in a session closed before return
    (so no transaction is open while Paddle is asked)."""
    async with sessions() as session:
        user = await active_user(session, principal.id)
        sub = await current_subscription(session, user.id)
        tier = user.tier
    if sub is None:
        raise NotFoundError(
            "You have no subscription to manage; subscribe first.", code=errors.NO_SUBSCRIPTION
        )
    return sub, tier


def _not_manageable(sub_status: str, message: str, **details: Any) -> ConflictError:
    return ConflictError(
        message,
        code=errors.SUBSCRIPTION_NOT_MANAGEABLE,
        details={"status": sub_status, **details},
    )


def _require_live(sub: Subscription, what: str) -> None:
    if sub.status == "canceled":
        raise _not_manageable(sub.status, f"The subscription is canceled: nothing to {what}.")


def _change(settings: Settings, live: PaddleSubscription, tier: str) -> dict[str, Any]:
    """Paddle's answer to a change, and the tier we still apply until its webhook arrives."""
    price_id = live.price_ids[0] if live.price_ids else None
    return {
        "subscription_id": live.id,
        "status": live.status,
        "scheduled_change": live.scheduled_change,
        "price_id": price_id,
        "plan": plan_of(settings, price_id),
        "next_billed_at": live.next_billed_at,
        "tier": tier,
    }


async def cancel(
    sessions: Sessions,
    settings: Settings,
    api: PaddleApi | None,
    principal: Principal,
    *,
    when: When,
) -> dict[str, Any]:
    """`end_of_period` keeps it (and the paid tier) until the period ends; `now` ends it."""
    paddle = require_api(api)
    sub, tier = await _subscription(sessions, principal)
    _require_live(sub, "cancel")
    live = await paddle.cancel(sub.id, _EFFECTIVE[when])
    return _change(settings, live, tier)


async def pause(
    sessions: Sessions,
    settings: Settings,
    api: PaddleApi | None,
    principal: Principal,
    *,
    when: When,
    resume_at: dt.datetime | None,
) -> dict[str, Any]:
    paddle = require_api(api)
    sub, tier = await _subscription(sessions, principal)
    _require_live(sub, "pause")
    if sub.status == "paused":
        raise _not_manageable(sub.status, "The subscription is already paused.")
    live = await paddle.pause(sub.id, _EFFECTIVE[when], resume_at=resume_at)
    return _change(settings, live, tier)


async def resume(
    sessions: Sessions, settings: Settings, api: PaddleApi | None, principal: Principal
) -> dict[str, Any]:
    """Paused: resume now. A scheduled cancel or pause: remove it. Else 409."""
    paddle = require_api(api)
    sub, tier = await _subscription(sessions, principal)
    _require_live(sub, "resume")
    current = await paddle.get_subscription(sub.id)
    if current.status == "paused":
        live = await paddle.resume(sub.id)
    elif current.scheduled_change is not None:
        live = await paddle.remove_scheduled_change(sub.id)
    else:
        raise _not_manageable(
            current.status,
            "The subscription is neither paused nor scheduled to cancel or pause: nothing to "
            "resume.",
        )
    return _change(settings, live, tier)


async def change_plan(
    sessions: Sessions,
    settings: Settings,
    api: PaddleApi | None,
    principal: Principal,
    *,
    plan: str,
) -> dict[str, Any]:
    """Switch to another plan's price, billed per EDGELAB_PADDLE_PRORATION_BILLING_MODE."""
    paddle = require_api(api)
    catalogue = plans(settings)
    price_id = catalogue.get(plan)
    if price_id is None:
        raise InvalidInputError(
            f"No plan named {plan!r}.", code=errors.UNKNOWN_PLAN, details={"plans": [*catalogue]}
        )
    sub, tier = await _subscription(sessions, principal)
    _require_live(sub, "change")
    current = await paddle.get_subscription(sub.id)
    if current.price_ids == (price_id,):
        raise ConflictError(
            f"The subscription is already on the {plan} plan.",
            code=errors.ALREADY_ON_PLAN,
            details={"plan": plan},
        )
    live = await paddle.change_price(sub.id, price_id, settings.paddle_proration_billing_mode)
    return _change(settings, live, tier)


async def payment_method_update(
    sessions: Sessions, settings: Settings, api: PaddleApi | None, principal: Principal
) -> dict[str, Any]:
    """A transaction to open in Paddle.js (`Paddle.Checkout.open({transactionId})`), or its
    hosted checkout link, to replace the card."""
    paddle = require_api(api)
    sub, _ = await _subscription(sessions, principal)
    _require_live(sub, "update")
    update = await paddle.payment_method_transaction(sub.id)
    token = settings.paddle_client_token
    return {
        "transaction_id": update.transaction_id,
        "checkout_url": update.checkout_url,
        "environment": settings.paddle_environment,
        "client_token": token.get_secret_value() if token else None,
    }


async def portal(sessions: Sessions, api: PaddleApi | None, principal: Principal) -> dict[str, Any]:
    """A fresh customer-portal link (temporary: ask again rather than store it)."""
    paddle = require_api(api)
    sub, _ = await _subscription(sessions, principal)
    if sub.customer_id is None:
        raise _not_manageable(sub.status, "Paddle has not told us this subscription's customer.")
    live_ids = [] if sub.status == "canceled" else [sub.id]
    found = await paddle.portal_session(sub.customer_id, live_ids)
    return {
        "url": found.overview_url,
        "cancel_url": found.cancel_url,
        "update_payment_method_url": found.update_payment_method_url,
    }


async def _customer_ids(sessions: Sessions, principal: Principal) -> list[str]:
    async with sessions() as session:
        user = await active_user(session, principal.id)
        found = await session.execute(
            select(Subscription.customer_id).where(Subscription.user_id == user.id)
        )
        ids = sorted({c for c in found.scalars() if c})
    if not ids:
        raise NotFoundError(
            "You have no subscription, so no transactions.", code=errors.NO_SUBSCRIPTION
        )
    return ids


async def transactions(
    sessions: Sessions,
    api: PaddleApi | None,
    principal: Principal,
    *,
    after: str | None = None,
    per_page: int = TRANSACTIONS_PER_PAGE,
) -> dict[str, Any]:
    """One page of the user's billed transactions (every Paddle customer of theirs), newest
    first, each with the path of its invoice link when Paddle numbered an invoice; `next` is
    the cursor of the older ones (Paddle's `after`), None on the last page."""
    paddle = require_api(api)
    customer_ids = await _customer_ids(sessions, principal)
    page = await paddle.transactions(customer_ids=customer_ids, after=after, per_page=per_page)
    return {
        "transactions": [
            {
                "id": t.id,
                "status": t.status,
                "origin": t.origin,
                "subscription_id": t.subscription_id,
                "billed_at": t.billed_at,
                "created_at": t.created_at,
                "currency_code": t.currency_code,
                "total_minor": t.total_minor,
                "tax_minor": t.tax_minor,
                "invoice_number": t.invoice_number,
                "invoice_url": (
                    f"/billing/transactions/{t.id}/invoice" if t.invoice_number else None
                ),
            }
            for t in page.transactions
        ],
        "next": page.next_after,
    }


async def invoice(
    sessions: Sessions, api: PaddleApi | None, principal: Principal, transaction_id: str
) -> dict[str, Any]:
    """A temporary link to one of the user's invoices; another customer's is 404."""
    paddle = require_api(api)
    customer_ids = await _customer_ids(sessions, principal)
    missing = NotFoundError(
        f"No transaction {transaction_id} of yours.", code=errors.TRANSACTION_NOT_FOUND
    )
    try:
        txn = await paddle.get_transaction(transaction_id)
    except NotFoundError:
        raise missing from None
    if txn.customer_id not in customer_ids:
        raise missing
    return {"transaction_id": txn.id, "url": await paddle.invoice_url(txn.id)}
