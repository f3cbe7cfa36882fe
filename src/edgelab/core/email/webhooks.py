"""HTTP layer of Resend's delivery webhooks: `POST /webhooks/resend` (`core.email.events`)."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel

from edgelab.core import error_codes as codes
from edgelab.core.auth import UnauthorizedError
from edgelab.core.db import SessionDep
from edgelab.core.deps import SettingsDep
from edgelab.core.email.events import receive_resend_webhook
from edgelab.core.errors import AppError, error_responses
from edgelab.core.ratelimit import count_rejected_webhook

router = APIRouter(tags=["email"])
MAX_WEBHOOK_BYTES = 256_000  # Resend's events are about a kilobyte
SVIX_HEADERS = ("svix-id", "svix-timestamp", "svix-signature")


class ResendWebhookAck(BaseModel):
    status: Literal["accepted", "duplicate"]
    event_id: str  # the svix-id
    outcome: str  # what the event changed ("outbox #12 delivered", "...: not tracked", ...)


class WebhookTooLargeError(AppError):
    status_code = 413
    code = codes.PAYLOAD_TOO_LARGE


@router.post(
    "/webhooks/resend",
    name="resend_webhook",
    response_model=ResendWebhookAck,
    responses=error_responses(
        codes.INVALID_WEBHOOK_PAYLOAD,
        codes.INVALID_WEBHOOK_SIGNATURE,
        codes.WEBHOOK_SIGNATURE_EXPIRED,
        413,
        429,
        codes.WEBHOOK_NOT_CONFIGURED,
    ),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"type": "object"}}},
            "description": "Resend's event `{type, created_at, data}`, signed (Svix) in the "
            "`svix-id`, `svix-timestamp` and `svix-signature` headers over the raw bytes.",
        }
    },
)
async def resend_webhook(
    request: Request, session: SessionDep, settings: SettingsDep
) -> ResendWebhookAck:
    """Verify, record once by `svix-id` (a repeat answers 200 `duplicate` and changes nothing),
    update the outbox row; any other event type is answered 200 and ignored. Signed deliveries
    are never rate limited (Resend's retries must pass); failed signatures from one IP past
    `EDGELAB_RATE_LIMIT_WEBHOOK_UNSIGNED` are 429."""
    raw = await request.body()
    if len(raw) > MAX_WEBHOOK_BYTES:
        raise WebhookTooLargeError("The event is too large.")
    try:
        intake = await receive_resend_webhook(
            session,
            settings,
            headers={name: request.headers.get(name) for name in SVIX_HEADERS},
            raw_body=raw,
        )
    except UnauthorizedError:  # a failed signature counts against the IP's unsigned limit
        await count_rejected_webhook(request, "resend")  # past it: 429 instead of the 401
        raise
    return ResendWebhookAck(
        status="duplicate" if intake.duplicate else "accepted",
        event_id=intake.event_id,
        outcome=intake.outcome,
    )
