"""Who may read `/metrics`: the holder of `EDGELAB_METRICS_TOKEN`, or (without one) this machine.

The Prometheus text names every route, its traffic and latencies, and the process's memory:
useful to an attacker and no one's business but the operator's. With a token set, a scraper
sends `Authorization: Bearer <token>` (compared in constant time) and anything else answers
401. Without one, only a loopback client (`request.client.host`) is answered, and not when the
request carries `Forwarded`/`X-Forwarded-For`: a reverse proxy on this machine connects from
loopback on behalf of anyone, so behind one set a token. Others get 403.
"""

from __future__ import annotations

import hmac

from fastapi import Request

from edgelab.core import error_codes as codes
from edgelab.core.errors import AppError
from edgelab.core.resources import resources_of
from edgelab.core.settings import is_loopback_host

_PROXY_HEADERS = ("forwarded", "x-forwarded-for", "x-real-ip")


class MetricsUnauthorizedError(AppError):
    code = codes.UNAUTHORIZED


class MetricsForbiddenError(AppError):
    code = codes.FORBIDDEN


def _bearer(request: Request) -> str | None:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


async def require_metrics_access(request: Request) -> None:
    """The `/metrics` route's dependency: passes or raises 401/403 (the error envelope)."""
    token = resources_of(request).settings.metrics_token
    if token is not None:
        given = _bearer(request)
        expected = token.get_secret_value().encode()
        if given is None or not hmac.compare_digest(given.encode(), expected):
            raise MetricsUnauthorizedError(
                "/metrics needs `Authorization: Bearer <EDGELAB_METRICS_TOKEN>`.",
                headers={"WWW-Authenticate": "Bearer"},
            )
        return
    client = request.client
    proxied = any(request.headers.get(name) for name in _PROXY_HEADERS)
    if client is None or proxied or not is_loopback_host(client.host):
        raise MetricsForbiddenError(
            "/metrics answers loopback clients only; set EDGELAB_METRICS_TOKEN to scrape it "
            "from elsewhere."
        )
