"""HTTP layer of billing: Paddle checkout data, the signed webhook, the user's subscription."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from edgelab.accounts.billing import service as billing
from edgelab.accounts.billing.schemas import Checkout, SubscriptionOut, WebhookAck
from edgelab.core.auth import CurrentUser
from edgelab.core.db import SessionDep
from edgelab.core.deps import SettingsDep
from edgelab.core.error_codes import PAYLOAD_TOO_LARGE
from edgelab.core.errors import AppError, error_responses

router = APIRouter(tags=["billing"])
MAX_WEBHOOK_BYTES = 1_000_000  # Paddle's largest notifications are a few tens of kB


class PayloadTooLargeError(AppError):
    status_code = 413
    code = PAYLOAD_TOO_LARGE


@router.post(
    "/billing/checkout",
    response_model=Checkout,
    responses=error_responses(401, 404, 409, 503),
)
async def create_checkout(
    principal: CurrentUser, session: SessionDep, settings: SettingsDep
) -> Checkout:
    """What Paddle.js needs to open checkout for the configured price, for this user."""
    return Checkout.model_validate(await billing.checkout(session, settings, principal))


@router.get(
    "/billing/subscription",
    response_model=SubscriptionOut,
    responses=error_responses(401, 404),
)
async def get_subscription(principal: CurrentUser, session: SessionDep) -> SubscriptionOut:
    return SubscriptionOut.model_validate(await billing.subscription_view(session, principal))


@router.post(
    "/webhooks/paddle",
    response_model=WebhookAck,
    responses=error_responses(400, 401, 413, 503),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"type": "object"}}},
            "description": "Paddle's notification, signed in the `Paddle-Signature` header "
            "over the raw bytes.",
        }
    },
)
async def paddle_webhook(request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    """Verify, record once, process in a job, answer fast.

    A redelivery of an event already recorded answers 200 `duplicate` and changes nothing. No
    per-IP rate limit here: the signature authenticates, and Paddle's retry bursts must pass.
    """
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > MAX_WEBHOOK_BYTES:
        raise PayloadTooLargeError("The notification is too large.")
    raw = await request.body()
    if len(raw) > MAX_WEBHOOK_BYTES:
        raise PayloadTooLargeError("The notification is too large.")
    intake = await billing.receive_paddle_webhook(
        session,
        settings,
        raw_body=raw,
        signature=request.headers.get("paddle-signature"),
        ip=request.client.host if request.client else None,
    )
    ack = WebhookAck(
        status="duplicate" if intake.duplicate else "accepted", event_id=intake.event_id
    )
    return Response(ack.model_dump_json(), media_type="application/json")
