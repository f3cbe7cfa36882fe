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

import asyncio
import hashlib
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlsplit

import jwt
from fastapi import Depends, Request
from fastapi.responses import Response
from fastapi.routing import APIRoute

from edgelab.core import clock
from edgelab.core.auth import ALGORITHM, ForbiddenError
from edgelab.core.resources import resources_of
from edgelab.core.settings import Settings
from edgelab.web import errors
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


REFRESH_MEMO_SECONDS = 30.0


class RefreshFlights(dict[str, tuple[float, "asyncio.Task[tuple[int, tuple[str, str] | None]]"]]):
    """This app's refresh rotations in flight or just done, by refresh-token digest."""


async def _refreshed(request: Request, refresh: str) -> tuple[str, str] | None:
    """The new (access, refresh) pair for a refresh cookie, rotating it at most once.

    After 15 idle minutes every page refreshes, and a browser sends several at once (tabs
    restored, the table's refresh racing a click). The API treats a second use of a refresh
    token as theft and revokes the family, so concurrent requests of this process share one
    rotation (single flight), and its result is reused for `REFRESH_MEMO_SECONDS` by requests
    that still carry the old cookie. None when the API refused the token (cookies cleared) or
    could not answer (kept)."""
    flights = resources_of(request).setdefault(RefreshFlights, RefreshFlights)
    key = hashlib.sha256(refresh.encode()).hexdigest()
    now = clock.monotonic()
    for stale in [k for k, (at, _) in flights.items() if now - at > REFRESH_MEMO_SECONDS]:
        flights.pop(stale, None)

    async def rotate() -> tuple[int, tuple[str, str] | None]:
        answer = await call_api(
            request, "POST", "/auth/refresh", json={"refresh_token": refresh}, token=""
        )
        if not answer.ok:
            return answer.status, None
        return answer.status, (answer.data["access_token"], answer.data["refresh_token"])

    if key not in flights:
        flights[key] = (now, asyncio.ensure_future(rotate()))
    status, pair = await asyncio.shield(flights[key][1])
    if pair is None:
        flights.pop(key, None)  # a failure is not remembered: the next page may try again
        request.state.web_clear_session = status == 401
    return pair


async def web_user(request: Request) -> WebUser | None:
    """The signed-in user (None when anonymous or signed out); resolves once per request.

    Also sets `request.state.web_token` (the bearer every `call_api` of this page uses) and,
    after a refresh, `request.state.web_new_tokens` for the page response to store.
    """
    if hasattr(request.state, "web_user"):
        user: WebUser | None = request.state.web_user
        return user
    settings = resources_of(request).settings
    request.state.web_user = None
    request.state.web_token = None
    access = request.cookies.get(ACCESS_COOKIE)
    refresh = request.cookies.get(REFRESH_COOKIE)
    if (access is None or _expired(settings, access)) and refresh:
        pair = await _refreshed(request, refresh)
        if pair is not None:
            access = pair[0]
            request.state.web_new_tokens = pair
        else:
            access = None
    if not access:
        return None
    me = await call_api(request, "GET", "/me", token=access)
    if not me.ok:
        # refused (the account is gone, the token revoked): signed out; a 429 or 5xx is
        # passing trouble: the page is anonymous this once, the cookies stay
        request.state.web_clear_session = me.status == 401
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
    the A/B client id the API handed out. Once per request (`WebRoute` calls it on every
    dashboard response, whatever the handler returned)."""
    if getattr(request.state, "web_finished", False):
        return response
    request.state.web_finished = True
    settings = resources_of(request).settings
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
    """Refuse a state-changing request from another site (403 `cross_site_request`).

    Browsers send `Origin` on every POST (and `Sec-Fetch-Site`): another host, `Origin: null`
    (a sandboxed frame, a no-referrer page) or a fetch marked cross-site or same-site is
    refused. `POST /app/verify` needs no cookie, so SameSite alone would not stop a page from
    signing a visitor into someone else's account. A request with none of these headers is not
    from a browser (scripts, tests) and has no ambient cookies to abuse."""
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    fetch_site = request.headers.get("sec-fetch-site")
    source = request.headers.get("origin") or request.headers.get("referer")
    host = request.headers.get("host", request.url.netloc)
    cross = (
        (fetch_site is not None and fetch_site not in ("same-origin", "none"))
        or source == "null"
        or (source is not None and urlsplit(source).netloc != host)
    )
    if cross:
        raise ForbiddenError(
            "This form must be sent from the dashboard itself.", code=errors.CROSS_SITE_REQUEST
        )


class WebRoute(APIRoute):
    """Every dashboard route: whatever its handler returns (a page, a redirect, a PNG), the
    session changes of the request reach the browser. A rotated refresh token that never
    reached the cookie would be reused on the next page, which the API takes for theft."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def finishing(request: Request) -> Response:
            return finish_response(request, await handler(request))

        return finishing


WebUserDep = Annotated[WebUser | None, Depends(web_user)]
SameOrigin = Depends(check_same_origin)
