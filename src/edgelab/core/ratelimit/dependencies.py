"""What a request meets: the limit table, the caller's address, the route dependencies, the 429
and the `X-RateLimit-*` headers (see the package docstring for how a route is limited).
"""

from __future__ import annotations

import ipaddress
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, fields
from functools import lru_cache
from typing import Annotated

from fastapi import Depends, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from edgelab.core.auth import Principal, optional_principal
from edgelab.core.db import ReadSessionMakerDep
from edgelab.core.errors import RateLimitedError
from edgelab.core.ratelimit.limiter import RateDecision, RateLimiter, parse_limit
from edgelab.core.resources import resources_of
from edgelab.core.settings import Settings

STATE_KEY = "ratelimit"  # where the request's binding decision waits for the headers middleware


def rate_limit_headers(decision: RateDecision) -> dict[str, str]:
    """`X-RateLimit-Reset` is seconds from now (not an epoch), as `Retry-After` is."""
    headers = {
        "X-RateLimit-Limit": str(decision.limit),
        "X-RateLimit-Remaining": str(decision.remaining),
        "X-RateLimit-Reset": str(max(0, math.ceil(decision.reset_at - time.time()))),
    }
    if not decision.allowed:
        headers["Retry-After"] = str(max(1, decision.retry_after))
    return headers


def enforce(decision: RateDecision, what: str) -> None:
    """Raise the 429 for a refused decision; `what` names the limited thing for the message."""
    if decision.allowed:
        return
    error = RateLimitedError(
        f"Too many requests for {what}; retry in {decision.retry_after} s.",
        retry_after=decision.retry_after,
    )
    error.headers.update(rate_limit_headers(decision))
    raise error


@lru_cache(maxsize=32)
def _networks(
    trusted: frozenset[str],
) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(entry, strict=False) for entry in trusted)


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None


def client_ip(request: Request, trusted_proxies: frozenset[str] = frozenset()) -> str:
    """The caller's address. `X-Forwarded-For` counts only when the direct peer is a trusted
    proxy (addresses or CIDR networks); it is read right to left, skipping trusted hops, so
    entries a client wrote itself on the left cannot choose its bucket."""
    peer = request.client.host if request.client else "unknown"
    if not trusted_proxies:
        return peer
    peer_ip = _ip(peer)
    if peer_ip is None:
        return peer
    networks = _networks(trusted_proxies)
    if not any(peer_ip in net for net in networks):
        return peer
    hops = [h for raw in request.headers.getlist("x-forwarded-for") for h in raw.split(",")]
    found = peer_ip
    for hop in reversed(hops):
        hop_ip = _ip(hop)
        if hop_ip is None:  # garbage behind a trusted proxy: the proxy is all we know
            break
        found = hop_ip
        if not any(hop_ip in net for net in networks):
            break
    return found.compressed


