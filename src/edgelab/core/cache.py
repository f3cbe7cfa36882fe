"""A small bytes cache with TTLs: in-process by default, Redis when `EDGELAB_REDIS_URL` is set.

Values are bytes (already-serialised responses) so a hit costs no re-encoding. Both backends
share one interface; the memory one is bounded so a busy process cannot grow without limit.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Any, Protocol


class Cache(Protocol):
    backend: str

    async def get(self, key: str) -> bytes | None: ...
    async def set(self, key: str, value: bytes, ttl: float) -> None: ...
    async def delete_prefix(self, prefix: str) -> None: ...
    async def close(self) -> None: ...


class MemoryCache:
    backend = "memory"

    def __init__(self, max_entries: int = 4096) -> None:
        self._items: OrderedDict[str, tuple[float, bytes]] = OrderedDict()
        self._max = max_entries

    async def get(self, key: str) -> bytes | None:
        item = self._items.get(key)
        if item is None:
            return None
        expires, value = item
        if expires < time.monotonic():
            self._items.pop(key, None)
            return None
        return value

    async def set(self, key: str, value: bytes, ttl: float) -> None:
        if ttl <= 0:
            return
        self._items[key] = (time.monotonic() + ttl, value)
        self._items.move_to_end(key)
        while len(self._items) > self._max:
            self._items.popitem(last=False)

    async def delete_prefix(self, prefix: str) -> None:
        for key in [k for k in self._items if k.startswith(prefix)]:
            self._items.pop(key, None)

    async def close(self) -> None:
        self._items.clear()


def _glob_escape(text: str) -> str:
    """Redis SCAN patterns are globs: make a literal prefix match only itself."""
    return "".join("\\" + ch if ch in "*?[]\\" else ch for ch in text)


class RedisCache:
    backend = "redis"

    def __init__(self, client: Any, namespace: str = "edgelab:cache:") -> None:
        self._redis = client
        self._ns = namespace

    @classmethod
    def from_url(cls, url: str, namespace: str = "edgelab:cache:") -> RedisCache:
        from redis import asyncio as aioredis

        return cls(aioredis.from_url(url), namespace)

    async def get(self, key: str) -> bytes | None:
        value = await self._redis.get(self._ns + key)
        return bytes(value) if value is not None else None

    async def set(self, key: str, value: bytes, ttl: float) -> None:
        if ttl <= 0:
            return
        await self._redis.set(self._ns + key, value, px=max(1, int(ttl * 1000)))

    async def delete_prefix(self, prefix: str) -> None:
        pattern = _glob_escape(self._ns + prefix) + "*"
        keys = [k async for k in self._redis.scan_iter(match=pattern, count=500)]
        if keys:
            await self._redis.delete(*keys)

    async def close(self) -> None:
        await self._redis.aclose()


def make_cache(redis_url: str | None) -> Cache:
    return RedisCache.from_url(redis_url) if redis_url else MemoryCache()
