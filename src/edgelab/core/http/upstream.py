"""Outbound HTTP, the service half: what every external-service client does with an answer.

A client describes its service once (a name, its secrets, and how ITS documented failures map
to our error codes) in an :class:`Upstream`; the mechanics live here, so no client repeats
them: the retry loop (with the service's say on which answers are final), turning timeouts
and connection errors that outlast the retries into an error, raising the mapped error for a
final non-2xx answer with the service's secrets masked in anything it echoed, and parsing a
JSON body or failing with a bad-response error.

Every error is raised under a catalogued code (`edgelab.core.error_codes`) whose status follows
one rule (:func:`upstream_status`): a code ending in `_rate_limited` or `_unavailable` is 503
(worth trying again later), any other is 502 (the upstream, or what we sent it, is at fault).
A service with codes of its own registers them with its product (`odds_api_*`) or its core
module (`email_*`, `vercel_blob_*`); the others (Chess.com, Polymarket, NewsAPI) share the
`upstream_*` codes, with `details.service` naming which (:func:`upstream_failure`).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, NoReturn

import httpx
import orjson

from edgelab.core import error_codes as codes
from edgelab.core.error_codes import ErrorCode
from edgelab.core.errors import AppError, UpstreamError
from edgelab.core.http import Classify, json_or_none, send_with_retries
from edgelab.core.settings import Settings

log = logging.getLogger("edgelab.http")
_TRANSIENT_SUFFIXES = ("_rate_limited", "_unavailable", "_out_of_credits")  # a metered month ends
UNAVAILABLE_RETRY_AFTER = 30  # seconds suggested to our caller when an upstream did not answer


def upstream_status(code: str) -> int:
    """The rule for an upstream failure's status: 503 when waiting may help, 502 otherwise."""
    return 503 if code.endswith(_TRANSIENT_SUFFIXES) else 502


def service_error(
    code: str | ErrorCode, message: str, *, details: Any = None, retry_after: int | None = None
) -> UpstreamError:
    """An upstream failure under `code`: a catalogued code answers its catalogue status (which
    follows :func:`upstream_status`, a test checks), a plain string (tests) the rule's."""
    status = code.status if isinstance(code, ErrorCode) else upstream_status(code)
    return UpstreamError(
        message, code=code, status_code=status, retry_after=retry_after, details=details
    )


def upstream_failure(
    service: str, code: ErrorCode, message: str, *, retry_after: int | None = None, **details: Any
) -> UpstreamError:
    """The shared `upstream_*` codes: `upstream_rate_limited`, `upstream_unavailable` (503),
    `upstream_auth_failed`, `upstream_bad_request`, `upstream_bad_response` (502)."""
    return service_error(
        code, message, details={"service": service, **details}, retry_after=retry_after
    )


def upstream_error(
    service: str, code: ErrorCode, message: str, *, retry_after: int | None = None, **details: Any
) -> NoReturn:
    raise upstream_failure(service, code, message, retry_after=retry_after, **details)


@dataclass(frozen=True)
class Refusal:
    """A final answer that failed (the retries are over), as a service's mapper reads it."""

    response: httpx.Response
    body: Any  # its JSON; None when it is not JSON
    secrets: tuple[str, ...] = ()

    @property
    def status(self) -> int:
        return self.response.status_code

    def field(self, *path: str) -> Any:
        """The value at `path` in a JSON object body (any type); None when absent."""
        value = self.body
        for key in path:
            if not isinstance(value, dict):
                return None
            value = value.get(key)
        return value

    def text(self, *path: str) -> str | None:
        value = self.field(*path)
        return value if isinstance(value, str) else None

    def said(self, *path: str) -> str:
        """The message at `path`, else the raw body's first 300 characters; secrets masked,
        since some APIs echo the credential back."""
        text = self.text(*path)
        return self.redact(text if text is not None else self.response.text[:300])

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            if secret:
                text = text.replace(secret, "***")
        return text


@dataclass(frozen=True)
class Unreachable:
    """No answer at all: timeouts or connection errors that outlasted every attempt."""

    service: str
    error: httpx.TransportError
    attempts: int
    timeout_seconds: float

    @property
    def timed_out(self) -> bool:
        return isinstance(self.error, httpx.TimeoutException)

    @property
    def kind(self) -> str:
        return type(self.error).__name__

    @property
    def message(self) -> str:
        if self.timed_out:
            return (
                f"{self.service} timed out (no answer within {self.timeout_seconds:g} s, "
                f"{self.attempts} tries)."
            )
        return f"{self.service} could not be reached ({self.kind})."


