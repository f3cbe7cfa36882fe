"""Paddle.js checkout in a real browser (Debian's Chromium): a free user clicks upgrade on the
account page or an upgrade prompt, Paddle.js opens the overlay for that plan's price with the
user's e-mail and `customData.user_id`, its `checkout.completed` lands on the upgraded page,
and that page says paid only once the signed webhook has arrived.

Paddle's network is never reached: the vendored loader (`@paddle/paddle-js`, served by our
app) injects https://cdn.paddle.com/paddle/v2/paddle.js, which `page.route` answers with a
tiny fake `Paddle` that records its calls and fires the documented `checkout.completed`.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from edgelab.accounts.billing.paddle import sign
from edgelab.app import create_app
from edgelab.core import migrations
from edgelab.core.settings import Settings
from tests.accounts.fake_paddle import VALID_KEY, FakePaddle
from tests.fixtures.database import make_settings
from tests.loopback import loopback_socket, serve, url_of
from tests.web.conftest import CHROMIUM, CHROMIUM_ARGS, LiveDashboard, screenshot
from tests.web.test_account_checkout import (
    CLIENT_TOKEN,
    MONTHLY,
    SECRET,
    YEARLY,
    paddle_settings,
    subscription_created,
)

PADDLE_CDN = "https://cdn.paddle.com/paddle/v2/paddle.js"
COMPLETED = json.loads(
    (
        Path(__file__).parent / "fixtures" / "paddle" / "paddlejs_checkout_completed_composed.json"
    ).read_text()
)["checkout_completed_event"]

# A stand-in for Paddle.js v2: what the wrapper and checkout.js call, each call reported to the
# test through `window.recordPaddle` (a Playwright binding, kept across navigations).
FAKE_PADDLE_JS = """
(function () {
  var callback = null;
  var completed = COMPLETED_EVENT;
  var Paddle = {
    Initialized: false,
    Environment: { set: function (env) { window.recordPaddle("environment", env); } },
    Initialize: function (options) {
      callback = options.eventCallback;
      Paddle.Initialized = true;
      window.recordPaddle("initialize", { token: options.token });
    },
    Update: function (options) { if (options.eventCallback) callback = options.eventCallback; },
    Checkout: {
      open: function (options) {
        window.recordPaddle("open", JSON.parse(JSON.stringify(options)));
        setTimeout(function () {
          callback({ name: "checkout.loaded", data: {} });
          if (options.transactionId) {  // a payment-method update: Paddle's own transaction
            completed.data.transaction_id = options.transactionId;
          } else {
            completed.data.custom_data = options.customData;
            completed.data.items[0].price_id = options.items[0].priceId;
          }
          callback(completed);
        }, 200);
      },
    },
  };
  window.Paddle = window.PaddleBillingV1 = Paddle;
})();
""".replace("COMPLETED_EVENT", json.dumps(COMPLETED))


@pytest.fixture(scope="module")
def fake_paddle_api() -> Iterator[tuple[FakePaddle, str]]:
    """Paddle's API for the subscription controls (`tests/accounts/fake_paddle.py`)."""
    fake = FakePaddle()
    with serve(fake.app, name="fake Paddle API") as base_url:
        yield fake, base_url


@pytest.fixture(scope="module")
def paddle_dashboard(
    tmp_path_factory: pytest.TempPathFactory, fake_paddle_api: tuple[FakePaddle, str]
) -> Iterator[LiveDashboard]:
    """The app on a loopback port with Paddle.js configured (two named plans) and Paddle's
    API (the fake) for the subscription controls."""
    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('checkout-browser') / 'app.db'}"
    migrations.upgrade(make_settings(url))
    sock = loopback_socket()
    settings: Settings = paddle_settings(
        url,
        app_base_url=url_of(sock),
        paddle_api_key=VALID_KEY,
        paddle_api_url=fake_paddle_api[1],
        http_max_retries=1,
    )
    app = create_app(settings)
    with serve(app, name="dashboard", sock=sock, lifespan="on", start_seconds=30) as base:
        yield LiveDashboard(base, settings)


