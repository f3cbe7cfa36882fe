"""A small bytes cache with TTLs: in-process by default, Redis when `EDGELAB_REDIS_URL` is set.

Values are bytes (already-serialised responses) so a hit costs no re-encoding. Both backends
share one interface; the memory one is bounded so a busy process cannot grow without limit.
The Redis one falls back to process memory while Redis is down (issue 18: an outage of the
cache must not be an outage of the API).
"""

from __future__ import annotations

import asyncio
import logging
import struct
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from edgelab.core import clock
from edgelab.core.observability import Degradation


class Cache(Protocol):
    backend: str

    async def get(self, key: str) -> bytes | None: ...
    async def set(self, key: str, value: bytes, ttl: float) -> None: ...
    async def delete_prefix(self, prefix: str) -> None: ...
    async def close(self) -> None: ...
    async def get_or_fill(
        self, key: str, ttl: float, fill: Callable[[], Awaitable[bytes]]
    ) -> bytes: ...


STALE_GRACE_SECONDS = 60.0
_STAMP = struct.Struct("!d")
log = logging.getLogger("edgelab.cache")


class _SingleFlight(ABC):
    """`get_or_fill`: one fill per key at a time, and stale answers while it runs.

    `fill` must not use request-scoped resources (the request's session): it may run on after
    the request that started it has finished.

    An entry is fresh for `ttl` seconds, then kept `STALE_GRACE_SECONDS` longer. A request that
    finds it stale gets the old bytes at once and starts one background refresh; only a request
    that finds nothing waits, and concurrent ones wait for a single fill. Without this, every
    expiry makes all in-flight requests recompute the same answer at once (a stampede) and the
    tail latency is the time of that pile-up. A failed fill fails every caller waiting for
    it, once; the next caller tries again.
    """

    _inflight: dict[str, asyncio.Task[bytes]]
    _refreshing: dict[str, asyncio.Task[None]]

    @abstractmethod
    async def get(self, key: str) -> bytes | None: ...

    @abstractmethod
    async def set(self, key: str, value: bytes, ttl: float) -> None: ...

    async def _store(self, key: str, value: bytes, ttl: float) -> None:
        stamped = _STAMP.pack(clock.time() + ttl) + value
        await self.set(key, stamped, ttl + STALE_GRACE_SECONDS)

    async def _load(self, key: str) -> tuple[float, bytes] | None:
        raw = await self.get(key)
        if raw is None or len(raw) < _STAMP.size:
            return None
        return _STAMP.unpack_from(raw)[0], raw[_STAMP.size :]

    def _refresh(self, key: str, ttl: float, fill: Callable[[], Awaitable[bytes]]) -> None:
        if key in self._refreshing:
            return

        async def run() -> None:
            try:
                await self._store(key, await fill(), ttl)
            except Exception:  # a failed refresh leaves the stale entry; the next miss retries
                log.exception("background refresh of %s failed", key)
            finally:
                self._refreshing.pop(key, None)

        self._refreshing[key] = asyncio.get_running_loop().create_task(run())

    async def _stop_refreshes(self) -> None:
        tasks = list(self._refreshing.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def get_or_fill(
        self, key: str, ttl: float, fill: Callable[[], Awaitable[bytes]]
    ) -> bytes:
        if ttl <= 0:
            return await fill()
        entry = await self._load(key)
        if entry is not None:
            fresh_until, value = entry
            if clock.time() >= fresh_until:
                self._refresh(key, ttl, fill)
            return value
        task = self._inflight.get(key)
        if task is None:
            task = asyncio.get_running_loop().create_task(self._fill_and_store(key, ttl, fill))
            self._inflight[key] = task
            task.add_done_callback(lambda done: self._fill_done(key, done))
        # shield: a caller that goes away does not cancel the fill the others wait for
        return await asyncio.shield(task)

    async def _fill_and_store(
        self, key: str, ttl: float, fill: Callable[[], Awaitable[bytes]]
    ) -> bytes:
        value = await fill()
        await self._store(key, value, ttl)
        return value

    def _fill_done(self, key: str, task: asyncio.Task[bytes]) -> None:
        if self._inflight.get(key) is task:
            del self._inflight[key]
        if not task.cancelled():
            task.exception()  # retrieved here so a fill nobody awaited any more is not reported


class MemoryCache(_SingleFlight):
    backend = "memory"

    def __init__(self, max_entries: int = 4096) -> None:
        self._inflight = {}
        self._refreshing = {}
        self._items: OrderedDict[str, tuple[float, bytes]] = OrderedDict()
        self._max = max_entries

    async def get(self, key: str) -> bytes | None:
        item = self._items.get(key)
        if item is None:
            return None
        expires, value = item
        if expires < clock.monotonic():
            self._items.pop(key, None)
            return None
        return value

    async def set(self, key: str, value: bytes, ttl: float) -> None:
        if ttl <= 0:
            return
        self._items[key] = (clock.monotonic() + ttl, value)
        self._items.move_to_end(key)
        while len(self._items) > self._max:
            self._items.popitem(last=False)

    async def delete_prefix(self, prefix: str) -> None:
        for key in [k for k in self._items if k.startswith(prefix)]:
            self._items.pop(key, None)

    async def close(self) -> None:
        await self._stop_refreshes()
        self._items.clear()


def glob_escape(text: str) -> str:
    """Redis SCAN patterns are globs: make a literal prefix match only itself."""
    return "".join("\\" + ch if ch in "*?[]\\" else ch for ch in text)


REDIS_TIMEOUT_SECONDS = 1.0  # a cache or limiter call must not hold a request longer than this


def redis_client(url: str, *, timeout: float = REDIS_TIMEOUT_SECONDS) -> Any:
    """A `redis.asyncio.Redis` for calls on the request path: bounded timeouts and one
    immediate retry (a pooled connection Redis closed on restart is replaced at once).

    redis-py's default retries ten times with backoff (up to about 4 s per call), which during
    an outage turned every cached read into seconds of waiting and then an error.
    """
    from redis import asyncio as aioredis
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff

    return aioredis.from_url(
        url,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry=Retry(NoBackoff(), 1),
    )


def redis_errors() -> tuple[type[BaseException], ...]:
    """What a Redis call raises when Redis is down, restarting or unreachable."""
    from redis.exceptions import RedisError

    return (RedisError, OSError, asyncio.TimeoutError)


class RedisCache(_SingleFlight):
    """Redis, and an in-process `MemoryCache` while Redis fails.

    A failed call (or, while Redis is known down, any call: see `Degradation.available`) is
    answered by the in-process cache instead, so an outage costs cache hits, never an answer.
    Prefixes deleted during the outage (whoever noticed it first: this cache or another user of
    the shared `Degradation`) are deleted again in Redis once it is back, before the first call
    that reads or writes there (its entries from before the outage would otherwise be served
    until their TTL), and the in-process entries are dropped then.
    """

    backend = "redis"

    def __init__(
        self,
        client: Any,
        namespace: str = "edgelab:cache:",
        degradation: Degradation | None = None,
    ) -> None:
        self._redis = client
        self._ns = namespace
        self._inflight = {}
        self._refreshing = {}
        self._fallback = MemoryCache()
        self._degradation = degradation or Degradation()
        self._degradation.watch("redis")
        self._errors = redis_errors()
        self._down = False
        self._lost_prefixes: set[str] = set()

    @classmethod
    def from_url(
        cls,
        url: str,
        namespace: str = "edgelab:cache:",
        degradation: Degradation | None = None,
    ) -> RedisCache:
        return cls(redis_client(url), namespace, degradation)

    def _use_redis(self) -> bool:
        if self._degradation.available("redis"):
            return True
        # known down (perhaps by another user of the shared `Degradation`, the rate limiter,
        # before this cache failed a call of its own): this cache is in the outage too
        self._down = True
        self._degradation.fell_back("redis", "cache")
        return False

    def _failed(self, exc: BaseException) -> None:
        self._down = True
        self._degradation.failed("redis", "cache", exc)

    async def _replay(self) -> None:
        """After an outage, before any other call reaches Redis: delete there the prefixes
        deleted meanwhile (its entries from before the outage are stale). Raises while Redis
        fails; what is left stays for the next call."""
        if not self._down:
            return
        for prefix in list(self._lost_prefixes):
            await self._delete_in_redis(prefix)
            self._lost_prefixes.discard(prefix)

    def _worked(self) -> None:
        self._degradation.succeeded("redis")
        if self._down and not self._lost_prefixes:  # back, and nothing left to replay
            self._down = False
            self._fallback = MemoryCache()

    async def get(self, key: str) -> bytes | None:
        if not self._use_redis():
            return await self._fallback.get(key)
        try:
            await self._replay()
            value = await self._redis.get(self._ns + key)
        except self._errors as exc:
            self._failed(exc)
            return await self._fallback.get(key)
        self._worked()
        return bytes(value) if value is not None else None

    async def set(self, key: str, value: bytes, ttl: float) -> None:
        if ttl <= 0:
            return
        if not self._use_redis():
            await self._fallback.set(key, value, ttl)
            return
        try:
            await self._replay()
            await self._redis.set(self._ns + key, value, px=max(1, int(ttl * 1000)))
        except self._errors as exc:
            self._failed(exc)
            await self._fallback.set(key, value, ttl)
            return
        self._worked()

    async def _delete_in_redis(self, prefix: str) -> None:
        pattern = glob_escape(self._ns + prefix) + "*"
        keys = [k async for k in self._redis.scan_iter(match=pattern, count=500)]
        if keys:
            await self._redis.delete(*keys)

    async def delete_prefix(self, prefix: str) -> None:
        await self._fallback.delete_prefix(prefix)
        if not self._use_redis():
            self._lost_prefixes.add(prefix)
            return
        try:
            await self._replay()
            await self._delete_in_redis(prefix)
        except self._errors as exc:
            self._lost_prefixes.add(prefix)
            self._failed(exc)
            return
        self._worked()

    async def close(self) -> None:
        await self._stop_refreshes()
        await self._fallback.close()
        await self._redis.aclose()


def make_cache(redis_url: str | None, degradation: Degradation | None = None) -> Cache:
    return RedisCache.from_url(redis_url, degradation=degradation) if redis_url else MemoryCache()
