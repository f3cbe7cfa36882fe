"""Resend's delivery webhooks: Svix signatures, idempotency by svix-id, the outbox row's
delivery status, and suppression after a hard bounce or a complaint (lifted by signing in)."""

from __future__ import annotations

import datetime as dt
import json
import re
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from edgelab.accounts import service as accounts_service
from edgelab.accounts.models import AuditEvent, User
from edgelab.accounts.service import create_user
from edgelab.core.email import svix
from edgelab.core.email.delivery import deliver
from edgelab.core.email.models import EmailSuppression, OutboxEmail
from edgelab.core.email.outbox import EmailTemplate, queue_email
from edgelab.core.email.suppression import suppress
from edgelab.core.settings import Settings
from edgelab.core.webhooks import WebhookEvent
from tests.fixtures.database import make_settings

pytestmark = pytest.mark.asyncio(loop_scope="session")

SECRET = "whsec_" + "dGVzdC1zdWl0ZS1yZXNlbmQtd2ViaG9vay1zZWNyZXQ="  # base64 of a test key
# copied from ../shared/reference/payloads/resend: svix-webhooks' library vector and Resend's
# documented email.bounced example signed with it
VECTORS = json.loads(
    (Path(__file__).parent / "fixtures/resend/webhook_signature_test_vectors.json").read_text()
)
RECEIPT = EmailTemplate("edgelab.accounts.billing", "receipt", "Your edgelab receipt")
RECEIPT_CONTEXT = {"transaction_id": "txn_1", "amount": "10.00 USD", "billed_at": None, "link": "x"}


@pytest.fixture
async def settings(db_url: str) -> Settings:
    return make_settings(db_url, resend_webhook_secret=SECRET, rate_limits_enabled=False)


def _signed(
    body: dict[str, Any] | bytes,
    *,
    msg_id: str | None = None,
    timestamp: int | None = None,
    secret: str = SECRET,
) -> tuple[bytes, dict[str, str]]:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    msg_id = msg_id or f"msg_{uuid.uuid4().hex}"
    ts = int(time.time()) if timestamp is None else timestamp
    headers = {
        "svix-id": msg_id,
        "svix-timestamp": str(ts),
        "svix-signature": svix.sign(secret, msg_id, ts, raw),
        "content-type": "application/json",
    }
    return raw, headers


def _event(event_type: str, email_id: str, *, at: str = "2026-12-09T10:00:00.000Z", **extra):
    data = {
        "email_id": email_id,
        "created_at": at,
        "from": "edgelab <onboarding@resend.dev>",
        "to": ["someone@example.com"],
        "subject": "Your edgelab receipt",
        **extra,
    }
    return {"type": event_type, "created_at": at, "data": data}


async def _sent_message(session: AsyncSession, settings: Settings, to: str) -> OutboxEmail:
    """A receipt to `to` as Resend accepted it (status `sent`, Resend's id in provider_id)."""
    message = await queue_email(session, settings, to=to, template=RECEIPT, context=RECEIPT_CONTEXT)
    message.status = "sent"
    message.provider_id = str(uuid.uuid4())
    await session.commit()
    return message


async def _post(client: httpx.AsyncClient, body: Any, **kwargs: Any) -> httpx.Response:
    raw, headers = _signed(body, **kwargs)
    return await client.post("/webhooks/resend", content=raw, headers=headers)


# --- the signature --------------------------------------------------------------------------


async def test_the_svix_library_vector_verifies_with_the_clock_at_its_time() -> None:
    v = VECTORS["svix_library_vector"]
    raw = v["raw_body"].encode()
    assert svix.sign(v["secret"], v["svix-id"], v["svix-timestamp"], raw) == v["svix-signature"]
    verdict = svix.verify(
        v["secret"],
        msg_id=v["svix-id"],
        timestamp=v["svix-timestamp"],
        signature=f"v1,bm90IHRoaXMgb25l {v['svix-signature']}",  # any entry may match
        raw_body=raw,
        now=int(v["svix-timestamp"]) + 10,
    )
    assert verdict.ok, verdict.reason
    late = svix.verify(
        v["secret"],
        msg_id=v["svix-id"],
        timestamp=v["svix-timestamp"],
        signature=v["svix-signature"],
        raw_body=raw,
        now=int(v["svix-timestamp"]) + 301,
    )
    assert not late.ok and late.expired
    changed = svix.verify(
        v["secret"],
        msg_id=v["svix-id"],
        timestamp=v["svix-timestamp"],
        signature=v["svix-signature"],
        raw_body=raw + b"\n",  # re-serialised bodies fail: the raw bytes are signed
        now=int(v["svix-timestamp"]),
    )
    assert not changed.ok and not changed.expired


