"""Who is calling: JWT access tokens and personal API keys, and the route dependencies.

Access tokens are HS256 JWTs with `sub`, `iat`, `exp`, `aud`, `iss` and a `jti`; decoding
accepts only HS256 with every one of those claims (so `alg: none`, other algorithms, expired
tokens and foreign audiences are refused). The token carries no role or tier: the principal is
loaded fresh on every request through a resolver the accounts product installs on
`Resources.principal_resolver`, so a tier change or a deletion takes effect on the next request.
Core knows nothing of users beyond the `Principal` it gets back.

The resolution opens its own short session, and only when the request carries a credential: an
anonymous request (most `/markets` traffic, answered from the cache) touches no database and
builds no unit of work. A signed-in request pays one short session before the route's own
(sequential, so never two connections at once); an API key's `last_used_at` is committed there,
whatever the route then does, and the resolver writes it at most once a minute per key (so a
key polling many times a second is not a write per request).
"""

from __future__ import annotations

import datetime as dt
import hmac
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

import jwt
from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from edgelab.core import error_codes as codes
from edgelab.core.clock import real_utcnow, utcnow
from edgelab.core.db import ReadSessionMakerDep
from edgelab.core.error_codes import ErrorCode
from edgelab.core.errors import AppError
from edgelab.core.resources import resources_of
from edgelab.core.settings import Settings

ALGORITHM = "HS256"
API_KEY_PREFIX = "elk_"  # personal API keys look like elk_<random>; JWTs never start so
API_KEY_SCOPES = ("read", "write")  # read: GET (and HEAD, OPTIONS) only; write: any method
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class UnauthorizedError(AppError):
    status_code = 401
    code = codes.UNAUTHORIZED

    def __init__(
        self,
        message: str = "Sign in first.",
        *,
        code: str | ErrorCode | None = None,
        persist_changes: bool = False,
    ) -> None:
        super().__init__(
            message,
            code=code,
            headers={"WWW-Authenticate": "Bearer"},
            persist_changes=persist_changes,
        )


class ForbiddenError(AppError):
    status_code = 403
    code = codes.FORBIDDEN


@dataclass(frozen=True)
class Principal:
    id: str
    role: str  # user | analyst | admin
    tier: str  # free | paid
    via: str  # "jwt" | "api_key" | "admin_token"
    # a Sentinel time-out on the account: paid feeds, alerts and bet tracking refused until then
    restricted_until: dt.datetime | None = None
    # an API key's scope: "read" (GET only) or "write"; None for sessions and the admin token
    scope: str | None = None

    def restriction(self, now: dt.datetime | None = None) -> dt.datetime | None:
        """The end of a time-out still running at `now`; None when not restricted."""
        until = self.restricted_until
        if until is None or until <= (now or utcnow()):
            return None
        return until


Resolver = Callable[[AsyncSession, str, str], Awaitable[Principal | None]]
"""(session, kind, credential) -> Principal or None; kind is "user_id" or "api_key"."""


def issue_access_token(settings: Settings, user_id: str, *, now: dt.datetime | None = None) -> str:
    """Signed with the real wall clock, never a test's or a replay's simulated one: PyJWT
    checks `exp` against the system clock, and a session must not outlive real time."""
    now = now or real_utcnow()
    claims = {
        "sub": user_id,
        "iat": int(now.timestamp()),
        "exp": int((now + dt.timedelta(seconds=settings.access_token_ttl_seconds)).timestamp()),
        "aud": settings.jwt_audience,
        "iss": settings.jwt_issuer,
        "jti": secrets.token_hex(8),
    }
    return jwt.encode(claims, settings.jwt_secret.get_secret_value(), algorithm=ALGORITHM)


