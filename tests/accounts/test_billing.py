"""Paddle billing: signature verification, idempotent intake, out-of-order processing, tiers.

The HTTP tests run a real app on its own migrated database per backend (no test session):
the webhook's unit of work commits, then the in-process job processes the event on its own
connection, exactly as in production. Every test uses its own users and Paddle ids.
"""

from __future__ import annotations

import asyncio
import copy
import datetime as dt
import json
import random
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from edgelab.accounts.billing.models import Payment, Subscription
from edgelab.accounts.billing.paddle import sign, verify_signature
from edgelab.accounts.models import AuditEvent, User
from edgelab.accounts.service import create_user
from edgelab.app import create_app
from edgelab.core import migrations
from edgelab.core.auth import issue_access_token
from edgelab.core.email.models import OutboxEmail
from edgelab.core.settings import Settings
from edgelab.core.webhooks import WebhookEvent
from tests.fixtures.app import resources
from tests.fixtures.database import BACKENDS, fresh_database, make_settings

pytestmark = pytest.mark.asyncio(loop_scope="session")

FIXTURES = Path(__file__).parent / "fixtures" / "paddle"
SECRET = "pdl_ntfset_01test_suite_secret_0123456789"


def fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text())


# --- the signature --------------------------------------------------------------------------

VECTOR = fixture("signature_test_vector.json")
SIGNED_BODY = (FIXTURES / "webhook_customer.created_signed_body.json").read_bytes()
VECTOR_HEADER = VECTOR["headers"]["Paddle-Signature"]
VECTOR_TS = int(VECTOR_HEADER.split(";")[0].removeprefix("ts="))


async def test_the_official_test_vector_verifies() -> None:
    verdict = verify_signature(
        VECTOR_HEADER, SIGNED_BODY, VECTOR["secret"], tolerance_seconds=5, now=VECTOR_TS + 2
    )
    assert verdict.ok, verdict.reason


async def test_a_tampered_body_or_a_trailing_newline_is_refused() -> None:
    tampered = SIGNED_BODY.replace(b"John Doe", b"Jane Doe")
    for body in (tampered, SIGNED_BODY + b"\n"):
        verdict = verify_signature(
            VECTOR_HEADER, body, VECTOR["secret"], tolerance_seconds=5, now=VECTOR_TS
        )
        assert not verdict.ok and verdict.reason == "signature mismatch"


async def test_a_stale_or_future_timestamp_is_refused_and_the_tolerance_is_configurable() -> None:
    for now in (VECTOR_TS + 6, VECTOR_TS - 6):
        verdict = verify_signature(
            VECTOR_HEADER, SIGNED_BODY, VECTOR["secret"], tolerance_seconds=5, now=now
        )
        assert not verdict.ok and "tolerance" in verdict.reason
    wide = verify_signature(
        VECTOR_HEADER, SIGNED_BODY, VECTOR["secret"], tolerance_seconds=60, now=VECTOR_TS + 59
    )
    assert wide.ok


async def test_the_wrong_secret_and_malformed_headers_are_refused() -> None:
    other = verify_signature(VECTOR_HEADER, SIGNED_BODY, SECRET, tolerance_seconds=0, now=VECTOR_TS)
    assert not other.ok
    for header in (None, "", "garbage", "ts=abc;h1=00", "ts=1;h1=a=b", "h1=00", "ts=5;x=1"):
        verdict = verify_signature(header, SIGNED_BODY, VECTOR["secret"], tolerance_seconds=0)
        assert not verdict.ok


async def test_any_of_several_h1_hashes_verifies_during_secret_rotation() -> None:
    digest = VECTOR_HEADER.split("h1=")[1]
    rotated = f"ts={VECTOR_TS};h1={'0' * 64};h1={digest}"
    assert verify_signature(rotated, SIGNED_BODY, VECTOR["secret"], tolerance_seconds=0).ok
    assert sign(SIGNED_BODY, VECTOR["secret"], VECTOR_TS) == VECTOR_HEADER


# --- a real app on its own database ---------------------------------------------------------


