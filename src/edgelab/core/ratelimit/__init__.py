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
- A route that is dearer than most (a rendered image, a call through to Paddle, a stored
  upload) or that must promise a rate (Sentinel's operator API) names one of the policy's named
  limits instead of the tier's: `rate_limit("POST /uploads", policy_limit="uploads")`, each an
  `EDGELAB_RATE_LIMIT_<NAME>` setting. Routes sharing a scope share the budget (every billing
  route that calls Paddle counts in one).
- Sign-in and other credential endpoints call `enforce_auth_limits(request, email)` once the body
  is parsed: per IP (against one address spraying many accounts), per (e-mail, IP) (against one
  requester pestering one account) and, looser, per e-mail (a cap on what one inbox gets that a
  single requester cannot spend, so nobody can lock the owner out of their sign-in links).
- Webhooks (Paddle and the like) get no caller limit: their senders retry on 429 and deliveries
  are authenticated by signature, not by a caller identity. Only a delivery whose signature
  fails is counted, per client IP (`count_rejected_webhook`); past the limit it is a 429 instead
  of a 401, and writes no audit row.
- `RateLimitHeadersMiddleware` copies the decision onto the response as `X-RateLimit-Limit`,
  `X-RateLimit-Remaining` and `X-RateLimit-Reset` (seconds until a slot frees); a refusal is
  `RateLimitedError` (429, `rate_limited`, with `Retry-After` and the same headers).

The limiter lives at `Resources.ratelimiter` and the table at `Resources.ratelimit_policy`
(defaults when absent). An app without a limiter is not limited (benchmarks, some tests).

Counting (memory or Redis moving windows) is `limiter`; what a request meets (policy, client
address, dependencies, the 429 and the headers) is `dependencies`. The names below are the
package's public face: import them from `edgelab.core.ratelimit`.
"""

from edgelab.core.ratelimit.dependencies import (
    RateLimitHeadersMiddleware,
    RateLimitPolicy,
    client_ip,
    count_rejected_webhook,
    count_request,
    enforce,
    enforce_auth_limits,
    limited_caller,
    rate_limit,
    rate_limit_headers,
)
from edgelab.core.ratelimit.limiter import (
    MemoryMovingWindow,
    RateDecision,
    RateLimiter,
    parse_limit,
)

__all__ = [
    "MemoryMovingWindow",
    "RateDecision",
    "RateLimitHeadersMiddleware",
    "RateLimitPolicy",
    "RateLimiter",
    "client_ip",
    "count_rejected_webhook",
    "count_request",
    "enforce",
    "enforce_auth_limits",
    "limited_caller",
    "parse_limit",
    "rate_limit",
    "rate_limit_headers",
]
