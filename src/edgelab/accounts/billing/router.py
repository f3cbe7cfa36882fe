"""HTTP layer of billing: Paddle checkout data, the signed webhook, the user's subscription."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response

from edgelab.accounts import errors
from edgelab.accounts.billing import selfservice
from edgelab.accounts.billing import service as billing
from edgelab.accounts.billing.paddle_api import TRANSACTIONS_PER_PAGE, PaddleApi
from edgelab.accounts.billing.plans import default_price_id, plans
from edgelab.accounts.billing.schemas import (
    BillingChange,
    CancelRequest,
    ChangePlanRequest,
    Checkout,
    CheckoutRequest,
    InvoiceLink,
    PauseRequest,
    PaymentMethodUpdate,
    PlanOut,
    PortalLink,
    SubscriptionOut,
    TransactionList,
    WebhookAck,
)
from edgelab.accounts.errors import BILLING_NOT_CONFIGURED
from edgelab.core.auth import CurrentUser, SessionUser
from edgelab.core.db import ReadSessionMakerDep, SessionDep
from edgelab.core.deps import SettingsDep
from edgelab.core.error_codes import PAYLOAD_TOO_LARGE
from edgelab.core.errors import AppError, error_responses
from edgelab.core.ratelimit import count_rejected_webhook, rate_limit
from edgelab.core.resources import optional_resource

router = APIRouter(tags=["billing"])
PaddleApiDep = Annotated[PaddleApi | None, Depends(optional_resource(PaddleApi))]
MAX_WEBHOOK_BYTES = 1_000_000  # Paddle's largest notifications are a few tens of kB
# every route that calls Paddle's API counts in one budget per user (EDGELAB_RATE_LIMIT_BILLING):
# Paddle allows our whole server 240 requests a minute, which one user must not spend
PADDLE_LIMIT = [Depends(rate_limit("billing through Paddle", policy_limit="billing"))]


class PayloadTooLargeError(AppError):
    status_code = 413
    code = PAYLOAD_TOO_LARGE


@router.post(
    "/billing/checkout",
    dependencies=[Depends(rate_limit("POST /billing/checkout"))],
    response_model=Checkout,
    responses=error_responses(
        401, 404, 429, errors.ALREADY_SUBSCRIBED, errors.UNKNOWN_PLAN, BILLING_NOT_CONFIGURED
    ),
)
async def create_checkout(
    principal: SessionUser,
    session: SessionDep,
    settings: SettingsDep,
    body: CheckoutRequest | None = None,
) -> Checkout:
    """What Paddle.js needs to open checkout for a plan (default: the default plan)."""
    plan = body.plan if body is not None else None
    return Checkout.model_validate(await billing.checkout(session, settings, principal, plan))


@router.get(
    "/billing/subscription",
    dependencies=[Depends(rate_limit("GET /billing/subscription"))],
    response_model=SubscriptionOut,
    responses=error_responses(401, 404, 429),
)
async def get_subscription(principal: CurrentUser, session: SessionDep) -> SubscriptionOut:
    return SubscriptionOut.model_validate(await billing.subscription_view(session, principal))


# --- self-service (Paddle's API; the change itself arrives by webhook) -----------------------
# These routes take no unit of work (no SessionDep): they read in a short session of their own
# and call Paddle with no transaction open, so a slow Paddle never holds SQLite's write lock.

# every self-service route may answer these besides its own
_PADDLE_ANSWERS = (
    401,
    429,
    errors.NO_SUBSCRIPTION,
    errors.PADDLE_NOT_FOUND,
    errors.SUBSCRIPTION_NOT_MANAGEABLE,
    errors.PADDLE_REFUSED,
    errors.PADDLE_AUTH_FAILED,
    errors.PADDLE_BAD_REQUEST,
    errors.PADDLE_BAD_RESPONSE,
    errors.PADDLE_RATE_LIMITED,
    errors.PADDLE_UNAVAILABLE,
    BILLING_NOT_CONFIGURED,
)


@router.get(
    "/billing/plans",
    dependencies=[Depends(rate_limit("GET /billing/plans"))],
    response_model=list[PlanOut],
    responses=error_responses(401, 429),
)
async def list_plans(principal: CurrentUser, settings: SettingsDep) -> list[PlanOut]:
    """The plans on sale (EDGELAB_PADDLE_PRICE_IDS, and EDGELAB_PADDLE_PRICE_ID)."""
    default = default_price_id(settings)
    return [
        PlanOut(name=name, price_id=price_id, default=price_id == default)
        for name, price_id in plans(settings).items()
    ]


@router.post(
    "/billing/cancel",
    dependencies=PADDLE_LIMIT,
    response_model=BillingChange,
    responses=error_responses(*_PADDLE_ANSWERS),
)
async def cancel_subscription(
    body: CancelRequest,
    principal: SessionUser,
    sessions: ReadSessionMakerDep,
    settings: SettingsDep,
    paddle: PaddleApiDep,
) -> BillingChange:
    """Cancel at the period's end (a scheduled change; the paid tier lasts until then) or now."""
    return BillingChange.model_validate(
        await selfservice.cancel(sessions, settings, paddle, principal, when=body.when)
    )


@router.post(
    "/billing/resume",
    dependencies=PADDLE_LIMIT,
    response_model=BillingChange,
    responses=error_responses(*_PADDLE_ANSWERS),
)
async def resume_subscription(
    principal: SessionUser,
    sessions: ReadSessionMakerDep,
    settings: SettingsDep,
    paddle: PaddleApiDep,
) -> BillingChange:
    """Undo what is pending: resume a paused subscription now, or remove a scheduled cancel or
    pause. 409 `subscription_not_manageable` when there is neither."""
    return BillingChange.model_validate(
        await selfservice.resume(sessions, settings, paddle, principal)
    )


