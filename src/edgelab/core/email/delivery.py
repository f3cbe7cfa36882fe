"""Sending the outbox through Resend, as jobs: one send per message, retried by a sweep; and
blanking the bodies of messages whose secret (a sign-in link) has expired.

A message is tried at most `MAX_ATTEMPTS` times. A permanent refusal (bad address, bad key)
marks it `failed` at once; a transient one (429, 5xx, timeout) leaves it `pending` for the
next sweep. The outbox's idempotency key goes to Resend, so a retry after a lost answer never
sends twice. A message whose secret expired before it went out is never sent (`failed`), nor
one that is not essential to an address suppressed since it was queued (`suppressed`).
"""

from __future__ import annotations

import datetime as dt
import logging
from contextlib import AsyncExitStack

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from edgelab.core.clock import real_utcnow, utcnow
from edgelab.core.email.backend import check_email_backend, email_backend
from edgelab.core.email.models import OutboxEmail
from edgelab.core.email.resend import EmailMessage, ResendClient
from edgelab.core.email.suppression import suppression_of, why_suppressed
from edgelab.core.errors import AppError
from edgelab.core.jobs import Jobs, enqueue
from edgelab.core.settings import Settings

log = logging.getLogger("edgelab.email")
MAX_ATTEMPTS = 5
SWEEP_SECONDS = 60.0
REDACT_SECONDS = 60.0  # a sign-in link's body outlives the link by at most about this
REDACTED = "[removed: this message held a sign-in link that has expired]"


async def deliver(
    session: AsyncSession, settings: Settings, sender: ResendClient, outbox_id: int
) -> str:
    """Send one pending message; returns its status afterwards."""
    message = await session.get(OutboxEmail, outbox_id, with_for_update=True)
    if message is None:
        return "missing"
    if message.status != "pending":
        return message.status
    if _secret_expired(message, real_utcnow()):
        message.status = "failed"
        message.last_error = "not sent: its sign-in link expired first"
        message.html = message.text = REDACTED
        return message.status
    suppressed = None if message.essential else await suppression_of(session, message.to_address)
    if suppressed is not None:  # it bounced or complained after this message was queued
        message.status = "suppressed"
        message.last_error = why_suppressed(suppressed)
        return message.status
    message.attempts += 1
    try:
        sent = await sender.send(
            EmailMessage(
                to=[message.to_address],
                subject=message.subject,
                html=message.html,
                text=message.text,
                sender=settings.email_from,
            ),
            idempotency_key=message.idempotency_key,
        )
    except AppError as exc:
        details = exc.details if isinstance(exc.details, dict) else {}
        message.last_error = f"{exc.code}: {exc.message}"[:2000]
        if details.get("permanent", False) or message.attempts >= MAX_ATTEMPTS:
            message.status = "failed"
        log.warning(
            "e-mail %s not sent (attempt %s): %s", outbox_id, message.attempts, message.last_error
        )
        return message.status
    message.status = "sent"
    message.provider_id = sent.id
    message.sent_at = utcnow()
    return message.status


def _secret_expired(message: OutboxEmail, now: dt.datetime) -> bool:
    return message.secret_expires_at is not None and message.secret_expires_at <= now


async def redact_expired_emails(session: AsyncSession, *, now: dt.datetime | None = None) -> int:
    """Blank the bodies whose secret has expired (a sign-in link in the outbox table would
    otherwise stay readable for ever); an unsent one is marked `failed`. Returns how many.

    Compared on the real clock, like the links' own expiry."""
    now = now or real_utcnow()
    expired = OutboxEmail.secret_expires_at.is_not(None), OutboxEmail.secret_expires_at <= now
    await session.execute(
        update(OutboxEmail)
        .where(*expired, OutboxEmail.status == "pending")
        .values(status="failed", last_error="not sent: its sign-in link expired first")
    )
    result = await session.execute(
        update(OutboxEmail)
        .where(*expired)
        .values(html=REDACTED, text=REDACTED, secret_expires_at=None)
    )
    count = int(getattr(result, "rowcount", 0) or 0)
    if count:
        log.info("blanked %d outbox e-mails whose sign-in links had expired", count)
    return count


def register_redaction(jobs: Jobs) -> None:
    """`accounts.redact_expired_emails`, every `REDACT_SECONDS`, whatever the backend."""

    @jobs.task("accounts.redact_expired_emails")
    async def redact(session: AsyncSession) -> int:
        return await redact_expired_emails(session)

    jobs.schedule("accounts.redact_expired_emails", every_seconds=REDACT_SECONDS)


def register_email_jobs(jobs: Jobs, settings: Settings, sender: ResendClient | None) -> None:
    """Register the sending jobs; without a Resend client messages stay in the outbox."""
    if sender is None:
        return

    @jobs.task("accounts.send_email")
    async def send_email(session: AsyncSession, outbox_id: int) -> str:
        return await deliver(session, settings, sender, outbox_id)

    @jobs.task("accounts.retry_emails")
    async def retry_emails(session: AsyncSession) -> int:
        rows = await session.execute(
            select(OutboxEmail.id)
            .where(OutboxEmail.status == "pending", OutboxEmail.attempts < MAX_ATTEMPTS)
            .order_by(OutboxEmail.id)
            .limit(200)
        )
        ids = list(rows.scalars())
        for outbox_id in ids:
            enqueue("accounts.send_email", outbox_id=outbox_id)
        return len(ids)

    jobs.schedule("accounts.retry_emails", every_seconds=SWEEP_SECONDS)


def register_delivery(jobs: Jobs, settings: Settings, stack: AsyncExitStack) -> None:
    """Refuse a configuration that cannot deliver e-mail where it must (`check_email_backend`:
    this runs at every app start-up and in `edgelab jobs worker`), register the redaction of
    expired secrets, and with the `resend` backend the sending jobs and their Resend client
    (closed with `stack`); with `log` messages stay in the outbox."""
    check_email_backend(settings)
    register_redaction(jobs)
    if email_backend(settings) != "resend" or not settings.resend_api_key:
        return
    from edgelab.core.email.resend import ResendClient

    resend = ResendClient(
        settings, api_key=settings.resend_api_key.get_secret_value(), base_url=settings.resend_url
    )
    stack.push_async_callback(resend.aclose)
    register_email_jobs(jobs, settings, resend)