async def test_the_shared_bounced_vector_suppresses_its_address_over_http(
    client, session, settings, monkeypatch
):
    v = VECTORS["resend_bounced_composed_vector"]
    document = json.loads(v["raw_body"])
    user = await create_user(session, document["data"]["to"][0])
    assert user.email is not None
    message = await queue_email(
        session, settings, to=user.email, template=RECEIPT, context=RECEIPT_CONTEXT
    )
    message.status, message.provider_id = "sent", document["data"]["email_id"]
    await session.commit()
    frozen = dt.datetime.fromtimestamp(int(v["svix-timestamp"]) + 30, dt.UTC)
    monkeypatch.setattr(svix, "real_utcnow", lambda: frozen)
    headers = {k: v[k] for k in ("svix-id", "svix-timestamp", "svix-signature")}
    r = await client.post(
        "/webhooks/resend",
        content=v["raw_body"].encode(),
        headers={**headers, "content-type": "application/json"},
    )
    # the vector is signed with its own secret, not the suite's: verified against it below
    assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_webhook_signature"
    own = make_settings(
        settings.database_url, resend_webhook_secret=v["secret"], rate_limits_enabled=False
    )
    from tests.fixtures.app import app_in_session

    async with app_in_session(own, session) as (_, vector_client):
        r = await vector_client.post(
            "/webhooks/resend",
            content=v["raw_body"].encode(),
            headers={**headers, "content-type": "application/json"},
        )
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "accepted"
    await session.refresh(message)
    assert message.delivery_status == "bounced"
    assert message.delivery_detail.startswith("Permanent/Suppressed: ")
    row = await session.get(EmailSuppression, user.email)
    assert row is not None and row.reason == "bounced" and row.outbox_id == message.id


async def test_a_forged_signature_is_401_invalid_webhook_signature(client, session, settings):
    message = await _sent_message(session, settings, "forged@example.com")
    body = _event("email.bounced", message.provider_id, bounce={"type": "Permanent"})
    raw, headers = _signed(body, secret="whsec_" + "b3RoZXItc2VjcmV0LW5vdC1vdXJz")
    r = await client.post("/webhooks/resend", content=raw, headers=headers)
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "invalid_webhook_signature"
    # a body changed after signing fails the same way
    raw, headers = _signed(body)
    r = await client.post("/webhooks/resend", content=raw + b" ", headers=headers)
    assert r.json()["error"]["code"] == "invalid_webhook_signature"
    # missing headers too
    r = await client.post("/webhooks/resend", content=raw)
    assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_webhook_signature"
    assert await session.get(EmailSuppression, "forged@example.com") is None


async def test_a_signature_older_than_five_minutes_is_401_webhook_signature_expired(
    client, session, settings
):
    message = await _sent_message(session, settings, "replayed@example.com")
    body = _event("email.complained", message.provider_id)
    r = await _post(client, body, timestamp=int(time.time()) - 301)
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "webhook_signature_expired"
    r = await _post(client, body, timestamp=int(time.time()) + 301)  # from the future too
    assert r.json()["error"]["code"] == "webhook_signature_expired"
    assert await session.get(EmailSuppression, "replayed@example.com") is None


async def test_without_a_secret_the_route_answers_503_webhook_not_configured(db_url, session):
    from tests.fixtures.app import app_in_session

    bare = make_settings(db_url, rate_limits_enabled=False)
    async with app_in_session(bare, session) as (_, client):
        r = await _post(client, _event("email.delivered", "x"))
    assert r.status_code == 503
    assert r.json()["error"]["code"] == "webhook_not_configured"


async def test_a_malformed_secret_is_503_and_never_echoed(db_url, session):
    from tests.fixtures.app import app_in_session

    bad = make_settings(db_url, resend_webhook_secret="whsec_not*base64", rate_limits_enabled=False)
    async with app_in_session(bad, session) as (_, client):
        r = await _post(client, _event("email.delivered", "x"))
    assert r.status_code == 503
    assert r.json()["error"]["code"] == "webhook_not_configured"
    assert "not*base64" not in r.text


async def test_a_signed_body_that_is_not_an_event_is_400(client):
    r = await _post(client, b"[1, 2]")
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_webhook_payload"


# --- events ---------------------------------------------------------------------------------


