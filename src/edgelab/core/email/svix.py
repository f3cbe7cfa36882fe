"""Svix webhook signatures, as Resend signs its delivery webhooks.

The signed content is `"{svix-id}.{svix-timestamp}.{raw body}"`, the MAC HMAC-SHA256 keyed
with the base64-decoded secret after its `whsec_` prefix, sent base64 in `svix-signature` as
space-separated `v1,<base64>` entries (several during a secret rotation: any may match,
compared in constant time). The timestamp (unix seconds) must be within `TOLERANCE_SECONDS`
of now either way, as in the svix library and Resend's SDK. Written out here rather than
through the `svix` package: it is twenty lines, and `now` must be injectable so the published
test vectors (years old) can be checked.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from dataclasses import dataclass

from edgelab.core.clock import real_utcnow  # signature windows: the real clock

TOLERANCE_SECONDS = 300
SECRET_PREFIX = "whsec_"


@dataclass(frozen=True)
class SvixVerdict:
    ok: bool
    expired: bool  # the signature may be right, but its timestamp is out of the window
    reason: str  # "verified" or why not (never a computed signature)


def secret_key(secret: str) -> bytes:
    """The HMAC key of a `whsec_...` secret; ValueError when it is not base64."""
    raw = secret.strip()
    raw = raw[len(SECRET_PREFIX) :] if raw.startswith(SECRET_PREFIX) else raw
    try:
        return base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("the webhook secret is not base64 after its whsec_ prefix") from exc


def sign(secret: str, msg_id: str, timestamp: int | str, raw_body: bytes) -> str:
    """The `v1,<base64>` signature of a message (for fakes and tests)."""
    content = f"{msg_id}.{timestamp}.".encode() + raw_body
    mac = hmac.new(secret_key(secret), content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def verify(
    secret: str,
    *,
    msg_id: str | None,
    timestamp: str | None,
    signature: str | None,
    raw_body: bytes,
    now: float | None = None,
    tolerance_seconds: float = TOLERANCE_SECONDS,
) -> SvixVerdict:
    """Check the three `svix-*` headers against the untouched request bytes."""
    if not msg_id or not timestamp or not signature:
        return SvixVerdict(False, False, "missing svix-id, svix-timestamp or svix-signature")
    try:
        sent_at = int(timestamp)
    except ValueError:
        return SvixVerdict(False, False, "svix-timestamp is not a number")
    expected = sign(secret, msg_id, sent_at, raw_body).partition(",")[2]
    matched = False
    for entry in signature.split():
        version, _, value = entry.partition(",")
        if version == "v1" and hmac.compare_digest(value.encode(), expected.encode()):
            matched = True
    if not matched:
        return SvixVerdict(False, False, "no matching signature")
    current = real_utcnow().timestamp() if now is None else now
    if abs(current - sent_at) > tolerance_seconds:
        return SvixVerdict(False, True, "timestamp outside the 5-minute tolerance")
    return SvixVerdict(True, False, "verified")
