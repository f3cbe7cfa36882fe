"""Rate limits: moving windows in process memory, or in Redis (`limits`) shared by every process.

How a route is limited:

- `Depends(rate_limit("GET /markets"))` on the route (or in a router's `dependencies=`). The
  dependency resolves the caller itself (`core.auth.optional_principal`, which FastAPI runs once
  per request however many dependencies ask for it), so the tier is always known when the hit is
  counted: signed-in callers are counted per user id at their tier's limit, anonymous ones per
  client IP at the anonymous limit. A bad credential is a 401 before anything is counted (it is
  never downgraded to anonymous; guessing a token or an `elk_` key is hopeless, and a bad token
  is refused before any database work). Each scope string is its own bucket, so routes that
  should share a budget pass the same scope.
- A route that needs the caller too takes `Depends(limited_caller("GET /markets"))` instead: the
  principal, already counted. One dependency instead of two matters on a hot cached route:
  FastAPI solves every declared dependency's own dependencies again on each request, cached or
  not (measured on `/markets`: about 10 us per dependency).
- Sign-in and other credential endpoints call `enforce_auth_limits(request, email)` once the body
  is parsed: the stricter limits apply per e-mail (against one account being guessed from many
  addresses) and per IP (against one address spraying many accounts).
- Webhooks (Paddle and the like) are exempt: do not attach the dependency there. Their senders
  retry on 429 and deliveries are authenticated by signature, not by a caller identity.
- `RateLimitHeadersMiddleware` copies the decision onto the response as `X-RateLimit-Limit`,
  `X-RateLimit-Remaining` and `X-RateLimit-Reset` (seconds until a slot frees); a refusal is
  `RateLimitedError` (429, `rate_limited`, with `Retry-After` and the same headers).

The limiter lives at `Resources.ratelimiter` and the table at `Resources.ratelimit_policy`
(defaults when absent). An app without a limiter is not limited (benchmarks, some tests).

Moving windows are exact (N requests in any window of the period, no burst of 2N at a fixed
window's edge) at the cost of one stored timestamp per counted request; with the default limits
that is at most 600 per user per route. A Redis failure lets requests through (`fail_open`) and
logs a warning: an outage of the limiter should not be an outage of the API.

In memory the windows are our own (`MemoryMovingWindow`), not `limits`' MemoryStorage: that one
trims old hits in a background task that holds the key's lock across a thread hop, so every
request on a busy key queued behind a GIL hand-off (one client on `/markets`: 2,100 requests/s
without the limiter, 1,550 with it; about the same as without with this one).
"""

from __future__ import annotations

import ipaddress
import logging
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Annotated, Any, Protocol

from fastapi import Depends, Request
from limits import RateLimitItem, WindowStats, parse_many
from limits.aio.storage import RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from edgelab.core.auth import Principal, optional_principal
from edgelab.core.cache import glob_escape
from edgelab.core.db import ReadSessionMakerDep
from edgelab.core.errors import RateLimitedError
from edgelab.core.resources import resources_of

log = logging.getLogger("edgelab.ratelimit")

STATE_KEY = "ratelimit"  # where the request's binding decision waits for the headers middleware
REDIS_TIMEOUT_SECONDS = 1.0  # a limiter check must not hold a request longer than this


@dataclass(frozen=True)
class RateDecision:
    """One check against a limit. `reset_at` is epoch seconds when the oldest counted request
    leaves the window (a slot frees); `retry_after` is whole seconds, >= 1 when refused, else 0."""

    allowed: bool
    limit: int
    remaining: int
    reset_at: float
    retry_after: int


@lru_cache(maxsize=256)
def parse_limit(limit: str) -> tuple[RateLimitItem, ...]:
    """`"5/minute;20/hour"` -> its windows; ValueError on a malformed string."""
    return tuple(parse_many(limit))


def _key_part(part: str) -> str:
    # `limits` joins identifiers with "/": escape it so ("a/b", "c") and ("a", "b/c") differ
    return part.replace("%", "%25").replace("/", "%2F")


def _storage_uri(redis_url: str) -> str:
    if redis_url.startswith("async+"):
        return redis_url
    if redis_url.startswith("unix://"):
        return "async+redis+unix://" + redis_url.removeprefix("unix://")
    return "async+" + redis_url


class _Strategy(Protocol):
    async def hit(self, item: RateLimitItem, *identifiers: str) -> bool: ...
    async def get_window_stats(self, item: RateLimitItem, *identifiers: str) -> WindowStats: ...


