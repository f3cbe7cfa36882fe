"""Resend's `email.failed` and `email.suppressed` webhooks (APIS.md section 6): a failed message
is marked failed with Resend's reason, a suppressed one marks its address suppressed as a hard
bounce does; unknown types are answered 200 and logged; a redelivery changes nothing."""

from __future__ import annotations

import json
import logging
import time
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from edgelab.accounts.service import create_user
from edgelab.core.auth import issue_access_token
from edgelab.core.email import svix
from edgelab.core.email.models import EmailSuppression, OutboxEmail
from edgelab.core.email.outbox import EmailTemplate, queue_email
from edgelab.core.settings import Settings
from edgelab.core.webhooks import WebhookEvent
from tests.fixtures.database import make_settings

pytestmark = pytest.mark.asyncio(loop_scope="session")

SECRET = "whsec_" + "aDYtdGVzdC1yZXNlbmQtZmFpbGVkLXN1cHByZXNzZWQ="  # base64 of a test key
RECEIPT = EmailTemplate("edgelab.accounts.billing", "receipt", "Your edgelab receipt")
RECEIPT_CONTEXT = {"transaction_id": "txn_1", "amount": "10.00 USD", "billed_at": None, "link": "x"}


@pytest.fixture
async def settings(db_url: str) -> Settings:
    return make_settings(db_url, resend_webhook_secret=SECRET, rate_limits_enabled=False)


def _event(event_type: str, email_id: str, **extra: Any) -> dict[str, Any]:
    """An outbound-email event as APIS.md section 6 describes it (`data.email_id` joins it to
    the send; `failed {reason}`, `suppressed {message, type}`)."""
    at = "2026-12-09T10:00:00.000Z"
    data = {
        "email_id": email_id,
        "created_at": at,
        "from": "edgelab <onboarding@resend.dev>",
        "to": ["someone@example.com"],
        "subject": "Your edgelab receipt",
        "tags": {"category": "receipt"},
        **extra,
    }
    return {"type": event_type, "created_at": at, "data": data}


async def _post(
    client: httpx.AsyncClient, body: dict[str, Any], msg_id: str | None = None
) -> httpx.Response:
    raw = json.dumps(body).encode()
    msg_id = msg_id or f"msg_{uuid.uuid4().hex}"
    ts = int(time.time())
    headers = {
        "svix-id": msg_id,
        "svix-timestamp": str(ts),
        "svix-signature": svix.sign(SECRET, msg_id, ts, raw),
        "content-type": "application/json",
    }
    return await client.post("/webhooks/resend", content=raw, headers=headers)


async def _sent(session: AsyncSession, settings: Settings, to: str) -> OutboxEmail:
    message = await queue_email(session, settings, to=to, template=RECEIPT, context=RECEIPT_CONTEXT)
    message.status, message.provider_id = "sent", str(uuid.uuid4())
    await session.commit()
    return message


async def test_a_failed_message_is_marked_failed_with_resends_reason_and_not_suppressed(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    message = await _sent(session, settings, "quota@example.com")
    r = await _post(
        client,
        _event("email.failed", message.provider_id, failed={"reason": "reached_daily_quota"}),
    )
    assert r.status_code == 200, r.text
    assert r.json()["outcome"] == f"outbox #{message.id} failed"
    await session.refresh(message)
    assert (message.status, message.delivery_status) == ("failed", "failed")
    assert message.last_error == "Resend: failed: reached_daily_quota"
    # our quota, not the reader's mailbox: the address still gets mail
    assert await session.get(EmailSuppression, "quota@example.com") is None


async def test_a_suppressed_message_suppresses_its_address_like_a_hard_bounce(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    user = await create_user(session, "listed@example.com", tier="paid")
    message = await _sent(session, settings, "listed@example.com")
    said = {
        "message": "The address is on the suppression list.",
        "type": "OnAccountSuppressionList",
    }
    r = await _post(client, _event("email.suppressed", message.provider_id, suppressed=said))
    assert r.status_code == 200, r.text
    assert r.json()["outcome"].endswith("; listed@example.com suppressed")
    await session.refresh(message)
    assert (message.status, message.delivery_status) == ("suppressed", "suppressed")
    assert "suppression list" in (message.last_error or "")
    row = await session.get(EmailSuppression, "listed@example.com")
    assert row is not None and row.reason == "suppressed" and row.outbox_id == message.id
    # receipts stop, as after a hard bounce, and the account says why
    later = await queue_email(
        session, settings, to="listed@example.com", template=RECEIPT, context=RECEIPT_CONTEXT
    )
    assert later.status == "suppressed" and "refused by Resend" in (later.last_error or "")
    await session.commit()
    me = await client.get(
        "/me", headers={"Authorization": f"Bearer {issue_access_token(settings, user.id)}"}
    )
    assert me.status_code == 200 and me.json()["email_suppressed"] == "suppressed"


async def test_unknown_types_answer_200_are_logged_and_a_redelivery_changes_nothing(
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    caplog: pytest.LogCaptureFixture,
) -> None:
    message = await _sent(session, settings, "twice-failed@example.com")
    with caplog.at_level(logging.INFO, logger="edgelab.email"):
        r = await _post(client, _event("email.teleported", message.provider_id))
    assert r.status_code == 200 and r.json()["status"] == "accepted"
    assert r.json()["outcome"] == "email.teleported: not tracked"
    assert any("email.teleported" in rec.getMessage() for rec in caplog.records)

    body = _event("email.failed", message.provider_id, failed={"reason": "first"})
    first = await _post(client, body, msg_id="msg_h6_failed_once")
    assert first.json()["status"] == "accepted"
    await session.refresh(message)
    assert message.status == "failed"
    message.status, message.last_error = "sent", None  # an operator resent it meanwhile
    await session.commit()
    again = await _post(client, body, msg_id="msg_h6_failed_once")
    assert again.status_code == 200 and again.json()["status"] == "duplicate"
    await session.refresh(message)
    assert message.status == "sent" and message.last_error is None
    recorded = (
        await session.execute(
            select(WebhookEvent.status).where(WebhookEvent.external_id == "msg_h6_failed_once")
        )
    ).scalars()
    assert list(recorded) == ["processed"]
