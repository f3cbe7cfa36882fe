"""Which e-mail backend this process uses, and the start-up refusal when that is none.

`EDGELAB_EMAIL_BACKEND` is `resend` (messages sent through Resend, needs
`EDGELAB_RESEND_API_KEY`) or `log` (kept in the outbox table, read with `edgelab email outbox`:
nobody receives them). Unset, it is `resend` when a key is set, else `log`; but outside
development and test an unset backend without a key is refused at start-up, because sign-in
links would silently never reach anyone. Someone who really wants that sets `log` explicitly.
"""

from __future__ import annotations

from typing import Literal

from edgelab.core.settings import Settings

EmailBackend = Literal["resend", "log"]
LOG_ALLOWED_BY_DEFAULT = frozenset({"development", "test"})


class EmailBackendRefused(RuntimeError):
    """The configuration has no way to deliver e-mail where it must; the message is one line."""


def email_backend(settings: Settings) -> EmailBackend:
    """The backend in use (before `check_email_backend` refused a bad configuration)."""
    if settings.email_backend is not None:
        return settings.email_backend
    return "resend" if settings.resend_api_key else "log"


def email_backend_refusal(settings: Settings) -> str | None:
    """Why this configuration must not start, as one line; None when it may."""
    if settings.email_backend == "resend" and not settings.resend_api_key:
        return (
            "refusing to start: EDGELAB_EMAIL_BACKEND=resend needs EDGELAB_RESEND_API_KEY "
            "(or set EDGELAB_EMAIL_BACKEND=log to keep e-mail in the outbox table only)"
        )
    if (
        settings.email_backend is None
        and not settings.resend_api_key
        and settings.env not in LOG_ALLOWED_BY_DEFAULT
    ):
        return (
            f"refusing to start: EDGELAB_ENV={settings.env} without EDGELAB_RESEND_API_KEY "
            "would deliver no e-mail (sign-in links stay in the outbox table); set the key, or "
            "EDGELAB_EMAIL_BACKEND=log to accept that"
        )
    return None


def check_email_backend(settings: Settings) -> None:
    """Raise `EmailBackendRefused` (one-line reason) when e-mail could not be delivered where
    it must be. Called where e-mail delivery is wired (`delivery.register_delivery`, so every
    app start-up and `edgelab jobs worker`); a CLI may call `email_backend_refusal` first to
    print the reason and exit."""
    reason = email_backend_refusal(settings)
    if reason is not None:
        raise EmailBackendRefused(reason)
