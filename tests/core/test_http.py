"""Outbound HTTP: what is retried, how long we wait, and what every request carries.

Upstreams are `httpx.MockTransport` handlers that count calls; nothing leaves the process.
Backoff is zeroed (`initial_wait=0, max_wait=0`) except where the wait itself is the subject.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import httpx
import pytest

from edgelab.core import http as core_http
from edgelab.core.cache import MemoryCache
from edgelab.core.errors import UpstreamError
from edgelab.core.http import make_http_client, retry_after_header, send_with_retries
from edgelab.core.http.redaction import QueryParamMask, mask_query_param
from edgelab.core.http.stale import StaleCache
from edgelab.core.http.upstream import Refusal, Unreachable, service_error
from edgelab.core.http.upstream import Upstream as Service
from edgelab.core.settings import Settings
from tests.fixtures.database import make_settings

pytestmark = pytest.mark.asyncio(loop_scope="session")

NO_WAIT = {"initial_wait": 0.0, "max_wait": 0.0}


class Upstream:
    """Answers from a script, one entry per call (the last one repeats); counts calls."""

    def __init__(self, *script: int | httpx.Response | Exception) -> None:
        self.script = list(script)
        self.calls = 0
        self.times: list[float] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.times.append(time.monotonic())
        step = self.script[min(self.calls, len(self.script) - 1)]
        self.calls += 1
        if isinstance(step, Exception):
            raise step
        if isinstance(step, int):
            return httpx.Response(step, json={"call": self.calls})
        return step


def _settings(**overrides: object) -> Settings:
    return make_settings("sqlite+aiosqlite:///:memory:", **overrides)


async def _run(
    upstream: Upstream, attempts: int, waits: list[float] | None = None, **kwargs: float
) -> httpx.Response:
    """`waits`, when given, records each wait between attempts instead of sleeping it."""

    async def record(seconds: float) -> None:
        assert waits is not None
        waits.append(seconds)

    async with httpx.AsyncClient(
        transport=httpx.MockTransport(upstream), base_url="https://upstream.test"
    ) as client:
        return await send_with_retries(
            lambda: client.get("/v4/odds"),
            attempts=attempts,
            **({} if waits is None else {"sleep": record}),
            **{**NO_WAIT, **kwargs},
        )


async def test_retries_503_then_returns_the_success() -> None:
    upstream = Upstream(503, 503, 200)
    response = await _run(upstream, attempts=4)
    assert response.status_code == 200
    assert response.json() == {"call": 3}
    assert upstream.calls == 3


@pytest.mark.parametrize("status", [429, 500, 502, 504])
async def test_other_transient_statuses_are_retried(status: int) -> None:
    upstream = Upstream(status, 200)
    response = await _run(upstream, attempts=3)
    assert response.status_code == 200
    assert upstream.calls == 2


async def test_gives_up_after_attempts_and_returns_the_last_503() -> None:
    upstream = Upstream(503)
    response = await _run(upstream, attempts=3)
    assert upstream.calls == 3
    assert response.status_code == 503
    assert response.json() == {"call": 3}, "the last answer, not the first"


async def test_attempts_below_one_still_tries_once() -> None:
    upstream = Upstream(503)
    response = await _run(upstream, attempts=0)
    assert upstream.calls == 1
    assert response.status_code == 503


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
async def test_client_errors_are_not_retried(status: int) -> None:
    upstream = Upstream(status, 200)
    response = await _run(upstream, attempts=5)
    assert upstream.calls == 1
    assert response.status_code == status


async def test_success_is_returned_at_once() -> None:
    upstream = Upstream(200)
    response = await _run(upstream, attempts=5)
    assert upstream.calls == 1
    assert response.status_code == 200


async def test_honours_a_small_retry_after() -> None:
    upstream = Upstream(httpx.Response(503, headers={"Retry-After": "0.4"}), 200)
    waits: list[float] = []
    response = await _run(upstream, attempts=3, waits=waits)
    assert response.status_code == 200
    assert upstream.calls == 2
    assert waits == [0.4]  # the hint, not the (zero) back-off


async def test_retry_after_on_429_is_honoured() -> None:
    upstream = Upstream(httpx.Response(429, headers={"Retry-After": "0.3"}), 200)
    response = await _run(upstream, attempts=2)
    assert response.status_code == 200
    assert upstream.times[1] - upstream.times[0] >= 0.3 - 0.02


async def test_retry_after_is_capped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(core_http, "MAX_RETRY_AFTER_SECONDS", 0.25)
    upstream = Upstream(httpx.Response(503, headers={"Retry-After": "3600"}), 200)
    waits: list[float] = []
    response = await _run(upstream, attempts=2, waits=waits)
    assert response.status_code == 200
    assert waits == [0.25], "the cap was not applied"


async def test_no_wait_after_the_last_attempt() -> None:
    upstream = Upstream(httpx.Response(503, headers={"Retry-After": "20"}))
    waits: list[float] = []
    response = await _run(upstream, attempts=1, waits=waits)
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "20", "the caller can pass the hint on"
    assert waits == []


@pytest.mark.parametrize("value", ["soon", "Wed, 21 Oct 2015 07:28:00 GMT", "-5"])
async def test_unusable_retry_after_does_not_stall(value: str) -> None:
    upstream = Upstream(httpx.Response(503, headers={"Retry-After": value}), 200)
    waits: list[float] = []
    response = await _run(upstream, attempts=2, initial_wait=0.1, max_wait=1.0, waits=waits)
    assert response.status_code == 200
    assert len(waits) == 1 and waits[0] <= 0.2  # the back-off (0.1 + jitter), hint ignored


async def test_timeouts_are_retried_then_reraised() -> None:
    upstream = Upstream(httpx.ReadTimeout("upstream too slow"))
    with pytest.raises(httpx.TimeoutException):
        await _run(upstream, attempts=3)
    assert upstream.calls == 3


async def test_timeout_then_success_recovers() -> None:
    upstream = Upstream(httpx.ConnectTimeout("slow connect"), 200)
    response = await _run(upstream, attempts=3)
    assert response.status_code == 200
    assert upstream.calls == 2


async def test_connection_errors_are_retried_then_reraised() -> None:
    upstream = Upstream(httpx.ConnectError("connection refused"))
    with pytest.raises(httpx.ConnectError):
        await _run(upstream, attempts=2)
    assert upstream.calls == 2


async def test_unrelated_exceptions_are_not_retried() -> None:
    upstream = Upstream(ValueError("bug in our code"))
    with pytest.raises(ValueError):
        await _run(upstream, attempts=5)
    assert upstream.calls == 1


async def test_retries_back_off_without_a_retry_after_hint() -> None:
    """Without a Retry-After hint the retries still back off rather than hammer."""
    upstream = Upstream(503, 200)
    response = await _run(upstream, attempts=2, initial_wait=0.2, max_wait=0.2)
    assert response.status_code == 200
    assert upstream.times[1] - upstream.times[0] >= 0.2 - 0.02


async def test_http_client_sends_user_agent_and_timeout_from_settings() -> None:
    settings = _settings(
        http_user_agent="edgelab-test/9 (ops@edgelab.invalid)", http_timeout_seconds=2.5
    )
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={})

    async with make_http_client(
        settings,
        base_url="https://api.example.test",
        headers={"X-Api-Key": "k"},
        transport=httpx.MockTransport(handler),
    ) as client:
        assert client.timeout.read == 2.5
        assert client.timeout.connect == 2.5
        await client.get("/v4/sports")
    [request] = seen
    assert request.url == "https://api.example.test/v4/sports"
    assert request.headers["user-agent"] == "edgelab-test/9 (ops@edgelab.invalid)"
    assert request.headers["x-api-key"] == "k"
    assert request.extensions["timeout"]["read"] == 2.5


async def test_http_client_connect_timeout_is_capped_at_five_seconds() -> None:
    settings = _settings(http_timeout_seconds=30)
    async with make_http_client(settings, base_url="https://x.test") as client:
        assert client.timeout.read == 30
        assert client.timeout.connect == 5.0


async def test_http_client_default_user_agent_identifies_edgelab() -> None:
    settings = _settings()
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["user-agent"])
        return httpx.Response(204)

    async with make_http_client(
        settings, base_url="https://x.test", transport=httpx.MockTransport(handler)
    ) as client:
        await client.get("/")
    assert seen and seen[0].startswith("edgelab/")
    assert "python-httpx" not in seen[0]


# ---------------------------------------------------------------- the service layer


def _teapot_refused(refusal: Refusal) -> Exception:
    """A service's own mapping: its codes, echoing what the upstream said."""
    code = "teapot_rate_limited" if refusal.status == 429 else "teapot_rejected"
    return service_error(code, refusal.said("message"), details={"status": refusal.status})


