"""The account page's subscription controls over ASGI, against a local fake of Paddle's API
(`tests/accounts/fake_paddle.py`): the state and scheduled change as the webhooks told us,
cancel / resume / change plan / portal posting to the `/billing/...` routes, payments with
receipt links; and no controls without a Paddle API key.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from edgelab.accounts.billing.paddle import sign
from edgelab.accounts.service import create_user
from edgelab.app import create_app
from edgelab.core import migrations
from edgelab.core.auth import issue_access_token
from edgelab.core.settings import Settings
from tests.accounts.fake_paddle import VALID_KEY, FakePaddle, serve
from tests.fixtures.app import resources
from tests.fixtures.database import make_settings
from tests.web.test_account_checkout import MONTHLY, SECRET, YEARLY, paddle_settings

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest.fixture(scope="module")
def paddle_server() -> Iterator[tuple[FakePaddle, str]]:
    fake = FakePaddle()
    with serve(fake.app) as base_url:
        yield fake, base_url


@pytest.fixture
def fake(paddle_server: tuple[FakePaddle, str]) -> FakePaddle:
    paddle_server[0].reset()
    return paddle_server[0]


@pytest.fixture(scope="module")
def controls_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('web-controls') / 'controls.db'}"
    migrations.upgrade(make_settings(url))
    return url


class Account:
    def __init__(self, app: Any, client: httpx.AsyncClient, settings: Settings) -> None:
        self.app, self.client, self.settings = app, client, settings

    async def webhook(self, event_type: str, data: dict[str, Any]) -> None:
        body = json.dumps(
            {
                "event_id": f"evt_{uuid.uuid4().hex}",
                "event_type": event_type,
                "occurred_at": dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z"),
                "notification_id": f"ntf_{uuid.uuid4().hex}",
                "data": data,
            }
        ).encode()
        now = int(dt.datetime.now(dt.UTC).timestamp())
        r = await self.client.post(
            "/webhooks/paddle",
            content=body,
            headers={
                "Paddle-Signature": sign(body, SECRET, now),
                "Content-Type": "application/json",
            },
        )
        assert r.status_code == 200, r.text
        await resources(self.app).jobs.drain(timeout=60)

    async def subscriber(self, fake: FakePaddle) -> tuple[str, dict[str, str], str, str]:
        """A user with an active monthly subscription, known to us by webhook: (user id,
        cookie header, subscription id, customer id)."""
        async with resources(self.app).sessionmaker() as session:
            user = await create_user(session, f"{uuid.uuid4().hex[:12]}@example.com")
            await session.commit()
        sub_id, ctm_id = f"sub_01{uuid.uuid4().hex}", f"ctm_01{uuid.uuid4().hex}"
        fake.add_subscription(sub_id, ctm_id, MONTHLY)
        await self.tell(fake, sub_id, user.id)
        cookie = {"cookie": f"edgelab_access={issue_access_token(self.settings, user.id)}"}
        return user.id, cookie, sub_id, ctm_id

    async def tell(self, fake: FakePaddle, sub_id: str, user_id: str) -> None:
        """Paddle's webhook with the fake's current state of the subscription."""
        data = copy.deepcopy(fake.subscriptions[sub_id])
        data["custom_data"] = {"user_id": user_id}
        data.pop("management_urls", None)
        await self.webhook("subscription.updated", data)


async def _account(db: str, **overrides: Any) -> AsyncIterator[Account]:
    settings = paddle_settings(db, http_timeout_seconds=1.0, http_max_retries=1, **overrides)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            yield Account(app, client, settings)


@pytest.fixture
async def account(
    controls_db: str, paddle_server: tuple[FakePaddle, str], fake: FakePaddle
) -> AsyncIterator[Account]:
    async for made in _account(
        controls_db, paddle_api_key=VALID_KEY, paddle_api_url=paddle_server[1]
    ):
        yield made


async def test_a_subscriber_sees_the_state_and_the_controls(
    account: Account, fake: FakePaddle
) -> None:
    _, cookie, sub_id, ctm_id = await account.subscriber(fake)
    fake.add_transaction("txn_01paid", ctm_id, sub_id)
    r = await account.client.get("/app/account", headers=cookie)
    assert r.status_code == 200, r.text
    assert 'data-testid="subscription-status">active<' in r.text
    assert 'data-testid="checkout-button"' not in r.text  # paid: nothing to buy
    assert 'action="/app/account/subscription/cancel"' in r.text
    assert 'name="when" value="end_of_period"' in r.text and 'name="when" value="now"' in r.text
    plans = re.search(r'data-testid="change-plan-form".*?</form>', r.text, re.S)
    assert plans and '<option value="yearly">' in plans.group(0)
    assert '<option value="monthly">' not in plans.group(0)  # the current plan
    assert 'data-testid="portal-button"' in r.text
    assert 'data-testid="resume-button"' not in r.text  # nothing to resume
    # payments come from Paddle after the page (htmx), or inline without htmx installed
    if 'hx-get="/app/account/payments"' in r.text:
        r = await account.client.get("/app/account/payments", headers=cookie)
        assert r.status_code == 200 and 'data-testid="payments"' in r.text
    assert 'href="/app/account/transactions/txn_01paid/receipt"' in r.text
    assert "652.15 USD" in r.text  # the fixture's total, in minor units 65215


async def test_cancel_at_the_period_end_then_the_webhook_shows_it_and_resume_undoes_it(
    account: Account, fake: FakePaddle
) -> None:
    user_id, cookie, sub_id, _ = await account.subscriber(fake)
    r = await account.client.post(
        "/app/account/subscription/cancel", headers=cookie, data={"when": "end_of_period"}
    )
    assert r.status_code == 303, r.text
    assert r.headers["location"] == "/app/account?billing=cancel#subscription"
    (call,) = fake.calls("POST", "/cancel")
    assert call.path == f"/subscriptions/{sub_id}/cancel"
    assert call.body == {"effective_from": "next_billing_period"}
    asked = await account.client.get(r.headers["location"], headers=cookie)
    assert 'data-testid="billing-notice"' in asked.text
    assert 'data-testid="scheduled-change"' not in asked.text  # not until Paddle confirms

    await account.tell(fake, sub_id, user_id)
    page = await account.client.get("/app/account", headers=cookie)
    scheduled = re.search(r'data-testid="scheduled-change">([^<]*)<', page.text)
    assert scheduled and scheduled.group(1).startswith("cancels on 2024-03-08")
    assert 'data-testid="resume-button"' in page.text and "Keep my subscription" in page.text
    assert 'value="end_of_period"' not in page.text  # already cancelling
    assert 'data-testid="change-plan-form"' not in page.text  # Paddle would refuse: resume first

    resumed = await account.client.post("/app/account/subscription/resume", headers=cookie)
    assert resumed.status_code == 303
    assert resumed.headers["location"] == "/app/account?billing=resume#subscription"
    assert fake.calls("PATCH") and fake.calls("PATCH")[-1].body == {"scheduled_change": None}


async def test_change_plan_asks_paddle_for_the_named_plan(
    account: Account, fake: FakePaddle
) -> None:
    _, cookie, sub_id, _ = await account.subscriber(fake)
    r = await account.client.post(
        "/app/account/subscription/change-plan", headers=cookie, data={"plan": "yearly"}
    )
    assert r.status_code == 303, r.text
    (call,) = fake.calls("PATCH")
    assert call.path == f"/subscriptions/{sub_id}"
    assert [item["price_id"] for item in call.body["items"]] == [YEARLY]
    unknown = await account.client.post(
        "/app/account/subscription/change-plan", headers=cookie, data={"plan": "lifetime"}
    )
    assert unknown.status_code == 400 and "unknown_plan" in unknown.text


async def test_the_portal_and_a_receipt_are_fresh_paddle_links(
    account: Account, fake: FakePaddle
) -> None:
    _, cookie, sub_id, ctm_id = await account.subscriber(fake)
    fake.add_transaction("txn_01receipt", ctm_id, sub_id)
    portal = await account.client.post("/app/account/subscription/portal", headers=cookie)
    assert portal.status_code == 303
    assert portal.headers["location"].startswith("https://customer-portal.paddle.com/")
    assert portal.headers["cache-control"] == "no-store"
    receipt = await account.client.get(
        "/app/account/transactions/txn_01receipt/receipt", headers=cookie
    )
    assert receipt.status_code == 303
    assert receipt.headers["location"].endswith("/txn_01receipt.pdf")
    theirs = await account.client.get(
        "/app/account/transactions/txn_01nosuchthing/receipt", headers=cookie
    )
    assert theirs.status_code == 404 and "transaction_not_found" in theirs.text


async def test_without_a_paddle_api_key_there_are_no_controls(
    controls_db: str, fake: FakePaddle
) -> None:
    async for account in _account(controls_db):
        _, cookie, _, _ = await account.subscriber(fake)
        r = await account.client.get("/app/account", headers=cookie)
        assert r.status_code == 200
        assert 'data-testid="subscription-status">active<' in r.text
        for control in ("cancel-form", "change-plan-form", "portal-button", "payments"):
            assert f'data-testid="{control}"' not in r.text
        assert "/app/account/payments" not in r.text


async def test_without_htmx_the_payments_are_on_the_page_itself(
    controls_db: str,
    paddle_server: tuple[FakePaddle, str],
    fake: FakePaddle,
    tmp_path: Path,
) -> None:
    async for account in _account(
        controls_db,
        paddle_api_key=VALID_KEY,
        paddle_api_url=paddle_server[1],
        web_assets_dir=tmp_path,  # `make assets` not run
    ):
        _, cookie, sub_id, ctm_id = await account.subscriber(fake)
        fake.add_transaction("txn_01inline", ctm_id, sub_id)
        r = await account.client.get("/app/account", headers=cookie)
        assert r.status_code == 200
        assert "/app/account/payments" not in r.text
        assert 'href="/app/account/transactions/txn_01inline/receipt"' in r.text