@pytest.fixture(scope="module")
def chromium(paddle_dashboard: LiveDashboard) -> Iterator[Any]:
    """Debian's Chromium under Playwright, after the server (see `conftest.browser`)."""
    if not CHROMIUM.exists():
        pytest.skip("browser tests skipped: /usr/bin/chromium is absent (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("browser tests skipped: playwright is not installed (pip install playwright)")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


class PaddleCalls:
    """What the fake Paddle.js was asked, in order: (kind, argument)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def record(self, kind: str, argument: Any) -> None:
        self.calls.append((kind, argument))

    def of(self, kind: str) -> list[Any]:
        return [arg for k, arg in self.calls if k == kind]


@pytest.fixture
def signed_in(chromium: Any, paddle_dashboard: LiveDashboard) -> Iterator[Any]:
    """`signed_in(user_id)` -> (page, calls): a page with the user's session cookie and
    Paddle's CDN answered by the fake; every other outside request is refused."""
    contexts: list[Any] = []

    def make(user_id: str) -> tuple[Any, PaddleCalls]:
        context = chromium.new_context(viewport={"width": 1280, "height": 900})
        contexts.append(context)
        context.add_cookies(
            [
                {
                    "name": "edgelab_access",
                    "value": paddle_dashboard.token(user_id),
                    "url": f"{paddle_dashboard.url}/app",
                    "httpOnly": True,
                    "sameSite": "Lax",
                }
            ]
        )
        calls = PaddleCalls()
        context.expose_function("recordPaddle", calls.record)

        def outside(route: Any) -> None:
            if route.request.url == PADDLE_CDN:
                route.fulfill(status=200, content_type="text/javascript", body=FAKE_PADDLE_JS)
            else:
                route.abort()

        context.route(lambda url: not url.startswith(paddle_dashboard.url), outside)
        page = context.new_page()
        page.set_default_timeout(15_000)
        return page, calls

    yield make
    for context in contexts:
        context.close()


def _subscription_updated(entity: dict[str, Any], user_id: str) -> bytes:
    """Paddle's `subscription.updated` with the fake API's current state of a subscription."""
    data = copy.deepcopy(entity)
    data["custom_data"] = {"user_id": user_id}
    data.pop("management_urls", None)
    return json.dumps(
        {
            "event_id": f"evt_{uuid.uuid4().hex}",
            "event_type": "subscription.updated",
            "occurred_at": dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z"),
            "notification_id": f"ntf_{uuid.uuid4().hex}",
            "data": data,
        }
    ).encode()


def _wait_for(dashboard: LiveDashboard, user_id: str, done: Callable[[Any], bool]) -> None:
    """Until `GET /billing/subscription` satisfies `done` (the webhook's job has run)."""
    auth = {"authorization": f"Bearer {dashboard.token(user_id)}"}
    deadline = time.monotonic() + 15
    while True:
        sub = httpx.get(f"{dashboard.url}/billing/subscription", headers=auth, timeout=15).json()
        if done(sub):
            return
        assert time.monotonic() < deadline, sub
        time.sleep(0.1)


def _post_webhook(dashboard: LiveDashboard, body: bytes) -> httpx.Response:
    now = int(dt.datetime.now(dt.UTC).timestamp())
    return httpx.post(
        f"{dashboard.url}/webhooks/paddle",
        content=body,
        headers={"Paddle-Signature": sign(body, SECRET, now), "Content-Type": "application/json"},
        timeout=15,
    )


def test_upgrade_opens_paddle_checkout_and_the_webhook_makes_the_user_paid(
    signed_in: Any, paddle_dashboard: LiveDashboard
) -> None:
    email = "checkout.browser@example.com"
    user_id = paddle_dashboard.user(email)
    page, paddle = signed_in(user_id)
    with page.expect_request("**/app/vendor/paddle-js.mjs"):  # npm's loader, via make assets
        page.goto(f"{paddle_dashboard.url}/app/account")
    yearly = page.locator("#subscription [data-testid=checkout-button][data-plan=yearly]")
    yearly.wait_for()
    screenshot(page, "account-checkout-buttons")

    with page.expect_request("**/app/account/upgraded/status"):  # polling has started
        yearly.click()
        page.wait_for_url("**/app/account/upgraded")

    # Paddle.js was set up with the page's token and environment, and opened for the plan
    assert paddle.of("environment") == ["sandbox"]
    assert paddle.of("initialize") == [{"token": CLIENT_TOKEN}]
    (opened,) = paddle.of("open")
    assert opened["items"] == [{"priceId": YEARLY, "quantity": 1}]
    assert opened["customer"] == {"email": email}
    assert opened["customData"] == {"user_id": user_id}
    assert opened["settings"]["displayMode"] == "overlay"

    # checkout.completed only navigated: the user is not paid until Paddle's webhook says so
    status = page.get_by_test_id("upgrade-status")
    assert status.get_attribute("data-state") == "waiting"
    assert "Waiting for the payment to be confirmed" in status.inner_text()
    with page.expect_response("**/app/account/upgraded/status"):
        pass  # a poll came back still waiting
    assert page.get_by_test_id("upgrade-status").get_attribute("data-state") == "waiting"
    screenshot(page, "account-upgraded-waiting")

    answer = _post_webhook(paddle_dashboard, subscription_created(user_id))
    assert answer.status_code == 200 and answer.json()["status"] == "accepted"
    page.locator('[data-testid="upgrade-status"][data-state="paid"]').wait_for()
    assert "You are on the paid plan" in page.get_by_test_id("upgrade-status").inner_text()
    screenshot(page, "account-upgraded-paid")

    page.goto(f"{paddle_dashboard.url}/app/account")
    assert page.get_by_test_id("subscription-status").inner_text() == "active"
    assert page.get_by_test_id("checkout-button").count() == 0


def test_an_upgrade_prompt_opens_the_checkout_in_place(
    signed_in: Any, paddle_dashboard: LiveDashboard
) -> None:
    email = "checkout.prompt@example.com"
    user_id = paddle_dashboard.user(email)
    page, paddle = signed_in(user_id)
    page.goto(f"{paddle_dashboard.url}/app/bets")
    monthly = page.locator(
        "[data-testid=upgrade-prompt] [data-testid=checkout-button][data-plan=monthly]"
    ).first
    monthly.wait_for()
    monthly.click()
    page.wait_for_url("**/app/account/upgraded")
    (opened,) = paddle.of("open")
    assert opened["items"] == [{"priceId": MONTHLY, "quantity": 1}]
    assert opened["customData"] == {"user_id": user_id}
    assert page.get_by_test_id("upgrade-status").get_attribute("data-state") == "waiting"


def test_without_the_vendored_loader_checkout_loads_paddle_js_from_its_cdn(
    signed_in: Any, paddle_dashboard: LiveDashboard
) -> None:
    """`make assets` not run (or the loader failing): checkout.js injects Paddle's CDN script
    itself and sets it up the script-tag way (`Environment.set`, then `Initialize`)."""
    user_id = paddle_dashboard.user("checkout.cdn@example.com")
    page, paddle = signed_in(user_id)
    page.route("**/app/vendor/paddle-js.mjs", lambda route: route.fulfill(status=404))
    with page.expect_request(PADDLE_CDN):
        page.goto(f"{paddle_dashboard.url}/app/account")
    page.locator("#subscription [data-testid=checkout-button][data-plan=monthly]").click()
    page.wait_for_url("**/app/account/upgraded")
    assert paddle.of("environment") == ["sandbox"]
    assert paddle.of("initialize") == [{"token": CLIENT_TOKEN}]
    (opened,) = paddle.of("open")
    assert opened["items"] == [{"priceId": MONTHLY, "quantity": 1}]
    assert opened["customData"] == {"user_id": user_id}


def test_a_subscriber_cancels_at_the_period_end_and_keeps_the_subscription_again(
    signed_in: Any, paddle_dashboard: LiveDashboard, fake_paddle_api: tuple[FakePaddle, str]
) -> None:
    fake = fake_paddle_api[0]
    user_id = paddle_dashboard.user("checkout.subscriber@example.com")
    sub_id, ctm_id = f"sub_01{uuid.uuid4().hex}", f"ctm_01{uuid.uuid4().hex}"
    fake.add_subscription(sub_id, ctm_id, MONTHLY)
    fake.add_transaction("txn_01browser", ctm_id, sub_id)
    told = _post_webhook(
        paddle_dashboard, _subscription_updated(fake.subscriptions[sub_id], user_id)
    )
    assert told.status_code == 200

    page, _ = signed_in(user_id)
    page.goto(f"{paddle_dashboard.url}/app/account")
    receipt = page.get_by_test_id("receipt-link")  # loaded by htmx after the page
    receipt.wait_for()
    assert receipt.get_attribute("href") == "/app/account/transactions/txn_01browser/receipt"
    assert page.get_by_test_id("subscription-status").inner_text() == "active"
    screenshot(page, "account-subscriber")

    page.get_by_role("button", name="Cancel at the end of the period").click()
    page.get_by_test_id("billing-notice").wait_for()
    assert page.get_by_test_id("scheduled-change").count() == 0  # Paddle has not told us yet
    assert [c.body for c in fake.calls("POST", "/cancel")] == [
        {"effective_from": "next_billing_period"}
    ]

    told = _post_webhook(
        paddle_dashboard, _subscription_updated(fake.subscriptions[sub_id], user_id)
    )
    assert told.status_code == 200
    _wait_for(paddle_dashboard, user_id, lambda sub: sub["scheduled_change"] is not None)
    page.goto(f"{paddle_dashboard.url}/app/account")
    assert page.get_by_test_id("scheduled-change").inner_text().startswith("cancels on")
    screenshot(page, "account-subscriber-cancelling")
    page.set_viewport_size({"width": 390, "height": 844})  # a phone: nothing scrolls sideways
    page.get_by_test_id("receipt-link").wait_for()
    wide = page.evaluate(
        "[...document.querySelectorAll('body *')]"
        ".filter(e => e.getBoundingClientRect().right > window.innerWidth + 1"
        " && !e.closest('.table-wrap')).map(e => e.tagName + '.' + e.className + '#' + e.id)"
    )
    screenshot(page, "account-subscriber-phone")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), wide
    page.get_by_role("button", name="Keep my subscription").click()
    page.get_by_test_id("billing-notice").wait_for()
    assert fake.calls("PATCH")[-1].body == {"scheduled_change": None}


