"""Client for Resend's email API: one message per ``POST /emails`` call.

* **Idempotency.** Every send carries an ``Idempotency-Key`` (Resend remembers it for 24 h and
  answers a repeat with the first email's id), so retrying a send whose answer was lost (a
  timeout, a 5xx, a garbled 200) cannot mail the user twice. A repeat that arrives while the
  first is still being processed gets 409 ``concurrent_idempotent_requests``; that answer is
  retried like a 5xx, because once the first finishes the repeat returns its id.
* **Rate limit.** Resend allows 2 requests/second per team. Every attempt (retries included)
  waits for a slot at least ``1 / max_per_second`` after the previous one, shared by all calls
  on this client: concurrent sends are spaced out, never refused. A 429 that still happens
  (another process on the same team) is retried honouring ``Retry-After``; a 429 saying the
  daily or monthly quota is spent is not, since seconds of waiting cannot help.
* **Errors.** Resend answers ``{"statusCode", "name", "message"}`` (``name`` snake_case). Each
  final failure becomes an :class:`UpstreamError` whose ``details["permanent"]`` tells an outbox
  whether trying the same message again later can ever succeed (False for 429, 5xx, timeouts,
  garbled answers and in-flight duplicates; True for every other 4xx).
* **The key** is sent only in the ``Authorization`` header, never logged, never put in an
  error, and masked should Resend echo it back in a message.
"""

from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass
from typing import Any, NoReturn

import httpx
from pydantic import BaseModel, SecretStr

from edgelab.core import clock
from edgelab.core import error_codes as codes
from edgelab.core.errors import InvalidInputError, UpstreamError
from edgelab.core.http import Verdict, json_or_none, make_http_client, retry_after_header
from edgelab.core.http.upstream import Refusal, Unreachable, Upstream, service_error
from edgelab.core.settings import Settings

log = logging.getLogger(__name__)

SERVICE = "Resend"
DEFAULT_BASE_URL = "https://api.resend.com"
MAX_RECIPIENTS = 50
MAX_IDEMPOTENCY_KEY_LENGTH = 256
DEFAULT_RETRY_AFTER_SECONDS = 1  # the limit is per second, so one second is the natural wait
QUOTA_RETRY_AFTER_SECONDS = 3600  # a spent daily/monthly quota: an hour, unless told otherwise
_TAG_PART = re.compile(r"[A-Za-z0-9_-]{1,256}")  # Resend's rule for tag names and values
_QUOTA_NAMES = frozenset({"daily_quota_exceeded", "monthly_quota_exceeded"})
_IN_FLIGHT = "concurrent_idempotent_requests"
_RETRY_AFTER_HEADERS = ("Retry-After", "ratelimit-reset")


@dataclass(frozen=True)
class EmailMessage:
    """One email. ``sender`` may be ``addr@domain`` or ``Name <addr@domain>``."""

    to: list[str]
    subject: str
    html: str
    text: str
    sender: str
    reply_to: list[str] | None = None
    tags: dict[str, str] | None = None


class SentEmail(BaseModel):
    """Resend's answer to an accepted email: its id (the same id for a repeated key)."""

    id: str


class _Spacer:
    """Hands out request slots at least ``1 / per_second`` apart, in call order.

    A caller reserves the next free slot and sleeps until it; nothing is awaited between
    reading and moving the slot, so concurrent tasks cannot take the same one. A cancelled
    waiter's slot simply stays used, which only ever errs towards sending slower.
    """

    def __init__(self, per_second: float) -> None:
        self._interval = 1.0 / per_second
        self._next = -math.inf

    async def wait(self) -> None:
        now = clock.monotonic()
        slot = max(now, self._next)
        self._next = slot + self._interval
        if slot > now:
            await clock.sleep(slot - now)


# ---------------------------------------------------------------- request building


def _refuse(problem: str) -> NoReturn:
    raise InvalidInputError(
        f"This email cannot be sent: {problem}",
        code=codes.EMAIL_INVALID,
        details={"problem": problem, "permanent": True},
    )


