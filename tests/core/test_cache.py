"""The response cache: same behaviour in process memory and in Redis.

Redis runs need `EDGELAB_TEST_REDIS_URL`; each test writes under its own namespace and
removes it afterwards, so concurrent runs on one server do not see each other's keys.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest

from edgelab.core.cache import Cache, MemoryCache, RedisCache, make_cache
from edgelab.core.clock import ManualClock

pytestmark = pytest.mark.asyncio(loop_scope="session")

SHORT_TTL = 0.15


@pytest.fixture(params=["memory", "redis"])
async def cache(request: pytest.FixtureRequest) -> AsyncIterator[Cache]:
    if request.param == "memory":
        mem = MemoryCache()
        yield mem
        await mem.close()
        return
    url = request.getfixturevalue("redis_url")
    namespace = f"edgelab:test:{uuid.uuid4().hex}:"
    redis_cache = RedisCache.from_url(url, namespace=namespace)
    try:
        yield redis_cache
    finally:
        await redis_cache.delete_prefix("")
        await redis_cache.close()


async def test_set_then_get_returns_the_same_bytes(cache: Cache) -> None:
    payload = b'{"items": [1, 2, 3], "note": "\xc3\xa9"}'
    await cache.set("markets:a", payload, 30)
    assert await cache.get("markets:a") == payload
    assert isinstance(await cache.get("markets:a"), bytes)


async def test_missing_key_is_none(cache: Cache) -> None:
    assert await cache.get("never-set") is None


async def let_time_pass(cache: Cache, clock: ManualClock, seconds: float) -> None:
    """The app's clock moves on; Redis expires keys on its own (real) clock, so for it the
    test waits for real (these are the only real waits in this module)."""
    clock.advance(seconds)
    if isinstance(cache, RedisCache):
        await asyncio.sleep(seconds)


async def test_entry_expires_after_its_ttl(cache: Cache, manual_clock: ManualClock) -> None:
    await cache.set("short", b"1", SHORT_TTL)
    await cache.set("long", b"2", 30)
    assert await cache.get("short") == b"1"
    await let_time_pass(cache, manual_clock, SHORT_TTL + 0.15)
    assert await cache.get("short") is None
    assert await cache.get("long") == b"2"


async def test_setting_again_replaces_value_and_ttl(
    cache: Cache, manual_clock: ManualClock
) -> None:
    await cache.set("k", b"old", SHORT_TTL)
    await cache.set("k", b"new", 30)
    await let_time_pass(cache, manual_clock, SHORT_TTL + 0.15)
    assert await cache.get("k") == b"new"


@pytest.mark.parametrize("ttl", [0, 0.0, -1, -0.001])
async def test_non_positive_ttl_stores_nothing(cache: Cache, ttl: float) -> None:
    await cache.set("uncached", b"x", ttl)
    assert await cache.get("uncached") is None


async def test_delete_prefix_removes_only_matching_keys(cache: Cache) -> None:
    await cache.set("markets:a|2019-04-10", b"1", 30)
    await cache.set("markets:b|2019-04-10", b"2", 30)
    await cache.set("markets-other", b"3", 30)
    await cache.set("health", b"4", 30)
    await cache.delete_prefix("markets:")
    assert await cache.get("markets:a|2019-04-10") is None
    assert await cache.get("markets:b|2019-04-10") is None
    assert await cache.get("markets-other") == b"3"
    assert await cache.get("health") == b"4"


async def test_delete_prefix_with_no_match_is_harmless(cache: Cache) -> None:
    await cache.set("keep", b"1", 30)
    await cache.delete_prefix("nothing-here:")
    assert await cache.get("keep") == b"1"


async def test_delete_prefix_treats_the_prefix_literally(cache: Cache) -> None:
    """Keys built from query values may hold `?`, `*` or `[`: a prefix is text, not a glob."""
    await cache.set("q?a=1", b"1", 30)
    await cache.set("qXa=1", b"2", 30)
    await cache.set("q*", b"3", 30)
    await cache.set("q-star", b"4", 30)
    await cache.delete_prefix("q?")
    await cache.delete_prefix("q*")
    assert await cache.get("q?a=1") is None
    assert await cache.get("q*") is None
    assert await cache.get("qXa=1") == b"2", "'?' must not match any character"
    assert await cache.get("q-star") == b"4", "'*' must not match anything"


async def test_memory_cache_evicts_oldest_beyond_max_entries() -> None:
    mem = MemoryCache(max_entries=3)
    for key in ("a", "b", "c", "d"):
        await mem.set(key, key.encode(), 30)
    assert await mem.get("a") is None
    assert [await mem.get(k) for k in ("b", "c", "d")] == [b"b", b"c", b"d"]
    await mem.set("b", b"b2", 30)  # rewriting makes it the newest
    await mem.set("e", b"e", 30)
    assert await mem.get("c") is None
    assert [await mem.get(k) for k in ("b", "d", "e")] == [b"b2", b"d", b"e"]


async def test_memory_cache_stays_bounded_under_many_writes() -> None:
    mem = MemoryCache(max_entries=50)
    for i in range(1000):
        await mem.set(f"k{i}", b"x", 30)
    present = [i for i in range(1000) if await mem.get(f"k{i}") is not None]
    assert present == list(range(950, 1000))


async def test_redis_namespaces_do_not_see_each_other(redis_url: str) -> None:
    base = f"edgelab:test:{uuid.uuid4().hex}:"
    one = RedisCache.from_url(redis_url, namespace=base + "one:")
    two = RedisCache.from_url(redis_url, namespace=base + "two:")
    try:
        await one.set("k", b"from-one", 30)
        assert await two.get("k") is None
        await two.set("k", b"from-two", 30)
        await two.delete_prefix("")
        assert await one.get("k") == b"from-one"
    finally:
        await one.delete_prefix("")
        await two.delete_prefix("")
        await one.close()
        await two.close()


async def test_make_cache_picks_backend_from_url(redis_url: str) -> None:
    mem = make_cache(None)
    red = make_cache(redis_url)
    try:
        assert mem.backend == "memory" and isinstance(mem, MemoryCache)
        assert red.backend == "redis" and isinstance(red, RedisCache)
    finally:
        await mem.close()
        await red.close()


async def test_concurrent_misses_of_one_key_are_filled_once():
    cache = MemoryCache()
    calls = 0

    async def fill() -> bytes:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.05)
        return b"body"

    results = await asyncio.gather(*(cache.get_or_fill("k", 10, fill) for _ in range(64)))
    assert results == [b"body"] * 64 and calls == 1
    assert await cache.get_or_fill("k", 10, fill) == b"body" and calls == 1
    await cache.get_or_fill("other", 0, fill)  # ttl 0: no caching, always filled
    await cache.get_or_fill("other", 0, fill)
    assert calls == 3


async def test_an_expired_entry_is_served_stale_while_one_refresh_runs(
    manual_clock: ManualClock,
):
    cache = MemoryCache()
    version = 0
    refill = asyncio.Event()

    async def fill() -> bytes:
        nonlocal version
        version += 1
        if version > 1:
            await refill.wait()  # the refresh is slow: held until the test lets it finish
        return f"v{version}".encode()

    assert await cache.get_or_fill("k", 0.05, fill) == b"v1"
    manual_clock.advance(0.08)  # now stale
    stale = await asyncio.gather(*(cache.get_or_fill("k", 0.05, fill) for _ in range(20)))
    assert stale == [b"v1"] * 20  # nobody waited for the refill
    refill.set()
    for _ in range(5):  # the background refresh stores its answer
        await asyncio.sleep(0)
    assert await cache.get_or_fill("k", 10, fill) == b"v2" and version == 2  # one refresh
    await cache.close()


async def test_a_failing_refresh_keeps_serving_the_stale_answer(caplog, manual_clock):
    cache = MemoryCache()

    async def good() -> bytes:
        return b"ok"

    async def broken() -> bytes:
        raise RuntimeError("database down")

    await cache.get_or_fill("k", 0.01, good)
    manual_clock.advance(0.03)
    assert await cache.get_or_fill("k", 0.01, broken) == b"ok"
    for _ in range(5):  # the background refresh runs and fails
        await asyncio.sleep(0)
    manual_clock.advance(0.02)
    assert await cache.get_or_fill("k", 0.01, broken) == b"ok"
    assert "background refresh of k failed" in caplog.text


async def test_a_failing_fill_fails_its_waiters_once_instead_of_retrying_for_each():
    cache = MemoryCache()
    calls = 0

    async def broken() -> bytes:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.05)
        raise RuntimeError("database down")

    results = await asyncio.gather(
        *(cache.get_or_fill("k", 10, broken) for _ in range(20)), return_exceptions=True
    )
    assert calls == 1 and all(isinstance(r, RuntimeError) for r in results)

    async def good() -> bytes:
        return b"back"

    assert await cache.get_or_fill("k", 10, good) == b"back"  # the next caller tries again
