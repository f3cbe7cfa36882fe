"""Sending the outbox through Resend, as jobs: one send per message, retried by a sweep.

A message is tried at most `MAX_ATTEMPTS` times. A permanent refusal (bad address, bad key)
marks it `failed` at once; a transient one (429, 5xx, timeout) leaves it `pending` for the
next sweep. The outbox's idempotency key goes to Resend, so a retry after a lost answer never
sends twice.
"""

from __future__ import annotations

import logging
from contextlib import AsyncExitStack

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from edgelab.core.clock import utcnow
from edgelab.core.email.models import OutboxEmail
from edgelab.core.email.resend import EmailMessage, ResendClient
from edgelab.core.errors import AppError
from edgelab.core.jobs import Jobs, enqueue
from edgelab.core.settings import Settings

log = logging.getLogger("edgelab.email")
MAX_ATTEMPTS = 5
SWEEP_SECONDS = 60.0


async def deliver(
    session: AsyncSession, settings: Settings, sender: ResendClient, outbox_id: int
) -> str:
    """Send one pending message; returns its status afterwards."""
    message = await session.get(OutboxEmail, outbox_id, with_for_update=True)
    if message is None:
        return "missing"
    if message.status != "pending":
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


def register_email_jobs(jobs: Jobs, settings: Settings, sender: ResendClient | None) -> None:
    """Register the e-mail jobs; without a Resend client messages stay in the outbox (logged)."""
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
    """The e-mail jobs with a Resend client when `EDGELAB_RESEND_API_KEY` is set (closed with
    `stack`); without a key nothing is registered and messages stay in the outbox."""
    if not settings.resend_api_key:
        return
    from edgelab.core.email.resend import ResendClient

    resend = ResendClient(
        settings, api_key=settings.resend_api_key.get_secret_value(), base_url=settings.resend_url
    )
    stack.push_async_callback(resend.aclose)
    register_email_jobs(jobs, settings, resend)