def _service(**options: Any) -> Service:
    settings = _settings(http_max_retries=2, http_timeout_seconds=1.5)
    return Service(
        "Teapot", settings, **{"refused": _teapot_refused, "initial_wait": 0.0, **options}
    )


async def _request(service: Service, upstream: Upstream, **kwargs: Any) -> httpx.Response:
    async with httpx.AsyncClient(
        transport=httpx.MockTransport(upstream), base_url="https://teapot.test"
    ) as client:
        return await service.request(lambda: client.get("/brew"), **kwargs)


async def _failure(service: Service, upstream: Upstream, **kwargs: Any) -> UpstreamError:
    with pytest.raises(UpstreamError) as caught:
        await _request(service, upstream, **kwargs)
    return caught.value


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("teapot_rate_limited", 503),
        ("upstream_unavailable", 503),
        ("teapot_auth_failed", 502),
        ("teapot_bad_response", 502),
        ("teapot_unavailable_region", 502),
    ],
)
async def test_service_errors_are_503_only_when_waiting_may_help(code: str, status: int) -> None:
    error = service_error(code, "x", retry_after=7)
    assert (error.code, error.status_code) == (code, status)
    assert error.headers == {"Retry-After": "7"}


async def test_a_final_failure_raises_the_services_error_with_its_secret_masked() -> None:
    upstream = Upstream(httpx.Response(400, json={"message": "key s3cret-k3y is not valid"}))
    error = await _failure(_service(secrets=["s3cret-k3y"]), upstream)
    assert (error.code, error.status_code) == ("teapot_rejected", 502)
    assert error.message == "key *** is not valid"
    assert upstream.calls == 1, "a 400 is final"


