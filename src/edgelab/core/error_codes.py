"""The error-code catalogue: every `error.code` the API answers with, once, with its status.

A code is registered with :func:`error_code` where it is defined (core's generic ones here, a
product's in its own errors module) and raised by its constant, never by an inline string:
`raise NotFoundError(..., code=errors.MARKET_NOT_FOUND)`. Registering a code twice with another
status or meaning fails at import time. An `AppError` raised with an `ErrorCode` answers with
its catalogue status. :data:`CATALOGUE` reads the registry (sorted by code) and
:func:`error_table_markdown` renders it as the README's error table; it holds the codes of the
modules imported so far, so whoever renders it imports the app first.

One family of codes is not here: an HTTP error Starlette raises with a status that has no code
of its own answers `http_<status>`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

_SNAKE_CASE = re.compile(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)*")


@dataclass(frozen=True)
class ErrorCode:
    """One stable `error.code`: the HTTP status it answers with and what it means."""

    code: str
    status: int
    meaning: str

    def __str__(self) -> str:
        return self.code


_REGISTRY: dict[str, ErrorCode] = {}


def error_code(code: str, status: int, meaning: str) -> ErrorCode:
    """Register `code` (snake_case, a 4xx or 5xx status) and return its constant; registering
    the same code again with another status or meaning raises."""
    if not _SNAKE_CASE.fullmatch(code):
        raise ValueError(f"error code {code!r} is not snake_case")
    if not 400 <= status <= 599:
        raise ValueError(f"error code {code!r}: status {status} is not an error status")
    entry = ErrorCode(code, status, meaning)
    registered = _REGISTRY.setdefault(code, entry)
    if registered != entry:
        raise ValueError(
            f"error code {code!r} is registered twice: {registered.status} {registered.meaning!r}"
            f" and {status} {meaning!r}"
        )
    return registered


class _Catalogue(Mapping[str, ErrorCode]):
    """A read-only view of the registry, iterated in code order."""

    def __getitem__(self, code: str) -> ErrorCode:
        return _REGISTRY[code]

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(_REGISTRY))

    def __len__(self) -> int:
        return len(_REGISTRY)


CATALOGUE: Mapping[str, ErrorCode] = _Catalogue()


def error_table_markdown() -> str:
    """The catalogue as the README's Markdown table (code, status, meaning), sorted by code."""
    rows = ["| code | status | meaning |", "|---|---|---|"]
    for entry in CATALOGUE.values():
        meaning = entry.meaning.replace("|", "\\|")
        rows.append(f"| `{entry.code}` | {entry.status} | {meaning} |")
    return "\n".join(rows) + "\n"


# --- generic: the error classes' defaults and the statuses Starlette raises ------------------

BAD_REQUEST = error_code("bad_request", 400, "The request cannot be served as sent.")
INVALID_INPUT = error_code(
    "invalid_input", 400, "The request parsed but makes no sense (not a schema violation)."
)
UNAUTHORIZED = error_code("unauthorized", 401, "No credential, or one that is not accepted.")
FORBIDDEN = error_code("forbidden", 403, "The caller may not do this.")
NOT_FOUND = error_code("not_found", 404, "No such resource, or no route for this path.")
METHOD_NOT_ALLOWED = error_code(
    "method_not_allowed", 405, "The path exists, but not with this method."
)
NOT_ACCEPTABLE = error_code("not_acceptable", 406, "No answer in a media type the caller accepts.")
CONFLICT = error_code("conflict", 409, "The request conflicts with the current state.")
PAYLOAD_TOO_LARGE = error_code(
    "payload_too_large",
    413,
    "The request body is over its cap (`EDGELAB_MAX_BODY_BYTES` unless the route has its own), "
    "refused before the rest is read.",
)
UNSUPPORTED_MEDIA_TYPE = error_code(
    "unsupported_media_type", 415, "The request body's media type is not accepted."
)
VALIDATION_ERROR = error_code(
    "validation_error",
    422,
    "The payload, query or headers (or rows of an upload) fail validation; `details` lists "
    "each problem.",
)
RATE_LIMITED = error_code(
    "rate_limited", 429, "Too many requests from this caller; `Retry-After` says when to retry."
)
INTERNAL_ERROR = error_code(
    "internal_error", 500, "An unexpected error, logged with the request id."
)
DATABASE_BUSY = error_code(
    "database_busy",
    503,
    "The embedded SQLite database was held by another writer for longer than its busy "
    "timeout; nothing was written. Retry after `Retry-After` seconds.",
)
DATABASE_UNAVAILABLE = error_code(
    "database_unavailable",
    503,
    "The database (PostgreSQL or SQLite) cannot be reached or used: an outage, a restart, "
    "dropped connections. Every route answers this rather than a 500; retry after "
    "`Retry-After` seconds. From `/health`, `details` has the report.",
)

# --- sign-in and access (core.auth) ----------------------------------------------------------

