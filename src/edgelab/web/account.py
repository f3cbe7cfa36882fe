"""Dashboard pages of the account: who you are, subscription and checkout, API keys, alert
rules, and a Sentinel time-out when one runs. Sign-in lands here.

Everything comes from the API as the signed-in user: `GET /me` (who you are, and in
`restricted_until` the end of a running Sentinel time-out: the time-out notice), `GET
/billing/subscription`, `GET /me/api-keys`, `GET /alerts/rules`. The alert rules route also
says whether the account may use them: a list for a paid account, 403
`paid_subscription_required` for a free one (the upgrade prompt), 403 `account_restricted`
during a time-out (rules paused). Forms post to this page's routes, which call the API and
show its 422 details next to the fields; a created API key is shown once, on the answer to
the form, and never stored by the page.

Checkout is Paddle.js's overlay, opened in the browser (`static/checkout.js`) from the
account page and from every upgrade prompt, for one of the named plans
(`EDGELAB_PADDLE_PRICE_IDS`), with the user's e-mail and `customData.user_id`. The browser's
`checkout.completed` only navigates to `/app/account/upgraded`, which polls until the signed
webhook has made the user paid: nothing is provisioned from the browser. The subscription's
controls (cancel, pause, resume, change plan, update the payment method, Paddle's portal,
receipts) post to this page's routes, which call the `/billing/...` API routes; each control
shows only when its route is mounted. Updating the payment method is Paddle's own flow: the
API answers a transaction, which Paddle.js opens as a checkout (`transactionId`); without a
client token the browser goes to that transaction's hosted checkout link instead. Payments come
a page at a time (`GET /billing/transactions`, Paddle's cursor): "Older invoices" follows the
`next` cursor.

Over 400 lines on purpose: one page, whose forms each post here and re-render the same view
(with their field errors); split, every module would import the view from the other.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any, get_args
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from starlette.routing import Match, Mount

from edgelab.accounts.billing.plans import plans as plans_on_sale
from edgelab.betting.alerts.schemas import TeamCode
from edgelab.betting.markets.schemas import Algorithm, MarketType
from edgelab.core.resources import resources_of
from edgelab.core.settings import Settings
from edgelab.web.api import call_api
from edgelab.web.pages import error_page, form_number, render, templates, vendor_file
from edgelab.web.session import SameOrigin, WebRoute, WebUser, WebUserDep, finish_response

router = APIRouter(route_class=WebRoute)

TEAMS: tuple[str, ...] = get_args(TeamCode)
MARKET_TYPES: tuple[str, ...] = get_args(MarketType)
ALGORITHMS: tuple[str, ...] = get_args(Algorithm)
DEFAULT_MARKET_TYPES = ("moneyline", "spread", "total")  # what the API defaults to
PROFILE_FIELDS = ("display_name", "time_zone")
RULE_FIELDS = ("name", "min_value_score", "algorithm", "market_types", "teams", "active")
UPGRADED_URL = "/app/account/upgraded"
PADDLE_MODULE = "paddle-js.mjs"  # npm @paddle/paddle-js under /app/vendor/ (make assets)
# the billing API routes the subscription's controls use: (method, path)
BILLING_ROUTES = {
    "cancel": ("POST", "/billing/cancel"),
    "resume": ("POST", "/billing/resume"),
    "pause": ("POST", "/billing/pause"),
    "payment_method": ("POST", "/billing/payment-method"),
    "change_plan": ("POST", "/billing/change-plan"),
    "portal": ("POST", "/billing/portal"),
    "transactions": ("GET", "/billing/transactions"),
    "invoice": ("GET", "/billing/transactions/{transaction_id}/invoice"),
}


# --- checkout (Paddle.js) -------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    name: str
    price_id: str


@dataclass(frozen=True)
class CheckoutConfig:
    """What `static/checkout.js` reads from the page's data attributes: Paddle.js's
    `initializePaddle({environment, token})`, then `Checkout.open({items: [{priceId}],
    customer: {email}, customData: {user_id}})`; `checkout.completed` goes to `success_url`."""

    client_token: str
    environment: str
    email: str
    user_id: str
    plans: tuple[Plan, ...]
    success_url: str
    module_url: str | None  # the vendored loader; None: checkout.js loads Paddle's CDN itself


@dataclass(frozen=True)
class PaymentUpdate:
    """Paddle.js opening the payment-method transaction (`account/_payment_method.html`)."""

    client_token: str
    environment: str
    transaction_id: str
    success_url: str
    module_url: str | None


def _paddle_module(settings: Settings) -> str | None:
    """The vendored Paddle.js loader; None: checkout.js loads Paddle's CDN itself."""
    if vendor_file(settings, PADDLE_MODULE) is None:
        return None
    return f"/app/vendor/{PADDLE_MODULE}"