async def test_a_failure_without_a_json_message_reports_the_raw_body() -> None:
    upstream = Upstream(httpx.Response(418, text="short and stout " * 40))
    error = await _failure(_service(), upstream)
    assert error.message == ("short and stout " * 40)[:300]


async def test_a_429_is_retried_until_the_attempts_are_spent() -> None:
    upstream = Upstream(429)
    error = await _failure(_service(), upstream)
    assert (error.code, error.status_code) == ("teapot_rate_limited", 503)
    assert upstream.calls == 3


async def test_the_service_can_make_an_answer_final() -> None:
    upstream = Upstream(429)
    error = await _failure(_service(classify=lambda r: "final"), upstream)
    assert error.code == "teapot_rate_limited"
    assert upstream.calls == 1, "a spent quota must not be asked again"


async def test_the_service_can_retry_an_answer_the_status_rule_would_not() -> None:
    upstream = Upstream(409, 200)
    classify = lambda r: "retry" if r.status_code == 409 else None  # noqa: E731
    response = await _request(_service(), upstream, classify=classify)
    assert response.json() == {"call": 2}


async def test_timeouts_past_the_retries_are_upstream_unavailable_by_default() -> None:
    upstream = Upstream(httpx.ReadTimeout("slow"))
    error = await _failure(_service(), upstream)
    assert (error.code, error.status_code, error.retry_after) == ("upstream_unavailable", 503, 30)
    assert error.details == {"service": "Teapot", "error": "timeout"}
    assert error.message == "Teapot timed out (no answer within 1.5 s, 3 tries)."
    assert upstream.calls == 3


async def test_a_service_maps_unreachable_its_own_way() -> None:
    def unreachable(failure: Unreachable) -> UpstreamError:
        return service_error("teapot_unavailable", failure.message, details=failure.kind)

    error = await _failure(
        _service(unreachable=unreachable), Upstream(httpx.ConnectError("refused"))
    )
    assert (error.code, error.details) == ("teapot_unavailable", "ConnectError")
    assert error.message == "Teapot could not be reached (ConnectError)."


async def test_a_per_call_mapper_beats_the_services() -> None:
    def not_here(refusal: Refusal) -> Exception:
        return LookupError(refusal.status)

    with pytest.raises(LookupError):
        await _request(_service(), Upstream(404), refused=not_here)


