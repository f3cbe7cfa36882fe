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
"""

from __future__ import annotations

from typing import Annotated, Any, get_args
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from edgelab.betting.alerts.schemas import TeamCode
from edgelab.betting.markets.schemas import Algorithm, MarketType
from edgelab.web.api import call_api
from edgelab.web.pages import error_page, render
from edgelab.web.session import SameOrigin, WebRoute, WebUserDep, finish_response

router = APIRouter(route_class=WebRoute)

TEAMS: tuple[str, ...] = get_args(TeamCode)
MARKET_TYPES: tuple[str, ...] = get_args(MarketType)
ALGORITHMS: tuple[str, ...] = get_args(Algorithm)
DEFAULT_MARKET_TYPES = ("moneyline", "spread", "total")  # what the API defaults to
PROFILE_FIELDS = ("display_name", "time_zone")
RULE_FIELDS = ("name", "min_value_score", "algorithm", "market_types", "teams", "active")


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
    **extra: Any,
) -> Response:
    user = getattr(request.state, "web_user", None)
    if user is None:  # the API's own 401 (a sign-in prompt)
        return error_page(request, await call_api(request, "GET", "/me"), title="Account")
    subscription = await call_api(request, "GET", "/billing/subscription")
    keys = await call_api(request, "GET", "/me/api-keys")
    rules = await call_api(request, "GET", "/alerts/rules")
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
        "checkout": None,
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


@router.get("/account")
async def account_page(request: Request, user: WebUserDep) -> Response:
    return await _account_view(request)


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


@router.post("/account/checkout", dependencies=[SameOrigin])
async def checkout(request: Request, user: WebUserDep) -> Response:
    """`POST /billing/checkout`: what Paddle.js needs to open checkout, or the API's refusal
    (503 when billing is not configured here, 409 when already subscribed)."""
    answer = await call_api(request, "POST", "/billing/checkout")
    if not answer.ok:
        return error_page(request, answer, title="Checkout")
    return await _account_view(request, checkout=answer.data)


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
        "min_value_score": min_value_score.strip(),
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
