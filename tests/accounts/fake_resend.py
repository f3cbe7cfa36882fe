"""A local stand-in for Resend's ``POST /emails``, served over a real socket for the client's tests.

Why a server and not a mocked transport: the client's timeouts, retries, rate spacing and
headers are only proven when bytes cross a real HTTP connection.

It speaks the documented contract (``/work/shared/reference/APIS.md`` section 6):
``Authorization: Bearer <key>`` (none -> 401 ``missing_api_key``, a wrong one -> 403
``invalid_api_key``), a JSON body with ``from``/``to`` (at most 50)/``subject``, snake_case
``reply_to``, ``tags`` as ``[{name, value}]``, errors as ``{"statusCode", "name", "message"}``,
and ``Idempotency-Key`` as Resend implements it: a repeat with the same body answers the first
email's id without sending again, a repeat with another body is 409 ``invalid_idempotent_request``
and a repeat while the first is still processing is 409 ``concurrent_idempotent_requests``.
With ``rate_limit`` set it enforces a per-second token bucket and answers 429 with the
``ratelimit-*`` and ``retry-after`` headers, as Resend does for its 2 requests/second.

``PAYLOADS`` are verbatim copies of ``/work/shared/reference/payloads/resend/`` (a test checks
they still match). Tests steer the fake with :meth:`FakeResend.plan`: the next N requests get a
chosen status, body, headers or delay (a delay alone means "the normal answer, late"), then it
answers normally.
"""

from __future__ import annotations

import asyncio
import copy
import json
import re
import time
import uuid
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from edgelab.core.email.resend import EmailMessage
from tests.fixtures.fake_server import FakeServer
from tests.loopback import serve  # noqa: F401  (re-exported for the tests)

VALID_KEY = "re_test_0123456789abcdef"
_TAG_PART = re.compile(r"[A-Za-z0-9_-]{1,256}")
_ADDRESS = re.compile(r"[^\s<>@]+@[^\s<>@]+\.[^\s<>@]+")
_FROM = re.compile(rf"(?:[^<>]+ <{_ADDRESS.pattern}>|{_ADDRESS.pattern})")

PAYLOADS: dict[str, Any] = {
    "send_email_request": {
        "from": "Acme <onboarding@resend.dev>",
        "to": ["delivered@resend.dev"],
        "subject": "Hello World",
        "html": "<p>Congrats on sending your <strong>first email</strong>!</p>",
        "text": "Congrats on sending your first email!",
        "reply_to": ["support@example.com"],
        "tags": [{"name": "category", "value": "confirm_email"}],
        "headers": {"X-Entity-Ref-ID": "123456789"},
    },
    "send_email_response": {"id": "49a3999c-0ce1-4ea6-ab68-afcd6dc2e794"},
    "error_missing_api_key_401": {
        "statusCode": 401,
        "name": "missing_api_key",
        "message": "Missing API key in the authorization header.",
    },
    "error_not_found_404": {"statusCode": 404, "name": "not_found", "message": "Email not found"},
    "error_rate_limit_429": {
        "statusCode": 429,
        "name": "rate_limit_exceeded",
        "message": "Too many requests",
    },
    "error_validation_422": {
        "statusCode": 422,
        "name": "validation_error",
        "message": "expires_in must not exceed 48 hours",
    },
    "rate_limit_headers_example": {
        "headers": {
            "ratelimit-limit": "2",
            "ratelimit-remaining": "0",
            "ratelimit-reset": "1",
            "retry-after": "1",
        },
        "status": 429,
        "body_file": "error_rate_limit_429.json",
        "note": "Header names per resend.com/docs/api-reference/rate-limit; values illustrative "
        "(default limit is 2 req/s per team).",
    },
}


def load(name: str) -> Any:
    return copy.deepcopy(PAYLOADS[name])


def recorded_email() -> EmailMessage:
    """The recorded request of the shared payloads, as the app would build it."""
    raw = load("send_email_request")
    tags = {tag["name"]: tag["value"] for tag in raw["tags"]}
    fields = {k: raw[k] for k in ("to", "subject", "html", "text", "reply_to")}
    return EmailMessage(**fields, sender=raw["from"], tags=tags)


def error(status: int, name: str, message: str, headers: dict[str, str] | None = None) -> Response:
    body = {"statusCode": status, "name": name, "message": message}
    return JSONResponse(body, status_code=status, headers=headers)


@dataclass
class Recorded:
    headers: dict[str, str]  # lower-case names
    body: Any  # the parsed JSON, or the raw text when it is not JSON
    at: float  # time.monotonic() on arrival
    status: int = 0  # what the fake answered