async def test_a_body_that_is_not_json_is_a_bad_response() -> None:
    service = _service()
    assert service.json(httpx.Response(200, json={"tea": "earl grey"})) == {"tea": "earl grey"}
    with pytest.raises(UpstreamError) as caught:
        service.json(httpx.Response(200, text="<html>oops</html>"))
    error = caught.value
    assert (error.code, error.status_code) == ("upstream_bad_response", 502)
    assert error.details == {"service": "Teapot", "upstream_status": 200}


async def test_an_error_reported_inside_a_200_is_mapped_like_any_other() -> None:
    service = _service()
    body = {"status": "error", "message": "no tea"}
    error = service.error_for(httpx.Response(200, json=body), body=body)
    assert isinstance(error, UpstreamError) and error.message == "no tea"


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Retry-After": "2.1"}, 3),
        ({"Retry-After": "0"}, 1),
        ({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}, 60),
        ({"Retry-After": "inf"}, 60),
        ({"ratelimit-reset": "4"}, 4),
        ({}, 60),
    ],
)
async def test_retry_after_header_in_whole_seconds(headers: dict[str, str], expected: int) -> None:
    response = httpx.Response(429, headers=headers)
    also = ("Retry-After", "ratelimit-reset")
    assert retry_after_header(response, 60, headers=also) == expected


async def test_a_secret_query_param_is_masked_in_url_logs(caplog: pytest.LogCaptureFixture) -> None:
    name = "edgelab.test.redaction"
    loggers = [logging.getLogger(n) for n in ("httpx", "edgelab.http", name)]
    try:
        mask_query_param("sig", name)
        mask_query_param("sig", name)  # idempotent
        assert sum(isinstance(f, QueryParamMask) for f in loggers[2].filters) == 1
        with caplog.at_level(logging.INFO):
            for logger in loggers:
                logger.info("GET %s", "https://x.test/v1?a=1&SIG=abc123&b=2")
        assert "abc123" not in caplog.text
        assert caplog.text.count("SIG=***&b=2") == 3
    finally:
        for logger in loggers:
            for f in [f for f in logger.filters if getattr(f, "param", None) == "sig"]:
                logger.removeFilter(f)


# ---------------------------------------------------------------- stale-on-error


async def test_a_failing_upstream_is_answered_with_the_last_good_value() -> None:
    stale = StaleCache(MemoryCache(), "test:tea:", service="Teapot")

    async def good() -> dict[str, str]:
        return {"tea": "oolong"}

    async def failing() -> dict[str, str]:
        raise service_error("teapot_unavailable", "down")

    first = await stale.fetch("k", 1e-6, good)
    assert (first.value, first.stale) == ({"tea": "oolong"}, False)
    await asyncio.sleep(0.001)
    second = await stale.fetch("k", 1e-6, failing)
    assert (second.value, second.stale, second.fetched_at) == (
        {"tea": "oolong"},
        True,
        pytest.approx(first.fetched_at, abs=0.01),
    )


async def test_without_a_last_good_value_the_failure_propagates() -> None:
    stale = StaleCache(MemoryCache(), "test:tea:", service="Teapot")

    async def failing() -> int:
        raise service_error("teapot_unavailable", "down")

    with pytest.raises(UpstreamError):
        await stale.fetch("k", 60, failing)


async def test_a_fresh_value_is_served_without_asking() -> None:
    stale = StaleCache(MemoryCache(), "test:tea:", service="Teapot")
    calls = 0

    async def fill() -> int:
        nonlocal calls
        calls += 1
        return calls

    assert (await stale.fetch("k", 60, fill)).value == 1
    assert (await stale.fetch("k", 60, fill)).value == 1
    assert calls == 1


async def test_our_own_bugs_are_not_hidden_by_a_stale_value() -> None:
    stale = StaleCache(MemoryCache(), "test:tea:", service="Teapot")

    async def good() -> int:
        return 1

    async def buggy() -> int:
        raise KeyError("bug")

    await stale.fetch("k", 1e-6, good)
    await asyncio.sleep(0.001)
    with pytest.raises(KeyError):
        await stale.fetch("k", 1e-6, buggy)
