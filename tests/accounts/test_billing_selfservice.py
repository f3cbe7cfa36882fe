"""Subscription self-service through the app: the routes ask the (fake) Paddle API for a change,
and the user's subscription and tier change only when Paddle's signed webhook says so.

A real app on its own migrated database per backend, as in `test_billing.py`: each request's
unit of work commits, and the webhook's job runs on the app's engine. The fake Paddle API runs
on a real loopback socket; every test uses its own users and Paddle ids.
"""

from __future__ import annotations

import asyncio
import copy
import datetime as dt
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from edgelab.accounts.billing.paddle import sign
from edgelab.accounts.models import User
from edgelab.accounts.service import create_user
from edgelab.app import create_app
from edgelab.core import migrations
from edgelab.core.auth import issue_access_token
from edgelab.core.settings import Settings
from tests.accounts.fake_paddle import VALID_KEY, FakePaddle, api_error, fixture, serve
from tests.fixtures.app import resources
from tests.fixtures.database import BACKENDS, fresh_database, make_settings

pytestmark = pytest.mark.asyncio(loop_scope="session")

SECRET = "pdl_ntfset_01selfservice_secret_0123456789"
MONTHLY, YEARLY = "pri_01gsz8x8sawmvhz1pv30nge1ke", "pri_01h1vjfevh5etwq3rb416a23h2"


@pytest.fixture(scope="module")
def paddle_server() -> Iterator[tuple[FakePaddle, str]]:
    fake = FakePaddle()
    with serve(fake.app) as base_url:
        yield fake, base_url


@pytest.fixture
def fake(paddle_server: tuple[FakePaddle, str]) -> FakePaddle:
    paddle_server[0].reset()
    return paddle_server[0]


