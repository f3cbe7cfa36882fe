"""Checkout on the dashboard (Paddle.js): the account page and the upgrade prompts carry what
`static/checkout.js` needs (price ids of the named plans, client token, environment, e-mail,
user id) in data attributes; without a client token they say checkout is not configured; and
the page checkout lands on waits for the signed webhook before it says the user is paid.

The app runs on its own migrated database (no test session): the webhook's unit of work
commits, then the in-process job applies it on its own connection, as in production.
"""

from __future__ import annotations

import copy
import datetime as dt
import html
import json
import re
import uuid
from collections.abc import AsyncIterator
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
from tests.fixtures.app import resources
from tests.fixtures.database import make_settings

pytestmark = pytest.mark.asyncio(loop_scope="session")

ROOT = Path(__file__).resolve().parents[2]
PAYLOADS = ROOT / "tests" / "accounts" / "fixtures" / "paddle"
SECRET = "pdl_ntfset_01web_checkout_secret_0123456789"
CLIENT_TOKEN = "test_7d279f61a3499fed520f7cd8c08"
MONTHLY = "pri_01gsz8x8sawmvhz1pv30nge1ke"
YEARLY = "pri_01gsz8z1q1n00f12qt82y31smh"


def paddle_settings(database_url: str, **overrides: Any) -> Settings:
    base: dict[str, Any] = {
        "web_assets_dir": ROOT / "node_modules",
        "paddle_webhook_secret": SECRET,
        "paddle_client_token": CLIENT_TOKEN,
        "paddle_environment": "sandbox",
        "paddle_price_ids": f"monthly={MONTHLY},yearly={YEARLY}",
        "rate_limits_enabled": False,
    }
    return make_settings(database_url, **{**base, **overrides})


def subscription_created(user_id: str) -> bytes:
    """The composed `subscription.created` notification, re-keyed to this user and fresh ids."""
    doc = json.loads((PAYLOADS / "webhook_subscription.created_composed.json").read_text())
    doc = copy.deepcopy(doc)
    doc["event_id"] = f"evt_{uuid.uuid4().hex}"
    doc["notification_id"] = f"ntf_{uuid.uuid4().hex}"
    doc["occurred_at"] = dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z")
    doc["data"]["id"] = f"sub_{uuid.uuid4().hex}"
    doc["data"]["customer_id"] = f"ctm_{uuid.uuid4().hex}"
    doc["data"]["custom_data"] = {"user_id": user_id}
    return json.dumps(doc).encode()


def data_attributes(page: str, testid: str) -> dict[str, str]:
    """The data-* attributes of the first element with this data-testid."""
    found = re.search(rf"<[a-z]+\s[^>]*data-testid=\"{testid}\"[^>]*>", page, re.S)
    assert found, f"no {testid} on the page"
    return {
        name: html.unescape(value)
        for name, value in re.findall(r'data-([a-z-]+)="([^"]*)"', found.group(0))
    }


class Dashboard:
    def __init__(self, app: Any, client: httpx.AsyncClient, settings: Settings) -> None:
        self.app = app
        self.client = client
        self.settings = settings

    async def user(self, email: str, tier: str = "free") -> tuple[str, dict[str, str]]:
        async with resources(self.app).sessionmaker() as session:
            user = await create_user(session, email, tier=tier)
            await session.commit()
        token = issue_access_token(self.settings, user.id)
        return user.id, {"cookie": f"edgelab_access={token}"}

    async def webhook(self, body: bytes) -> httpx.Response:
        now = int(dt.datetime.now(dt.UTC).timestamp())
        r = await self.client.post(
            "/webhooks/paddle",
            content=body,
            headers={
                "Paddle-Signature": sign(body, SECRET, now),
                "Content-Type": "application/json",
            },
        )
        await resources(self.app).jobs.drain(timeout=60)
        return r


@pytest.fixture(scope="module")
def checkout_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('web-checkout') / 'checkout.db'}"
    migrations.upgrade(make_settings(url))
    return url


@pytest.fixture
async def dashboard(checkout_db: str) -> AsyncIterator[Dashboard]:
    settings = paddle_settings(checkout_db)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            yield Dashboard(app, client, settings)