def decode_access_token(settings: Settings, token: str) -> dict[str, Any]:
    """The token's claims, or UnauthorizedError saying why it was refused."""
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            settings.jwt_secret.get_secret_value(),
            algorithms=[ALGORITHM],
            audience=settings.jwt_audience,
            issuer=settings.jwt_issuer,
            options={"require": ["sub", "iat", "exp", "aud", "iss"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise UnauthorizedError("The access token has expired.", code=codes.TOKEN_EXPIRED) from exc
    except jwt.InvalidTokenError as exc:
        raise UnauthorizedError("The access token is not valid.", code=codes.INVALID_TOKEN) from exc
    return claims


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, credential = header.partition(" ")
    if scheme.lower() != "bearer" or not credential.strip():
        raise UnauthorizedError("Use `Authorization: Bearer <token>`.", code=codes.INVALID_TOKEN)
    return credential.strip()


async def optional_principal(request: Request, sessions: ReadSessionMakerDep) -> Principal | None:
    """The caller, or None for an anonymous request; a bad credential is a 401, never anonymous.

    Also at `request.state.principal` once resolved. Without a credential no session is opened.
    """
    credential = _bearer(request)
    if credential is None:
        return None
    resources = resources_of(request)
    resolver = resources.principal_resolver
    if resolver is None:  # pragma: no cover - the composition root always installs one
        raise UnauthorizedError("Sign-in is not available.", code=codes.AUTH_UNAVAILABLE)
    settings = resources.settings
    if credential.startswith(API_KEY_PREFIX):
        kind, subject = "api_key", credential
    else:  # decoded before any session is opened: a bad token costs no database work
        kind, subject = "user_id", str(decode_access_token(settings, credential)["sub"])
    async with sessions() as session:
        principal = await resolver(session, kind, subject)
        if principal is not None:
            await session.commit()  # the API key's last_used_at, when it was due
    if principal is None and kind == "api_key":
        raise UnauthorizedError("Unknown or revoked API key.", code=codes.INVALID_API_KEY)
    if principal is None:
        raise UnauthorizedError("This account no longer exists.", code=codes.INVALID_TOKEN)
    route = request.scope.get("route")
    reads_only = bool((getattr(route, "openapi_extra", None) or {}).get(READS_ONLY_KEY))
    refuse_read_only_key(principal, "GET" if reads_only else request.method)
    request.state.principal = principal
    return principal


# A POST that changes nothing the caller owns (an analysis asked for with a body) declares
# `openapi_extra=READS_ONLY`: a read-only API key may call it.
READS_ONLY_KEY = "x-edgelab-reads-only"
READS_ONLY: dict[str, object] = {READS_ONLY_KEY: True}


def refuse_read_only_key(principal: Principal, method: str) -> None:
    """403 `api_key_read_only` for a `read` API key on anything but GET, HEAD or OPTIONS.

    Checked where every credential is resolved, so no route can forget it; a key that leaks
    from a dashboard or a script can read, not act."""
    if principal.via == "api_key" and principal.scope != "write" and method not in READ_METHODS:
        raise ForbiddenError(
            "This API key is read-only: only GET requests. Create a key with the `write` "
            "scope (signed in) for requests that change data.",
            code=codes.API_KEY_READ_ONLY,
        )


async def current_principal(
    principal: Annotated[Principal | None, Depends(optional_principal)],
) -> Principal:
    if principal is None:
        raise UnauthorizedError()
    return principal


async def require_session(
    principal: Annotated[Principal, Depends(current_principal)],
) -> Principal:
    """A signed-in session (an access token) only: an API key, whatever its scope, cannot
    mint or list keys or change or delete the account (a leaked key must not outlive its
    revocation or take the account with it)."""
    if principal.via != "jwt":
        raise ForbiddenError(
            "This needs a signed-in session (an access token), not an API key.",
            code=codes.SESSION_REQUIRED,
        )
    return principal


def require_role(*roles: str) -> Callable[..., Awaitable[Principal]]:
    async def check(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
        if principal.role not in roles:
            raise ForbiddenError(
                f"This needs the {' or '.join(roles)} role.", code=codes.ROLE_REQUIRED
            )
        return principal

    return check


class AccountRestrictedError(ForbiddenError):
    """The account is in a responsible-gambling time-out (Sentinel); `details` says until when."""

    code = codes.ACCOUNT_RESTRICTED

    def __init__(self, until: dt.datetime) -> None:
        super().__init__(
            "This account is taking a break until "
            f"{until.isoformat(timespec='seconds')}: paid feeds, alerts and bet tracking are "
            "paused until then.",
            details={"restricted_until": until.isoformat()},
        )


def refuse_if_restricted(principal: Principal | None) -> None:
    """403 `account_restricted` while the caller's time-out runs (no query: the principal
    carries it, loaded fresh on every request)."""
    until = principal.restriction() if principal is not None else None
    if until is not None:
        raise AccountRestrictedError(until)


async def require_unrestricted(
    principal: Annotated[Principal, Depends(current_principal)],
) -> Principal:
    refuse_if_restricted(principal)
    return principal


async def require_paid(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
    refuse_if_restricted(principal)
    if principal.tier != "paid":
        raise ForbiddenError(
            "This needs a paid subscription.", code=codes.PAID_SUBSCRIPTION_REQUIRED
        )
    return principal


async def admin_caller(request: Request, sessions: ReadSessionMakerDep) -> Principal:
    """An operator: the static `EDGELAB_ADMIN_TOKEN` as the bearer, or a user with role admin.

    The token is compared (in constant time) before the credential is read as a JWT or an API
    key, so it is never refused as a malformed access token. 401 without a valid credential,
    403 for a signed-in user who is not an admin.
    """
    credential = _bearer(request)
    token = resources_of(request).settings.admin_token
    if credential is not None and token is not None:
        expected = token.get_secret_value().encode()
        if expected and hmac.compare_digest(credential.encode(), expected):
            operator = Principal("admin-token", "admin", "paid", "admin_token")
            request.state.principal = operator
            return operator
    principal = await optional_principal(request, sessions)
    if principal is None:
        raise UnauthorizedError()
    if principal.role != "admin":
        raise ForbiddenError("This needs the admin role.", code=codes.ROLE_REQUIRED)
    return principal


OptionalUser = Annotated[Principal | None, Depends(optional_principal)]
CurrentUser = Annotated[Principal, Depends(current_principal)]
SessionUser = Annotated[Principal, Depends(require_session)]  # an access token, no API key
PaidUser = Annotated[Principal, Depends(require_paid)]  # and not in a Sentinel time-out
UnrestrictedUser = Annotated[Principal, Depends(require_unrestricted)]
AnalystUser = Annotated[Principal, Depends(require_role("analyst", "admin"))]
AdminCaller = Annotated[Principal, Depends(admin_caller)]