@pytest.fixture(scope="module", params=BACKENDS)
def selfservice_db(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    url = fresh_database(request, request.param, tmp_path_factory.mktemp("selfserv"), "selfserv")
    migrations.upgrade(make_settings(url))
    return url


class Shop:
    def __init__(self, app: Any, client: httpx.AsyncClient, settings: Settings) -> None:
        self.app, self.client, self.settings = app, client, settings
        self.sessions: async_sessionmaker[AsyncSession] = resources(app).sessionmaker

    async def user(self) -> tuple[User, dict[str, str]]:
        async with self.sessions() as s:
            user = await create_user(s, f"{uuid.uuid4().hex[:12]}@example.com")
            await s.commit()
        return user, {"Authorization": f"Bearer {issue_access_token(self.settings, user.id)}"}

    async def webhook(self, event_type: str, data: dict[str, Any]) -> None:
        document = {
            "event_id": f"evt_{uuid.uuid4().hex}",
            "event_type": event_type,
            "occurred_at": dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z"),
            "notification_id": f"ntf_{uuid.uuid4().hex}",
            "data": data,
        }
        body = json.dumps(document).encode()
        signature = sign(body, SECRET, int(dt.datetime.now(dt.UTC).timestamp()))
        r = await self.client.post(
            "/webhooks/paddle",
            content=body,
            headers={"Paddle-Signature": signature, "Content-Type": "application/json"},
        )
        assert r.status_code == 200, r.text
        await resources(self.app).jobs.drain(timeout=60)

    async def subscriber(self, fake: FakePaddle) -> tuple[User, dict[str, str], str, str]:
        """A user with an active subscription on the monthly plan, known to us by webhook."""
        user, headers = await self.user()
        sub_id, ctm_id = f"sub_01{uuid.uuid4().hex}", f"ctm_01{uuid.uuid4().hex}"
        data = fake.add_subscription(sub_id, ctm_id, MONTHLY)
        await self.webhook("subscription.created", self.as_webhook(data, user.id))
        return user, headers, sub_id, ctm_id

    @staticmethod
    def as_webhook(entity: dict[str, Any], user_id: str) -> dict[str, Any]:
        data = copy.deepcopy(entity)
        data["custom_data"] = {"user_id": user_id}
        data.pop("management_urls", None)
        return data

    async def status(self, headers: dict[str, str]) -> dict[str, Any]:
        r = await self.client.get("/billing/subscription", headers=headers)
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body


async def _shop(db: str, base_url: str, **overrides: Any) -> AsyncIterator[Shop]:
    values: dict[str, Any] = {
        "paddle_webhook_secret": SECRET,
        "paddle_api_key": VALID_KEY,
        "paddle_api_url": base_url,
        "paddle_price_ids": f"monthly={MONTHLY},yearly={YEARLY}",
        "paddle_client_token": "test_0123456789abcdef",
        "rate_limits_enabled": False,
        "http_timeout_seconds": 1.0,
        "http_max_retries": 1,
        **overrides,
    }
    settings = make_settings(db, **values)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            yield Shop(app, client, settings)


@pytest.fixture
async def shop(
    selfservice_db: str, paddle_server: tuple[FakePaddle, str], fake: FakePaddle
) -> AsyncIterator[Shop]:
    async for made in _shop(selfservice_db, paddle_server[1]):
        yield made


def code_of(r: httpx.Response) -> str:
    code: str = r.json()["error"]["code"]
    return code


# --- cancel -----------------------------------------------------------------------------------


async def test_cancel_schedules_the_change_and_the_tier_waits_for_the_webhook(
    shop: Shop, fake: FakePaddle
) -> None:
    user, headers, sub_id, _ = await shop.subscriber(fake)
    assert (await shop.status(headers))["tier"] == "paid"

    r = await shop.client.post("/billing/cancel", json={"when": "end_of_period"}, headers=headers)
    assert r.status_code == 200, r.text
    answer = r.json()
    assert answer["subscription_id"] == sub_id and answer["status"] == "active"
    assert answer["scheduled_change"]["action"] == "cancel"
    assert answer["tier"] == "paid" and answer["plan"] == "monthly"
    (call,) = fake.calls("POST", "/cancel")
    assert call.path == f"/subscriptions/{sub_id}/cancel"
    assert call.body == {"effective_from": "next_billing_period"}
    # our copy is unchanged until Paddle's webhook arrives
    before = await shop.status(headers)
    assert before["scheduled_change"] is None and before["tier"] == "paid"

    await shop.webhook("subscription.updated", shop.as_webhook(fake.subscriptions[sub_id], user.id))
    after = await shop.status(headers)
    assert after["scheduled_change"]["action"] == "cancel"
    assert after["scheduled_change"]["effective_at"].startswith("2024-03-08T11:02:03")
    assert after["status"] == "active" and after["tier"] == "paid"


async def test_cancel_now_drops_the_tier_only_when_the_canceled_webhook_arrives(
    shop: Shop, fake: FakePaddle
) -> None:
    user, headers, sub_id, _ = await shop.subscriber(fake)
    r = await shop.client.post("/billing/cancel", json={"when": "now"}, headers=headers)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "canceled" and r.json()["tier"] == "paid"
    assert fake.calls("POST", "/cancel")[0].body == {"effective_from": "immediately"}
    assert (await shop.status(headers))["tier"] == "paid"

    await shop.webhook(
        "subscription.canceled", shop.as_webhook(fake.subscriptions[sub_id], user.id)
    )
    status = await shop.status(headers)
    assert (status["status"], status["tier"]) == ("canceled", "free")
    again = await shop.client.post("/billing/cancel", json={"when": "now"}, headers=headers)
    assert again.status_code == 409 and code_of(again) == "subscription_not_manageable"


async def test_a_bad_when_is_422_and_nothing_reaches_paddle(shop: Shop, fake: FakePaddle) -> None:
    _, headers, _, _ = await shop.subscriber(fake)
    r = await shop.client.post("/billing/cancel", json={"when": "tomorrow"}, headers=headers)
    assert r.status_code == 422 and code_of(r) == "validation_error"
    assert fake.calls("POST") == []


# --- resume and pause -------------------------------------------------------------------------


async def test_resume_removes_a_scheduled_cancel(shop: Shop, fake: FakePaddle) -> None:
    _, headers, sub_id, _ = await shop.subscriber(fake)
    await shop.client.post("/billing/cancel", json={}, headers=headers)
    r = await shop.client.post("/billing/resume", headers=headers)
    assert r.status_code == 200, r.text
    assert r.json()["scheduled_change"] is None
    (patch,) = fake.calls("PATCH")
    assert patch.path == f"/subscriptions/{sub_id}" and patch.body == {"scheduled_change": None}


async def test_resume_unpauses_a_paused_subscription_and_409s_with_nothing_to_resume(
    shop: Shop, fake: FakePaddle
) -> None:
    _, headers, _, _ = await shop.subscriber(fake)
    nothing = await shop.client.post("/billing/resume", headers=headers)
    assert nothing.status_code == 409 and code_of(nothing) == "subscription_not_manageable"

    r = await shop.client.post("/billing/pause", json={"when": "now"}, headers=headers)
    assert r.status_code == 200 and r.json()["status"] == "paused"
    assert fake.calls("POST", "/pause")[0].body == {"effective_from": "immediately"}
    resumed = await shop.client.post("/billing/resume", headers=headers)
    assert resumed.status_code == 200 and resumed.json()["status"] == "active"
    assert fake.calls("POST", "/resume")[0].body == {"effective_from": "immediately"}


async def test_pause_at_the_period_end_with_a_resume_date(shop: Shop, fake: FakePaddle) -> None:
    _, headers, _, _ = await shop.subscriber(fake)
    body = {"resume_at": "2030-01-02T03:04:05+01:00"}
    r = await shop.client.post("/billing/pause", json=body, headers=headers)
    assert r.status_code == 200, r.text
    assert r.json()["scheduled_change"]["action"] == "pause"
    assert fake.calls("POST", "/pause")[0].body == {
        "effective_from": "next_billing_period",
        "resume_at": "2030-01-02T02:04:05.000000Z",
    }
    naive = await shop.client.post(
        "/billing/pause", json={"resume_at": "2030-01-02T03:04:05"}, headers=headers
    )
    assert naive.status_code == 422


# --- plans ------------------------------------------------------------------------------------


async def test_change_plan_patches_the_items_with_proration(shop: Shop, fake: FakePaddle) -> None:
    user, headers, sub_id, _ = await shop.subscriber(fake)
    r = await shop.client.post("/billing/change-plan", json={"plan": "yearly"}, headers=headers)
    assert r.status_code == 200, r.text
    assert (r.json()["plan"], r.json()["price_id"]) == ("yearly", YEARLY)
    (patch,) = fake.calls("PATCH")
    assert patch.body == {
        "items": [{"price_id": YEARLY, "quantity": 1}],
        "proration_billing_mode": "prorated_immediately",
    }
    assert (await shop.status(headers))["plan"]["price_id"] == MONTHLY  # until the webhook
    await shop.webhook("subscription.updated", shop.as_webhook(fake.subscriptions[sub_id], user.id))
    assert (await shop.status(headers))["plan"]["price_id"] == YEARLY

    same = await shop.client.post("/billing/change-plan", json={"plan": "yearly"}, headers=headers)
    assert same.status_code == 409 and code_of(same) == "already_on_plan"
    unknown = await shop.client.post("/billing/change-plan", json={"plan": "gold"}, headers=headers)
    assert unknown.status_code == 400 and code_of(unknown) == "unknown_plan"
    assert unknown.json()["error"]["details"]["plans"] == ["monthly", "yearly"]


async def test_a_plan_change_with_a_pending_cancel_is_paddles_409_with_its_code(
    shop: Shop, fake: FakePaddle
) -> None:
    _, headers, _, _ = await shop.subscriber(fake)
    await shop.client.post("/billing/cancel", json={"when": "end_of_period"}, headers=headers)
    r = await shop.client.post("/billing/change-plan", json={"plan": "yearly"}, headers=headers)
    assert r.status_code == 409 and code_of(r) == "paddle_refused"
    assert r.json()["error"]["details"]["paddle_code"] == "subscription_locked_pending_changes"


async def test_the_plans_list_names_the_default(shop: Shop) -> None:
    _, headers = await shop.user()
    r = await shop.client.get("/billing/plans", headers=headers)
    assert r.json() == [
        {"name": "monthly", "price_id": MONTHLY, "default": True},
        {"name": "yearly", "price_id": YEARLY, "default": False},
    ]
    checkout = await shop.client.post("/billing/checkout", json={"plan": "yearly"}, headers=headers)
    assert checkout.status_code == 200 and checkout.json()["items"][0]["price_id"] == YEARLY


async def test_the_openapi_document_names_the_configured_plans(shop: Shop) -> None:
    """A client generated from the schema (or a fuzzer) sends a plan that exists."""
    schemas = (await shop.client.get("/openapi.json")).json()["components"]["schemas"]
    for body in ("CheckoutRequest", "ChangePlanRequest"):
        plan = schemas[body]["properties"]["plan"]
        strings = [c for c in plan.get("anyOf", [plan]) if c.get("type") == "string"]
        assert [c["enum"] for c in strings] == [["monthly", "yearly"]], body


# --- payment method, portal, transactions -----------------------------------------------------


async def test_payment_method_answers_the_transaction_to_open_in_paddle_js(
    shop: Shop, fake: FakePaddle
) -> None:
    _, headers, sub_id, _ = await shop.subscriber(fake)
    r = await shop.client.post("/billing/payment-method", headers=headers)
    assert r.status_code == 200, r.text
    expected = fixture("api_update_payment_method_transaction.json")["response"]["data"]
    assert r.json() == {
        "transaction_id": expected["id"],
        "checkout_url": expected["checkout"]["url"],
        "environment": "sandbox",
        "client_token": "test_0123456789abcdef",
    }
    assert fake.calls("GET", "/update-payment-method-transaction")[0].path.startswith(
        f"/subscriptions/{sub_id}/"
    )


async def test_portal_answers_a_fresh_link_for_the_customer(shop: Shop, fake: FakePaddle) -> None:
    _, headers, sub_id, ctm_id = await shop.subscriber(fake)
    r = await shop.client.post("/billing/portal", headers=headers)
    assert r.status_code == 200, r.text
    assert r.json()["url"].startswith("https://customer-portal.paddle.com/")
    assert sub_id in r.json()["cancel_url"]
    (call,) = fake.calls("POST", "/portal-sessions")
    assert call.path == f"/customers/{ctm_id}/portal-sessions"
    assert call.body == {"subscription_ids": [sub_id]}


async def test_transactions_list_with_invoice_links_and_another_users_invoice_is_404(
    shop: Shop, fake: FakePaddle
) -> None:
    _, headers, sub_id, ctm_id = await shop.subscriber(fake)
    fake.add_transaction("txn_01mine", ctm_id, sub_id)
    fake.add_transaction("txn_01theirs", "ctm_01someoneelse", "sub_01someoneelse")
    r = await shop.client.get("/billing/transactions", headers=headers)
    assert r.status_code == 200, r.text
    (txn,) = r.json()["transactions"]
    assert txn["id"] == "txn_01mine" and txn["total_minor"] == 65215
    assert txn["invoice_url"] == "/billing/transactions/txn_01mine/invoice"

    invoice = await shop.client.get(txn["invoice_url"], headers=headers)
    assert invoice.status_code == 200, invoice.text
    assert invoice.json()["url"].endswith("txn_01mine.pdf")
    for other in ("txn_01theirs", "txn_01nosuchthing"):
        r = await shop.client.get(f"/billing/transactions/{other}/invoice", headers=headers)
        assert r.status_code == 404 and code_of(r) == "transaction_not_found"
    assert not [c for c in fake.calls("GET", "/invoice") if "theirs" in c.path]
    bad = await shop.client.get("/billing/transactions/../invoice", headers=headers)
    assert bad.status_code in (404, 422)


async def test_transactions_page_with_a_next_cursor_and_bad_paging_is_422(
    shop: Shop, fake: FakePaddle
) -> None:
    _, headers, sub_id, ctm_id = await shop.subscriber(fake)
    for n in range(3):
        fake.add_transaction(f"txn_01older{n}", ctm_id, sub_id)
    r = await shop.client.get("/billing/transactions?per_page=2", headers=headers)
    assert r.status_code == 200, r.text
    assert [t["id"] for t in r.json()["transactions"]] == ["txn_01older2", "txn_01older1"]
    assert r.json()["next"] == "txn_01older1"
    older = await shop.client.get(
        "/billing/transactions", params={"per_page": 2, "after": r.json()["next"]}, headers=headers
    )
    assert older.status_code == 200, older.text
    assert [t["id"] for t in older.json()["transactions"]] == ["txn_01older0"]
    assert older.json()["next"] is None
    assert fake.calls("GET", "/transactions")[-1].query["after"] == "txn_01older1"
    everything = await shop.client.get("/billing/transactions", headers=headers)
    assert len(everything.json()["transactions"]) == 3 and everything.json()["next"] is None
    for bad in ({"per_page": 0}, {"per_page": 31}, {"after": "txn_01x&status=draft"}):
        refused = await shop.client.get("/billing/transactions", params=bad, headers=headers)
        assert refused.status_code == 422 and code_of(refused) == "validation_error", bad


# --- the database is never held while Paddle is asked ----------------------------------------


async def test_a_slow_paddle_does_not_hold_up_other_writers(
    selfservice_db: str, paddle_server: tuple[FakePaddle, str], fake: FakePaddle
) -> None:
    """On SQLite a write request's unit of work holds the one write lock from its first
    statement; the billing routes ask Paddle outside any unit, so while Paddle is slow to
    answer a cancel, another user's write goes through. (The HTTP timeout is long here: the
    cancel must still be waiting for Paddle, not given up, when the other write is checked.)"""
    async for shop in _shop(selfservice_db, paddle_server[1], http_timeout_seconds=300.0):
        await _slow_paddle_meets_another_writer(shop, fake)


async def _slow_paddle_meets_another_writer(shop: Shop, fake: FakePaddle) -> None:
    _, headers, _, _ = await shop.subscriber(fake)
    _, other = await shop.user()
    held = fake.hold("/cancel")
    cancel = asyncio.create_task(
        shop.client.post("/billing/cancel", json={"when": "end_of_period"}, headers=headers)
    )
    try:
        assert await asyncio.to_thread(held.arrived.wait, 60)  # 60 s: a hang guard only
        r = await shop.client.patch("/me", json={"display_name": "Meanwhile"}, headers=other)
        assert r.status_code == 200, r.text
        assert r.json()["display_name"] == "Meanwhile"
        assert not cancel.done()  # the cancel is still waiting for Paddle
    finally:
        held.release.set()
    answer = await cancel
    assert answer.status_code == 200, answer.text
    assert answer.json()["scheduled_change"]["action"] == "cancel"


# --- refusals ---------------------------------------------------------------------------------


async def test_without_a_subscription_every_route_is_404_no_subscription(
    shop: Shop, fake: FakePaddle
) -> None:
    _, headers = await shop.user()
    for method, path, body in [
        ("POST", "/billing/cancel", {}),
        ("POST", "/billing/resume", None),
        ("POST", "/billing/pause", {}),
        ("POST", "/billing/change-plan", {"plan": "yearly"}),
        ("POST", "/billing/payment-method", None),
        ("POST", "/billing/portal", None),
        ("GET", "/billing/transactions", None),
    ]:
        r = await shop.client.request(method, path, json=body, headers=headers)
        assert r.status_code == 404 and code_of(r) == "no_subscription", path
    assert fake.requests == []
    anonymous = await shop.client.post("/billing/cancel", json={})
    assert anonymous.status_code == 401


async def test_without_an_api_key_the_routes_answer_billing_not_configured(
    selfservice_db: str, paddle_server: tuple[FakePaddle, str], fake: FakePaddle
) -> None:
    async for shop in _shop(selfservice_db, paddle_server[1], paddle_api_key=None):
        _, headers = await shop.user()
        for path in ("/billing/cancel", "/billing/portal", "/billing/resume"):
            r = await shop.client.post(path, json={}, headers=headers)
            assert r.status_code == 503 and code_of(r) == "billing_not_configured", path
    assert fake.requests == []


async def test_paddle_refusing_our_key_is_502_paddle_auth_failed(
    shop: Shop, fake: FakePaddle
) -> None:
    _, headers, _, _ = await shop.subscriber(fake)
    entry = api_error("invalid_token")
    fake.plan(status=403, body=entry["body"])
    r = await shop.client.post("/billing/cancel", json={}, headers=headers)
    assert r.status_code == 502 and code_of(r) == "paddle_auth_failed"
    assert r.json()["error"]["details"]["paddle_code"] == "invalid_token"
    assert VALID_KEY not in r.text


async def test_paddle_rate_limiting_us_is_503_with_retry_after(
    shop: Shop, fake: FakePaddle, monkeypatch: pytest.MonkeyPatch
) -> None:
    from edgelab.core import http as core_http

    monkeypatch.setattr(core_http, "MAX_RETRY_AFTER_SECONDS", 0.01)
    _, headers, _, _ = await shop.subscriber(fake)
    entry = api_error("too_many_requests")
    fake.plan(status=429, body=entry["body"], headers=entry["headers"], times=2)
    r = await shop.client.post("/billing/portal", headers=headers)
    assert r.status_code == 503 and code_of(r) == "paddle_rate_limited"
    assert r.headers["Retry-After"] == "42"


async def test_a_paddle_outage_then_recovery_is_invisible(shop: Shop, fake: FakePaddle) -> None:
    _, headers, _, _ = await shop.subscriber(fake)
    fake.plan(status=500)
    r = await shop.client.post("/billing/portal", headers=headers)
    assert r.status_code == 200, r.text
    assert [c.status for c in fake.calls("POST", "/portal-sessions")] == [500, 201]
