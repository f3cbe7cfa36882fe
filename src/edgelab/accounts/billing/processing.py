"""Paddle event processing (job `accounts.process_paddle_event`): apply a recorded event once.

Processing applies the event to our copy of the subscription only if it is newer (by
`occurred_at`, then event id) than the state we hold, because Paddle delivers at least once
and out of order. The user's tier is derived from their subscriptions after every applied
change: paid while any is active, trialing or past_due (Paddle is still collecting), free
otherwise; a change is audited and takes effect on the user's next request. Intake (verifying
and recording the webhook) is `service`.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from edgelab.accounts.billing.models import BillingCustomer, Payment, Subscription
from edgelab.accounts.billing.paddle import (
    InvalidNotification,
    Notification,
    minor_units,
    parse_notification,
    parse_timestamp,
)
from edgelab.accounts.billing.service import PAID_STATUSES, SOURCE
from edgelab.accounts.models import User
from edgelab.accounts.service import audit, normalize_email, user_by_email
from edgelab.core.clock import utcnow
from edgelab.core.email import outbox as email
from edgelab.core.jobs import Jobs, enqueue
from edgelab.core.settings import Settings
from edgelab.core.webhooks import claim_event, finish_event, unprocessed_events

log = logging.getLogger("edgelab.billing")
RECEIPT_MAIL = email.EmailTemplate("edgelab.accounts.billing", "receipt", "Your edgelab receipt")
SUBSCRIPTION_STATUSES = frozenset({"active", "trialing", "past_due", "paused", "canceled"})
SUBSCRIPTION_EVENTS = frozenset(
    f"subscription.{name}"
    for name in (
        "created",
        "activated",
        "updated",
        "trialing",
        "past_due",
        "paused",
        "resumed",
        "canceled",
        "imported",
    )
)
TRANSACTION_EVENTS = frozenset({"transaction.completed", "transaction.payment_failed"})
CUSTOMER_EVENTS = frozenset({"customer.created", "customer.updated"})
MAX_PROCESSING_ATTEMPTS = 5
SWEEP_SECONDS = 300.0
RETRY_AFTER = dt.timedelta(minutes=1)


async def process_paddle_event(
    session: AsyncSession, settings: Settings, webhook_event_id: int
) -> str:
    """Apply one stored event; safe to run twice (only one run claims it).

    A failure inside the event's changes is rolled back to a savepoint and recorded on the
    event (`failed`, with the error); the sweep retries it up to MAX_PROCESSING_ATTEMPTS times.
    """
    event = await claim_event(session, webhook_event_id)
    if event is None:
        return "not claimed"
    try:
        async with session.begin_nested():
            status, outcome = await _apply(session, settings, parse_notification(event.payload))
    except Exception as exc:  # recorded on the event and retried; one bad event must not wedge
        log.exception("Paddle event %s failed", event.external_id)
        final = "failed" if event.attempts < MAX_PROCESSING_ATTEMPTS else "ignored"
        finish_event(event, final, f"error after {event.attempts} attempts")
        event.last_error = f"{type(exc).__name__}: {exc}"[:2000]
        return final
    finish_event(event, status, outcome)
    return status


async def _apply(session: AsyncSession, settings: Settings, n: Notification) -> tuple[str, str]:
    if n.event_type in SUBSCRIPTION_EVENTS:
        return await _apply_subscription(session, n)
    if n.event_type in TRANSACTION_EVENTS:
        return await _apply_transaction(session, settings, n)
    if n.event_type in CUSTOMER_EVENTS:
        return await _apply_customer(session, n)
    return "ignored", f"event type {n.event_type} is not used"


def _insert(session: AsyncSession) -> Any:
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


def _newer(model: Any, n: Notification) -> Any:
    """The stored state is older than this event (ties broken by event id, for determinism)."""
    return or_(
        model.last_event_at < n.occurred_at,
        and_(model.last_event_at == n.occurred_at, model.last_event_id < n.event_id),
    )


async def _link_user(
    session: AsyncSession, custom_data: object, customer_id: str | None
) -> str | None:
    """Our user for a Paddle object: `custom_data.user_id`, else the customer's e-mail."""
    if isinstance(custom_data, dict):
        candidate = custom_data.get("user_id")
        if isinstance(candidate, str) and candidate:
            user = await session.get(User, candidate)
            if user is not None and user.deleted_at is None:
                return user.id
    if customer_id:
        customer = await session.get(BillingCustomer, customer_id)
        if customer is not None and customer.email:
            user = await user_by_email(session, customer.email)
            if user is not None:
                return user.id
    return None