def configured_plans(settings: Settings) -> tuple[Plan, ...]:
    """The named plans on sale (`EDGELAB_PADDLE_PRICE_IDS`, e.g. `monthly=pri_…,yearly=pri_…`,
    and the older `EDGELAB_PADDLE_PRICE_ID` as plan `default`), in configuration order."""
    return tuple(Plan(name, price) for name, price in plans_on_sale(settings).items())


def checkout_config(request: Request, user: WebUser | None) -> CheckoutConfig | None:
    """The checkout a free signed-in user can open here, or None (signed out, already paid, or
    Paddle.js not configured: no client token or no price)."""
    if user is None or user.paid:
        return None
    settings = resources_of(request).settings
    token = settings.paddle_client_token
    plans = configured_plans(settings)
    if token is None or not token.get_secret_value() or not plans:
        return None
    return CheckoutConfig(
        client_token=token.get_secret_value(),
        environment=settings.paddle_environment,
        email=user.email,
        user_id=user.id,
        plans=plans,
        success_url=UPGRADED_URL,
        module_url=_paddle_module(settings),
    )


# every page's upgrade prompt opens the same checkout
templates.env.globals["paddle_checkout"] = checkout_config


def _mounted(request: Request) -> set[str]:
    """Which of the billing controls' API routes this app has (others are not shown); none
    without a Paddle API key (`EDGELAB_PADDLE_API_KEY`: the routes would only answer 503)."""
    if getattr(resources_of(request).settings, "paddle_api_key", None) is None:
        return set()
    routes = [r for r in request.app.router.routes if not isinstance(r, Mount)]

    def served(method: str, path: str) -> bool:
        scope = {**request.scope, "method": method, "path": path.format(transaction_id="txn_0")}
        return any(r.matches(scope)[0] == Match.FULL for r in routes)

    return {name for name, (method, path) in BILLING_ROUTES.items() if served(method, path)}


def _receipt_url(data: Any) -> str | None:
    """A Paddle link from the API's answer (`url`), https only: a redirect to it can never be
    turned into a script URL."""
    url = data.get("url") if isinstance(data, dict) else None
    return str(url) if url and str(url).startswith("https://") else None


def _back(anchor: str) -> Response:
    return RedirectResponse(f"/app/account#{anchor}", status_code=303)


def _restriction(me: dict[str, Any]) -> dict[str, Any] | None:
    """The running time-out as `GET /me` reports it (None when there is none)."""
    until = me.get("restricted_until")
    return {"until": until} if until else None


async def _account_view(
    request: Request,
    *,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
    payments_after: str | None = None,
    **extra: Any,
) -> Response:
    """The account page; `payments_after`: show the payments older than that cursor."""
    user = getattr(request.state, "web_user", None)
    if user is None:  # the API's own 401 (a sign-in prompt)
        return error_page(request, await call_api(request, "GET", "/me"), title="Account")
    payments_after = _cursor(payments_after)
    subscription = await call_api(request, "GET", "/billing/subscription")
    keys = await call_api(request, "GET", "/me/api-keys")
    rules = await call_api(request, "GET", "/alerts/rules")
    mounted = _mounted(request)
    settings = resources_of(request).settings
    has_subscription = bool(subscription.ok and subscription.data.get("subscription_id"))
    payments = "transactions" in mounted and has_subscription
    transactions = None  # asked of Paddle: after the page with htmx (`/account/payments`)
    if payments and vendor_file(settings, "htmx.min.js") is None:
        transactions = await _transactions(request, payments_after)
    context: dict[str, Any] = {
        "me": user.raw,
        "subscription": subscription,
        "keys": keys,
        "rules": rules,
        "restriction": _restriction(user.raw),
        "teams": TEAMS,
        "market_types": MARKET_TYPES,
        "algorithms": ALGORITHMS,
        "default_market_types": DEFAULT_MARKET_TYPES,
        "created_key": None,
        "billing_controls": mounted,
        "plans": configured_plans(settings),
        "payments": payments,
        "transactions": transactions,
        "payments_after": payments_after,
        "payment_update": None,
        "billing_notice": None,
        "profile_form": None,
        "profile_errors": {},
        "key_form": None,
        "key_errors": {},
        "rule_form": None,
        "rule_errors": {},
        "rule_general": [],
    }
    context.update(extra)
    return render(request, "account/index.html", context, status_code=status_code, headers=headers)


