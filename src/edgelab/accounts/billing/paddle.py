"""Paddle Billing: webhook signature verification and the notification envelope.

Verification is paddle-python-sdk's own `PaddleSignature` (HMAC-SHA256 over `"{ts}:{raw body}"`
with the endpoint secret, any of several `h1=` hashes during secret rotation, constant-time
compare). The SDK's `Verifier` wrapper is not used: it reads the clock itself, logs at
`critical` on every failure and raises on a malformed header; here the time check takes
`now` (so tests replay the official vector) and every malformed input is simply "not verified".
The SDK is imported on first use: importing it costs ~0.6 s of start-up.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

from edgelab.core.clock import real_utcnow as utcnow  # signature windows: the real clock

log = logging.getLogger("edgelab.billing")
SIGNATURE_HEADER = "Paddle-Signature"


@dataclass(frozen=True)
class Verdict:
    ok: bool
    reason: str  # "verified" or why not (never the computed signature)


def verify_signature(
    header: str | None,
    raw_body: bytes,
    secret: str,
    *,
    tolerance_seconds: float,
    now: float | None = None,
) -> Verdict:
    """Check a `Paddle-Signature` header against the untouched request bytes.

    `tolerance_seconds` bounds the distance between the header's `ts` and `now` in either
    direction (0 disables the check, as Paddle's SDK does).
    """
    from paddle_billing.Notifications.PaddleSignature import PaddleSignature
    from paddle_billing.Notifications.Secret import Secret

    if not header:
        return Verdict(False, "missing Paddle-Signature header")
    try:
        timestamp, hashes = PaddleSignature.parse(header)
    except (ValueError, TypeError):
        return Verdict(False, "malformed Paddle-Signature header")
    if timestamp <= 0 or not hashes.get("h1"):
        return Verdict(False, "Paddle-Signature lacks ts or h1")
    if tolerance_seconds > 0:
        current = utcnow().timestamp() if now is None else now
        if abs(current - timestamp) > tolerance_seconds:
            return Verdict(False, "timestamp outside the tolerance")
    try:
        body = raw_body.decode("utf-8")
    except UnicodeDecodeError:
        return Verdict(False, "body is not UTF-8")
    signer = PaddleSignature()
    signer.log.disabled = True  # it logs every outcome; we audit refusals ourselves
    if not signer.verify(header, body, Secret(secret)):
        return Verdict(False, "signature mismatch")
    return Verdict(True, "verified")


def sign(raw_body: bytes, secret: str, timestamp: int) -> str:
    """A `Paddle-Signature` value for a body, as Paddle computes it (for fakes and tests)."""
    import hashlib
    import hmac

    digest = hmac.new(
        secret.encode(), f"{timestamp}:".encode() + raw_body, hashlib.sha256
    ).hexdigest()
    return f"ts={timestamp};h1={digest}"


class InvalidNotification(ValueError):
    """A verified body that is not a Paddle notification envelope."""


@dataclass(frozen=True)
class Notification:
    event_id: str
    event_type: str
    occurred_at: dt.datetime
    data: dict[str, Any]


def parse_timestamp(value: object) -> dt.datetime | None:
    """Paddle's RFC 3339 times (`2024-04-12T10:18:49.621022Z`) as aware UTC; None when absent."""
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise InvalidNotification(f"not a timestamp: {value!r}")
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise InvalidNotification(f"not a timestamp: {value!r}") from exc
    if parsed.tzinfo is None:
        raise InvalidNotification(f"timestamp without offset: {value!r}")
    return parsed.astimezone(dt.UTC)


def parse_notification(document: object) -> Notification:
    if not isinstance(document, dict):
        raise InvalidNotification("the body is not a JSON object")
    event_id, event_type = document.get("event_id"), document.get("event_type")
    data = document.get("data")
    if not isinstance(event_id, str) or not event_id or len(event_id) > 100:
        raise InvalidNotification("event_id is missing")
    if not isinstance(event_type, str) or not event_type or len(event_type) > 80:
        raise InvalidNotification("event_type is missing")
    if not isinstance(data, dict):
        raise InvalidNotification("data is not an object")
    occurred_at = parse_timestamp(document.get("occurred_at"))
    if occurred_at is None:
        raise InvalidNotification("occurred_at is missing")
    return Notification(event_id, event_type, occurred_at, data)


def minor_units(value: object) -> int | None:
    """Paddle amounts are strings of minor units ("65215"); anything else is None."""
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return None
