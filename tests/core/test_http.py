"""Outbound HTTP: what is retried, how long we wait, and what every request carries.

Upstreams are `httpx.MockTransport` handlers that count calls; nothing leaves the process.
Backoff is zeroed (`initial_wait=0, max_wait=0`) except where the wait itself is the subject.
"""

from __future__ import annotations

import time

import httpx
import pytest

from edgelab.core import http as core_http
from edgelab.core.http import make_http_client, send_with_retries
from edgelab.core.settings import Settings
from tests.conftest import make_settings

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


async def _run(upstream: Upstream, attempts: int, **kwargs: float) -> httpx.Response:
    async with httpx.AsyncClient(
        transport=httpx.MockTransport(upstream), base_url="https://upstream.test"
    ) as client:
        return await send_with_retries(
            lambda: client.get("/v4/odds"), attempts=attempts, **{**NO_WAIT, **kwargs}
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
    started = time.monotonic()
    response = await _run(upstream, attempts=3)
    assert response.status_code == 200
    assert upstream.calls == 2
    gap = upstream.times[1] - upstream.times[0]
    assert gap >= 0.4 - 0.02, f"retried after {gap:.3f}s despite Retry-After: 0.4"
    assert time.monotonic() - started < 2.0


async def test_retry_after_on_429_is_honoured() -> None:
    upstream = Upstream(httpx.Response(429, headers={"Retry-After": "0.3"}), 200)
    response = await _run(upstream, attempts=2)
    assert response.status_code == 200
    assert upstream.times[1] - upstream.times[0] >= 0.3 - 0.02


async def test_retry_after_is_capped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(core_http, "MAX_RETRY_AFTER_SECONDS", 0.25)
    upstream = Upstream(httpx.Response(503, headers={"Retry-After": "3600"}), 200)
    started = time.monotonic()
    response = await _run(upstream, attempts=2)
    elapsed = time.monotonic() - started
    assert response.status_code == 200
    assert upstream.times[1] - upstream.times[0] >= 0.25 - 0.02
    assert elapsed < 1.5, f"waited {elapsed:.2f}s: the cap was not applied"


async def test_no_wait_after_the_last_attempt() -> None:
    upstream = Upstream(httpx.Response(503, headers={"Retry-After": "20"}))
    started = time.monotonic()
    response = await _run(upstream, attempts=1)
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "20", "the caller can pass the hint on"
    assert time.monotonic() - started < 3.0


@pytest.mark.parametrize("value", ["soon", "Wed, 21 Oct 2015 07:28:00 GMT", "-5"])
async def test_unusable_retry_after_does_not_stall(value: str) -> None:
    upstream = Upstream(httpx.Response(503, headers={"Retry-After": value}), 200)
    started = time.monotonic()
    response = await _run(upstream, attempts=2)
    assert response.status_code == 200
    assert time.monotonic() - started < 3.0


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
