"""A sign-in link lives only as long as it works: never in the log, and blanked from the outbox
table once it has expired."""

from __future__ import annotations

import datetime as dt
import logging
import re

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from edgelab.accounts.models import MagicLink, User
from edgelab.core.email.delivery import REDACTED, redact_expired_emails
from edgelab.core.email.models import OutboxEmail
from tests.fixtures.app import app_in_session, resources

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def _mail(session: AsyncSession, address: str) -> OutboxEmail:
    rows = await session.execute(
        select(OutboxEmail).where(OutboxEmail.to_address == address).order_by(OutboxEmail.id)
    )
    mails = list(rows.scalars())
    assert len(mails) == 1
    return mails[0]


def _token(mail: OutboxEmail) -> str:
    match = re.search(r"token=([A-Za-z0-9_%-]+)", mail.text)
    assert match is not None
    return match.group(1)


async def test_the_log_says_a_sign_in_mail_was_written_but_not_its_link(client, session, caplog):
    with caplog.at_level(logging.INFO):
        r = await client.post("/auth/magic-link", json={"email": "logs@example.com"})
    assert r.status_code == 202
    token = _token(await _mail(session, "logs@example.com"))
    assert token not in caplog.text
    written = [rec for rec in caplog.records if rec.name == "edgelab.email"]
    assert written and "magic_link" in written[0].getMessage()
    assert all(token not in rec.getMessage() for rec in caplog.records)


async def test_a_sign_in_mail_is_blanked_once_its_link_has_expired(client, session):
    r = await client.post("/auth/magic-link", json={"email": "blank@example.com"})
    assert r.status_code == 202
    mail = await _mail(session, "blank@example.com")
    token = _token(mail)
    link = (
        await session.execute(select(MagicLink).join(User).where(User.email == "blank@example.com"))
    ).scalar_one()
    assert mail.secret_expires_at == link.expires_at

    still_valid = link.expires_at - dt.timedelta(seconds=1)
    assert await redact_expired_emails(session, now=still_valid) == 0
    await session.refresh(mail)
    assert token in mail.text and token in mail.html  # a working link is readable locally

    assert await redact_expired_emails(session, now=link.expires_at) == 1
    await session.refresh(mail)
    assert token not in mail.text and token not in mail.html and mail.text == REDACTED
    assert mail.status == "logged" and mail.secret_expires_at is None
    assert await redact_expired_emails(session, now=link.expires_at) == 0  # done once


async def test_the_redaction_runs_as_a_schedule_without_any_resend_key(settings, session):
    async with app_in_session(settings, session) as (app, _):
        jobs = resources(app).jobs
        assert "accounts.redact_expired_emails" in {s.name for s in jobs._schedules}
