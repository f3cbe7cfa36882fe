"""Browser sessions for the dashboard: the API's own tokens, kept in HttpOnly cookies.

Signing in through a magic link gives the same access/refresh pair an API client gets
(`POST /auth/verify`); the dashboard keeps the access token in `edgelab_access` and the
refresh token in `edgelab_refresh` (HttpOnly, SameSite=Lax, Secure over https, path /app).
When the access token has expired the refresh token is rotated through `POST /auth/refresh`,
so a signed-in browser stays signed in for the refresh token's life, and signing out revokes
it (`POST /auth/logout`). Who the user is comes from `GET /me` on every page, so a tier
change or a Sentinel time-out shows on the next page, as it does on the API.

Forms post with the session cookie, so cross-site posts are refused twice: SameSite=Lax keeps
the cookie off them, and `check_same_origin` refuses a POST whose Origin (or Referer) names
another host.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlsplit

import jwt
from fastapi import Depends, Request
from fastapi.responses import Response

from edgelab.core.auth import ALGORITHM, ForbiddenError
from edgelab.core.settings import Settings
from edgelab.web.api import call_api

ACCESS_COOKIE = "edgelab_access"
REFRESH_COOKIE = "edgelab_refresh"
COOKIE_PATH = "/app"


@dataclass(frozen=True)
class WebUser:
    """The signed-in user as `GET /me` describes them (`raw` holds the whole answer,
    `restricted_until` included)."""

    id: str
    email: str
    role: str
    tier: str
    display_name: str | None
    raw: dict[str, Any]

    @property
    def paid(self) -> bool:
        return self.tier == "paid"

    @property
    def analyst(self) -> bool:
        return self.role in ("analyst", "admin")

    @property
    def name(self) -> str:
        return self.display_name or self.email


def _expired(settings: Settings, token: str) -> bool:
    """True when the token is unusable (expired, or not ours): time to refresh."""
    try:
        jwt.decode(
            token,
            settings.jwt_secret.get_secret_value(),
            algorithms=[ALGORITHM],
            audience=settings.jwt_audience,
            issuer=settings.jwt_issuer,
            leeway=-5,  # refresh a few seconds early rather than fail mid-page
        )
    except jwt.InvalidTokenError:
        return True
    return False


def set_session_cookies(
    response: Response, settings: Settings, access: str, refresh: str | None
) -> None:
    secure = settings.app_base_url.startswith("https://")
    response.set_cookie(
        ACCESS_COOKIE,
        access,
        max_age=settings.access_token_ttl_seconds,
        path=COOKIE_PATH,
        httponly=True,
        samesite="lax",
        secure=secure,
    )
    if refresh is not None:
        response.set_cookie(
            REFRESH_COOKIE,
            refresh,
            max_age=settings.refresh_token_ttl_days * 86_400,
            path=COOKIE_PATH,
            httponly=True,
            samesite="lax",
            secure=secure,
        )


def clear_session_cookies(response: Response) -> None:
    response.delete_cookie(ACCESS_COOKIE, path=COOKIE_PATH)
    response.delete_cookie(REFRESH_COOKIE, path=COOKIE_PATH)


async def web_user(request: Request) -> WebUser | None:
    """The signed-in user (None when anonymous or signed out); resolves once per request.

    Also sets `request.state.web_token` (the bearer every `call_api` of this page uses) and,
    after a refresh, `request.state.web_new_tokens` for the page response to store.
    """
    if hasattr(request.state, "web_user"):
        user: WebUser | None = request.state.web_user
        return user
    settings: Settings = request.app.state.settings
    request.state.web_user = None
    request.state.web_token = None
    access = request.cookies.get(ACCESS_COOKIE)
    refresh = request.cookies.get(REFRESH_COOKIE)
    if (access is None or _expired(settings, access)) and refresh:
        answer = await call_api(
            request, "POST", "/auth/refresh", json={"refresh_token": refresh}, token=""
        )
        if answer.ok:
            access = answer.data["access_token"]
            request.state.web_new_tokens = (access, answer.data["refresh_token"])
        else:
            access = None
            request.state.web_clear_session = True
    if not access:
        return None
    me = await call_api(request, "GET", "/me", token=access)
    if not me.ok:  # the account is gone or the token was refused: signed out
        request.state.web_clear_session = True
        return None
    request.state.web_token = access
    user = WebUser(
        id=me.data["id"],
        email=me.data["email"],
        role=me.data["role"],
        tier=me.data["tier"],
        display_name=me.data.get("display_name"),
        raw=me.data,
    )
    request.state.web_user = user
    return user


def finish_response(request: Request, response: Response) -> Response:
    """Store what this request changed in the browser: rotated tokens, a cleared session,
    the A/B client id the API handed out."""
    settings: Settings = request.app.state.settings
    new = getattr(request.state, "web_new_tokens", None)
    if new is not None:
        set_session_cookies(response, settings, new[0], new[1])
    elif getattr(request.state, "web_clear_session", False):
        clear_session_cookies(response)
    for name, value in getattr(request.state, "web_set_cookies", []):
        response.set_cookie(
            name,
            value,
            max_age=365 * 86_400,
            path="/",
            httponly=True,
            samesite="lax",
            secure=settings.app_base_url.startswith("https://"),
        )
    return response


async def check_same_origin(request: Request) -> None:
    """Refuse a state-changing request from another site (403 `cross_site_request`)."""
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    source = request.headers.get("origin") or request.headers.get("referer")
    if not source or source == "null":
        return  # same-origin form posts from some browsers carry neither; SameSite covers them
    if urlsplit(source).netloc != request.headers.get("host", request.url.netloc):
        raise ForbiddenError(
            "This form must be sent from the dashboard itself.", code="cross_site_request"
        )


WebUserDep = Annotated[WebUser | None, Depends(web_user)]
SameOrigin = Depends(check_same_origin)