@dataclass(frozen=True)
class RateLimitPolicy:
    """The limit table, in `limits` notation (`"60/minute"`, `"5/minute;20/hour"`).

    anonymous: per client IP for callers who are not signed in.
    free, paid: per user id, by the principal's tier; an unknown tier gets `free` (least
    privilege).
    auth_per_ip: sign-in link requests per requesting IP, whatever the addresses.
    auth_per_email_ip: per (address, requesting IP): what one requester may ask for one address.
    auth_per_email: per address from every IP together, looser: a cap on the links one inbox
    gets, high enough that one requester (who meets `auth_per_email_ip` first) cannot spend it
    and lock the owner out (about `auth_per_email / auth_per_email_ip` addresses would be needed).
    render, billing, uploads, sentinel: named limits that routes opt into with
    `rate_limit(..., policy_limit=name)`, replacing the tier's: rendered images (the calibration
    PNG), calls through to Paddle, stored uploads, Sentinel's operator API (at least 100 a
    minute per API key, as the seed contract asks).
    webhook_unsigned: webhook deliveries whose signature fails, per client IP
    (`count_rejected_webhook`); signed deliveries are never counted.
    trusted_proxies: peers whose `X-Forwarded-For` is believed (addresses or CIDR networks).
    """

    anonymous: str = "60/minute"
    free: str = "120/minute"
    paid: str = "600/minute"
    auth_per_email: str = "20/minute;100/hour"
    auth_per_email_ip: str = "5/minute;20/hour"
    auth_per_ip: str = "20/minute"
    render: str = "20/minute;200/hour"
    billing: str = "20/minute;200/hour"
    uploads: str = "10/minute;100/hour"
    sentinel: str = "120/minute"
    webhook_unsigned: str = "30/minute"
    trusted_proxies: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        for name in LIMIT_FIELDS:
            parse_limit(getattr(self, name))  # a typo fails at start-up, not on the first request
        _networks(self.trusted_proxies)

    @classmethod
    def from_settings(cls, settings: Settings) -> RateLimitPolicy:
        """`EDGELAB_RATE_LIMIT_<NAME>` for each limit, and `EDGELAB_TRUSTED_PROXIES`."""
        limits = {name: getattr(settings, f"rate_limit_{name}") for name in LIMIT_FIELDS}
        return cls(**limits, trusted_proxies=frozenset(settings.trusted_proxies))

    def for_tier(self, tier: str | None) -> str:
        return self.paid if tier == "paid" else self.free

    def named(self, name: str) -> str:
        if name not in NAMED_LIMITS:
            raise ValueError(f"no named rate limit {name!r}; one of {', '.join(NAMED_LIMITS)}")
        limit: str = getattr(self, name)
        return limit


LIMIT_FIELDS = tuple(f.name for f in fields(RateLimitPolicy) if f.name != "trusted_proxies")
NAMED_LIMITS = ("render", "billing", "uploads", "sentinel")


def _setup(request: Request) -> tuple[RateLimiter | None, RateLimitPolicy]:
    resources = resources_of(request)
    return resources.ratelimiter, resources.ratelimit_policy


def _remember(request: Request, decision: RateDecision) -> None:
    """Keep the tightest decision of the request for the headers."""
    held = getattr(request.state, STATE_KEY, None)
    if not isinstance(held, RateDecision) or decision.remaining < held.remaining:
        setattr(request.state, STATE_KEY, decision)


async def count_request(
    request: Request,
    principal: Principal | None,
    scope: str,
    limit: str | None = None,
    *,
    policy_limit: str | None = None,
) -> None:
    """Count one request against the caller's limit for `scope`: per user id at the tier's
    limit, or per client IP at the anonymous one (`principal` None); raises the 429.

    `limit` (a `limits` string) or `policy_limit` (a named limit of the policy, see
    `RateLimitPolicy`) replaces the tier and anonymous limits for this count."""
    limiter, policy = _setup(request)
    if limiter is None:
        return
    if policy_limit is not None:
        limit = policy.named(policy_limit)
    if principal is not None:
        chosen = limit or policy.for_tier(principal.tier)
        decision = await limiter.hit(chosen, "user", principal.id, scope)
    else:
        ip = client_ip(request, policy.trusted_proxies)
        decision = await limiter.hit(limit or policy.anonymous, "ip", ip, scope)
    _remember(request, decision)
    enforce(decision, scope)


def _check_limit_args(limit: str | None, policy_limit: str | None) -> None:
    """Fail at import time on a malformed limit or an unknown name."""
    if limit is not None and policy_limit is not None:
        raise ValueError("give `limit` or `policy_limit`, not both")
    if limit is not None:
        parse_limit(limit)
    if policy_limit is not None and policy_limit not in NAMED_LIMITS:
        raise ValueError(f"no named rate limit {policy_limit!r}")


def rate_limit(
    scope: str,
    *,
    limit: str | None = None,
    policy_limit: str | None = None,
    per_user: bool = True,
) -> Callable[..., Awaitable[None]]:
    """A dependency limiting a route: `Depends(rate_limit("GET /markets"))`.

    `limit`, when given, replaces the policy's tier and anonymous limits for this route (an
    expensive endpoint); it is checked here, at import time. `policy_limit` does the same with
    one of the policy's named limits (`"billing"`: `EDGELAB_RATE_LIMIT_BILLING`), read per
    request so settings decide it. `per_user=False` counts every caller per IP and ignores the
    `Authorization` header: for the endpoints that hand out tokens (`/auth/verify`,
    `/auth/refresh`), whose callers often still send the expired access token they are
    replacing, and for links that are their own credential (`/files/{id}`).
    """
    _check_limit_args(limit, policy_limit)

    async def check_rate_limit(
        request: Request,
        principal: Annotated[Principal | None, Depends(optional_principal)],
    ) -> None:
        await count_request(request, principal, scope, limit, policy_limit=policy_limit)

    async def check_rate_limit_per_ip(request: Request) -> None:
        await count_request(request, None, scope, limit, policy_limit=policy_limit)

    return check_rate_limit if per_user else check_rate_limit_per_ip


