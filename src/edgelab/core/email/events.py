"""Resend's delivery webhooks: verify, record once by `svix-id`, apply to the outbox row.

`receive_resend_webhook` verifies the Svix signature (`core.email.svix`) over the raw body,
records the event in `webhook_events` (source `resend`, unique on the `svix-id`, which Resend
keeps across retries: a repeat inserts nothing, changes nothing and is answered 200), and applies
it at once in the same unit of work: one indexed UPDATE of the outbox row found by Resend's
email id (`email_outbox.provider_id`), so a job would add latency and nothing else. Events:

* `email.delivered`, `email.delivery_delayed`, `email.bounced`, `email.complained` set the row's
  `delivery_status` (`delivered`, `delayed`, `bounced`, `complained`), unless the row already
  holds a later event (Resend does not promise order; the event's `created_at` decides);
* a permanent bounce (`bounce.type` "Permanent") or a complaint also suppresses the address
  (`core.email.suppression`): no more alerts, receipts or nudges until its owner signs in
  again through an e-mailed link;
* `email.failed` (Resend accepted the message, then could not send it: `failed.reason`, e.g.
  `reached_daily_quota`) marks the row `failed` with the reason in `last_error` (and
  `delivery_status` `failed`); the address is not at fault, so it is not suppressed;
* `email.suppressed` (Resend refused to send to an address on its own suppression list:
  `suppressed {message, type}`) marks the row `suppressed` with Resend's message and
  suppresses the address here as a hard bounce does (reason `suppressed`);
* any other type, or an email id we never sent, is recorded `ignored`, logged and answered
  200. Every event is recorded once by its `svix-id`: a redelivery changes nothing.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from edgelab.core import error_codes as codes
from edgelab.core.auth import UnauthorizedError
from edgelab.core.email import svix
from edgelab.core.email.models import OutboxEmail
from edgelab.core.email.suppression import suppress
from edgelab.core.errors import AppError, InvalidInputError
from edgelab.core.settings import Settings
from edgelab.core.webhooks import WebhookEvent, finish_event, record_once

log = logging.getLogger("edgelab.email")
SOURCE = "resend"
DELIVERY_STATUS = {
    "email.delivered": "delivered",
    "email.delivery_delayed": "delayed",
    "email.bounced": "bounced",
    "email.complained": "complained",
    "email.failed": "failed",
    "email.suppressed": "suppressed",
}
# events after which the message never reaches its reader: the outbox row's own `status`
FINAL_STATUS = {"email.failed": "failed", "email.suppressed": "suppressed"}


class WebhookNotConfiguredError(AppError):
    status_code = 503
    code = codes.WEBHOOK_NOT_CONFIGURED


@dataclass(frozen=True)
class ResendIntake:
    event_id: str  # the svix-id
    duplicate: bool
    outcome: str  # what it did (for the answer and the operators)


def _parse_time(value: object) -> dt.datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.astimezone(dt.UTC) if parsed.tzinfo is not None else None


def _document(raw_body: bytes) -> dict[str, Any]:
    try:
        document = json.loads(raw_body)
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidInputError(
            "The signed body is not JSON.", code=codes.INVALID_WEBHOOK_PAYLOAD
        ) from exc
    if (
        not isinstance(document, dict)
        or not isinstance(document.get("type"), str)
        or not 0 < len(document["type"]) <= 80
        or not isinstance(document.get("data", {}), dict)
    ):
        raise InvalidInputError(
            "The signed body is not a Resend event ({type, created_at, data}).",
            code=codes.INVALID_WEBHOOK_PAYLOAD,
        )
    return document


def _verify(settings: Settings, headers: dict[str, str | None], raw_body: bytes) -> str:
    """The verified `svix-id`, or 503 without a secret, 401 when the signature fails."""
    secret = settings.resend_webhook_secret
    if secret is None:
        raise WebhookNotConfiguredError(
            "Resend webhooks are not configured here (EDGELAB_RESEND_WEBHOOK_SECRET is unset)."
        )
    try:
        verdict = svix.verify(
            secret.get_secret_value(),
            msg_id=headers.get("svix-id"),
            timestamp=headers.get("svix-timestamp"),
            signature=headers.get("svix-signature"),
            raw_body=raw_body,
        )
    except ValueError as exc:  # the configured secret itself is malformed
        log.error("resend webhook: %s", exc)
        raise WebhookNotConfiguredError(
            "The Resend webhook secret configured here is not a valid whsec_ secret."
        ) from exc
    if not verdict.ok:
        log.warning("resend webhook refused: %s", verdict.reason)
        if verdict.expired:
            raise UnauthorizedError(
                "The webhook's svix-timestamp is more than 5 minutes from now.",
                code=codes.WEBHOOK_SIGNATURE_EXPIRED,
            )
        raise UnauthorizedError(
            f"The webhook signature does not verify ({verdict.reason}).",
            code=codes.INVALID_WEBHOOK_SIGNATURE,
        )
    msg_id = headers.get("svix-id")
    assert msg_id is not None
    if len(msg_id) > 100:
        raise InvalidInputError("svix-id is too long.", code=codes.INVALID_WEBHOOK_PAYLOAD)
    return msg_id


async def receive_resend_webhook(
    session: AsyncSession, settings: Settings, *, headers: dict[str, str | None], raw_body: bytes
) -> ResendIntake:
    msg_id = _verify(settings, headers, raw_body)
    document = _document(raw_body)
    event_type = document["type"]
    recorded = await record_once(
        session,
        source=SOURCE,
        external_id=msg_id,
        event_type=event_type,
        occurred_at=_parse_time(document.get("created_at")),
        payload=document,
    )
    if not recorded.created:
        return ResendIntake(msg_id, True, "duplicate")
    event = await session.get(WebhookEvent, recorded.id)
    assert event is not None
    event.attempts = 1
    status, outcome = await apply_event(session, event_type, document)
    finish_event(event, status, outcome)
    log.info("resend webhook %s (%s): %s", msg_id, event_type, outcome)
    return ResendIntake(msg_id, False, outcome)


async def apply_event(
    session: AsyncSession, event_type: str, document: dict[str, Any]
) -> tuple[str, str]:
    """Apply one verified event; (webhook_events status, outcome)."""
    delivery_status = DELIVERY_STATUS.get(event_type)
    if delivery_status is None:
        log.info("resend webhook: event type %s is not tracked (ignored)", event_type)
        return "ignored", f"{event_type}: not tracked"
    data = document.get("data") or {}
    email_id = data.get("email_id")
    if not isinstance(email_id, str) or not email_id:
        return "ignored", f"{event_type}: no email_id"
    row = (
        await session.execute(select(OutboxEmail).where(OutboxEmail.provider_id == email_id))
    ).scalar_one_or_none()
    if row is None:
        return "ignored", f"{event_type}: email {email_id} is not in the outbox"
    at = _parse_time(document.get("created_at")) or _parse_time(data.get("created_at"))
    found = data.get("bounce")
    bounce: dict[str, Any] = found if isinstance(found, dict) else {}
    detail = _detail(event_type, data)
    conditions = [OutboxEmail.id == row.id]
    if at is not None:  # a later event already applied wins over this one
        conditions.append(
            or_(OutboxEmail.delivery_event_at.is_(None), OutboxEmail.delivery_event_at <= at)
        )
    values: dict[str, Any] = {
        "delivery_status": delivery_status,
        "delivery_event_at": at,
        "delivery_detail": detail,
    }
    final = FINAL_STATUS.get(event_type)
    if final is not None:  # the message will not arrive: say so where operators look
        values.update(status=final, last_error=f"Resend: {detail}"[:2000])
    result = await session.execute(
        update(OutboxEmail)
        .where(*conditions)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    applied = getattr(result, "rowcount", 0) == 1
    outcome = f"outbox #{row.id} {delivery_status}" if applied else f"outbox #{row.id} newer"
    hard_bounce = event_type == "email.bounced" and bounce.get("type") == "Permanent"
    reason = {"email.complained": "complained", "email.suppressed": "suppressed"}.get(
        event_type, "bounced" if hard_bounce else None
    )
    if reason is not None and await suppress(
        session, row.to_address, reason=reason, detail=detail, outbox_id=row.id
    ):
        outcome += f"; {row.to_address} suppressed"
    return "processed", outcome


def _detail(event_type: str, data: dict[str, Any]) -> str | None:
    """What the event says went wrong (None when nothing did)."""
    key = {"email.bounced": "bounce", "email.failed": "failed", "email.suppressed": "suppressed"}
    found = data.get(key.get(event_type, ""))
    extra: dict[str, Any] = found if isinstance(found, dict) else {}
    if event_type == "email.bounced":
        return _bounce_detail(extra)
    if event_type == "email.failed":
        reason = extra.get("reason")
        return f"failed: {reason}" if isinstance(reason, str) and reason else "failed"
    if event_type == "email.suppressed":
        kind, message = extra.get("type"), extra.get("message")
        text = f"suppressed/{kind}" if isinstance(kind, str) and kind else "suppressed"
        return f"{text}: {message}" if isinstance(message, str) and message else text
    return None


def _bounce_detail(bounce: dict[str, Any]) -> str:
    parts = [str(bounce.get(key)) for key in ("type", "subType") if bounce.get(key)]
    message = bounce.get("message")
    text = "/".join(parts) or "bounce"
    return f"{text}: {message}" if isinstance(message, str) and message else text