async def test_delivered_updates_the_outbox_row_found_by_resends_email_id(
    client, session, settings
):
    message = await _sent_message(session, settings, "reader@example.com")
    r = await _post(client, _event("email.delivered", message.provider_id))
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "accepted"
    assert r.json()["outcome"] == f"outbox #{message.id} delivered"
    await session.refresh(message)
    assert message.status == "sent" and message.delivery_status == "delivered"
    assert message.delivery_event_at == dt.datetime(2026, 12, 9, 10, 0, tzinfo=dt.UTC)
    event = (
        await session.execute(select(WebhookEvent).where(WebhookEvent.source == "resend"))
    ).scalar_one()
    assert event.status == "processed" and event.event_type == "email.delivered"


async def test_an_older_delay_arriving_after_delivery_does_not_undo_it(client, session, settings):
    message = await _sent_message(session, settings, "slow@example.com")
    await _post(client, _event("email.delivered", message.provider_id, at="2026-12-09T10:05:00Z"))
    r = await _post(
        client, _event("email.delivery_delayed", message.provider_id, at="2026-12-09T10:01:00Z")
    )
    assert r.status_code == 200 and r.json()["outcome"].endswith("newer")
    await session.refresh(message)
    assert message.delivery_status == "delivered"


async def test_a_repeated_svix_id_answers_200_and_changes_nothing(client, session, settings):
    message = await _sent_message(session, settings, "twice@example.com")
    body = _event("email.bounced", message.provider_id, bounce={"type": "Permanent"})
    raw, headers = _signed(body, msg_id="msg_repeat_1")
    first = await client.post("/webhooks/resend", content=raw, headers=headers)
    assert first.json()["status"] == "accepted"
    # the owner signs in meanwhile (suppression lifted): the redelivery must not suppress again
    row = await session.get(EmailSuppression, "twice@example.com")
    assert row is not None
    await session.delete(row)
    await session.commit()
    again = await client.post("/webhooks/resend", content=raw, headers=headers)
    assert again.status_code == 200
    assert again.json() == {
        "status": "duplicate",
        "event_id": "msg_repeat_1",
        "outcome": "duplicate",
    }
    assert await session.get(EmailSuppression, "twice@example.com") is None
    count = (
        (
            await session.execute(
                select(WebhookEvent).where(WebhookEvent.external_id == "msg_repeat_1")
            )
        )
        .scalars()
        .all()
    )
    assert len(count) == 1


async def test_other_event_types_and_unknown_emails_are_answered_200_and_ignored(
    client, session, settings
):
    message = await _sent_message(session, settings, "opener@example.com")
    r = await _post(client, _event("email.opened", message.provider_id))
    assert r.status_code == 200 and r.json()["outcome"] == "email.opened: not tracked"
    r = await _post(
        client,
        {"type": "domain.updated", "created_at": "2026-12-09T10:00:00Z", "data": {"id": "d"}},
    )
    assert r.status_code == 200
    r = await _post(client, _event("email.delivered", str(uuid.uuid4())))
    assert r.status_code == 200 and "is not in the outbox" in r.json()["outcome"]
    await session.refresh(message)
    assert message.delivery_status is None
    statuses = (
        (await session.execute(select(WebhookEvent.status).where(WebhookEvent.source == "resend")))
        .scalars()
        .all()
    )
    assert sorted(statuses) == ["ignored", "ignored", "ignored"]


async def test_a_transient_bounce_is_recorded_but_does_not_suppress(client, session, settings):
    message = await _sent_message(session, settings, "full@example.com")
    bounce = {"type": "Transient", "subType": "MailboxFull", "message": "mailbox full"}
    r = await _post(client, _event("email.bounced", message.provider_id, bounce=bounce))
    assert r.status_code == 200
    await session.refresh(message)
    assert message.delivery_status == "bounced"
    assert message.delivery_detail == "Transient/MailboxFull: mailbox full"
    assert await session.get(EmailSuppression, "full@example.com") is None


async def test_a_complaint_suppresses_the_address(client, session, settings):
    message = await _sent_message(session, settings, "Annoyed@Example.com")
    r = await _post(client, _event("email.complained", message.provider_id))
    assert r.status_code == 200 and r.json()["outcome"].endswith("suppressed")
    row = await session.get(EmailSuppression, "annoyed@example.com")
    assert row is not None and row.reason == "complained"


# --- what suppression stops, and what lifts it ------------------------------------------------


def _link(text: str) -> str:
    match = re.search(r"token=([A-Za-z0-9_%-]+)", text)
    assert match is not None
    return match.group(1)