def _subscription_values(n: Notification) -> dict[str, Any]:
    data = n.data
    sub_id = data.get("id")
    status = data.get("status")
    if not isinstance(sub_id, str) or not sub_id.startswith("sub_"):
        raise InvalidNotification("subscription id is missing")
    if status not in SUBSCRIPTION_STATUSES:
        raise InvalidNotification(f"unknown subscription status {status!r}")
    items = data.get("items") or []
    first = items[0] if items and isinstance(items[0], dict) else {}
    price = first.get("price") or {}
    product = first.get("product") or {}
    unit = price.get("unit_price") or {}
    period = data.get("current_billing_period") or {}
    cycle = data.get("billing_cycle") or price.get("billing_cycle") or {}
    scheduled = data.get("scheduled_change")
    custom = data.get("custom_data")
    return {
        "id": sub_id,
        "customer_id": data.get("customer_id")
        if isinstance(data.get("customer_id"), str)
        else None,
        "status": status,
        "price_id": price.get("id") if isinstance(price.get("id"), str) else None,
        "plan_name": " / ".join(
            str(x) for x in (product.get("name"), price.get("description")) if x
        )[:200]
        or None,
        "unit_price_minor": minor_units(unit.get("amount")),
        "currency_code": (data.get("currency_code") or unit.get("currency_code") or None),
        "billing_interval": cycle.get("interval"),
        "billing_frequency": cycle.get("frequency")
        if isinstance(cycle.get("frequency"), int)
        else None,
        "current_period_starts_at": parse_timestamp(period.get("starts_at")),
        "current_period_ends_at": parse_timestamp(period.get("ends_at")),
        "next_billed_at": parse_timestamp(data.get("next_billed_at")),
        "canceled_at": parse_timestamp(data.get("canceled_at")),
        "paused_at": parse_timestamp(data.get("paused_at")),
        "scheduled_change": scheduled if isinstance(scheduled, dict) else None,
        "custom_data": custom if isinstance(custom, dict) else None,
        "last_event_at": n.occurred_at,
        "last_event_id": n.event_id,
        "updated_at": utcnow(),
    }


async def _apply_subscription(session: AsyncSession, n: Notification) -> tuple[str, str]:
    values = _subscription_values(n)
    sub_id = values["id"]
    user_id = await _link_user(session, values["custom_data"], values["customer_id"])
    inserted = (
        await session.execute(
            _insert(session)(Subscription)
            .values(**values, user_id=user_id, created_at=utcnow())
            .on_conflict_do_nothing(index_elements=["id"])
            .returning(Subscription.id)
        )
    ).scalar_one_or_none()
    applied = inserted is not None
    if not applied:
        changes = {k: v for k, v in values.items() if k != "id"}
        result = await session.execute(
            update(Subscription)
            .where(Subscription.id == sub_id, _newer(Subscription, n))
            .values(**changes)
        )
        applied = getattr(result, "rowcount", 0) == 1
        if user_id is not None:  # an older event may still carry the link we lacked
            await session.execute(
                update(Subscription)
                .where(Subscription.id == sub_id, Subscription.user_id.is_(None))
                .values(user_id=user_id)
            )
    sub = await session.get(Subscription, sub_id, populate_existing=True)
    assert sub is not None
    if sub.user_id is not None:
        await sync_tier(session, sub.user_id, cause=n.event_id)
    if not applied:
        return "processed", f"stale: {sub_id} already reflects a newer event"
    linked = "linked" if sub.user_id else "no user linked yet"
    return "processed", f"{sub_id} is {values['status']} ({linked})"


async def _apply_customer(session: AsyncSession, n: Notification) -> tuple[str, str]:
    customer_id = n.data.get("id")
    if not isinstance(customer_id, str) or not customer_id.startswith("ctm_"):
        raise InvalidNotification("customer id is missing")
    address = n.data.get("email")
    address = normalize_email(address) if isinstance(address, str) else None
    values = {"email": address, "last_event_at": n.occurred_at, "updated_at": utcnow()}
    inserted = (
        await session.execute(
            _insert(session)(BillingCustomer)
            .values(id=customer_id, **values)
            .on_conflict_do_nothing(index_elements=["id"])
            .returning(BillingCustomer.id)
        )
    ).scalar_one_or_none()
    if inserted is None:
        await session.execute(
            update(BillingCustomer)
            .where(
                BillingCustomer.id == customer_id,
                or_(
                    BillingCustomer.last_event_at.is_(None),
                    BillingCustomer.last_event_at < n.occurred_at,
                ),
            )
            .values(**values)
        )
    # subscriptions that arrived before their customer can be linked now
    user_id = await _link_user(session, None, customer_id)
    if user_id is not None:
        await session.execute(
            update(Subscription)
            .where(Subscription.customer_id == customer_id, Subscription.user_id.is_(None))
            .values(user_id=user_id)
        )
        await session.execute(
            update(Payment)
            .where(Payment.customer_id == customer_id, Payment.user_id.is_(None))
            .values(user_id=user_id)
        )
        await sync_tier(session, user_id, cause=n.event_id)
    return "processed", f"customer {customer_id} recorded"