class Billing:
    def __init__(self, app: Any, client: httpx.AsyncClient, settings: Settings) -> None:
        self.app = app
        self.client = client
        self.settings = settings
        self.sessions: async_sessionmaker[AsyncSession] = resources(app).sessionmaker

    async def post(self, document: dict[str, Any], *, header: str | None = None) -> httpx.Response:
        body = json.dumps(document).encode()
        signature = header or sign(body, SECRET, int(dt.datetime.now(dt.UTC).timestamp()))
        return await self.client.post(
            "/webhooks/paddle",
            content=body,
            headers={"Paddle-Signature": signature, "Content-Type": "application/json"},
        )

    async def settle(self) -> None:
        await resources(self.app).jobs.drain(timeout=60)

    async def user(self, tier: str = "free") -> tuple[User, dict[str, str]]:
        async with self.sessions() as s:
            user = await create_user(s, f"{uuid.uuid4().hex[:12]}@example.com", tier=tier)
            await s.commit()
        return user, {"Authorization": f"Bearer {issue_access_token(self.settings, user.id)}"}

    async def scalar(self, stmt: Any) -> Any:
        async with self.sessions() as s:
            return (await s.execute(stmt)).scalar_one_or_none()


@pytest.fixture(scope="module", params=BACKENDS)
def billing_db(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    url = fresh_database(request, request.param, tmp_path_factory.mktemp("billing"), "billing")
    migrations.upgrade(make_settings(url))
    return url


@pytest.fixture
async def billing(billing_db: str) -> AsyncIterator[Billing]:
    settings = make_settings(
        billing_db,
        paddle_webhook_secret=SECRET,
        paddle_price_id="pri_01gsz8x8sawmvhz1pv30nge1ke",
        paddle_client_token="test_0123456789abcdef",
        rate_limits_enabled=False,
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            yield Billing(app, client, settings)


_clock = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def event(
    event_type: str,
    data: dict[str, Any],
    *,
    at: dt.datetime,
    event_id: str | None = None,
) -> dict[str, Any]:
    return {
        "event_id": event_id or f"evt_{uuid.uuid4().hex}",
        "event_type": event_type,
        "occurred_at": at.isoformat().replace("+00:00", "Z"),
        "notification_id": f"ntf_{uuid.uuid4().hex}",
        "data": data,
    }


def subscription(
    status: str, sub_id: str, *, user_id: str | None, customer_id: str = "ctm_none"
) -> dict[str, Any]:
    """The SDK fixture for that status, re-keyed to our ids."""
    name = {"active": "activated"}.get(status, status)
    data = copy.deepcopy(fixture(f"data_subscription.{name}.json"))
    assert data["status"] == status
    data["id"] = sub_id
    data["customer_id"] = customer_id
    data["custom_data"] = {"user_id": user_id} if user_id else None
    return data


# --- intake -----------------------------------------------------------------------------------


async def test_a_signed_event_is_recorded_once_and_a_redelivery_changes_nothing(
    billing: Billing,
) -> None:
    user, _ = await billing.user()
    doc = event(
        "subscription.created",
        subscription("active", f"sub_{uuid.uuid4().hex}", user_id=user.id),
        at=_clock,
    )
    first = await billing.post(doc)
    assert first.status_code == 200 and first.json() == {
        "status": "accepted",
        "event_id": doc["event_id"],
    }
    await billing.settle()
    again = await billing.post(doc)
    assert again.status_code == 200 and again.json()["status"] == "duplicate"
    await billing.settle()
    rows = await billing.scalar(
        select(func.count())
        .select_from(WebhookEvent)
        .where(WebhookEvent.external_id == doc["event_id"])
    )
    assert rows == 1
    stored = await billing.scalar(
        select(WebhookEvent).where(WebhookEvent.external_id == doc["event_id"])
    )
    assert stored.status == "processed" and stored.attempts == 1


async def test_a_bad_signature_is_a_401_envelope_with_an_audit_entry_and_nothing_else(
    billing: Billing,
) -> None:
    doc = event("subscription.created", subscription("active", "sub_x", user_id=None), at=_clock)
    body = json.dumps(doc).encode()
    now = int(dt.datetime.now(dt.UTC).timestamp())
    forged = sign(body, "pdl_ntfset_not_our_secret", now)
    stale = sign(body, SECRET, now - 3600)
    before = await billing.scalar(
        select(func.count()).select_from(AuditEvent).where(AuditEvent.event == "webhook_rejected")
    )
    for header in (forged, stale, "ts=1;h1=00"):
        r = await billing.post(doc, header=header)
        assert r.status_code == 401
        assert r.json()["error"]["code"] == "invalid_webhook_signature"
        assert r.json()["request_id"]
    unsigned = await billing.client.post("/webhooks/paddle", content=body)
    assert unsigned.status_code == 401
    after = await billing.scalar(
        select(func.count()).select_from(AuditEvent).where(AuditEvent.event == "webhook_rejected")
    )
    assert after - before == 4
    stored = await billing.scalar(
        select(func.count())
        .select_from(WebhookEvent)
        .where(WebhookEvent.external_id == doc["event_id"])
    )
    assert stored == 0


async def test_a_signed_body_that_is_not_a_notification_is_a_400(billing: Billing) -> None:
    now = int(dt.datetime.now(dt.UTC).timestamp())
    for body in (b"not json", b"[]", b'{"event_id": "evt_1"}'):
        r = await billing.client.post(
            "/webhooks/paddle", content=body, headers={"Paddle-Signature": sign(body, SECRET, now)}
        )
        assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_webhook_payload"


async def test_without_a_webhook_secret_the_endpoint_says_billing_is_not_configured(
    client: httpx.AsyncClient,
) -> None:
    r = await client.post("/webhooks/paddle", content=SIGNED_BODY)
    assert r.status_code == 503 and r.json()["error"]["code"] == "billing_not_configured"


# --- processing -------------------------------------------------------------------------------


async def test_an_activation_makes_the_user_paid_on_the_next_request_with_the_same_token(
    billing: Billing,
) -> None:
    user, auth = await billing.user()
    assert (await billing.client.get("/me", headers=auth)).json()["tier"] == "free"
    sub_id = f"sub_{uuid.uuid4().hex}"
    await billing.post(
        event("subscription.activated", subscription("active", sub_id, user_id=user.id), at=_clock)
    )
    await billing.settle()
    me = (await billing.client.get("/me", headers=auth)).json()
    assert me["tier"] == "paid"
    view = (await billing.client.get("/billing/subscription", headers=auth)).json()
    assert view["status"] == "active" and view["subscription_id"] == sub_id
    assert view["plan"]["price_id"] == "pri_01gsz8x8sawmvhz1pv30nge1ke"
    assert view["plan"]["unit_price_minor"] == 3000 and view["plan"]["currency_code"] == "USD"
    assert view["current_period"]["starts_at"] < view["current_period"]["ends_at"]
    audit = await billing.scalar(
        select(AuditEvent).where(AuditEvent.event == "tier_changed", AuditEvent.user_id == user.id)
    )
    assert audit.details["tier"] == "paid" and audit.details["previous"] == "free"

    await billing.post(
        event(
            "subscription.canceled",
            subscription("canceled", sub_id, user_id=user.id),
            at=_clock + dt.timedelta(days=30),
        )
    )
    await billing.settle()
    assert (await billing.client.get("/me", headers=auth)).json()["tier"] == "free"
    view = (await billing.client.get("/billing/subscription", headers=auth)).json()
    assert view["status"] == "canceled" and view["current_period"] is None


async def test_an_older_event_arriving_late_does_not_overwrite_a_newer_state(
    billing: Billing,
) -> None:
    user, auth = await billing.user()
    sub_id = f"sub_{uuid.uuid4().hex}"
    await billing.post(
        event(
            "subscription.canceled",
            subscription("canceled", sub_id, user_id=user.id),
            at=_clock + dt.timedelta(days=2),
        )
    )
    await billing.settle()
    await billing.post(
        event("subscription.created", subscription("active", sub_id, user_id=user.id), at=_clock)
    )
    await billing.settle()
    sub = await billing.scalar(select(Subscription).where(Subscription.id == sub_id))
    assert sub.status == "canceled" and sub.user_id == user.id
    assert (await billing.client.get("/me", headers=auth)).json()["tier"] == "free"


async def test_a_scheduled_cancellation_is_shown_while_the_user_stays_paid(
    billing: Billing,
) -> None:
    user, auth = await billing.user()
    data = subscription("active", f"sub_{uuid.uuid4().hex}", user_id=user.id)
    data["scheduled_change"] = {
        "action": "cancel",
        "effective_at": "2026-02-01T00:00:00Z",
        "resume_at": None,
    }
    await billing.post(event("subscription.updated", data, at=_clock))
    await billing.settle()
    view = (await billing.client.get("/billing/subscription", headers=auth)).json()
    assert view["status"] == "active" and view["tier"] == "paid"
    assert view["scheduled_change"]["action"] == "cancel"


async def test_without_custom_data_the_customer_email_links_in_either_order(
    billing: Billing,
) -> None:
    for customer_first in (True, False):
        user, auth = await billing.user()
        customer_id = f"ctm_{uuid.uuid4().hex}"
        customer = event(
            "customer.created",
            {"id": customer_id, "email": user.email.upper(), "name": "X"},  # type: ignore[union-attr]
            at=_clock,
        )
        sub = event(
            "subscription.created",
            subscription(
                "active", f"sub_{uuid.uuid4().hex}", user_id=None, customer_id=customer_id
            ),
            at=_clock + dt.timedelta(seconds=1),
        )
        for doc in (customer, sub) if customer_first else (sub, customer):
            await billing.post(doc)
            await billing.settle()
        assert (await billing.client.get("/me", headers=auth)).json()["tier"] == "paid", (
            customer_first
        )


async def test_a_completed_transaction_sends_one_receipt_and_a_failed_one_is_audited(
    billing: Billing,
) -> None:
    user, _ = await billing.user()
    data = copy.deepcopy(fixture("data_transaction.completed.json"))
    txn_id = f"txn_{uuid.uuid4().hex}"
    data.update(id=txn_id, custom_data={"user_id": user.id}, subscription_id=None)
    doc = event("transaction.completed", data, at=_clock)
    await billing.post(doc)
    await billing.post(event("transaction.completed", data, at=_clock + dt.timedelta(seconds=1)))
    await billing.settle()
    payment = await billing.scalar(select(Payment).where(Payment.id == txn_id))
    assert payment.total_minor == 65215 and payment.currency_code == "USD"
    assert payment.user_id == user.id and payment.receipt_sent
    receipts = await billing.scalar(
        select(func.count())
        .select_from(OutboxEmail)
        .where(OutboxEmail.to_address == user.email, OutboxEmail.template == "receipt")
    )
    assert receipts == 1
    mail = await billing.scalar(select(OutboxEmail).where(OutboxEmail.to_address == user.email))
    assert "652.15 USD" in mail.text and txn_id in mail.html

    failed = copy.deepcopy(fixture("data_transaction.payment_failed.json"))
    failed.update(id=f"txn_{uuid.uuid4().hex}", custom_data={"user_id": user.id})
    await billing.post(event("transaction.payment_failed", failed, at=_clock))
    await billing.settle()
    audit = await billing.scalar(
        select(AuditEvent).where(
            AuditEvent.event == "payment_failed", AuditEvent.user_id == user.id
        )
    )
    assert audit is not None and audit.details["transaction_id"] == failed["id"]


async def test_unknown_event_types_are_stored_and_ignored(billing: Billing) -> None:
    doc = event("business.updated", {"id": "biz_1"}, at=_clock)
    assert (await billing.post(doc)).status_code == 200
    await billing.settle()
    stored = await billing.scalar(
        select(WebhookEvent).where(WebhookEvent.external_id == doc["event_id"])
    )
    assert stored.status == "ignored" and stored.payload == doc


async def test_an_event_that_cannot_be_applied_is_marked_failed_and_changes_nothing(
    billing: Billing,
) -> None:
    data = subscription("active", f"sub_{uuid.uuid4().hex}", user_id=None)
    data["status"] = "exploded"
    doc = event("subscription.updated", data, at=_clock)
    assert (await billing.post(doc)).status_code == 200
    await billing.settle()
    stored = await billing.scalar(
        select(WebhookEvent).where(WebhookEvent.external_id == doc["event_id"])
    )
    assert stored.status == "failed" and "exploded" in stored.last_error
    assert await billing.scalar(select(Subscription).where(Subscription.id == data["id"])) is None


# --- checkout and the subscription view --------------------------------------------------------


async def test_checkout_carries_our_user_id_and_the_configured_price(billing: Billing) -> None:
    user, auth = await billing.user()
    r = await billing.client.post("/billing/checkout", headers=auth)
    assert r.status_code == 200
    body = r.json()
    assert body["custom_data"] == {"user_id": user.id}
    assert body["items"] == [{"price_id": "pri_01gsz8x8sawmvhz1pv30nge1ke", "quantity": 1}]
    assert body["customer"]["email"] == user.email and body["client_token"].startswith("test_")
    assert (await billing.client.post("/billing/checkout")).status_code == 401
    none = (await billing.client.get("/billing/subscription", headers=auth)).json()
    assert none["status"] == "none" and none["tier"] == "free"


async def test_checkout_refuses_a_second_subscription(billing: Billing) -> None:
    user, auth = await billing.user()
    await billing.post(
        event(
            "subscription.activated",
            subscription("active", f"sub_{uuid.uuid4().hex}", user_id=user.id),
            at=_clock,
        )
    )
    await billing.settle()
    r = await billing.client.post("/billing/checkout", headers=auth)
    assert r.status_code == 409 and r.json()["error"]["code"] == "already_subscribed"


async def test_checkout_without_a_configured_price_says_billing_is_not_configured(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    other = await create_user(session, "noprice@example.com")
    await session.commit()
    token = issue_access_token(settings, other.id)
    r = await client.post("/billing/checkout", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 503 and r.json()["error"]["code"] == "billing_not_configured"


async def test_a_user_sees_only_their_own_subscription(billing: Billing) -> None:
    owner, _ = await billing.user()
    _, stranger_auth = await billing.user()
    await billing.post(
        event(
            "subscription.activated",
            subscription("active", f"sub_{uuid.uuid4().hex}", user_id=owner.id),
            at=_clock,
        )
    )
    await billing.settle()
    view = (await billing.client.get("/billing/subscription", headers=stranger_auth)).json()
    assert view["status"] == "none" and view["subscription_id"] is None


# --- 1,000 deliveries ---------------------------------------------------------------------------

LIFECYCLES = [
    ["active"],
    ["trialing", "active"],
    ["active", "past_due"],
    ["active", "past_due", "active"],
    ["active", "paused"],
    ["active", "paused", "active"],
    ["active", "canceled"],
    ["trialing", "canceled"],
    ["active", "past_due", "canceled"],
    ["active", "active", "active", "canceled"],
]
EVENT_FOR = {
    "active": "subscription.activated",
    "trialing": "subscription.trialing",
    "past_due": "subscription.past_due",
    "paused": "subscription.paused",
    "canceled": "subscription.canceled",
}


async def test_a_thousand_deliveries_with_duplicates_in_any_order_leave_the_right_state(
    billing: Billing,
) -> None:
    rng = random.Random(20261122)
    users = [await billing.user() for _ in range(40)]
    expected_status: dict[str, str] = {}
    expected_tier: dict[str, str] = {}
    unique: list[dict[str, Any]] = []
    for n, (user, _) in enumerate(users):
        lifecycle = LIFECYCLES[n % len(LIFECYCLES)]
        sub_id = f"sub_{uuid.uuid4().hex}"
        start = _clock + dt.timedelta(minutes=n)
        for step, status in enumerate(lifecycle):
            unique.append(
                event(
                    EVENT_FOR[status],
                    subscription(status, sub_id, user_id=user.id),
                    at=start + dt.timedelta(hours=step, microseconds=rng.randrange(1000)),
                )
            )
        expected_status[sub_id] = lifecycle[-1]
        expected_tier[user.id] = (
            "paid" if lifecycle[-1] in ("active", "trialing", "past_due") else "free"
        )
    for _ in range(30):  # unknown types are stored and ignored
        unique.append(event("address.updated", {"id": "add_1"}, at=_clock))
    deliveries = list(unique)
    while len(deliveries) < 1000:  # Paddle redelivers: at least once, not exactly once
        deliveries.append(rng.choice(unique))
    rng.shuffle(deliveries)
    assert len(deliveries) == 1000 and len(unique) < 200

    answers: list[str] = []
    for batch in range(0, len(deliveries), 50):  # bursts of concurrent deliveries
        replies = await asyncio.gather(*(billing.post(d) for d in deliveries[batch : batch + 50]))
        assert all(r.status_code == 200 for r in replies), [r.text for r in replies][:3]
        answers += [r.json()["status"] for r in replies]
    await billing.settle()

    assert answers.count("accepted") == len(unique)
    assert answers.count("duplicate") == 1000 - len(unique)
    ids = [d["event_id"] for d in unique]
    async with billing.sessions() as s:
        events = list(
            (await s.execute(select(WebhookEvent).where(WebhookEvent.external_id.in_(ids))))
            .scalars()
            .all()
        )
        assert len(events) == len(unique)
        assert {e.status for e in events} <= {"processed", "ignored"}
        assert all(e.attempts == 1 for e in events)
        subs = {
            sub.id: sub.status
            for sub in (
                await s.execute(select(Subscription).where(Subscription.id.in_(expected_status)))
            ).scalars()
        }
        tiers = {
            u.id: u.tier
            for u in (await s.execute(select(User).where(User.id.in_(expected_tier)))).scalars()
        }
    assert subs == expected_status
    assert tiers == expected_tier


async def test_a_burst_of_deliveries_is_never_rate_limited(billing_db: str) -> None:
    """Per-IP limits are for anonymous callers; Paddle's retries are authenticated by the
    signature and must all land even above the anonymous limit."""
    settings = make_settings(
        billing_db,
        paddle_webhook_secret=SECRET,
        rate_limits_enabled=True,
        rate_limit_anonymous="3/minute",
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            probe = Billing(app, client, settings)
            replies = [
                await probe.post(event("address.updated", {"id": "add_1"}, at=_clock))
                for _ in range(12)
            ]
            await probe.settle()
    assert [r.status_code for r in replies] == [200] * 12
    assert "x-ratelimit-limit" not in replies[0].headers
