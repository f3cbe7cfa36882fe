"""The account page's remaining subscription controls over ASGI, against the local fake of
Paddle's API: pause (and the pause shown once Paddle's webhook says so), resuming a paused
subscription, updating the payment method through Paddle's transaction flow, and payments a
page at a time ("Older invoices")."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.accounts.fake_paddle import VALID_KEY, FakePaddle, fixture
from tests.web.test_account_billing_controls import (  # noqa: F401  (fixtures)
    Account,
    _account,
    controls_db,
    fake,
    paddle_server,
)
from tests.web.test_account_checkout import CLIENT_TOKEN

pytestmark = pytest.mark.asyncio(loop_scope="session")

UPDATE_TXN = fixture("api_update_payment_method_transaction.json")["response"]["data"]


@pytest.fixture
async def account(
    controls_db: str,  # noqa: F811
    paddle_server: tuple[FakePaddle, str],  # noqa: F811
    fake: FakePaddle,  # noqa: F811
) -> AsyncIterator[Account]:
    async for made in _account(
        controls_db, paddle_api_key=VALID_KEY, paddle_api_url=paddle_server[1]
    ):
        yield made


async def test_pause_at_the_period_end_shows_once_paddle_confirms_and_can_be_undone(
    account: Account,
    fake: FakePaddle,  # noqa: F811
) -> None:
    user_id, cookie, sub_id, _ = await account.subscriber(fake)
    page = await account.client.get("/app/account", headers=cookie)
    form = re.search(r'<form[^>]*data-testid="pause-form".*?</form>', page.text, re.S)
    assert form and 'action="/app/account/subscription/pause"' in form.group(0)
    assert '<option value="now">' in form.group(0) and 'name="resume_on"' in form.group(0)

    r = await account.client.post(
        "/app/account/subscription/pause",
        headers=cookie,
        data={"when": "end_of_period", "resume_on": "2030-01-02"},
    )
    assert r.status_code == 303, r.text
    assert r.headers["location"] == "/app/account?billing=pause#subscription"
    (call,) = fake.calls("POST", "/pause")
    assert call.path == f"/subscriptions/{sub_id}/pause"
    assert call.body == {
        "effective_from": "next_billing_period",
        "resume_at": "2030-01-02T00:00:00.000000Z",
    }
    asked = await account.client.get(r.headers["location"], headers=cookie)
    assert "Paddle has your pause." in asked.text
    assert 'data-testid="scheduled-change"' not in asked.text  # not until Paddle confirms

    await account.tell(fake, sub_id, user_id)
    page = await account.client.get("/app/account", headers=cookie)
    scheduled = re.search(r'data-testid="scheduled-change">([^<]*)<', page.text)
    assert scheduled and scheduled.group(1).startswith("pauses on 2024-03-08")
    assert "resumes 2030-01-02" in scheduled.group(1)
    assert 'data-testid="pause-form"' not in page.text  # already pausing
    assert "Don&#39;t pause" in page.text or "Don't pause" in page.text
    undone = await account.client.post("/app/account/subscription/resume", headers=cookie)
    assert undone.status_code == 303
    assert fake.calls("PATCH")[-1].body == {"scheduled_change": None}


async def test_a_paused_subscription_says_so_and_resumes_from_the_page(
    account: Account,
    fake: FakePaddle,  # noqa: F811
) -> None:
    user_id, cookie, sub_id, _ = await account.subscriber(fake)
    r = await account.client.post(
        "/app/account/subscription/pause", headers=cookie, data={"when": "now"}
    )
    assert r.status_code == 303, r.text
    assert fake.calls("POST", "/pause")[0].body == {"effective_from": "immediately"}
    await account.tell(fake, sub_id, user_id)  # Paddle's webhook: paused

    page = await account.client.get("/app/account", headers=cookie)
    assert 'data-testid="subscription-status">paused<' in page.text
    assert 'data-testid="paused-notice"' in page.text
    button = re.search(r'data-testid="resume-button">([^<]*)<', page.text)
    assert button and button.group(1) == "Resume subscription now"
    for gone in ("pause-form", "cancel-form", "change-plan-form", "payment-method-button"):
        assert f'data-testid="{gone}"' not in page.text, gone

    resumed = await account.client.post("/app/account/subscription/resume", headers=cookie)
    assert resumed.status_code == 303
    assert resumed.headers["location"] == "/app/account?billing=resume#subscription"
    (call,) = fake.calls("POST", "/resume")
    assert call.path == f"/subscriptions/{sub_id}/resume"
    assert call.body == {"effective_from": "immediately"}


async def test_update_payment_method_opens_paddles_transaction_in_paddle_js(
    account: Account,
    fake: FakePaddle,  # noqa: F811
) -> None:
    _, cookie, sub_id, _ = await account.subscriber(fake)
    page = await account.client.get("/app/account", headers=cookie)
    assert 'action="/app/account/subscription/payment-method"' in page.text
    assert 'data-testid="payment-update"' not in page.text  # nothing asked of Paddle yet
    assert fake.calls("GET", "/update-payment-method-transaction") == []

    r = await account.client.post("/app/account/subscription/payment-method", headers=cookie)
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-store"
    (call,) = fake.calls("GET", "/update-payment-method-transaction")
    assert call.path == f"/subscriptions/{sub_id}/update-payment-method-transaction"
    box = re.search(r'<div class="paddle-checkout payment-update".*?</div>', r.text, re.S)
    assert box is not None
    assert f'data-transaction-id="{UPDATE_TXN["id"]}"' in box.group(0)
    assert "data-auto-open" in box.group(0)
    assert f'data-client-token="{CLIENT_TOKEN}"' in box.group(0)
    assert 'data-success-url="/app/account?billing=payment_method#subscription"' in box.group(0)
    assert 'src="/app/static/checkout.js"' in r.text
    done = await account.client.get(
        "/app/account?billing=payment_method#subscription", headers=cookie
    )
    assert "Paddle has your new payment method." in done.text


async def test_without_a_client_token_the_update_goes_to_paddles_hosted_checkout(
    controls_db: str,  # noqa: F811
    paddle_server: tuple[FakePaddle, str],  # noqa: F811
    fake: FakePaddle,  # noqa: F811
) -> None:
    async for account in _account(
        controls_db,
        paddle_api_key=VALID_KEY,
        paddle_api_url=paddle_server[1],
        paddle_client_token=None,
    ):
        _, cookie, _, _ = await account.subscriber(fake)
        r = await account.client.post("/app/account/subscription/payment-method", headers=cookie)
        assert r.status_code == 303, r.text
        assert r.headers["location"] == UPDATE_TXN["checkout"]["url"]
        assert r.headers["location"].endswith(f"?_ptxn={UPDATE_TXN['id']}")


async def test_older_invoices_follow_the_next_cursor(
    account: Account,
    fake: FakePaddle,  # noqa: F811
) -> None:
    _, cookie, sub_id, ctm_id = await account.subscriber(fake)
    for n in range(31):  # one more than a page of Paddle's
        fake.add_transaction(f"txn_01inv{n:02d}", ctm_id, sub_id)
    first = await account.client.get("/app/account/payments", headers=cookie)
    assert first.status_code == 200, first.text
    assert first.text.count('data-testid="receipt-link"') == 30
    assert "txn_01inv30" in first.text and "txn_01inv00" not in first.text
    older = re.search(
        r'<a href="([^"]+)" hx-get="([^"]+)"[^>]*data-testid="older-invoices"', first.text
    )
    assert older is not None
    assert older.group(1) == "/app/account?payments_after=txn_01inv01#payments"
    assert older.group(2) == "/app/account/payments?after=txn_01inv01"
    assert 'data-testid="newest-invoices"' not in first.text

    second = await account.client.get(older.group(2), headers=cookie)
    assert second.text.count('data-testid="receipt-link"') == 1
    assert 'href="/app/account/transactions/txn_01inv00/receipt"' in second.text
    assert 'data-testid="older-invoices"' not in second.text  # the last page
    assert 'data-testid="newest-invoices"' in second.text
    assert fake.calls("GET", "/transactions")[-1].query["after"] == "txn_01inv01"
    # the link's page itself (no htmx) asks for the same older page
    whole = await account.client.get(older.group(1).split("#")[0], headers=cookie)
    assert 'hx-get="/app/account/payments?after=txn_01inv01"' in whole.text
    bad = await account.client.get("/app/account/payments?after=../x", headers=cookie)
    assert bad.status_code == 200  # not a cursor: the newest page
    assert fake.calls("GET", "/transactions")[-1].query.get("after") is None


async def test_without_htmx_older_invoices_are_on_the_page_itself(
    controls_db: str,  # noqa: F811
    paddle_server: tuple[FakePaddle, str],  # noqa: F811
    fake: FakePaddle,  # noqa: F811
    tmp_path: Path,
) -> None:
    async for account in _account(
        controls_db,
        paddle_api_key=VALID_KEY,
        paddle_api_url=paddle_server[1],
        web_assets_dir=tmp_path,  # `make assets` not run
    ):
        _, cookie, sub_id, ctm_id = await account.subscriber(fake)
        for n in range(31):
            fake.add_transaction(f"txn_01inl{n:02d}", ctm_id, sub_id)
        page = await account.client.get(
            "/app/account", params={"payments_after": "txn_01inl01"}, headers=cookie
        )
        assert page.status_code == 200
        assert page.text.count('data-testid="receipt-link"') == 1
        assert 'href="/app/account/transactions/txn_01inl00/receipt"' in page.text