async def test_a_free_user_gets_checkout_buttons_with_what_paddle_js_needs(
    dashboard: Dashboard,
) -> None:
    user_id, cookie = await dashboard.user("co-free@example.com")
    r = await dashboard.client.get("/app/account", headers=cookie)
    assert r.status_code == 200, r.text
    config = data_attributes(r.text, "paddle-checkout")
    assert config["client-token"] == CLIENT_TOKEN
    assert config["environment"] == "sandbox"
    assert config["email"] == "co-free@example.com"
    assert config["user-id"] == user_id
    assert config["success-url"] == "/app/account/upgraded"
    buttons = dict(re.findall(r'data-plan="([^"]+)" data-price-id="([^"]+)"', r.text))
    assert buttons == {"monthly": MONTHLY, "yearly": YEARLY}
    assert '<script src="/app/static/checkout.js"' in r.text
    assert 'data-testid="checkout-not-configured"' not in r.text
    if (ROOT / "node_modules" / "@paddle" / "paddle-js").is_dir():
        assert config["module-url"] == "/app/vendor/paddle-js.mjs"


async def test_the_upgrade_prompts_open_the_same_checkout(dashboard: Dashboard) -> None:
    user_id, cookie = await dashboard.user("co-prompt@example.com")
    r = await dashboard.client.get("/app/bets", headers=cookie)
    assert r.status_code == 200, r.text
    prompt = r.text[r.text.index('data-testid="upgrade-prompt"') :]
    assert f'data-price-id="{MONTHLY}"' in prompt and f'data-user-id="{user_id}"' in prompt


async def test_a_paid_user_gets_no_checkout(dashboard: Dashboard) -> None:
    _, cookie = await dashboard.user("co-paid@example.com", tier="paid")
    r = await dashboard.client.get("/app/account", headers=cookie)
    assert r.status_code == 200
    assert 'data-testid="checkout-button"' not in r.text
    assert 'data-testid="checkout-not-configured"' not in r.text


async def test_without_a_client_token_the_page_says_checkout_is_not_configured(
    checkout_db: str,
) -> None:
    settings = paddle_settings(checkout_db, paddle_client_token=None)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            _, cookie = await Dashboard(app, client, settings).user("co-notoken@example.com")
            r = await client.get("/app/account", headers=cookie)
    assert r.status_code == 200
    assert 'data-testid="checkout-not-configured"' in r.text
    assert "not configured" in r.text
    assert 'data-testid="checkout-button"' not in r.text
    assert CLIENT_TOKEN not in r.text


async def test_the_upgraded_page_waits_for_the_signed_webhook_then_says_paid(
    dashboard: Dashboard,
) -> None:
    user_id, cookie = await dashboard.user("co-upgraded@example.com")
    page = await dashboard.client.get("/app/account/upgraded", headers=cookie)
    assert page.status_code == 200
    assert "Waiting for the payment to be confirmed" in page.text
    waiting = data_attributes(page.text, "upgrade-status")
    assert waiting["state"] == "waiting"
    assert 'hx-get="/app/account/upgraded/status" hx-trigger="every 2s"' in page.text

    # an unsigned (forged) notification changes nothing
    forged = await dashboard.client.post(
        "/webhooks/paddle",
        content=subscription_created(user_id),
        headers={"Content-Type": "application/json"},
    )
    assert forged.status_code == 401
    still = await dashboard.client.get("/app/account/upgraded/status", headers=cookie)
    assert still.status_code == 200 and "Waiting for the payment" in still.text
    assert still.headers["cache-control"] == "no-store"

    accepted = await dashboard.webhook(subscription_created(user_id))
    assert accepted.status_code == 200 and accepted.json()["status"] == "accepted"
    status = await dashboard.client.get("/app/account/upgraded/status", headers=cookie)
    assert status.status_code == 200
    assert "You are on the paid plan" in status.text
    assert data_attributes(status.text, "upgrade-status")["state"] == "paid"
    assert "hx-trigger" not in status.text  # polling stops
    again = await dashboard.client.get("/app/account/upgraded", headers=cookie)
    assert "You are on the paid plan" in again.text
    account = await dashboard.client.get("/app/account", headers=cookie)
    assert 'data-testid="checkout-button"' not in account.text
    assert 'data-testid="subscription-status">active<' in account.text


async def test_the_upgraded_page_asks_a_signed_out_visitor_to_sign_in(
    dashboard: Dashboard,
) -> None:
    r = await dashboard.client.get("/app/account/upgraded/status")
    assert r.status_code == 401 and "/app/signin" in r.text


@pytest.mark.skipif(
    not (ROOT / "node_modules" / "@paddle" / "paddle-js").is_dir(),
    reason="@paddle/paddle-js is not installed (make assets)",
)
async def test_the_paddle_js_loader_is_served_from_the_vendor_folder(
    dashboard: Dashboard,
) -> None:
    r = await dashboard.client.get("/app/vendor/paddle-js.mjs")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/javascript")
    assert "initializePaddle" in r.text and "https://cdn.paddle.com/paddle/v2/paddle.js" in r.text