def _address(value: Any, what: str) -> str:
    """A plausible address (or ``Name <addr>``) with nothing that could break a header."""
    if not isinstance(value, str) or not value.strip():
        _refuse(f"{what} must be a non-empty string.")
    if "@" not in value or "\r" in value or "\n" in value:
        _refuse(f"{what} is not an email address: {value!r}.")
    return value.strip()


def _addresses(values: Any, what: str) -> list[str]:
    if isinstance(values, str) or not isinstance(values, list | tuple):
        _refuse(f"{what} must be a list of addresses.")
    if not values:
        _refuse(f"{what} must name at least one address.")
    return [_address(value, f"{what}[{i}]") for i, value in enumerate(values)]


def build_payload(message: EmailMessage) -> dict[str, Any]:
    """The JSON body of ``POST /emails``, or :class:`InvalidInputError` before any request."""
    to = _addresses(message.to, "to")
    if len(to) > MAX_RECIPIENTS:
        _refuse(f"Resend accepts at most {MAX_RECIPIENTS} recipients per email, not {len(to)}.")
    subject = message.subject
    if not isinstance(subject, str) or not subject.strip():
        _refuse("subject must be a non-empty string.")
    if "\r" in subject or "\n" in subject:
        _refuse("subject must be a single line.")
    html, text = message.html, message.text
    if not isinstance(html, str) or not isinstance(text, str) or not (html.strip() or text.strip()):
        _refuse("html or text must hold the body of the email.")
    payload: dict[str, Any] = {
        "from": _address(message.sender, "sender"),
        "to": to,
        "subject": subject,
    }
    if html.strip():
        payload["html"] = html
    if text.strip():
        payload["text"] = text
    if message.reply_to is not None:
        payload["reply_to"] = _addresses(message.reply_to, "reply_to")  # snake_case on the wire
    if message.tags:
        for name, value in message.tags.items():
            for part in (name, value):
                if not isinstance(part, str) or not _TAG_PART.fullmatch(part):
                    _refuse(
                        f"tag {name!r}: names and values must be 1-256 ASCII letters, digits, "
                        "'_' or '-'."
                    )
        payload["tags"] = [{"name": name, "value": value} for name, value in message.tags.items()]
    return payload


def _idempotency_key(value: Any) -> str:
    ok = isinstance(value, str) and 1 <= len(value) <= MAX_IDEMPOTENCY_KEY_LENGTH
    if not ok or not value.isascii() or not value.isprintable():
        _refuse(
            f"the idempotency key must be 1-{MAX_IDEMPOTENCY_KEY_LENGTH} printable ASCII "
            "characters."
        )
    return str(value)


# ---------------------------------------------------------------- answer mapping


def _error_name(response: httpx.Response) -> str | None:
    body = json_or_none(response)
    name = body.get("name") if isinstance(body, dict) else None
    return name if isinstance(name, str) else None


def _classify(response: httpx.Response) -> Verdict | None:
    """A spent quota is final; an in-flight duplicate is retried like a 5xx, because once the
    first request finishes the repeat returns its id."""
    if response.status_code == 429 and _error_name(response) in _QUOTA_NAMES:
        return "final"
    if response.status_code == 409 and _error_name(response) == _IN_FLIGHT:
        log.info("resend: earlier request with this key still in flight; retrying")
        return "retry"
    return None


