"""Opaque secrets (sign-in links, refresh tokens, API keys): made here, stored only as hashes."""

from __future__ import annotations

import hashlib
import secrets

from edgelab.core.auth import API_KEY_PREFIX


def hash_secret(secret: str) -> str:
    """SHA-256 is enough here: the secrets are 256-bit random, not guessable passwords."""
    return hashlib.sha256(secret.encode()).hexdigest()


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def new_api_key() -> str:
    return API_KEY_PREFIX + secrets.token_urlsafe(32)


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"
