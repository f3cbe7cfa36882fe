"""The Paddle API client against a local fake speaking the documented API, over a real socket.

Bodies are checked against the SDK's request fixtures (`api_subscription_request_bodies.json`),
answers are the SDK's response fixtures, errors the documented ones (`api_errors.json`).
Retries wait 0 s unless a `Retry-After` asks for more (capped small here).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from edgelab.accounts.billing.paddle_api import HOSTS, PaddleApi, api_base_url
from edgelab.core import http as core_http
from edgelab.core.errors import AppError, UpstreamError
from edgelab.core.settings import Settings
from tests.accounts.fake_paddle import VALID_KEY, FakePaddle, api_error, fixture, serve

pytestmark = pytest.mark.asyncio(loop_scope="session")

SHARED = Path("/work/shared/reference/payloads/paddle")
BODIES = fixture("api_subscription_request_bodies.json")
SUB, CTM = "sub_01hp463gxfvndqjjyqn2n7tkth", "ctm_01hp462x4578nc20acj9g956yy"


def make_settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {"http_timeout_seconds": 0.5, "http_max_retries": 2, **overrides}
    return Settings(_env_file=None, **values)


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[FakePaddle, str]]:
    fake = FakePaddle()
    with serve(fake.app) as base_url:
        yield fake, base_url


@pytest.fixture
def fake(server: tuple[FakePaddle, str]) -> FakePaddle:
    server[0].reset()
    server[0].add_subscription(SUB, CTM)
    return server[0]


@pytest.fixture
async def api(server: tuple[FakePaddle, str], fake: FakePaddle) -> AsyncIterator[PaddleApi]:
    client = PaddleApi(make_settings(), api_key=VALID_KEY, base_url=server[1], retry_initial_wait=0)
    yield client
    await client.aclose()


async def failure(call: Any) -> AppError:
    with pytest.raises(AppError) as info:
        await call
    return info.value


@pytest.mark.skipif(not SHARED.is_dir(), reason=f"{SHARED} is not on this machine")
async def test_the_copied_payloads_match_the_shared_reference() -> None:
    for path in sorted(Path(__file__).parent.joinpath("fixtures", "paddle").glob("api_*.json")):
        assert json.loads(path.read_text()) == json.loads((SHARED / path.name).read_text())


async def test_the_host_follows_the_environment_unless_set() -> None:
    assert api_base_url(make_settings()) == HOSTS["sandbox"] == "https://sandbox-api.paddle.com"
    production = make_settings(paddle_environment="production")
    assert api_base_url(production) == "https://api.paddle.com"
    assert api_base_url(make_settings(paddle_api_url="http://127.0.0.1:9/")) == "http://127.0.0.1:9"


# --- operations -------------------------------------------------------------------------------


async def test_get_subscription_reads_the_documented_entity_with_bearer_auth(
    api: PaddleApi, fake: FakePaddle
) -> None:
    sub = await api.get_subscription(SUB)
    assert (sub.id, sub.status, sub.customer_id) == (SUB, "active", CTM)
    assert sub.price_ids == ("pri_01gsz8x8sawmvhz1pv30nge1ke",)
    assert sub.scheduled_change is None
    assert sub.next_billed_at == dt.datetime(2024, 3, 8, 11, 2, 3, 946454, tzinfo=dt.UTC)
    (call,) = fake.requests
    assert call.headers["authorization"] == f"Bearer {VALID_KEY}"
    assert call.headers["paddle-version"] == "1"
    assert call.headers["x-transaction-id"]


async def test_cancel_at_the_period_end_sends_the_documented_body_and_schedules_it(
    api: PaddleApi, fake: FakePaddle
) -> None:
    sub = await api.cancel(SUB, "next_billing_period")
    assert fake.calls("POST", "/cancel")[0].body == BODIES["cancel_single"]["body"]
    assert sub.status == "active"
    assert sub.scheduled_change is not None and sub.scheduled_change["action"] == "cancel"


async def test_cancel_now_ends_it(api: PaddleApi, fake: FakePaddle) -> None:
    sub = await api.cancel(SUB, "immediately")
    assert fake.calls("POST", "/cancel")[0].body == {"effective_from": "immediately"}
    assert sub.status == "canceled" and sub.next_billed_at is None


async def test_pause_and_resume_send_the_sdk_bodies(api: PaddleApi, fake: FakePaddle) -> None:
    resume_at = dt.datetime(2023, 10, 9, 16, 30, tzinfo=dt.UTC)
    paused = await api.pause(SUB, "next_billing_period", resume_at=resume_at)
    assert fake.calls("POST", "/pause")[0].body == BODIES["pause_full"]["body"]
    assert paused.scheduled_change is not None and paused.scheduled_change["action"] == "pause"
    fake.subscriptions[SUB]["status"] = "paused"
    resumed = await api.resume(SUB)
    assert fake.calls("POST", "/resume")[0].body == BODIES["resume_single_as_enum"]["body"]
    assert resumed.status == "active"


async def test_removing_the_scheduled_change_patches_it_to_null(
    api: PaddleApi, fake: FakePaddle
) -> None:
    await api.cancel(SUB, "next_billing_period")
    sub = await api.remove_scheduled_change(SUB)
    assert fake.calls("PATCH")[0].body == {"scheduled_change": None}
    assert sub.scheduled_change is None


async def test_a_plan_change_replaces_the_items_with_a_proration_mode(
    api: PaddleApi, fake: FakePaddle
) -> None:
    sub = await api.change_price(SUB, "pri_01yearly", "prorated_immediately")
    assert fake.calls("PATCH")[0].body == {
        "items": [{"price_id": "pri_01yearly", "quantity": 1}],
        "proration_billing_mode": "prorated_immediately",
    }
    assert sub.price_ids == ("pri_01yearly",)


async def test_the_payment_method_transaction_carries_its_checkout_link(
    api: PaddleApi, fake: FakePaddle
) -> None:
    update = await api.payment_method_transaction(SUB)
    assert update.transaction_id == "txn_01h8by3n3w1zn9fsq9c93afsq3"
    assert update.checkout_url is not None and update.checkout_url.endswith(
        "?_ptxn=txn_01h8by3n3w1zn9fsq9c93afsq3"
    )
    assert fake.calls("GET", "/update-payment-method-transaction")


async def test_a_portal_session_is_created_for_the_customer(
    api: PaddleApi, fake: FakePaddle
) -> None:
    session = await api.portal_session(CTM, [SUB])
    call = fake.calls("POST", "/portal-sessions")[0]
    assert call.path == f"/customers/{CTM}/portal-sessions" and call.status == 201
    assert call.body == {"subscription_ids": [SUB]}
    assert session.overview_url.startswith("https://customer-portal.paddle.com/")
    assert session.cancel_url is not None and SUB in session.cancel_url


async def test_transactions_are_filtered_by_customer_and_billed_status_with_invoices(
    api: PaddleApi, fake: FakePaddle
) -> None:
    fake.add_transaction("txn_01aaa", CTM, SUB)
    fake.add_transaction("txn_01bbb", "ctm_01someoneelse", "sub_01other")
    page = await api.transactions(customer_ids=[CTM])
    assert [t.id for t in page.transactions] == ["txn_01aaa"] and page.next_after is None
    (txn,) = page.transactions
    assert (txn.total_minor, txn.tax_minor, txn.currency_code) == (65215, 5315, "USD")
    assert txn.invoice_number == "325-10566"
    query = fake.calls("GET", "/transactions")[0].query
    assert query["customer_id"] == CTM
    assert query["status"] == "billed,paid,completed,past_due"
    url = await api.invoice_url("txn_01aaa")
    assert url.endswith("txn_01aaa.pdf")
    assert fake.calls("GET", "/invoice")[0].query == {"disposition": "inline"}


async def test_transactions_come_a_page_at_a_time_by_paddles_after_cursor(
    api: PaddleApi, fake: FakePaddle
) -> None:
    for n in range(5):
        fake.add_transaction(f"txn_01page{n}", CTM, SUB)
    first = await api.transactions(customer_ids=[CTM], per_page=2)
    assert [t.id for t in first.transactions] == ["txn_01page4", "txn_01page3"]
    assert first.next_after == "txn_01page3"  # the `after` of Paddle's `meta.pagination.next`
    second = await api.transactions(customer_ids=[CTM], per_page=2, after=first.next_after)
    assert [t.id for t in second.transactions] == ["txn_01page2", "txn_01page1"]
    last = await api.transactions(customer_ids=[CTM], per_page=2, after=second.next_after)
    assert [t.id for t in last.transactions] == ["txn_01page0"]
    assert last.next_after is None  # has_more false: Paddle's `next` is not followed
    queries = [c.query for c in fake.calls("GET", "/transactions")]
    assert [q.get("after") for q in queries] == [None, "txn_01page3", "txn_01page1"]
    assert {q["per_page"] for q in queries} == {"2"}
    many = await api.transactions(customer_ids=[CTM], per_page=500)
    assert len(many.transactions) == 5  # Paddle's page is at most 30: never asked for more
    assert fake.calls("GET", "/transactions")[-1].query["per_page"] == "30"
    with pytest.raises(ValueError):  # a cursor is a Paddle id, nothing else reaches Paddle
        await api.transactions(customer_ids=[CTM], after="txn_01&status=draft")


async def test_ids_that_are_not_paddle_ids_never_reach_a_path(api: PaddleApi) -> None:
    for bad in ("../customers", "sub_../x", "txn_01"):
        with pytest.raises(ValueError):
            await api.get_subscription(bad)


# --- errors -----------------------------------------------------------------------------------


async def test_a_bad_key_is_403_invalid_token_and_answers_paddle_auth_failed(
    server: tuple[FakePaddle, str], fake: FakePaddle
) -> None:
    wrong = "pdl_live_apikey_not_this_one"
    client = PaddleApi(make_settings(), api_key=wrong, base_url=server[1], retry_initial_wait=0)
    try:
        error = await failure(client.get_subscription(SUB))
    finally:
        await client.aclose()
    assert (error.code, error.status_code) == ("paddle_auth_failed", 502)
    assert error.details["paddle_code"] == "invalid_token"
    assert error.details["upstream_status"] == 403
    assert wrong not in error.message and wrong not in json.dumps(error.details)
    assert len(fake.requests) == 1  # a refused key is not retried


async def test_an_unknown_subscription_is_paddle_not_found(api: PaddleApi) -> None:
    error = await failure(api.get_subscription("sub_01nosuchthing"))
    assert (error.code, error.status_code) == ("paddle_not_found", 404)
    assert error.details["paddle_code"] == "not_found"


@pytest.mark.parametrize(
    ("name", "code", "status"),
    [
        ("subscription_locked_pending_changes", "paddle_refused", 409),
        ("subscription_locked_renewal", "paddle_refused", 409),
        ("subscription_items_update_missing_proration_billing_mode", "paddle_refused", 409),
        ("bad_request_with_field_errors", "paddle_bad_request", 502),
    ],
)
async def test_request_errors_carry_paddles_code_in_details(
    api: PaddleApi, fake: FakePaddle, name: str, code: str, status: int
) -> None:
    entry = api_error(name)
    fake.plan(status=entry["status"], body=entry["body"])
    error = await failure(api.cancel(SUB, "next_billing_period"))
    assert (error.code, error.status_code) == (code, status)
    assert error.details["paddle_code"] == entry["body"]["error"]["code"]
    assert error.details["request_id"] == entry["body"]["meta"]["request_id"]
    if name == "bad_request_with_field_errors":
        assert error.details["errors"] == [{"field": "some_field", "message": "Some error message"}]
    assert len(fake.requests) == 1  # never retried


async def test_a_429_is_retried_after_its_retry_after_then_succeeds(
    api: PaddleApi, fake: FakePaddle, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(core_http, "MAX_RETRY_AFTER_SECONDS", 0.05)
    entry = api_error("too_many_requests")
    fake.plan(status=429, body=entry["body"], headers=entry["headers"])
    sub = await api.get_subscription(SUB)
    assert sub.id == SUB
    assert [r.status for r in fake.requests] == [429, 200]
    ids = {r.headers["x-transaction-id"] for r in fake.requests}
    assert len(ids) == 1  # one logical call, one transaction id across its retries


async def test_a_persistent_429_answers_paddle_rate_limited_with_its_retry_after(
    api: PaddleApi, fake: FakePaddle, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(core_http, "MAX_RETRY_AFTER_SECONDS", 0.01)
    entry = api_error("too_many_requests")
    fake.plan(status=429, body=entry["body"], headers=entry["headers"], times=3)
    error = await failure(api.get_subscription(SUB))
    assert isinstance(error, UpstreamError)
    assert (error.code, error.status_code) == ("paddle_rate_limited", 503)
    assert error.headers["Retry-After"] == "42"
    assert len(fake.requests) == 3


async def test_a_5xx_is_retried_then_succeeds(api: PaddleApi, fake: FakePaddle) -> None:
    fake.plan(status=502, body="<html>bad gateway</html>")
    fake.plan(status=500)
    sub = await api.cancel(SUB, "next_billing_period")
    assert sub.scheduled_change is not None
    assert [r.status for r in fake.requests] == [502, 500, 200]


async def test_persistent_5xx_answers_paddle_unavailable(api: PaddleApi, fake: FakePaddle) -> None:
    fake.plan(status=503, times=3)
    error = await failure(api.get_subscription(SUB))
    assert (error.code, error.status_code) == ("paddle_unavailable", 503)
    assert error.headers["Retry-After"] == "30"


async def test_a_timeout_is_retried_then_answers_paddle_unavailable(
    api: PaddleApi, fake: FakePaddle
) -> None:
    fake.plan(delay=1.0, times=3)  # the client waits 0.5 s
    error = await failure(api.get_subscription(SUB))
    assert (error.code, error.status_code) == ("paddle_unavailable", 503)
    assert error.details["error"] == "timeout"
    assert len(fake.requests) == 3


async def test_a_late_answer_within_the_retries_succeeds(api: PaddleApi, fake: FakePaddle) -> None:
    fake.plan(delay=1.0)
    assert (await api.get_subscription(SUB)).id == SUB


async def test_a_body_that_is_not_json_or_has_no_data_is_paddle_bad_response(
    api: PaddleApi, fake: FakePaddle
) -> None:
    fake.plan(status=200, body="<html>maintenance</html>")
    error = await failure(api.get_subscription(SUB))
    assert (error.code, error.status_code) == ("paddle_bad_response", 502)
    fake.plan(status=200, body={"meta": {"request_id": "x"}})
    error = await failure(api.get_subscription(SUB))
    assert error.code == "paddle_bad_response"


# --- plans (settings) -------------------------------------------------------------------------


async def test_plans_come_from_the_pairs_and_the_lone_price_id_stays_the_default() -> None:
    from edgelab.accounts.billing.plans import default_price_id, plan_of, plans

    both = make_settings(paddle_price_ids="monthly=pri_m, yearly=pri_y", paddle_price_id="pri_old")
    assert plans(both) == {"monthly": "pri_m", "yearly": "pri_y", "default": "pri_old"}
    assert default_price_id(both) == "pri_old" and plan_of(both, "pri_y") == "yearly"
    named = make_settings(paddle_price_ids="monthly=pri_m,yearly=pri_y", paddle_price_id="pri_y")
    assert plans(named) == {"monthly": "pri_m", "yearly": "pri_y"}
    pairs_only = make_settings(paddle_price_ids="monthly=pri_m,yearly=pri_y")
    assert default_price_id(pairs_only) == "pri_m"
    assert plans(make_settings()) == {} and default_price_id(make_settings()) is None
    for bad in ("monthly", "monthly=", "=pri_m", "monthly=price_m"):
        with pytest.raises(ValueError, match="plan=pri_"):
            make_settings(paddle_price_ids=bad)
