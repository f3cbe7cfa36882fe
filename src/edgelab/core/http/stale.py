"""Stale-on-error: answer with a service's last good response while it fails.

For upstreams whose answers stay useful for a while (prices, news): an entry is fresh for its
`ttl`, then kept `STALE_KEEP_SECONDS` longer so that a failing upstream is answered with the
last good value, flagged `stale`, instead of an error page.

Unlike `Cache.get_or_fill` the fill runs in the caller (it may use the request's session, e.g.
to store what it fetched) and its failure is visible: an `UpstreamError` with an old entry at
hand answers that entry with `stale=True`; without one it propagates. Other errors (our bugs)
always propagate.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson

from edgelab.core import clock
from edgelab.core.cache import Cache
from edgelab.core.errors import UpstreamError

log = logging.getLogger("edgelab.http")
STALE_KEEP_SECONDS = 7 * 86_400.0  # how long a last good answer is kept to serve when failing


@dataclass(frozen=True)
class Cached:
    value: Any  # JSON-serialisable: it round-trips through the cache as JSON
    stale: bool  # True: the upstream failed and this is the last good answer
    fetched_at: float  # unix seconds of that answer


class StaleCache:
    """One service's answers under `prefix` in the app cache (Redis when set, so shared)."""

    def __init__(self, cache: Cache, prefix: str, *, service: str) -> None:
        self._cache = cache
        self._prefix = prefix
        self.service = service

    async def peek(self, key: str) -> tuple[float, Any] | None:
        raw = await self._cache.get(self._prefix + key)
        if raw is None:
            return None
        try:
            entry = orjson.loads(raw)
            return float(entry["at"]), entry["value"]
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            return None

    async def put(self, key: str, value: Any, ttl: float) -> None:
        if ttl <= 0:
            return
        raw = orjson.dumps({"at": clock.time(), "value": value})
        await self._cache.set(self._prefix + key, raw, ttl + STALE_KEEP_SECONDS)

    async def fetch(self, key: str, ttl: float, fill: Callable[[], Awaitable[Any]]) -> Cached:
        entry = await self.peek(key)
        if entry is not None and clock.time() - entry[0] < ttl:
            return Cached(entry[1], False, entry[0])
        try:
            value = await fill()
        except UpstreamError as exc:
            if entry is None:
                raise
            log.warning(
                "%s failed (%s) for %s: serving the answer of %.0f s ago",
                self.service,
                exc.code,
                key,
                clock.time() - entry[0],
            )
            return Cached(entry[1], True, entry[0])
        await self.put(key, value, ttl)
        return Cached(value, False, clock.time())