class MemoryMovingWindow:
    """`limits`' moving-window strategy interface over process memory.

    Each key (limit window + identifiers) is a deque of hit times, trimmed of hits older than
    the window whenever the key is touched: amortised O(1) and no await, so on one event loop
    no lock is needed and no request ever waits. Keys idle for a whole window are dropped by a
    sweep run at most every `sweep_seconds` (O(keys), on a hit).
    """

    def __init__(self, clock: Callable[[], float] = time.time, sweep_seconds: float = 60.0) -> None:
        self._clock = clock
        self._sweep_seconds = sweep_seconds
        self._next_sweep = clock() + sweep_seconds
        self._hits: dict[tuple[Any, ...], tuple[float, deque[float]]] = {}

    def _window(
        self, item: RateLimitItem, identifiers: tuple[str, ...], now: float
    ) -> tuple[float, deque[float] | None]:
        expiry = float(item.get_expiry())
        entry = self._hits.get((item.amount, expiry, *identifiers))
        if entry is None:
            return expiry, None
        hits = entry[1]
        cutoff = now - expiry
        while hits and hits[0] <= cutoff:
            hits.popleft()
        return expiry, hits

    def _sweep(self, now: float) -> None:
        self._next_sweep = now + self._sweep_seconds
        idle = [key for key, (exp, hits) in self._hits.items() if not hits or hits[-1] <= now - exp]
        for key in idle:
            del self._hits[key]

    async def hit(self, item: RateLimitItem, *identifiers: str) -> bool:
        now = self._clock()
        if now >= self._next_sweep:
            self._sweep(now)
        expiry, hits = self._window(item, identifiers, now)
        if hits is None:
            hits = deque()
            self._hits[(item.amount, expiry, *identifiers)] = (expiry, hits)
        if len(hits) >= item.amount:
            return False
        hits.append(now)
        return True

    async def get_window_stats(self, item: RateLimitItem, *identifiers: str) -> WindowStats:
        """(when the oldest hit in the window leaves it, hits left), as `limits` answers."""
        now = self._clock()
        expiry, hits = self._window(item, identifiers, now)
        if not hits:
            return WindowStats(now + expiry, item.amount)
        return WindowStats(hits[0] + expiry, item.amount - len(hits))

    def reset(self) -> None:
        self._hits.clear()


