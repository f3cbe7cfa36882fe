"""Outbound HTTP, the transport half: one pooled `httpx.AsyncClient` per external service, and
the retry loop every client goes through.

Retries (tenacity) cover what is worth trying again: timeouts, connection errors, 429 and 5xx.
Backoff is exponential with jitter and honours a numeric `Retry-After` up to a cap, so a
rate-limited upstream is not hammered. Everything else is answered at once. A service may
overrule the status rule per answer (`classify`): a 429 saying a quota is spent is final,
since seconds of waiting cannot bring credits back.

The loop lives in the package itself, not a submodule, so `MAX_RETRY_AFTER_SECONDS` has one
home to read and patch. What a service makes of the answers (error mapping, JSON bodies,
serving the last good answer) is in `edgelab.core.http.upstream` and `.stale`; redaction of
secrets in request URLs in `.redaction`.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
import ssl
from collections.abc import Awaitable, Callable
from typing import Any, Literal

import certifi
import httpx
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)

from edgelab.core.http.redirects import drop_credentials_off_origin
from edgelab.core.settings import Settings

log = logging.getLogger("edgelab.http")
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
MAX_RETRY_AFTER_SECONDS = 30.0

Verdict = Literal["retry", "final"]
# A service's say on one answer: "retry", "final", or None for the status rule above.
Classify = Callable[[httpx.Response], Verdict | None]


@functools.cache
def tls_context() -> ssl.SSLContext:
    """One verifying TLS context for every client of the process, on certifi's CA bundle (what
    httpx verifies with by default).

    Building one loads the CA bundle (~60 ms and ~1 MB each); each client used to build
    its own, which made every app start-up pay it four times (and a test suite that starts
    hundreds of apps, minutes). A context is safe to share between connections and clients.
    """
    return ssl.create_default_context(cafile=certifi.where())


def make_http_client(
    settings: Settings,
    *,
    base_url: str,
    headers: dict[str, str] | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> httpx.AsyncClient:
    """A client with the house timeouts, pool limits and User-Agent; owned by the lifespan.

    It follows redirects, but a hop to another origin carries none of the credential headers
    (`edgelab.core.http.redirects`)."""
    timeout = httpx.Timeout(
        settings.http_timeout_seconds, connect=min(5.0, settings.http_timeout_seconds)
    )
    return httpx.AsyncClient(
        base_url=base_url,
        timeout=timeout,
        limits=httpx.Limits(max_connections=20, max_keepalive_connections=10),
        headers={"User-Agent": settings.http_user_agent, **(headers or {})},
        transport=transport,
        follow_redirects=True,
        verify=tls_context(),
        event_hooks={"request": [drop_credentials_off_origin]},
    )


class RetryableStatus(Exception):
    """Raised inside the retry loop for an answer worth asking again, so tenacity retries."""

    def __init__(self, response: httpx.Response) -> None:
        super().__init__(f"HTTP {response.status_code}")
        self.response = response


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, RetryableStatus | httpx.TimeoutException | httpx.TransportError)


def retry_after_seconds(response: httpx.Response) -> float | None:
    """A numeric `Retry-After` (>= 0 s); None when absent or an HTTP date."""
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def retry_after_header(
    response: httpx.Response, default: int, *, headers: tuple[str, ...] = ("Retry-After",)
) -> int:
    """Whole seconds (>= 1) to pass on in our own `Retry-After`: the first numeric one of
    `headers`, rounded up; `default` when none is (absent, an HTTP date, not finite)."""
    for header in headers:
        try:
            seconds = float(response.headers.get(header, ""))
        except ValueError:
            continue
        if math.isfinite(seconds):
            return max(1, math.ceil(seconds))
    return default


def _wait(base: Callable[[RetryCallState], float]) -> Callable[[RetryCallState], float]:
    def wait(state: RetryCallState) -> float:
        delay = base(state)
        outcome = state.outcome
        if outcome is not None and outcome.failed:
            exc = outcome.exception()
            if isinstance(exc, RetryableStatus):
                hinted = retry_after_seconds(exc.response)
                if hinted is not None:
                    delay = max(delay, min(hinted, MAX_RETRY_AFTER_SECONDS))
        return delay

    return wait


async def send_with_retries(
    send: Callable[[], Awaitable[httpx.Response]],
    *,
    attempts: int,
    initial_wait: float = 0.5,
    max_wait: float = 8.0,
    classify: Classify | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> httpx.Response:
    """Call `send` until it answers something final; the last retried answer is returned.

    Timeouts and transport errors that persist are re-raised for the caller to map. The waits
    between attempts go through `sleep` (real seconds: an upstream's Retry-After is real time).
    """
    retrying = AsyncRetrying(
        sleep=sleep,
        stop=stop_after_attempt(max(1, attempts)),
        wait=_wait(
            wait_exponential_jitter(multiplier=initial_wait, max=max_wait, jitter=initial_wait)
        ),
        retry=retry_if_exception(_retryable),
        reraise=True,
    )
    try:
        async for attempt in retrying:
            with attempt:
                response = await send()
                verdict = classify(response) if classify is not None else None
                if verdict == "final":
                    return response
                if verdict == "retry" or response.status_code in RETRY_STATUSES:
                    log.warning("upstream answered %s for %s", response.status_code, response.url)
                    raise RetryableStatus(response)
                return response
    except RetryableStatus as exc:
        return exc.response
    raise AssertionError("unreachable: tenacity either returns or raises")


def json_or_none(response: httpx.Response) -> Any:
    """The body as JSON for reading an error answer's fields; None when it is not JSON."""
    try:
        return response.json()
    except ValueError:
        return None