@router.post(
    "/billing/pause",
    dependencies=PADDLE_LIMIT,
    response_model=BillingChange,
    responses=error_responses(*_PADDLE_ANSWERS),
)
async def pause_subscription(
    body: PauseRequest,
    principal: SessionUser,
    sessions: ReadSessionMakerDep,
    settings: SettingsDep,
    paddle: PaddleApiDep,
) -> BillingChange:
    """Pause at the period's end (default) or now, optionally until `resume_at`."""
    return BillingChange.model_validate(
        await selfservice.pause(
            sessions, settings, paddle, principal, when=body.when, resume_at=body.resume_at
        )
    )


@router.post(
    "/billing/change-plan",
    dependencies=PADDLE_LIMIT,
    response_model=BillingChange,
    responses=error_responses(*_PADDLE_ANSWERS, errors.UNKNOWN_PLAN, errors.ALREADY_ON_PLAN),
)
async def change_plan(
    body: ChangePlanRequest,
    principal: SessionUser,
    sessions: ReadSessionMakerDep,
    settings: SettingsDep,
    paddle: PaddleApiDep,
) -> BillingChange:
    """Switch plan, billed per EDGELAB_PADDLE_PRORATION_BILLING_MODE (default prorated now)."""
    return BillingChange.model_validate(
        await selfservice.change_plan(sessions, settings, paddle, principal, plan=body.plan)
    )


@router.post(
    "/billing/payment-method",
    dependencies=PADDLE_LIMIT,
    response_model=PaymentMethodUpdate,
    responses=error_responses(*_PADDLE_ANSWERS),
)
async def update_payment_method(
    principal: SessionUser,
    sessions: ReadSessionMakerDep,
    settings: SettingsDep,
    paddle: PaddleApiDep,
) -> PaymentMethodUpdate:
    """A Paddle transaction to open in Paddle.js (or its checkout link) to replace the card."""
    return PaymentMethodUpdate.model_validate(
        await selfservice.payment_method_update(sessions, settings, paddle, principal)
    )


@router.post(
    "/billing/portal",
    dependencies=PADDLE_LIMIT,
    response_model=PortalLink,
    responses=error_responses(*_PADDLE_ANSWERS),
)
async def customer_portal(
    principal: SessionUser, sessions: ReadSessionMakerDep, paddle: PaddleApiDep
) -> PortalLink:
    """A fresh, temporary link into Paddle's customer portal."""
    return PortalLink.model_validate(await selfservice.portal(sessions, paddle, principal))


@router.get(
    "/billing/transactions",
    dependencies=PADDLE_LIMIT,
    response_model=TransactionList,
    responses=error_responses(*_PADDLE_ANSWERS, 422),
)
async def list_transactions(
    principal: CurrentUser,
    sessions: ReadSessionMakerDep,
    paddle: PaddleApiDep,
    after: Annotated[
        str | None,
        Query(
            pattern=r"^txn_[a-z0-9]{1,64}$",
            description="The `next` cursor of the previous page: the transactions older than it.",
        ),
    ] = None,
    per_page: Annotated[
        int, Query(ge=1, le=TRANSACTIONS_PER_PAGE, description="Transactions per page.")
    ] = TRANSACTIONS_PER_PAGE,
) -> TransactionList:
    """Your billed transactions, newest first, with invoice links, a page at a time (Paddle's
    cursor paging): `next` is the `after` of the older page, null on the last one."""
    found = await selfservice.transactions(
        sessions, paddle, principal, after=after, per_page=per_page
    )
    return TransactionList.model_validate(found)


@router.get(
    "/billing/transactions/{transaction_id}/invoice",
    dependencies=PADDLE_LIMIT,
    response_model=InvoiceLink,
    responses=error_responses(*_PADDLE_ANSWERS, errors.TRANSACTION_NOT_FOUND),
)
async def transaction_invoice(
    transaction_id: Annotated[str, Path(pattern=r"^txn_[a-z0-9]{1,64}$")],
    principal: CurrentUser,
    sessions: ReadSessionMakerDep,
    paddle: PaddleApiDep,
) -> InvoiceLink:
    """A temporary link to the invoice PDF of one of your transactions."""
    return InvoiceLink.model_validate(
        await selfservice.invoice(sessions, paddle, principal, transaction_id)
    )


@router.post(
    "/webhooks/paddle",
    response_model=WebhookAck,
    responses=error_responses(400, 401, 413, 429, BILLING_NOT_CONFIGURED),
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

    A redelivery of an event already recorded answers 200 `duplicate` and changes nothing. A
    signed delivery is never rate limited (Paddle's retry bursts must pass); one whose signature
    fails is a 401 with an audit entry up to `EDGELAB_RATE_LIMIT_WEBHOOK_UNSIGNED` per client IP,
    then a 429 that records nothing (a flood of forgeries must not fill the audit log).
    """
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > MAX_WEBHOOK_BYTES:
        raise PayloadTooLargeError("The notification is too large.")
    raw = await request.body()
    if len(raw) > MAX_WEBHOOK_BYTES:
        raise PayloadTooLargeError("The notification is too large.")
    try:
        intake = await billing.receive_paddle_webhook(
            session,
            settings,
            raw_body=raw,
            signature=request.headers.get("paddle-signature"),
            ip=request.client.host if request.client else None,
        )
    except billing.WebhookSignatureError:
        await count_rejected_webhook(request, "paddle")  # the 429 rolls the audit entry back
        raise
    ack = WebhookAck(
        status="duplicate" if intake.duplicate else "accepted", event_id=intake.event_id
    )
    return Response(ack.model_dump_json(), media_type="application/json")