BILLING_NOTICES = {
    "cancel": "Paddle has your cancellation.",
    "resume": "Paddle has your request to keep (or resume) the subscription.",
    "pause": "Paddle has your pause.",
    "change_plan": "Paddle has your plan change.",
    "payment_method": "Paddle has your new payment method.",
}
_TXN_ID = re.compile(r"txn_[a-z0-9]{1,64}")


def _cursor(value: object) -> str | None:
    """A payments cursor (a Paddle transaction id, the API's `next`), or None."""
    return value if isinstance(value, str) and _TXN_ID.fullmatch(value) else None


async def _transactions(request: Request, after: str | None) -> Any:
    """A page of `GET /billing/transactions`: the newest, or those older than `after`."""
    return await call_api(request, "GET", "/billing/transactions", params={"after": after})


@router.get("/account")
async def account_page(
    request: Request, user: WebUserDep, billing: str = "", payments_after: str = ""
) -> Response:
    """`?billing=<action>` after a subscription control: a notice that the change was asked.
    `?payments_after=<cursor>`: the payments older than that (the "Older invoices" link)."""
    return await _account_view(
        request, billing_notice=BILLING_NOTICES.get(billing), payments_after=payments_after
    )


@router.post("/account/profile", dependencies=[SameOrigin])
async def update_profile(
    request: Request,
    user: WebUserDep,
    display_name: Annotated[str, Form()] = "",
    time_zone: Annotated[str, Form()] = "",
) -> Response:
    """`PATCH /me`: a blank name clears it; a blank time zone keeps the current one."""
    body: dict[str, Any] = {"display_name": display_name.strip() or None}
    if time_zone.strip():
        body["time_zone"] = time_zone.strip()
    answer = await call_api(request, "PATCH", "/me", json=body)
    if answer.status == 422:
        errors, general = answer.form_errors(PROFILE_FIELDS)
        if general:
            errors.setdefault("display_name", "; ".join(general))
        form = {"display_name": display_name, "time_zone": time_zone}
        return await _account_view(
            request, status_code=422, profile_form=form, profile_errors=errors
        )
    if not answer.ok:
        return error_page(request, answer, title="Profile")
    return finish_response(request, _back("profile"))


@router.get("/account/upgraded")
async def upgraded_page(request: Request, user: WebUserDep) -> Response:
    """Where checkout lands: waits (polling the fragment below) until the webhook made the
    user paid. The browser's `checkout.completed` is no proof of payment."""
    if user is None:
        return error_page(request, await call_api(request, "GET", "/me"), title="Upgrade")
    return render(request, "account/upgraded.html", {"paid": user.paid})


@router.get("/account/upgraded/status")
async def upgraded_status(request: Request, user: WebUserDep) -> Response:
    """The fragment htmx polls every 2 s: the tier as `GET /me` has it now."""
    if user is None:
        return error_page(request, await call_api(request, "GET", "/me"), title="Upgrade")
    return render(
        request,
        "account/_upgraded_status.html",
        {"paid": user.paid},
        headers={"Cache-Control": "no-store"},
    )