async def test_a_hard_bounce_stops_receipts_and_alerts_until_the_owner_signs_in_by_link(
    client, session, settings
):
    user = await create_user(session, "bounced@example.com", tier="paid")
    message = await _sent_message(session, settings, "bounced@example.com")
    bounce = {"type": "Permanent", "subType": "General", "message": "no such user"}
    r = await _post(client, _event("email.bounced", message.provider_id, bounce=bounce))
    assert r.json()["outcome"] == f"outbox #{message.id} bounced; bounced@example.com suppressed"

    receipt = await queue_email(
        session, settings, to="bounced@example.com", template=RECEIPT, context=RECEIPT_CONTEXT
    )
    assert receipt.status == "suppressed"
    assert receipt.last_error.startswith("not sent: the address is suppressed")
    assert await accounts_service.alert_recipients(session, [user.id]) == {}
    await session.commit()
    from edgelab.core.auth import issue_access_token

    me = await client.get(
        "/me", headers={"Authorization": f"Bearer {issue_access_token(settings, user.id)}"}
    )
    assert me.json()["email_suppressed"] == "bounced"  # so the account page can say why

    # the sign-in link still goes, and using it confirms the address again
    r = await client.post("/auth/magic-link", json={"email": "bounced@example.com"})
    assert r.status_code == 202
    link = (
        (
            await session.execute(
                select(OutboxEmail)
                .where(OutboxEmail.template == "magic_link")
                .order_by(OutboxEmail.id.desc())
            )
        )
        .scalars()
        .first()
    )
    assert link is not None and link.status == "logged" and link.essential
    r = await client.post("/auth/verify", json={"token": _link(link.text)})
    assert r.status_code == 200, r.text
    assert await session.get(EmailSuppression, "bounced@example.com") is None
    me = await client.get("/me", headers={"Authorization": f"Bearer {r.json()['access_token']}"})
    assert me.json()["email_suppressed"] is None
    cleared = (
        await session.execute(
            select(AuditEvent).where(
                AuditEvent.event == "email_suppression_cleared", AuditEvent.user_id == user.id
            )
        )
    ).scalar_one()
    assert cleared.details["reason"] == "bounced"
    after = await queue_email(
        session, settings, to="bounced@example.com", template=RECEIPT, context=RECEIPT_CONTEXT
    )
    assert after.status == "logged"
    assert user.id in await accounts_service.alert_recipients(session, [user.id])


async def test_a_queued_message_is_not_sent_once_its_address_is_suppressed(session, settings):
    resend_settings = make_settings(settings.database_url, email_backend="log")

    class NoSend:
        async def send(self, *args: Any, **kwargs: Any) -> Any:  # pragma: no cover
            raise AssertionError("a suppressed address must not be sent to")

    message = await queue_email(
        session, resend_settings, to="later@example.com", template=RECEIPT, context=RECEIPT_CONTEXT
    )
    message.status, message.backend = "pending", "resend"  # as the resend backend queues it
    await suppress(session, "later@example.com", reason="bounced", detail=None, outbox_id=None)
    await session.flush()
    status = await deliver(session, resend_settings, NoSend(), message.id)  # type: ignore[arg-type]
    assert status == "suppressed" and message.attempts == 0


async def test_deleting_the_account_forgets_its_suppression(client, session, settings):
    from edgelab.core.auth import issue_access_token

    user = await create_user(session, "leaving@example.com")
    await suppress(session, "leaving@example.com", reason="complained", detail=None, outbox_id=1)
    await session.commit()
    r = await client.delete(
        "/me", headers={"Authorization": f"Bearer {issue_access_token(settings, user.id)}"}
    )
    assert r.status_code == 204
    assert await session.get(EmailSuppression, "leaving@example.com") is None
    assert (await session.get(User, user.id)).email is None


async def test_failed_signatures_past_the_unsigned_limit_are_429_but_signed_ones_pass(
    db_url, session
):
    from edgelab.app import create_app
    from tests.fixtures.app import bind_to_session, client_at

    limited = make_settings(
        db_url, resend_webhook_secret=SECRET, rate_limit_webhook_unsigned="2/minute"
    )
    message = await _sent_message(session, limited, "flood@example.com")
    app = create_app(limited)
    async with app.router.lifespan_context(app):
        bind_to_session(app, session)
        async with client_at(app, "203.0.113.91") as flood:
            raw, headers = _signed(_event("email.delivered", message.provider_id))
            forged = {**headers, "svix-signature": "v1,AAAA"}
            answers = [
                await flood.post("/webhooks/resend", content=raw, headers=forged) for _ in range(3)
            ]
            signed = await flood.post("/webhooks/resend", content=raw, headers=headers)
    assert [r.status_code for r in answers] == [401, 401, 429]
    assert answers[-1].json()["error"]["code"] == "rate_limited"
    assert signed.status_code == 200 and signed.json()["status"] == "accepted"
