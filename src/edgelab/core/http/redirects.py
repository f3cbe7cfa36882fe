"""Credentials stay with the origin they were meant for when an outbound call is redirected.

httpx follows redirects with the request's headers and strips only `Authorization` (and not
even that on an http -> https hop of the same host). A key in another header (NewsAPI's and
Anthropic's `X-Api-Key`) would go to whatever host a redirect names: a compromised or
misconfigured upstream, or an open redirect on it, would collect our keys. This request hook
remembers the first hop's origin and drops every credential header from any hop to another
origin (scheme, host and port), so a redirect can move a call but never its secrets.
"""

from __future__ import annotations

import httpx

# the headers any of our clients (or SDKs we hand a client to) authenticate with
CREDENTIAL_HEADERS = (
    "authorization",
    "proxy-authorization",
    "x-api-key",
    "api-key",
    "x-auth-token",
    "cookie",
)
_FIRST_ORIGIN = "edgelab.first_origin"  # a request extension, copied onto each redirect hop
_DEFAULT_PORTS = {"http": 80, "https": 443}


def origin_of(url: httpx.URL) -> tuple[str, str, int | None]:
    return url.scheme, url.host, url.port or _DEFAULT_PORTS.get(url.scheme)


async def drop_credentials_off_origin(request: httpx.Request) -> None:
    """An httpx `request` event hook (it runs for every hop of a redirect chain)."""
    origin = origin_of(request.url)
    first = request.extensions.setdefault(_FIRST_ORIGIN, origin)
    if first != origin:
        for name in CREDENTIAL_HEADERS:
            request.headers.pop(name, None)