class FakeResend(FakeServer):
    def __init__(self) -> None:
        super().__init__()
        self.app = Starlette(routes=[Route("/emails", self._emails, methods=["POST"])])

    def reset(self) -> None:
        super().reset()
        self.requests: list[Recorded] = []
        self.sent: list[dict[str, Any]] = []  # emails actually "delivered", once per key
        self.rate_limit: float | None = None  # requests/second enforced (see enforce_rate_limit)
        self.processing_delay = 0.0  # seconds a new key stays in flight before its answer
        self._done: dict[str, tuple[Any, str]] = {}  # idempotency key -> (body, email id)
        self._in_flight: set[str] = set()
        self._tokens = 0.0
        self._refilled = time.monotonic()

    def enforce_rate_limit(self, per_second: float) -> None:
        """Answer 429 beyond `per_second` requests a second, starting with a full bucket."""
        self.rate_limit = per_second
        self._tokens, self._refilled = per_second, time.monotonic()

    @property
    def statuses(self) -> list[int]:
        return [r.status for r in self.requests]

    # ------------------------------------------------------------ plumbing

    async def _emails(self, request: Request) -> Response:
        raw = await request.body()
        try:
            body: Any = json.loads(raw)
        except ValueError:
            body = raw.decode(errors="replace")
        record = Recorded(
            {k.lower(): v for k, v in request.headers.items()}, body, time.monotonic()
        )
        self.requests.append(record)
        response = await self._answer(request, body)
        record.status = response.status_code
        return response

    async def _answer(self, request: Request, body: Any) -> Response:
        planned = await self.take_plan(request)
        if planned is not None and not planned.answers_normally:
            default = {"statusCode": planned.status, "name": "planned", "message": "x"}
            return self.render(planned, default)
        refused = self._check_key(request) or self._check_rate() or self._check_body(body)
        if refused is not None:
            return refused
        return await self._send(request.headers.get("idempotency-key"), body)

    def _check_key(self, request: Request) -> Response | None:
        scheme, _, key = request.headers.get("authorization", "").partition(" ")
        if scheme != "Bearer" or not key.strip():
            return JSONResponse(load("error_missing_api_key_401"), status_code=401)
        if key != VALID_KEY:
            return error(403, "invalid_api_key", "API key is invalid")
        return None

    def _check_rate(self) -> Response | None:
        """A token bucket holding one second of requests, refilled continuously."""
        if self.rate_limit is None:
            return None
        now = time.monotonic()
        self._tokens = min(self.rate_limit, self._tokens + (now - self._refilled) * self.rate_limit)
        self._refilled = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return None
        headers = {**load("rate_limit_headers_example")["headers"]}
        headers["ratelimit-limit"] = f"{self.rate_limit:g}"
        return JSONResponse(load("error_rate_limit_429"), status_code=429, headers=headers)

    def _check_body(self, body: Any) -> Response | None:
        if not isinstance(body, dict):
            return error(422, "validation_error", "The request body must be a JSON object.")
        for name in ("from", "to", "subject"):
            if not body.get(name):
                return error(422, "missing_required_field", f"Missing `{name}` field.")
        if not isinstance(body["from"], str) or not _FROM.fullmatch(body["from"]):
            return error(
                422,
                "validation_error",
                "Invalid `from` field. The email address needs to follow the "
                "`email@example.com` or `Name <email@example.com>` format.",
            )
        to = [body["to"]] if isinstance(body["to"], str) else body["to"]
        if len(to) > 50:
            return error(422, "validation_error", "Too many recipients: `to` allows at most 50.")
        for address in to:
            if not isinstance(address, str) or not _ADDRESS.fullmatch(address):
                return error(422, "validation_error", f"Invalid `to` field: {address!r}.")
        for tag in body.get("tags") or []:
            parts = (tag.get("name"), tag.get("value")) if isinstance(tag, dict) else (None, None)
            if not all(isinstance(p, str) and _TAG_PART.fullmatch(p) for p in parts):
                return error(422, "validation_error", "Tags must be {name, value}, [A-Za-z0-9_-].")
        return None

    async def _send(self, key: str | None, body: dict[str, Any]) -> Response:
        if key is not None:
            if not 1 <= len(key) <= 256:
                return error(400, "invalid_idempotency_key", "Idempotency key must be 1-256 chars.")
            if key in self._in_flight:
                return error(
                    409,
                    "concurrent_idempotent_requests",
                    "Same idempotency key used while original request is still in progress.",
                )
            if key in self._done:
                first_body, email_id = self._done[key]
                if first_body != body:
                    return error(
                        409,
                        "invalid_idempotent_request",
                        "Same idempotency key used with a different request payload.",
                    )
                return JSONResponse({"id": email_id})
            self._in_flight.add(key)
        try:
            if self.processing_delay:
                await asyncio.sleep(self.processing_delay)
            email_id = str(uuid.uuid4())
            self.sent.append({"id": email_id, **body})
            if key is not None:
                self._done[key] = (body, email_id)
        finally:
            self._in_flight.discard(key or "")
        return JSONResponse({"id": email_id})
