"""HTTP layer of accounts: sign-in, sessions, profile, API keys."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, Response

from edgelab.accounts import email_change, errors, schemas, service, sign_in
from edgelab.accounts.models import User
from edgelab.core.auth import CurrentUser, Principal, SessionUser
from edgelab.core.db import SessionDep
from edgelab.core.deps import ResourcesDep, SettingsDep
from edgelab.core.errors import error_responses
from edgelab.core.ratelimit import enforce_auth_limits, rate_limit

router = APIRouter(tags=["accounts"])


def _ip(request: Request) -> str | None:
    return request.client.host if request.client else None


async def _me(session: SessionDep, user: User, principal: Principal) -> schemas.Me:
    """The profile, with the time-out as the principal resolved it for this request (an ended
    one reads as none, without waiting for anything to clear the column), and whether the
    address is suppressed (`core.email.suppression`)."""
    me = schemas.Me.model_validate(user)
    suppressed = await service.email_suppression(session, user)
    return me.model_copy(
        update={"restricted_until": principal.restriction(), "email_suppressed": suppressed}
    )


def _tokens(pair: sign_in.TokenPair) -> schemas.TokenResponse:
    return schemas.TokenResponse(
        access_token=pair.access_token, refresh_token=pair.refresh_token, expires_in=pair.expires_in
    )


@router.post(
    "/auth/magic-link",
    status_code=202,
    response_model=schemas.Accepted,
    responses=error_responses(422, 429),
)
async def request_magic_link(
    body: schemas.MagicLinkRequest, request: Request, session: SessionDep, settings: SettingsDep
) -> schemas.Accepted:
    """Always 202, whether or not the address has an account (no account enumeration)."""
    await enforce_auth_limits(request, body.email, action="magic-link")
    await sign_in.request_magic_link(session, settings, body.email, ip=_ip(request))
    return schemas.Accepted(message="If the address can sign in, a link is on its way.")


@router.post(
    "/auth/verify",
    dependencies=[Depends(rate_limit("POST /auth/verify", per_user=False))],
    response_model=schemas.TokenResponse,
    responses=error_responses(401, 422, 429),
)
async def verify(
    body: schemas.VerifyRequest, request: Request, session: SessionDep, settings: SettingsDep
) -> schemas.TokenResponse:
    return _tokens(await sign_in.verify_magic_link(session, settings, body.token, ip=_ip(request)))


@router.post(
    "/auth/refresh",
    dependencies=[Depends(rate_limit("POST /auth/refresh", per_user=False))],
    response_model=schemas.TokenResponse,
    responses=error_responses(401, 422, 429),
)
async def refresh(
    body: schemas.RefreshRequest, request: Request, session: SessionDep, settings: SettingsDep
) -> schemas.TokenResponse:
    return _tokens(
        await sign_in.rotate_refresh_token(session, settings, body.refresh_token, ip=_ip(request))
    )


@router.post("/auth/logout", status_code=204, responses=error_responses(422))
async def logout(body: schemas.RefreshRequest, session: SessionDep) -> Response:
    await sign_in.logout(session, body.refresh_token)
    return Response(status_code=204)


@router.get(
    "/me",
    dependencies=[Depends(rate_limit("GET /me"))],
    response_model=schemas.Me,
    responses=error_responses(401, 404, 429),
)
async def get_me(principal: CurrentUser, session: SessionDep) -> schemas.Me:
    return await _me(session, await service.active_user(session, principal.id), principal)


@router.patch(
    "/me",
    dependencies=[Depends(rate_limit("PATCH /me"))],
    response_model=schemas.Me,
    responses=error_responses(401, 403, 404, 422, 429),
)
async def patch_me(
    body: schemas.MeUpdate, principal: SessionUser, session: SessionDep
) -> schemas.Me:
    changes = body.model_dump(exclude_unset=True)
    if changes.get("time_zone", "") is None:
        changes.pop("time_zone")  # the zone can be changed, not removed
    return await _me(session, await service.update_profile(session, principal, changes), principal)


@router.delete(
    "/me",
    status_code=204,
    dependencies=[Depends(rate_limit("DELETE /me"))],
    responses=error_responses(401, 403, 404, 429),
)
async def delete_me(
    principal: SessionUser, request: Request, session: SessionDep, resources: ResourcesDep
) -> Response:
    """Anonymise the account and remove its data: files, alert rules, tracked bets and the
    A/B exposure log (written rows, and rows still waiting in this process's buffer)."""
    await service.delete_account(session, resources, principal, ip=_ip(request))
    return Response(status_code=204)


@router.post(
    "/me/api-keys",
    status_code=201,
    dependencies=[Depends(rate_limit("POST /me/api-keys"))],
    response_model=schemas.ApiKeyCreated,
    responses=error_responses(401, 403, 422, 429),
)
async def create_api_key(
    body: schemas.ApiKeyCreate, principal: SessionUser, session: SessionDep
) -> schemas.ApiKeyCreated:
    """Sessions only (an API key gets 403 `session_required`); `scope` defaults to `read`."""
    key, plaintext = await service.create_api_key(session, principal, body.name, scope=body.scope)
    return schemas.ApiKeyCreated.model_validate(
        {**schemas.ApiKeyOut.model_validate(key).model_dump(), "key": plaintext}
    )


@router.get(
    "/me/api-keys",
    dependencies=[Depends(rate_limit("GET /me/api-keys"))],
    response_model=schemas.ApiKeyList,
    responses=error_responses(401, 403, 429),
)
async def list_api_keys(principal: SessionUser, session: SessionDep) -> schemas.ApiKeyList:
    keys = await service.list_api_keys(session, principal)
    return schemas.ApiKeyList(items=[schemas.ApiKeyOut.model_validate(k) for k in keys])


@router.delete(
    "/me/api-keys/{key_id}",
    status_code=204,
    dependencies=[Depends(rate_limit("DELETE /me/api-keys"))],
    responses=error_responses(401, 403, 404, 422, 429),
)
async def revoke_api_key(
    key_id: Annotated[str, Path(max_length=40)], principal: SessionUser, session: SessionDep
) -> Response:
    await service.revoke_api_key(session, principal, key_id)
    return Response(status_code=204)


# --- changing the account's e-mail address (accounts.email_change) -----------------------------


@router.post(
    "/me/email",
    status_code=202,
    # two e-mails per request, one to any address: tighter than the tier limit
    dependencies=[Depends(rate_limit("POST /me/email", limit="5/minute;20/hour"))],
    response_model=schemas.Accepted,
    responses=error_responses(401, 403, 404, 422, 429, errors.USER_EXISTS, errors.EMAIL_UNCHANGED),
)
async def request_email_change(
    body: schemas.EmailChangeRequest,
    principal: SessionUser,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
) -> schemas.Accepted:
    """Sessions only. A single-use link goes to the new address and a notice to the current
    one; the address changes only when the link is used (`POST /auth/verify-email`). 409
    `user_exists` when another account has the address, `email_unchanged` for your own."""
    await email_change.request_email_change(
        session, settings, principal, body.email, ip=_ip(request)
    )
    return schemas.Accepted(message="A confirmation link is on its way to the new address.")


@router.delete(
    "/me/email",
    status_code=204,
    dependencies=[Depends(rate_limit("DELETE /me/email"))],
    responses=error_responses(401, 403, 404, 429),
)
async def cancel_email_change(
    principal: SessionUser, request: Request, session: SessionDep
) -> Response:
    """Sessions only: the pending address-change links stop working."""
    await email_change.cancel_email_change(session, principal, ip=_ip(request))
    return Response(status_code=204)


@router.post(
    "/auth/verify-email",
    dependencies=[Depends(rate_limit("POST /auth/verify-email", per_user=False))],
    response_model=schemas.TokenResponse,
    responses=error_responses(401, 404, 422, 429, errors.USER_EXISTS),
)
async def verify_email_change(
    body: schemas.VerifyRequest, request: Request, session: SessionDep, settings: SettingsDep
) -> schemas.TokenResponse:
    """The address-change link's token: the account moves to the new address, every other
    session ends, and the answer signs in (like `POST /auth/verify`)."""
    return _tokens(
        await email_change.confirm_email_change(session, settings, body.token, ip=_ip(request))
    )