def test_a_subscriber_cancels_now_and_only_the_webhook_makes_them_free(
    signed_in: Any, paddle_dashboard: LiveDashboard, fake_paddle_api: tuple[FakePaddle, str]
) -> None:
    """Paid -> free in the browser, the webhook the only thing that changes the tier."""
    fake = fake_paddle_api[0]
    user_id = paddle_dashboard.user("checkout.leaver@example.com")
    sub_id, ctm_id = f"sub_01{uuid.uuid4().hex}", f"ctm_01{uuid.uuid4().hex}"
    fake.add_subscription(sub_id, ctm_id, MONTHLY)
    told = _post_webhook(
        paddle_dashboard, _subscription_updated(fake.subscriptions[sub_id], user_id)
    )
    assert told.status_code == 200
    _wait_for(paddle_dashboard, user_id, lambda sub: sub["tier"] == "paid")

    page, _ = signed_in(user_id)
    page.on("dialog", lambda dialog: dialog.accept())  # "Cancel now? Paid features stop at once."
    page.goto(f"{paddle_dashboard.url}/app/account")
    assert page.locator("header .badge").inner_text() == "paid"
    before = len(fake.calls("POST", "/cancel"))  # the fake is the module's: earlier tests too
    page.get_by_role("button", name="Cancel now").click()
    page.get_by_test_id("billing-notice").wait_for()
    cancels = [c.body for c in fake.calls("POST", "/cancel")][before:]
    assert cancels == [{"effective_from": "immediately"}]
    page.goto(f"{paddle_dashboard.url}/app/account")
    assert page.locator("header .badge").inner_text() == "paid"  # until Paddle tells us

    canceled = json.loads(_subscription_updated(fake.subscriptions[sub_id], user_id))
    canceled["event_type"] = "subscription.canceled"
    told = _post_webhook(paddle_dashboard, json.dumps(canceled).encode())
    assert told.status_code == 200
    _wait_for(paddle_dashboard, user_id, lambda sub: sub["tier"] == "free")
    page.goto(f"{paddle_dashboard.url}/app/account")
    assert page.locator("header .badge").inner_text() == "free"


