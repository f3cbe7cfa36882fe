"""The Resend client against a local fake server speaking the documented ``POST /emails``.

Every call crosses a real socket (uvicorn on 127.0.0.1), as in production. Retries wait 0 s
unless a ``Retry-After`` asks for more; clients run at 20 requests/second except in the tests
of the 2/s limit itself.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import socket
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import aclosing
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest

from edgelab.core.email.resend import EmailMessage, ResendClient, SentEmail
from edgelab.core.errors import InvalidInputError, UpstreamError
from edgelab.core.settings import Settings
from tests.accounts.fake_resend import PAYLOADS, VALID_KEY, FakeResend, load, recorded_email, serve

pytestmark = pytest.mark.asyncio(loop_scope="session")

SHARED = Path("/work/shared/reference/payloads/resend")
FAST = 20.0  # requests/second for tests that are not about the limit


def make_settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {"http_timeout_seconds": 0.5, "http_max_retries": 2, **overrides}
    return Settings(_env_file=None, **values)


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[FakeResend, str]]:
    fake = FakeResend()
    with serve(fake.app) as base_url:
        yield fake, base_url


@pytest.fixture
def fake(server: tuple[FakeResend, str]) -> FakeResend:
    server[0].reset()
    return server[0]


@pytest.fixture
def url(server: tuple[FakeResend, str], fake: FakeResend) -> str:
    return server[1]


def make_client(url: str, *, settings: Settings | None = None, **kwargs: Any) -> ResendClient:
    options: dict[str, Any] = {"api_key": VALID_KEY, "max_per_second": FAST, **kwargs}
    return ResendClient(settings or make_settings(), base_url=url, retry_initial_wait=0, **options)


@pytest.fixture
async def client(url: str) -> AsyncIterator[ResendClient]:
    resend = make_client(url)
    yield resend
    await resend.aclose()


async def upstream_error(call: Any) -> UpstreamError:
    with pytest.raises(UpstreamError) as info:
        await call
    return info.value


# ---------------------------------------------------------------- happy paths


@pytest.mark.skipif(not SHARED.is_dir(), reason=f"{SHARED} is not on this machine")
async def test_embedded_payloads_match_the_shared_reference() -> None:
    for name, payload in PAYLOADS.items():
        assert json.loads((SHARED / f"{name}.json").read_text()) == payload, name


async def test_send_returns_the_id_and_follows_the_contract(
    client: ResendClient, fake: FakeResend
) -> None:
    sent = await client.send(recorded_email(), idempotency_key="welcome/user-1")

    assert isinstance(sent, SentEmail) and sent.id == fake.sent[0]["id"]
    assert len(sent.id) == len(load("send_email_response")["id"])  # a uuid, like Resend's
    (request,) = fake.requests
    assert request.headers["authorization"] == f"Bearer {VALID_KEY}"
    assert request.headers["idempotency-key"] == "welcome/user-1"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["user-agent"].startswith("edgelab/")
    expected = load("send_email_request")
    del expected["headers"]  # custom email headers are not part of EmailMessage
    assert request.body == expected
    assert request.body["reply_to"] == ["support@example.com"] and "replyTo" not in request.body
    assert request.body["tags"] == [{"name": "category", "value": "confirm_email"}]


async def test_optional_fields_left_out_and_fifty_recipients_accepted(
    client: ResendClient, fake: FakeResend
) -> None:
    to = [f"u{i}@example.com" for i in range(50)]
    message = EmailMessage(to=to, subject="Code", html="", text="123", sender="me@example.com")
    await client.send(message, idempotency_key="k")

    expected = {"from": "me@example.com", "to": to, "subject": "Code", "text": "123"}
    assert fake.requests[0].body == expected


async def test_same_idempotency_key_returns_the_same_id(
    client: ResendClient, fake: FakeResend
) -> None:
    first = await client.send(recorded_email(), idempotency_key="reset/42")
    again = await client.send(recorded_email(), idempotency_key="reset/42")
    other = await client.send(recorded_email(), idempotency_key="reset/43")

    assert again.id == first.id and other.id != first.id
    assert len(fake.requests) == 3 and len(fake.sent) == 2  # the repeat delivered nothing


async def test_same_key_with_another_body_is_rejected_permanently(
    client: ResendClient, fake: FakeResend
) -> None:
    await client.send(recorded_email(), idempotency_key="reset/42")
    changed = replace(recorded_email(), subject="Something else")
    err = await upstream_error(client.send(changed, idempotency_key="reset/42"))

    assert (err.code, err.status_code) == ("email_rejected", 502)
    assert err.details["upstream_name"] == "invalid_idempotent_request"
    assert err.details["permanent"] is True
    assert fake.statuses == [200, 409]  # not retried


async def test_duplicate_in_flight_is_retried_until_the_first_answers(
    url: str, fake: FakeResend
) -> None:
    fake.processing_delay = 0.3
    async with aclosing(make_client(url, max_per_second=5)) as resend:  # attempts 0.2 s apart
        first, second = await asyncio.gather(
            resend.send(recorded_email(), idempotency_key="dup"),
            resend.send(recorded_email(), idempotency_key="dup"),
        )

    assert first.id == second.id and len(fake.sent) == 1
    assert 409 in fake.statuses  # concurrent_idempotent_requests, then the remembered id


# ---------------------------------------------------------------- refused by Resend


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        ("error_validation_422", "email_rejected"),
        ("error_missing_api_key_401", "email_auth_failed"),
    ],
)
async def test_recorded_4xx_errors_are_permanent_and_not_retried(
    client: ResendClient, fake: FakeResend, payload: str, code: str
) -> None:
    body = load(payload)
    fake.plan(status=body["statusCode"], body=body, times=3)
    err = await upstream_error(client.send(recorded_email(), idempotency_key="k"))

    assert (err.code, err.status_code) == (code, 502)
    assert err.details == {
        "upstream_status": body["statusCode"],
        "upstream_name": body["name"],
        "upstream_message": body["message"],
        "permanent": True,
    }
    assert body["message"] in err.message and len(fake.requests) == 1


async def test_bad_sender_is_rejected_by_resend(client: ResendClient, fake: FakeResend) -> None:
    message = replace(recorded_email(), sender="Acme <onboarding@localhost>")
    err = await upstream_error(client.send(message, idempotency_key="k"))

    assert err.code == "email_rejected" and err.details["permanent"] is True
    assert "Invalid `from` field" in err.details["upstream_message"]
    assert "Invalid `from` field" in err.message


async def test_wrong_key_403_is_auth_failed_and_not_echoed(url: str, fake: FakeResend) -> None:
    wrong = "re_wrong_secret_value"
    async with aclosing(make_client(url, api_key=wrong)) as resend:
        err = await upstream_error(resend.send(recorded_email(), idempotency_key="k"))

    assert (err.code, err.status_code) == ("email_auth_failed", 502)
    assert err.details["upstream_name"] == "invalid_api_key"
    assert wrong not in err.message and wrong not in json.dumps(err.details)
    assert fake.statuses == [403]


# ---------------------------------------------------------------- transient failures


async def test_429_then_success_is_retried_after_retry_after(
    client: ResendClient, fake: FakeResend
) -> None:
    example = load("rate_limit_headers_example")
    fake.plan(status=429, body=load("error_rate_limit_429"), headers=example["headers"])
    started = time.monotonic()
    sent = await client.send(recorded_email(), idempotency_key="k")

    assert sent.id == fake.sent[0]["id"]
    assert fake.statuses == [429, 200]
    assert time.monotonic() - started >= 0.9  # Retry-After: 1 honoured


async def test_429_exhausted_is_rate_limited_with_retry_after(url: str, fake: FakeResend) -> None:
    example = load("rate_limit_headers_example")
    fake.plan(status=429, body=load("error_rate_limit_429"), headers=example["headers"], times=2)
    async with aclosing(make_client(url, settings=make_settings(http_max_retries=1))) as resend:
        err = await upstream_error(resend.send(recorded_email(), idempotency_key="k"))

    assert (err.code, err.status_code) == ("email_rate_limited", 503)
    assert err.retry_after == 1 and err.headers == {"Retry-After": "1"}
    assert err.details["upstream_name"] == "rate_limit_exceeded"
    assert err.details["permanent"] is False and err.details["quota_exceeded"] is False
    assert fake.statuses == [429, 429]


async def test_spent_quota_429_is_not_retried(client: ResendClient, fake: FakeResend) -> None:
    body = {"statusCode": 429, "name": "daily_quota_exceeded", "message": "Daily quota reached."}
    fake.plan(status=429, body=body, times=3)
    err = await upstream_error(client.send(recorded_email(), idempotency_key="k"))

    assert err.code == "email_rate_limited" and err.details["quota_exceeded"] is True
    assert err.retry_after == 3600 and err.details["permanent"] is False  # no header: an hour
    assert len(fake.requests) == 1


async def test_5xx_twice_then_success(client: ResendClient, fake: FakeResend) -> None:
    fake.plan(status=500, body={"statusCode": 500, "name": "application_error", "message": "x"})
    fake.plan(status=503, body="<html>Service Unavailable</html>")
    sent = await client.send(recorded_email(), idempotency_key="k")

    assert sent.id == fake.sent[0]["id"]
    assert fake.statuses == [500, 503, 200]
    assert {r.headers["idempotency-key"] for r in fake.requests} == {"k"}


async def test_5xx_exhausted_is_unavailable_and_the_key_is_never_logged(
    client: ResendClient, fake: FakeResend, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    await client.send(recorded_email(), idempotency_key="k")
    fake.plan(status=500, body={"statusCode": 500, "name": "internal_server_error"}, times=3)
    err = await upstream_error(client.send(recorded_email(), idempotency_key="k2"))

    assert (err.code, err.status_code) == ("email_unavailable", 503)
    assert err.details["upstream_name"] == "internal_server_error"
    assert err.details["permanent"] is False
    assert fake.statuses == [200, 500, 500, 500]
    assert any(r.name == "edgelab.core.email.resend" for r in caplog.records)
    assert VALID_KEY not in caplog.text and VALID_KEY not in repr(client)


async def test_timeout_is_unavailable_and_resending_the_key_is_safe(
    client: ResendClient, fake: FakeResend
) -> None:
    fake.plan(delay=1.0, times=3)  # answers late: each attempt times out at 0.5 s
    err = await upstream_error(client.send(recorded_email(), idempotency_key="late"))

    assert (err.code, err.status_code) == ("email_unavailable", 503)
    assert err.details == {"error": "ReadTimeout", "attempts": 3, "permanent": False}
    assert len(fake.requests) == 3
    for _ in range(100):  # bounded poll: the fake's late handlers finish on their own thread
        if all(fake.statuses):
            break
        await asyncio.sleep(0.05)
    again = await client.send(recorded_email(), idempotency_key="late")
    assert [e["id"] for e in fake.sent] == [again.id]  # delivered once despite four requests


async def test_connection_refused_is_unavailable(fake: FakeResend) -> None:
    with socket.socket() as sock:  # a port nobody listens on once closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    async with aclosing(make_client(f"http://127.0.0.1:{port}")) as resend:
        err = await upstream_error(resend.send(recorded_email(), idempotency_key="k"))

    assert (err.code, err.status_code) == ("email_unavailable", 503)
    assert err.details["error"] == "ConnectError" and err.details["permanent"] is False


@pytest.mark.parametrize("body", ["<html>ok</html>", {"ok": True}, {"id": ""}, [1]])
async def test_malformed_success_body_is_bad_response(
    client: ResendClient, fake: FakeResend, body: Any
) -> None:
    fake.plan(status=200, body=body)
    err = await upstream_error(client.send(recorded_email(), idempotency_key="k"))

    assert (err.code, err.status_code) == ("email_bad_response", 502)
    assert err.details["permanent"] is False  # a resend with the same key is safe
    assert len(fake.requests) == 1


# ---------------------------------------------------------------- refused before any request


@pytest.mark.parametrize(
    ("changes", "key", "problem"),
    [
        ({"to": [f"u{i}@example.com" for i in range(51)]}, "k", "at most 50 recipients"),
        ({"to": []}, "k", "at least one address"),
        ({"to": "a@example.com"}, "k", "list of addresses"),
        ({"to": ["not-an-address"]}, "k", "not an email address"),
        ({"subject": "Hi\r\nBcc: x@example.com"}, "k", "single line"),
        ({"subject": " "}, "k", "subject"),
        ({"html": "", "text": ""}, "k", "html or text"),
        ({"sender": ""}, "k", "sender"),
        ({"reply_to": []}, "k", "reply_to"),
        ({"tags": {"bad tag": "x"}}, "k", "tag 'bad tag'"),
        ({}, "", "idempotency key"),
        ({}, "k" * 257, "idempotency key"),
        ({}, "ключ", "idempotency key"),
    ],
)
async def test_invalid_messages_are_refused_before_any_request(
    client: ResendClient, fake: FakeResend, changes: dict[str, Any], key: str, problem: str
) -> None:
    with pytest.raises(InvalidInputError) as info:
        await client.send(replace(recorded_email(), **changes), idempotency_key=key)

    assert info.value.code == "email_invalid" and problem in info.value.message
    assert info.value.details["permanent"] is True
    assert fake.requests == []


# ---------------------------------------------------------------- the 2 requests/second limit


async def test_five_sends_are_spaced_to_two_per_second(url: str, fake: FakeResend) -> None:
    fake.enforce_rate_limit(2)  # Resend's own limit: a burst would meet 429s
    async with aclosing(
        ResendClient(make_settings(), api_key=VALID_KEY, base_url=url)
    ) as resend:  # defaults: 2/s
        started = time.monotonic()
        sent = await asyncio.gather(
            *(resend.send(recorded_email(), idempotency_key=f"k{i}") for i in range(5))
        )
        elapsed = time.monotonic() - started

    assert elapsed >= 1.9  # slots at 0, 0.5, 1.0, 1.5, 2.0 s
    assert len({s.id for s in sent}) == 5
    assert fake.statuses == [200] * 5  # spaced, not refused
    arrivals = [r.at for r in fake.requests]
    assert all(b - a >= 0.4 for a, b in itertools.pairwise(arrivals))


async def test_unspaced_burst_meets_resends_429(url: str, fake: FakeResend) -> None:
    fake.enforce_rate_limit(2)
    async with aclosing(
        make_client(url, settings=make_settings(http_max_retries=0), max_per_second=1000)
    ) as resend:
        results = await asyncio.gather(
            *(resend.send(recorded_email(), idempotency_key=f"k{i}") for i in range(4)),
            return_exceptions=True,
        )

    errors = [r for r in results if isinstance(r, UpstreamError)]
    assert errors and all(e.code == "email_rate_limited" and e.retry_after == 1 for e in errors)
    assert 429 in fake.statuses


# ---------------------------------------------------------------- hygiene


async def test_client_closes_only_what_it_made(url: str, fake: FakeResend) -> None:
    shared = httpx.AsyncClient()
    borrowed = make_client(url, client=shared)
    await borrowed.send(recorded_email(), idempotency_key="k")
    await borrowed.aclose()
    assert not shared.is_closed
    await shared.aclose()

    own = make_client(url)
    await own.aclose()
    assert own._client.is_closed


@pytest.mark.parametrize(
    "kwargs", [{"api_key": " "}, {"max_per_second": 0}, {"max_per_second": float("inf")}]
)
async def test_constructor_refuses_unusable_settings(kwargs: dict[str, Any]) -> None:
    options = {"api_key": VALID_KEY, **kwargs}
    with pytest.raises(ValueError):
        ResendClient(make_settings(), **options)