INVALID_TOKEN = error_code(
    "invalid_token", 401, "The bearer token is malformed, not valid, or its account is gone."
)
TOKEN_EXPIRED = error_code("token_expired", 401, "The access token has expired: refresh it.")
INVALID_API_KEY = error_code("invalid_api_key", 401, "Unknown or revoked API key.")
AUTH_UNAVAILABLE = error_code("auth_unavailable", 401, "Sign-in is not available on this server.")
ROLE_REQUIRED = error_code("role_required", 403, "The caller's role may not do this.")
API_KEY_READ_ONLY = error_code(
    "api_key_read_only",
    403,
    "The API key has the `read` scope: only GET requests; create a `write` key to change data.",
)
SESSION_REQUIRED = error_code(
    "session_required",
    403,
    "Only a signed-in session (an access token), never an API key, may manage API keys or "
    "change or delete the account.",
)
PAID_SUBSCRIPTION_REQUIRED = error_code(
    "paid_subscription_required", 403, "This needs a paid subscription."
)
ACCOUNT_RESTRICTED = error_code(
    "account_restricted",
    403,
    "The account is in a responsible-gambling time-out; `details.restricted_until` says until "
    "when.",
)

# --- external services without codes of their own (`details.service` names which) -----------

UPSTREAM_ERROR = error_code("upstream_error", 502, "An external service failed.")
UPSTREAM_RATE_LIMITED = error_code(
    "upstream_rate_limited",
    503,
    "An external service (or our daily budget for it) is rate limiting us; retry later.",
)
UPSTREAM_UNAVAILABLE = error_code(
    "upstream_unavailable", 503, "An external service did not answer, or answered 5xx."
)
UPSTREAM_AUTH_FAILED = error_code(
    "upstream_auth_failed", 502, "An external service refused our credentials (or none are set)."
)
UPSTREAM_BAD_REQUEST = error_code(
    "upstream_bad_request", 502, "An external service refused the request we sent it."
)
UPSTREAM_BAD_RESPONSE = error_code(
    "upstream_bad_response", 502, "An external service answered something we cannot use."
)

# --- e-mail delivery (Resend) -----------------------------------------------------------------

EMAIL_INVALID = error_code(
    "email_invalid", 400, "This e-mail cannot be sent (`details.problem` says why)."
)
EMAIL_AUTH_FAILED = error_code(
    "email_auth_failed", 502, "Resend refused the API key or its permissions."
)
EMAIL_RATE_LIMITED = error_code(
    "email_rate_limited", 503, "Resend is rate limiting us, or the sending quota is spent."
)
EMAIL_UNAVAILABLE = error_code(
    "email_unavailable", 503, "Resend did not answer, answered 5xx, or is still on the request."
)
EMAIL_REJECTED = error_code("email_rejected", 502, "Resend rejected the e-mail.")
EMAIL_BAD_RESPONSE = error_code(
    "email_bad_response", 502, "Resend answered something we cannot use."
)

# --- inbound webhooks (Paddle's in accounts.billing, Resend's delivery events in core.email) -----

WEBHOOK_NOT_CONFIGURED = error_code(
    "webhook_not_configured",
    503,
    "Resend's delivery webhooks are not configured here (EDGELAB_RESEND_WEBHOOK_SECRET unset or "
    "not a whsec_ secret).",
)
INVALID_WEBHOOK_SIGNATURE = error_code(
    "invalid_webhook_signature",
    401,
    "A webhook's signature (Paddle-Signature, or Resend's svix-signature) does not verify.",
)
WEBHOOK_SIGNATURE_EXPIRED = error_code(
    "webhook_signature_expired",
    401,
    "A Resend webhook's svix-timestamp is more than 5 minutes from now (a replay or a skewed "
    "clock).",
)
INVALID_WEBHOOK_PAYLOAD = error_code(
    "invalid_webhook_payload",
    400,
    "A signed webhook body that is not a notification of its sender (Paddle or Resend).",
)

# --- file storage (local directory, Vercel Blob) ----------------------------------------------

UPLOAD_STORAGE_UNAVAILABLE = error_code(
    "upload_storage_unavailable", 503, "The upload directory cannot be written or read."
)
VERCEL_BLOB_RATE_LIMITED = error_code(
    "vercel_blob_rate_limited", 503, "Vercel Blob is rate limiting this store; retry later."
)
VERCEL_BLOB_UNAVAILABLE = error_code(
    "vercel_blob_unavailable", 503, "Vercel Blob did not answer, or answered 5xx."
)
VERCEL_BLOB_FORBIDDEN = error_code(
    "vercel_blob_forbidden", 502, "Vercel Blob refused the token or the store."
)
VERCEL_BLOB_REJECTED = error_code(
    "vercel_blob_rejected", 502, "Vercel Blob refused the request we sent it."
)
VERCEL_BLOB_BAD_RESPONSE = error_code(
    "vercel_blob_bad_response", 502, "Vercel Blob answered something we cannot use."
)

# shared by two products (a Sentinel player id, a Chess.com username)
PLAYER_NOT_FOUND = error_code(
    "player_not_found",
    404,
    "No such player: no Sentinel player with this id, or no Chess.com player with this name.",
)