def limited_caller(
    scope: str, *, limit: str | None = None, policy_limit: str | None = None
) -> Callable[..., Awaitable[Principal | None]]:
    """A dependency answering the caller (as `optional_principal`: None when anonymous, 401 on
    a bad credential) after counting the request against their limit for `scope`."""
    _check_limit_args(limit, policy_limit)

    async def caller(request: Request, sessions: ReadSessionMakerDep) -> Principal | None:
        principal = await optional_principal(request, sessions)
        await count_request(request, principal, scope, limit, policy_limit=policy_limit)
        return principal

    return caller


async def enforce_auth_limits(request: Request, email: str, *, action: str = "auth") -> None:
    """A credential endpoint's limits, per IP, per (e-mail, IP), then per e-mail; raises the 429.

    Every attempt counts, successful or not. The e-mail is case-folded so `A@x.io` and `a@x.io`
    share one budget; endpoints passing the same `action` share budgets too. Each check runs
    only when the one before passed (a refused hit counts nothing in a moving window), so what
    one requester is refused never spends the address's shared budget: someone asking for
    another person's address from one IP meets `auth_per_email_ip` and stops there, while the
    owner, from their own address, still gets a link (issue 16: the per-address limit alone let
    20 requests an hour lock an address out).
    """
    limiter, policy = _setup(request)
    if limiter is None:
        return
    ip = client_ip(request, policy.trusted_proxies)
    address = email.strip().casefold()
    by_ip = await limiter.hit(policy.auth_per_ip, "auth-ip", ip, action)
    _remember(request, by_ip)
    enforce(by_ip, f"{action} from this address")
    by_pair = await limiter.hit(policy.auth_per_email_ip, "auth-email-ip", address, ip, action)
    _remember(request, by_pair)
    enforce(by_pair, f"{action} for this account from this address")
    by_email = await limiter.hit(policy.auth_per_email, "auth-email", address, action)
    _remember(request, by_email)
    enforce(by_email, f"{action} for this account")


async def count_rejected_webhook(request: Request, source: str) -> None:
    """Count a webhook delivery whose signature failed against the client IP's
    `webhook_unsigned` limit; past it, the 429 (with `Retry-After`).

    Call it only once verification has failed, so a signed delivery is never counted or
    refused (the sender's retry bursts pass), and raise it instead of the 401: the 429 does not
    keep the request's unit of work, so attempts beyond the limit write no audit row each.
    """
    limiter, policy = _setup(request)
    if limiter is None:
        return
    ip = client_ip(request, policy.trusted_proxies)
    decision = await limiter.hit(policy.webhook_unsigned, "webhook-rejected", ip, source)
    _remember(request, decision)
    enforce(decision, f"unsigned {source} webhooks from this address")


_LIMIT_HEADER = b"x-ratelimit-limit"


class RateLimitHeadersMiddleware:
    """Adds the request's `X-RateLimit-*` to its response (pure ASGI, like RequestIdMiddleware).

    Responses that already carry them (the 429 itself) are left alone; requests to routes
    without a limit get none.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})

        async def send_with_limits(message: Message) -> None:
            decision = state.get(STATE_KEY) if isinstance(state, dict) else None
            if message["type"] == "http.response.start" and isinstance(decision, RateDecision):
                headers = list(message.get("headers", []))
                if not any(key.lower() == _LIMIT_HEADER for key, _ in headers):
                    headers += [
                        (name.lower().encode(), value.encode())
                        for name, value in rate_limit_headers(decision).items()
                        if name.startswith("X-")
                    ]
                    message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_limits)