class RateLimiter:
    """Counts hits per key; memory storage without `redis_url`, Redis storage with one.

    Limiters on the same Redis and `namespace` share their counts, so a limit holds across every
    process and app instance behind a load balancer. `reset` clears only this namespace.
    """

    def __init__(
        self, redis_url: str | None = None, *, namespace: str = "edgelab", fail_open: bool = True
    ) -> None:
        self.namespace = namespace
        self.fail_open = fail_open
        self._prefix = f"{namespace}:ratelimit"
        self._redis: Any = None
        self._memory: MemoryMovingWindow | None = None
        self._strategy: _Strategy
        if redis_url is None:
            self.backend = "memory"
            self._memory = self._strategy = MemoryMovingWindow()
        else:
            from redis import asyncio as aioredis

            self.backend = "redis"
            # our own client, so that close() and a SCAN-based reset need no limits internals
            self._redis = aioredis.from_url(
                redis_url,
                socket_timeout=REDIS_TIMEOUT_SECONDS,
                socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
            )
            pool: dict[str, Any] = {"connection_pool": self._redis.connection_pool}
            storage = RedisStorage(
                _storage_uri(redis_url),
                implementation="redispy",
                key_prefix=self._prefix,
                wrap_exceptions=True,
                **pool,
            )
            self._strategy = MovingWindowRateLimiter(storage)

    async def hit(self, limit: str, *key_parts: str) -> RateDecision:
        """Count one request for `key_parts` against every window of `limit`.

        Windows are hit in order and the first refusal stops (a refused hit counts nothing in a
        moving window), so a refused request may still have counted in an earlier window. The
        allowed decision reports the window with the fewest requests left; a refusal reports the
        spent window that frees last, so one `Retry-After` is enough.
        """
        items = parse_limit(limit)
        keys = tuple(_key_part(p) for p in key_parts)
        try:
            return await self._hit(items, keys)
        except StorageError as exc:
            if not self.fail_open:
                raise
            log.warning("rate limit storage failed, letting the request through: %s", exc)
            return RateDecision(True, items[0].amount, items[0].amount, time.time(), 0)

    async def _hit(self, items: tuple[RateLimitItem, ...], keys: tuple[str, ...]) -> RateDecision:
        passed: list[RateDecision] = []
        for item in items:
            if not await self._strategy.hit(item, *keys):
                return await self._refusal(item, items, keys)
            stats = await self._strategy.get_window_stats(item, *keys)
            passed.append(
                RateDecision(True, item.amount, max(0, stats.remaining), stats.reset_time, 0)
            )
        return min(passed, key=lambda d: (d.remaining, -d.reset_at))

    async def _refusal(
        self, refused: RateLimitItem, items: tuple[RateLimitItem, ...], keys: tuple[str, ...]
    ) -> RateDecision:
        binding: tuple[RateLimitItem, float] | None = None
        for item in items:
            stats = await self._strategy.get_window_stats(item, *keys)
            spent = item is refused or stats.remaining <= 0
            if spent and (binding is None or stats.reset_time > binding[1]):
                binding = (item, stats.reset_time)
        assert binding is not None  # `refused` is among `items`
        reset_at = binding[1]
        retry_after = max(1, math.ceil(reset_at - time.time()))
        return RateDecision(False, binding[0].amount, 0, reset_at, retry_after)

    async def reset(self) -> None:
        """Forget every count in this namespace (tests, or ops after a bad deploy)."""
        if self._memory is not None:
            self._memory.reset()
            return
        pattern = glob_escape(self._prefix + ":") + "*"
        keys = [k async for k in self._redis.scan_iter(match=pattern, count=500)]
        if keys:
            await self._redis.delete(*keys)

    async def close(self) -> None:
        if self._redis is not None:
            await self._redis.aclose()
        if self._memory is not None:
            self._memory.reset()


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
    auth_per_email / auth_per_ip: credential endpoints (sign-in, password reset), stricter.
    trusted_proxies: peers whose `X-Forwarded-For` is believed (addresses or CIDR networks).
    """

    anonymous: str = "60/minute"
    free: str = "120/minute"
    paid: str = "600/minute"
    auth_per_email: str = "5/minute;20/hour"
    auth_per_ip: str = "20/minute"
    trusted_proxies: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        for limit in (self.anonymous, self.free, self.paid, self.auth_per_email, self.auth_per_ip):
            parse_limit(limit)  # a typo fails at start-up, not on the first request
        _networks(self.trusted_proxies)

    def for_tier(self, tier: str | None) -> str:
        return self.paid if tier == "paid" else self.free


def _setup(request: Request) -> tuple[RateLimiter | None, RateLimitPolicy]:
    resources = resources_of(request)
    return resources.ratelimiter, resources.ratelimit_policy


def _remember(request: Request, decision: RateDecision) -> None:
    """Keep the tightest decision of the request for the headers."""
    held = getattr(request.state, STATE_KEY, None)
    if not isinstance(held, RateDecision) or decision.remaining < held.remaining:
        setattr(request.state, STATE_KEY, decision)


async def count_request(
    request: Request, principal: Principal | None, scope: str, limit: str | None = None
) -> None:
    """Count one request against the caller's limit for `scope`: per user id at the tier's
    limit, or per client IP at the anonymous one (`principal` None); raises the 429."""
    limiter, policy = _setup(request)
    if limiter is None:
        return
    if principal is not None:
        chosen = limit or policy.for_tier(principal.tier)
        decision = await limiter.hit(chosen, "user", principal.id, scope)
    else:
        ip = client_ip(request, policy.trusted_proxies)
        decision = await limiter.hit(limit or policy.anonymous, "ip", ip, scope)
    _remember(request, decision)
    enforce(decision, scope)


def rate_limit(
    scope: str, *, limit: str | None = None, per_user: bool = True
) -> Callable[..., Awaitable[None]]:
    """A dependency limiting a route: `Depends(rate_limit("GET /markets"))`.

    `limit`, when given, replaces the policy's tier and anonymous limits for this route (an
    expensive endpoint); it is checked here, at import time. `per_user=False` counts every
    caller per IP and ignores the `Authorization` header: for the endpoints that hand out tokens
    (`/auth/verify`, `/auth/refresh`), whose callers often still send the expired access token
    they are replacing.
    """
    if limit is not None:
        parse_limit(limit)

    async def check_rate_limit(
        request: Request,
        principal: Annotated[Principal | None, Depends(optional_principal)],
    ) -> None:
        await count_request(request, principal, scope, limit)

    async def check_rate_limit_per_ip(request: Request) -> None:
        await count_request(request, None, scope, limit)

    return check_rate_limit if per_user else check_rate_limit_per_ip


def limited_caller(
    scope: str, *, limit: str | None = None
) -> Callable[..., Awaitable[Principal | None]]:
    """A dependency answering the caller (as `optional_principal`: None when anonymous, 401 on
    a bad credential) after counting the request against their limit for `scope`."""
    if limit is not None:
        parse_limit(limit)

    async def caller(request: Request, sessions: ReadSessionMakerDep) -> Principal | None:
        principal = await optional_principal(request, sessions)
        await count_request(request, principal, scope, limit)
        return principal

    return caller


async def enforce_auth_limits(request: Request, email: str, *, action: str = "auth") -> None:
    """Per-IP, then per-e-mail limits for a credential endpoint; raises the 429 on refusal.

    Every attempt counts, successful or not. The e-mail is case-folded so `A@x.io` and `a@x.io`
    share one budget; endpoints passing the same `action` share budgets too.
    """
    limiter, policy = _setup(request)
    if limiter is None:
        return
    ip = client_ip(request, policy.trusted_proxies)
    by_ip = await limiter.hit(policy.auth_per_ip, "auth-ip", ip, action)
    _remember(request, by_ip)
    enforce(by_ip, f"{action} from this address")
    by_email = await limiter.hit(
        policy.auth_per_email, "auth-email", email.strip().casefold(), action
    )
    _remember(request, by_email)
    enforce(by_email, f"{action} for this account")


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