@router.get("/account/payments")
async def payments_fragment(request: Request, user: WebUserDep, after: str = "") -> Response:
    """The payments table (`GET /billing/transactions`, which asks Paddle), loaded by htmx
    after the account page so a slow Paddle never holds the page up; `?after=<cursor>`: the
    older page."""
    if user is None:
        return error_page(request, await call_api(request, "GET", "/me"), title="Payments")
    cursor = _cursor(after)
    return render(
        request,
        "account/_payments.html",
        {
            "transactions": await _transactions(request, cursor),
            "payments_after": cursor,
            "billing_controls": _mounted(request),
        },
    )


async def _billing_action(
    request: Request, name: str, body: dict[str, Any] | None, title: str
) -> Response:
    """Ask Paddle (through the API), then back to the account, which says the change was
    asked for: our copy of the subscription changes only when Paddle's webhook arrives."""
    method, path = BILLING_ROUTES[name]
    answer = await call_api(request, method, path, json=body)
    if not answer.ok:
        return error_page(request, answer, title=title)
    response = RedirectResponse(f"/app/account?billing={name}#subscription", status_code=303)
    return finish_response(request, response)


@router.post("/account/subscription/cancel", dependencies=[SameOrigin])
async def cancel_subscription(
    request: Request, user: WebUserDep, when: Annotated[str, Form()] = "end_of_period"
) -> Response:
    """`POST /billing/cancel` `{"when": "end_of_period"|"now"}`."""
    return await _billing_action(request, "cancel", {"when": when}, "Cancel subscription")


@router.post("/account/subscription/resume", dependencies=[SameOrigin])
async def resume_subscription(request: Request, user: WebUserDep) -> Response:
    """`POST /billing/resume`: undo a scheduled cancellation, or resume a pause."""
    return await _billing_action(request, "resume", None, "Resume subscription")


@router.post("/account/subscription/pause", dependencies=[SameOrigin])
async def pause_subscription(
    request: Request,
    user: WebUserDep,
    when: Annotated[str, Form()] = "end_of_period",
    resume_on: Annotated[str, Form()] = "",
) -> Response:
    """`POST /billing/pause` `{"when", "resume_at"}`: `resume_on` (a date, optional) is when
    Paddle resumes it by itself, at midnight UTC."""
    body: dict[str, Any] = {"when": when}
    if resume_on.strip():
        body["resume_at"] = f"{resume_on.strip()}T00:00:00+00:00"
    return await _billing_action(request, "pause", body, "Pause subscription")


@router.post("/account/subscription/payment-method", dependencies=[SameOrigin])
async def update_payment_method(request: Request, user: WebUserDep) -> Response:
    """`POST /billing/payment-method`: Paddle's transaction for a new card, opened here with
    Paddle.js (`Checkout.open({transactionId})`), whose `checkout.completed` comes back to the
    account; without a client token, Paddle's hosted checkout of that transaction (https)."""
    method, path = BILLING_ROUTES["payment_method"]
    answer = await call_api(request, method, path)
    if not answer.ok:
        return error_page(request, answer, title="Payment method")
    data = answer.data if isinstance(answer.data, dict) else {}
    token, txn = data.get("client_token"), _cursor(data.get("transaction_id"))
    if token and txn:
        update = PaymentUpdate(
            client_token=str(token),
            environment=str(data.get("environment") or "sandbox"),
            transaction_id=txn,
            success_url="/app/account?billing=payment_method#subscription",
            module_url=_paddle_module(resources_of(request).settings),
        )
        return await _account_view(
            request, headers={"Cache-Control": "no-store"}, payment_update=update
        )
    url = data.get("checkout_url")
    if isinstance(url, str) and url.startswith("https://"):
        return RedirectResponse(url, status_code=303, headers={"Cache-Control": "no-store"})
    return error_page(request, answer, title="Payment method")


@router.post("/account/subscription/change-plan", dependencies=[SameOrigin])
async def change_plan(
    request: Request, user: WebUserDep, plan: Annotated[str, Form()] = ""
) -> Response:
    """`POST /billing/change-plan` `{"plan": name}` (a name of EDGELAB_PADDLE_PRICE_IDS)."""
    return await _billing_action(request, "change_plan", {"plan": plan}, "Change plan")


