"""Rate-limit counting: moving windows in process memory, or in Redis (`limits`) shared by every
process.

Moving windows are exact (N requests in any window of the period, no burst of 2N at a fixed
window's edge) at the cost of one stored timestamp per counted request; with the default limits
that is at most 600 per user per route.

While Redis fails, the limiter counts in process memory instead (`fail_open`, the default): each
process then enforces the limits on its own, so with N processes a caller gets at most N times
its limit during the outage, never unlimited. Chosen over letting everything through because
the limits that matter most during an incident guard cost and abuse (sign-in links sent by
e-mail, calls through to Paddle, uploads), which an outage must not open up; the per-process
windows cost nothing and need no network. The first failure logs a warning, every fallback
counts in `edgelab_degraded_total{backend="redis",what="ratelimit"}`, and once Redis answers
again (probed once a second, `Degradation`) the shared counts are back in force. Counts made
in memory during the outage are not copied to Redis.

In memory the windows are our own (`MemoryMovingWindow`), not `limits`' MemoryStorage: that one
trims old hits in a background task that holds the key's lock across a thread hop, so every
request on a busy key queued behind a GIL hand-off (one client on `/markets`: 2,100 requests/s
without the limiter, 1,550 with it; about the same as without with this one).
"""

from __future__ import annotations

import logging
import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Protocol

from limits import RateLimitItem, WindowStats, parse_many
from limits.aio.storage import RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError

from edgelab.core.cache import glob_escape, redis_client, redis_errors
from edgelab.core.observability import Degradation

log = logging.getLogger("edgelab.ratelimit")


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
        self,
        redis_url: str | None = None,
        *,
        namespace: str = "edgelab",
        fail_open: bool = True,
        degradation: Degradation | None = None,
    ) -> None:
        self.namespace = namespace
        self.fail_open = fail_open  # on a Redis failure: count per process (True) or raise
        self._prefix = f"{namespace}:ratelimit"
        self._redis: Any = None
        self._memory: MemoryMovingWindow | None = None
        self._fallback = MemoryMovingWindow()
        self._degradation = degradation or Degradation()
        self._errors: tuple[type[BaseException], ...] = (StorageError,)
        self._strategy: _Strategy
        if redis_url is None:
            self.backend = "memory"
            self._memory = self._strategy = MemoryMovingWindow()
        else:
            self.backend = "redis"
            self._degradation.watch("redis")
            self._errors += redis_errors()
            # our own client, so that close() and a SCAN-based reset need no limits internals
            self._redis = redis_client(redis_url)
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
        if self._memory is not None:
            return await self._hit(self._memory, items, keys)
        degradation = self._degradation
        if self.fail_open and not degradation.available("redis"):
            degradation.fell_back("redis", "ratelimit")
            return await self._hit(self._fallback, items, keys)
        try:
            decision = await self._hit(self._strategy, items, keys)
        except self._errors as exc:
            if not self.fail_open:
                raise
            degradation.failed("redis", "ratelimit", exc)
            return await self._hit(self._fallback, items, keys)
        degradation.succeeded("redis")
        return decision

    async def _hit(
        self, strategy: _Strategy, items: tuple[RateLimitItem, ...], keys: tuple[str, ...]
    ) -> RateDecision:
        passed: list[RateDecision] = []
        for item in items:
            if not await strategy.hit(item, *keys):
                return await self._refusal(strategy, item, items, keys)
            stats = await strategy.get_window_stats(item, *keys)
            passed.append(
                RateDecision(True, item.amount, max(0, stats.remaining), stats.reset_time, 0)
            )
        return min(passed, key=lambda d: (d.remaining, -d.reset_at))

    async def _refusal(
        self,
        strategy: _Strategy,
        refused: RateLimitItem,
        items: tuple[RateLimitItem, ...],
        keys: tuple[str, ...],
    ) -> RateDecision:
        binding: tuple[RateLimitItem, float] | None = None
        for item in items:
            stats = await strategy.get_window_stats(item, *keys)
            spent = item is refused or stats.remaining <= 0
            if spent and (binding is None or stats.reset_time > binding[1]):
                binding = (item, stats.reset_time)
        assert binding is not None  # `refused` is among `items`
        reset_at = binding[1]
        retry_after = max(1, math.ceil(reset_at - time.time()))
        return RateDecision(False, binding[0].amount, 0, reset_at, retry_after)

    async def reset(self) -> None:
        """Forget every count in this namespace (tests, or ops after a bad deploy)."""
        self._fallback.reset()
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