Refused = Callable[[Refusal], Exception]  # an AppError, or a domain error (e.g. not found)
Unreached = Callable[[Unreachable], AppError]
NotJson = Callable[[httpx.Response], AppError]


class Upstream:
    """One external service's retry policy and error mapping, shared by its calls.

    Holds no connection: a client keeps its pooled `httpx.AsyncClient` (or several, one per
    host) and hands each request in as a `send` callable, so requests stay fully its own.
    `initial_wait` scales the backoff (0 in tests); its ceiling is `max_wait`, by default 16
    times it (8 s at the usual 0.5 s). Per-call mappers beat the service's when a call knows
    more (which event was asked for, which operation failed).
    """

    def __init__(
        self,
        service: str,
        settings: Settings,
        *,
        refused: Refused,
        unreachable: Unreached | None = None,
        not_json: NotJson | None = None,
        classify: Classify | None = None,
        initial_wait: float = 0.5,
        max_wait: float | None = None,
        secrets: Iterable[str] = (),
    ) -> None:
        self.service = service
        self.attempts = settings.http_max_retries + 1
        self.timeout_seconds = settings.http_timeout_seconds
        self.initial_wait = max(0.0, initial_wait)
        self.max_wait = 16 * self.initial_wait if max_wait is None else max_wait
        self.secrets = tuple(s for s in secrets if s)
        self._refused = refused
        self._unreachable = unreachable or self._default_unreachable
        self._not_json = not_json or self._default_not_json
        self._classify = classify

    def _default_unreachable(self, failure: Unreachable) -> AppError:
        return upstream_failure(
            self.service,
            codes.UPSTREAM_UNAVAILABLE,
            failure.message,
            retry_after=UNAVAILABLE_RETRY_AFTER,
            error="timeout" if failure.timed_out else failure.kind,
        )

    def _default_not_json(self, response: httpx.Response) -> AppError:
        status = response.status_code
        return upstream_failure(
            self.service,
            codes.UPSTREAM_BAD_RESPONSE,
            f"{self.service} sent a body that is not JSON (HTTP {status}).",
            upstream_status=status,
        )

    async def send(
        self,
        send: Callable[[], Awaitable[httpx.Response]],
        *,
        classify: Classify | None = None,
        unreachable: Unreached | None = None,
    ) -> httpx.Response:
        """The final answer, whatever its status, after the retries (an idempotent request:
        a GET, a read-only POST, or one carrying an idempotency key); no answer raises."""
        try:
            return await send_with_retries(
                send,
                attempts=self.attempts,
                initial_wait=self.initial_wait,
                max_wait=self.max_wait,
                classify=classify or self._classify,
            )
        except httpx.TransportError as exc:  # every timeout included
            failure = Unreachable(self.service, exc, self.attempts, self.timeout_seconds)
            log.warning("%s: %s", self.service, failure.message)
            raise (unreachable or self._unreachable)(failure) from exc

    def error_for(
        self, response: httpx.Response, *, body: Any = None, refused: Refused | None = None
    ) -> Exception:
        """The mapped error of a failed answer; `body` when the caller already parsed it (an
        API that reports some failures inside a 200)."""
        parsed = body if body is not None else json_or_none(response)
        return (refused or self._refused)(Refusal(response, parsed, self.secrets))

    def raise_for_status(self, response: httpx.Response, *, refused: Refused | None = None) -> None:
        """Nothing for a 2xx; any other final answer raises the service's mapped error."""
        if not 200 <= response.status_code < 300:
            raise self.error_for(response, refused=refused)

    async def request(
        self,
        send: Callable[[], Awaitable[httpx.Response]],
        *,
        classify: Classify | None = None,
        unreachable: Unreached | None = None,
        refused: Refused | None = None,
    ) -> httpx.Response:
        """`send`, then `raise_for_status`: a 2xx answer or the mapped error."""
        response = await self.send(send, classify=classify, unreachable=unreachable)
        self.raise_for_status(response, refused=refused)
        return response

    def json(self, response: httpx.Response, *, not_json: NotJson | None = None) -> Any:
        """The parsed body; a body that is not JSON is the service's bad-response error."""
        try:
            return orjson.loads(response.content)
        except orjson.JSONDecodeError:
            raise (not_json or self._not_json)(response) from None