def test_a_subscriber_updates_the_payment_method_through_paddle_js_and_pages_invoices(
    signed_in: Any, paddle_dashboard: LiveDashboard, fake_paddle_api: tuple[FakePaddle, str]
) -> None:
    """Paddle's flow: the API's transaction opened with `Checkout.open({transactionId})`, its
    completion back on the account page; then the older invoices, a page at a time."""
    fake = fake_paddle_api[0]
    user_id = paddle_dashboard.user("checkout.newcard@example.com")
    sub_id, ctm_id = f"sub_01{uuid.uuid4().hex}", f"ctm_01{uuid.uuid4().hex}"
    fake.add_subscription(sub_id, ctm_id, MONTHLY)
    for n in range(31):  # one more than Paddle's page
        fake.add_transaction(f"txn_01card{n:02d}", ctm_id, sub_id)
    told = _post_webhook(
        paddle_dashboard, _subscription_updated(fake.subscriptions[sub_id], user_id)
    )
    assert told.status_code == 200
    _wait_for(paddle_dashboard, user_id, lambda sub: sub["tier"] == "paid")

    page, paddle = signed_in(user_id)
    page.goto(f"{paddle_dashboard.url}/app/account")
    page.get_by_test_id("older-invoices").click()  # htmx swaps the payments box
    page.get_by_test_id("newest-invoices").wait_for()
    assert page.get_by_test_id("receipt-link").count() == 1
    assert page.get_by_test_id("receipt-link").get_attribute("href") == (
        "/app/account/transactions/txn_01card00/receipt"
    )
    screenshot(page, "account-older-invoices")

    page.get_by_test_id("payment-method-button").click()
    page.wait_for_url("**/app/account?billing=payment_method*")  # checkout.completed
    page.get_by_test_id("billing-notice").wait_for()
    (opened,) = paddle.of("open")
    update = fake.calls("GET", "/update-payment-method-transaction")
    assert (
        update and update[-1].path == f"/subscriptions/{sub_id}/update-payment-method-transaction"
    )
    assert opened["transactionId"].startswith("txn_") and "items" not in opened
    assert opened["settings"]["displayMode"] == "overlay"
    assert paddle.of("initialize") == [{"token": CLIENT_TOKEN}]
    screenshot(page, "account-payment-method-updated")