async def _apply_transaction(
    session: AsyncSession, settings: Settings, n: Notification
) -> tuple[str, str]:
    data = n.data
    txn_id = data.get("id")
    if not isinstance(txn_id, str) or not txn_id.startswith("txn_"):
        raise InvalidNotification("transaction id is missing")
    status = n.event_type.removeprefix("transaction.")
    totals = (data.get("details") or {}).get("totals") or {}
    subscription_id = (
        data.get("subscription_id") if isinstance(data.get("subscription_id"), str) else None
    )
    customer_id = data.get("customer_id") if isinstance(data.get("customer_id"), str) else None
    user_id = await _link_user(session, data.get("custom_data"), customer_id)
    if user_id is None and subscription_id:
        sub = await session.get(Subscription, subscription_id)
        user_id = sub.user_id if sub is not None else None
    values = {
        "user_id": user_id,
        "subscription_id": subscription_id,
        "customer_id": customer_id,
        "status": status,
        "currency_code": totals.get("currency_code") or data.get("currency_code"),
        "total_minor": minor_units(totals.get("grand_total") or totals.get("total")),
        "tax_minor": minor_units(totals.get("tax")),
        "billed_at": parse_timestamp(data.get("billed_at")),
        "last_event_at": n.occurred_at,
    }
    inserted = (
        await session.execute(
            _insert(session)(Payment)
            .values(id=txn_id, receipt_sent=False, created_at=utcnow(), **values)
            .on_conflict_do_nothing(index_elements=["id"])
            .returning(Payment.id)
        )
    ).scalar_one_or_none()
    if inserted is None:
        await session.execute(
            update(Payment)
            .where(Payment.id == txn_id, Payment.last_event_at < n.occurred_at)
            .values(**values)
        )
    payment = await session.get(Payment, txn_id, populate_existing=True)
    assert payment is not None
    if status == "payment_failed":
        await audit(session, "payment_failed", user_id=user_id, transaction_id=txn_id)
    if payment.status == "completed" and payment.user_id and not payment.receipt_sent:
        user = await session.get(User, payment.user_id)
        if user is not None and user.email and user.deleted_at is None:
            await email.queue_email(
                session,
                settings,
                to=user.email,
                template=RECEIPT_MAIL,
                context={
                    "transaction_id": txn_id,
                    "amount": _money(payment.total_minor, payment.currency_code),
                    "billed_at": payment.billed_at,
                    "link": f"{settings.app_base_url.rstrip('/')}/billing/subscription",
                },
            )
            payment.receipt_sent = True
    return "processed", f"transaction {txn_id} {status}"


def _money(minor: int | None, currency: str | None) -> str:
    if minor is None:
        return "-"
    return f"{minor / 100:,.2f} {currency or ''}".strip()


async def sync_tier(session: AsyncSession, user_id: str, *, cause: str) -> str | None:
    """Derive the user's tier from their subscriptions; audit a change. Locks the user row
    (PostgreSQL) so concurrent events for one user decide in turn."""
    user = (
        await session.execute(
            select(User)
            .where(User.id == user_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    ).scalar_one_or_none()
    if user is None or user.deleted_at is not None:
        return None
    statuses = set(
        (
            await session.execute(
                select(Subscription.status).where(Subscription.user_id == user_id)
            )
        ).scalars()
    )
    tier = "paid" if statuses & PAID_STATUSES else "free"
    if tier != user.tier:
        await audit(
            session, "tier_changed", user_id=user_id, previous=user.tier, tier=tier, cause=cause
        )
        user.tier = tier
    return tier


def register_billing_jobs(jobs: Jobs, settings: Settings) -> None:
    """Processing of recorded Paddle events, and a sweep for any whose job was lost."""

    @jobs.task("accounts.process_paddle_event")
    async def process_event(session: AsyncSession, webhook_event_id: int) -> str:
        return await process_paddle_event(session, settings, webhook_event_id)

    @jobs.task("accounts.retry_paddle_events")
    async def retry_events(session: AsyncSession) -> int:
        """Re-send events still `received` a minute after arrival, or `failed` (a crash, a lost
        job, a bug since fixed); claiming makes a second run of a live one harmless."""
        ids = await unprocessed_events(session, SOURCE, older_than=utcnow() - RETRY_AFTER)
        for event_id in ids:
            enqueue("accounts.process_paddle_event", webhook_event_id=event_id)
        return len(ids)

    if settings.paddle_webhook_secret is not None:
        jobs.schedule("accounts.retry_paddle_events", every_seconds=SWEEP_SECONDS)