def _refused(refusal: Refusal) -> Exception:
    """A final failed answer in the ``email_*`` codes, saying whether a retry can succeed."""
    status = refusal.status
    name, text = refusal.text("name"), refusal.said("message")
    details: dict[str, Any] = {
        "upstream_status": status,
        "upstream_name": name,
        "upstream_message": text,
        "permanent": 400 <= status < 500 and status != 429,
    }
    said = f"{name}: {text}" if name else text
    if status in (401, 403):
        return service_error(
            codes.EMAIL_AUTH_FAILED,
            f"Resend refused the API key or its permissions (HTTP {status} {said}); "
            "check the Resend API key and the sending domain.",
            details=details,
        )
    if status == 429:
        spent = name in _QUOTA_NAMES
        details["quota_exceeded"] = spent
        message = (
            f"Resend's sending quota is spent ({name}); email resumes when it renews."
            if spent
            else "Resend is rate limiting this team's requests; retry later."
        )
        default = QUOTA_RETRY_AFTER_SECONDS if spent else DEFAULT_RETRY_AFTER_SECONDS
        retry_after = retry_after_header(refusal.response, default, headers=_RETRY_AFTER_HEADERS)
        return service_error(
            codes.EMAIL_RATE_LIMITED, message, details=details, retry_after=retry_after
        )
    if status == 409 and name == _IN_FLIGHT:
        details["permanent"] = False  # the first request with this key is still running
        text = "Resend is still processing an earlier request with this idempotency key."
        return service_error(codes.EMAIL_UNAVAILABLE, text, details=details)
    if status >= 500:
        text = f"Resend is unavailable (HTTP {status} after retries)."
        return service_error(codes.EMAIL_UNAVAILABLE, text, details=details)
    if status >= 400:
        text = f"Resend rejected the email (HTTP {status} {said})."
        return service_error(codes.EMAIL_REJECTED, text, details=details)
    details["permanent"] = False
    return service_error(
        codes.EMAIL_BAD_RESPONSE, f"Resend answered HTTP {status}.", details=details
    )


def _unreachable(failure: Unreachable) -> UpstreamError:
    details = {"error": failure.kind, "attempts": failure.attempts, "permanent": False}
    return service_error(codes.EMAIL_UNAVAILABLE, failure.message, details=details)


def _accepted_but(response: httpx.Response, reason: str) -> UpstreamError:
    details = {"upstream_status": response.status_code, "reason": reason, "permanent": False}
    text = f"Resend accepted the email but sent {reason}."
    return service_error(codes.EMAIL_BAD_RESPONSE, text, details=details)


# ---------------------------------------------------------------- the client


class ResendClient:
    """One instance per app (the lifespan owns it); safe to share between requests.

    The rate limit is counted per instance: share one client to keep a process within it.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        api_key: str,
        base_url: str = DEFAULT_BASE_URL,
        client: httpx.AsyncClient | None = None,
        max_per_second: float = 2.0,
        retry_initial_wait: float = 0.5,
    ) -> None:
        if not isinstance(api_key, str) or not api_key.strip():
            raise ValueError("A Resend API key is required.")
        if not (math.isfinite(max_per_second) and max_per_second > 0):
            raise ValueError("max_per_second must be a positive number.")
        self._key = SecretStr(api_key.strip())
        self._owns_client = client is None
        self._client = client or make_http_client(settings, base_url=base_url)
        self._url = base_url.rstrip("/") + "/emails"  # absolute: a shared client works too
        self._spacer = _Spacer(max_per_second)
        self._upstream = Upstream(
            SERVICE,
            settings,
            refused=_refused,
            unreachable=_unreachable,
            not_json=lambda response: _accepted_but(response, "not JSON"),
            classify=_classify,
            initial_wait=retry_initial_wait,
            secrets=[self._key.get_secret_value()],
        )

    def __repr__(self) -> str:
        return f"ResendClient(url={self._url!r})"

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()

    async def send(self, message: EmailMessage, *, idempotency_key: str) -> SentEmail:
        """Send one email; the same ``idempotency_key`` within 24 h yields the same id."""
        payload = build_payload(message)
        key = self._key.get_secret_value()
        headers = {
            "Authorization": f"Bearer {key}",
            "Idempotency-Key": _idempotency_key(idempotency_key),
        }

        async def attempt() -> httpx.Response:
            await self._spacer.wait()
            return await self._client.post(self._url, json=payload, headers=headers)

        response = await self._upstream.send(attempt)
        log.info("resend: POST /emails -> HTTP %d", response.status_code)
        self._upstream.raise_for_status(response)
        body = self._upstream.json(response)
        email_id = body.get("id") if isinstance(body, dict) else None
        if not isinstance(email_id, str) or not email_id.strip():
            raise _accepted_but(response, "no email id")
        log.info("resend: email %s accepted", email_id)
        return SentEmail(id=email_id)