@router.post("/account/subscription/portal", dependencies=[SameOrigin])
async def billing_portal(request: Request, user: WebUserDep) -> Response:
    """`POST /billing/portal`, then to Paddle's customer portal (a fresh, short-lived link:
    never cached, never framed)."""
    method, path = BILLING_ROUTES["portal"]
    answer = await call_api(request, method, path)
    if not answer.ok:
        return error_page(request, answer, title="Billing portal")
    url = _receipt_url(answer.data)
    if url is None:
        return error_page(request, answer, title="Billing portal")
    return RedirectResponse(url, status_code=303, headers={"Cache-Control": "no-store"})


@router.get("/account/transactions/{transaction_id}/receipt")
async def transaction_receipt(request: Request, user: WebUserDep, transaction_id: str) -> Response:
    """`GET /billing/transactions/{id}/invoice`, then to Paddle's (temporary) invoice PDF."""
    path = f"/billing/transactions/{quote(transaction_id, safe='')}/invoice"
    answer = await call_api(request, "GET", path)
    url = _receipt_url(answer.data) if answer.ok else None
    if url is None:
        return error_page(request, answer, title="Receipt")
    return RedirectResponse(url, status_code=303, headers={"Cache-Control": "no-store"})


@router.post("/account/api-keys", dependencies=[SameOrigin])
async def create_api_key(
    request: Request, user: WebUserDep, name: Annotated[str, Form()] = ""
) -> Response:
    """`POST /me/api-keys`; the key is in this answer only (not cached, not shown again)."""
    answer = await call_api(request, "POST", "/me/api-keys", json={"name": name})
    if answer.status == 422:
        errors, general = answer.form_errors(("name",))
        if general:
            errors.setdefault("name", "; ".join(general))
        return await _account_view(
            request, status_code=422, key_form={"name": name}, key_errors=errors
        )
    if not answer.ok:
        return error_page(request, answer, title="API keys")
    return await _account_view(
        request,
        status_code=201,
        headers={"Cache-Control": "no-store"},
        created_key=answer.data,
    )


@router.post("/account/api-keys/{key_id}/revoke", dependencies=[SameOrigin])
async def revoke_api_key(request: Request, user: WebUserDep, key_id: str) -> Response:
    answer = await call_api(request, "DELETE", f"/me/api-keys/{quote(key_id, safe='')}")
    if not answer.ok:
        return error_page(request, answer, title="API keys")
    return finish_response(request, _back("api-keys"))


@router.post("/account/alert-rules", dependencies=[SameOrigin])
async def create_alert_rule(
    request: Request,
    user: WebUserDep,
    name: Annotated[str, Form()] = "",
    min_value_score: Annotated[str, Form()] = "",
    algorithm: Annotated[str, Form()] = "a",
    market_types: Annotated[list[str] | None, Form()] = None,
    teams: Annotated[list[str] | None, Form()] = None,
    active: Annotated[str | None, Form()] = None,
) -> Response:
    """`POST /alerts/rules` with the fields as chosen; the API checks them (and the tier)."""
    body: dict[str, Any] = {
        "name": name,
        "min_value_score": form_number(min_value_score),
        "algorithm": algorithm,
        "market_types": market_types or [],
        "teams": teams or [],
        "active": active is not None,
    }
    answer = await call_api(request, "POST", "/alerts/rules", json=body)
    if answer.status == 422:
        errors, general = answer.form_errors(RULE_FIELDS)
        form = {**body, "min_value_score": min_value_score}
        return await _account_view(
            request, status_code=422, rule_form=form, rule_errors=errors, rule_general=general
        )
    if not answer.ok:
        return error_page(request, answer, title="Alert rules")
    return finish_response(request, _back("alert-rules"))


@router.post("/account/alert-rules/{rule_id}/delete", dependencies=[SameOrigin])
async def delete_alert_rule(request: Request, user: WebUserDep, rule_id: str) -> Response:
    answer = await call_api(request, "DELETE", f"/alerts/rules/{quote(rule_id, safe='')}")
    if not answer.ok:
        return error_page(request, answer, title="Alert rules")
    return finish_response(request, _back("alert-rules"))
