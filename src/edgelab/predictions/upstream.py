"""What the Polymarket and NewsAPI clients share: one GET with retries and error mapping, and a
cache that can answer with the last good response when the upstream fails.

Error codes are the same for every upstream (`details.service` names which):
`upstream_rate_limited` (503, with Retry-After), `upstream_unavailable` (503: 5xx after the
retries, timeouts, connection errors), `upstream_auth_failed` (502), `upstream_bad_request`
(502: the upstream refused what we sent, our bug rather than the caller's) and
`upstream_bad_response` (502: not JSON, or not the documented shape).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, NoReturn

import httpx
import orjson

from edgelab.core.cache import Cache
from edgelab.core.errors import UpstreamError
from edgelab.core.http import send_with_retries
from edgelab.core.settings import Settings

log = logging.getLogger(__name__)
STALE_KEEP_SECONDS = 7 * 86_400.0  # how long a last good answer is kept to serve when failing


def upstream_error(
    service: str,
    code: str,
    message: str,
    *,
    retry_after: int | None = None,
    **details: Any,
) -> NoReturn:
    status = 503 if code in ("upstream_rate_limited", "upstream_unavailable") else 502
    raise UpstreamError(
        message,
        code=code,
        status_code=status,
        retry_after=retry_after,
        details={"service": service, **details},
    )


def retry_after_header(response: httpx.Response, default: int) -> int:
    """Whole seconds from a numeric `Retry-After`; `default` when absent or an HTTP date."""
    try:
        seconds = float(response.headers.get("Retry-After", ""))
    except ValueError:
        return default
    return max(1, math.ceil(seconds)) if math.isfinite(seconds) else default


class FinalAnswer(Exception):
    """Raised inside the retry loop for an answer that waiting cannot change (a spent quota)."""

    def __init__(self, response: httpx.Response) -> None:
        super().__init__(f"HTTP {response.status_code}")
        self.response = response


async def get_with_retries(
    client: httpx.AsyncClient,
    url: str,
    *,
    service: str,
    settings: Settings,
    params: Any = None,
    headers: dict[str, str] | None = None,
    initial_wait: float = 0.5,
    final: Callable[[httpx.Response], bool] | None = None,
) -> httpx.Response:
    """GET `url`, retrying 429/5xx/timeouts with backoff; timeouts that persist are mapped.

    `final(response)` True means "do not retry this one" (e.g. NewsAPI's daily rateLimited).
    """

    async def send() -> httpx.Response:
        return await client.get(url, params=params, headers=headers)

    return await send_with_mapping(
        send, service=service, settings=settings, initial_wait=initial_wait, final=final
    )


async def send_with_mapping(
    send: Callable[[], Awaitable[httpx.Response]],
    *,
    service: str,
    settings: Settings,
    initial_wait: float = 0.5,
    final: Callable[[httpx.Response], bool] | None = None,
) -> httpx.Response:
    """Any idempotent request (a GET, or a read-only POST) with retries and error mapping."""

    async def attempt() -> httpx.Response:
        response = await send()
        if final is not None and final(response):
            raise FinalAnswer(response)
        return response

    attempts = settings.http_max_retries + 1
    try:
        return await send_with_retries(
            attempt, attempts=attempts, initial_wait=initial_wait, max_wait=16 * initial_wait
        )
    except FinalAnswer as answer:
        return answer.response
    except httpx.TimeoutException:
        seconds = settings.http_timeout_seconds
        upstream_error(
            service,
            "upstream_unavailable",
            f"{service} timed out (no answer within {seconds:g} s, {attempts} tries).",
            retry_after=30,
            error="timeout",
        )
    except httpx.TransportError as exc:
        upstream_error(
            service,
            "upstream_unavailable",
            f"{service} could not be reached ({type(exc).__name__}).",
            retry_after=30,
            error=type(exc).__name__,
        )


def json_body(response: httpx.Response, service: str) -> Any:
    try:
        return orjson.loads(response.content)
    except orjson.JSONDecodeError:
        upstream_error(
            service,
            "upstream_bad_response",
            f"{service} sent a body that is not JSON (HTTP {response.status_code}).",
            upstream_status=response.status_code,
        )


@dataclass(frozen=True)
class Cached:
    value: Any
    stale: bool  # True: the upstream failed and this is the last good answer
    fetched_at: float  # unix seconds of that answer


class StaleCache:
    """Fresh for `ttl` seconds; kept a week longer to answer while the upstream fails.

    Unlike `Cache.get_or_fill` the fill runs in the caller (it may use the request's session,
    e.g. to store what it fetched) and its failure is visible: an upstream `AppError` with an
    old entry at hand answers that entry with `stale=True`; without one it propagates.
    """

    def __init__(self, cache: Cache, prefix: str) -> None:
        self._cache = cache
        self._prefix = prefix

    async def peek(self, key: str) -> tuple[float, Any] | None:
        raw = await self._cache.get(self._prefix + key)
        if raw is None:
            return None
        try:
            entry = orjson.loads(raw)
            return float(entry["at"]), entry["value"]
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            return None

    async def put(self, key: str, value: Any, ttl: float) -> None:
        if ttl <= 0:
            return
        raw = orjson.dumps({"at": time.time(), "value": value})
        await self._cache.set(self._prefix + key, raw, ttl + STALE_KEEP_SECONDS)

    async def fetch(self, key: str, ttl: float, fill: Callable[[], Awaitable[Any]]) -> Cached:
        entry = await self.peek(key)
        if entry is not None and time.time() - entry[0] < ttl:
            return Cached(entry[1], False, entry[0])
        try:
            value = await fill()
        except UpstreamError as exc:
            if entry is None:
                raise
            log.warning(
                "%s failed (%s): serving the answer of %.0f s ago",
                key,
                exc.code,
                time.time() - entry[0],
            )
            return Cached(entry[1], True, entry[0])
        await self.put(key, value, ttl)
        return Cached(value, False, time.time())
