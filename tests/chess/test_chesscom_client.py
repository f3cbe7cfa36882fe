"""The Chess.com client against the local fake speaking the recorded payloads; the cache
behaviour (ETag/304 reuse, 410 memory) also through Redis when `EDGELAB_TEST_REDIS_URL` is set."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from redis import asyncio as aioredis

from edgelab.chess.chesscom import GONE_SECONDS, KEEP_SECONDS, ChesscomClient, PlayerNotFoundError
from edgelab.core.cache import MemoryCache, RedisCache
from edgelab.core.errors import UpstreamError
from edgelab.core.settings import Settings
from tests.chess.fake_chesscom import MONTH, PLAYER, UA, FakeChesscom
from tests.fixtures.database import make_settings

ARCHIVES = f"/pub/player/{PLAYER}/games/archives"
MAY = f"/pub/player/{PLAYER}/games/2020/05"
APRIL = f"/pub/player/{PLAYER}/games/2020/04"
MARCH = f"/pub/player/{PLAYER}/games/2020/03"


def _settings(url: str, **extra: object) -> Settings:
    base: dict[str, object] = {
        "chesscom_url": url,
        "chesscom_user_agent": UA,
        "http_max_retries": 2,
        "http_timeout_seconds": 2.0,
    }
    base.update(extra)
    return make_settings("sqlite+aiosqlite:///:memory:", **base)


@pytest.fixture
async def client(fake: FakeChesscom, fake_url: str) -> AsyncIterator[ChesscomClient]:
    c = ChesscomClient(_settings(fake_url), MemoryCache(), retry_initial_wait=0.01)
    yield c
    await c.aclose()


async def test_a_user_agent_without_contact_details_is_refused(
    fake: FakeChesscom, fake_url: str
) -> None:
    c = ChesscomClient(
        _settings(fake_url, chesscom_user_agent="edgelab/1.0 (no way to reach us)"),
        MemoryCache(),
    )
    try:
        with pytest.raises(UpstreamError) as caught:
            await c.archives(PLAYER)
        assert caught.value.code == "upstream_auth_failed" and caught.value.status_code == 502
    finally:
        await c.aclose()
    assert fake.hits[ARCHIVES] == 1  # a 403 is final: not retried


async def test_archive_walking_newest_months_first(
    fake: FakeChesscom, client: ChesscomClient
) -> None:
    few = await client.recent_games("FabianoCaruana", 5)
    assert len(few.games) == 5 and few.months == 1
    assert fake.hits[MARCH] == 0 and fake.hits[APRIL] == 0  # enough games in the newest month
    ends = [g["end_time"] for g in few.games]
    assert ends == sorted(ends, reverse=True)
    assert max(ends) == max(g["end_time"] for g in MONTH["games"])

    many = await client.recent_games("FabianoCaruana", 20)
    assert len(many.games) == 20 and many.months == 2  # May (17), April gone, March (3)
    assert fake.hits[APRIL] == 1 and fake.hits[MARCH] == 1
    assert sum(1 for g in many.games if g["uuid"].startswith("earlier-")) == 3
    assert many.version == few.version  # the newest archive decides the version
    assert many.username == PLAYER


async def test_410_is_remembered_and_never_asked_again(
    fake: FakeChesscom, client: ChesscomClient
) -> None:
    client.revalidate_seconds = 0
    await client.recent_games(PLAYER, 30)
    await client.recent_games(PLAYER, 30)
    assert fake.hits[APRIL] == 1
    assert fake.hits[MARCH] == 2  # the others are asked again (conditionally)


async def test_304_reuses_the_cached_month(fake: FakeChesscom, client: ChesscomClient) -> None:
    client.revalidate_seconds = 0
    first = await client.get(f"/player/{PLAYER}/games/2020/05")
    second = await client.get(f"/player/{PLAYER}/games/2020/05")
    assert first.status == 200 and second.status == 304
    assert fake.conditional[MAY] == 1
    assert second.body == first.body and len(second.body["games"]) == 17
    fake.version = 2  # the month changed: the ETag no longer matches
    third = await client.get(f"/player/{PLAYER}/games/2020/05")
    assert third.status == 200 and third.version != first.version


async def test_a_fresh_cache_entry_is_used_without_asking(
    fake: FakeChesscom, client: ChesscomClient
) -> None:
    await client.get(f"/player/{PLAYER}/games/2020/05")
    again = await client.get(f"/player/{PLAYER}/games/2020/05")
    assert again.status == 0 and fake.hits[MAY] == 1


async def test_429_backs_off_and_retries(fake: FakeChesscom, client: ChesscomClient) -> None:
    fake.plan(ARCHIVES, 429, {"Retry-After": "0"})
    fake.plan(ARCHIVES, 429, {"Retry-After": "0"})
    listing = await client.archives(PLAYER)
    assert fake.hits[ARCHIVES] == 3 and len(listing.body["archives"]) == 3


async def test_429_after_every_retry_is_a_503_with_retry_after(
    fake: FakeChesscom, client: ChesscomClient
) -> None:
    for _ in range(3):
        fake.plan(ARCHIVES, 429, {"Retry-After": "0"})
    with pytest.raises(UpstreamError) as caught:
        await client.archives(PLAYER)
    assert caught.value.status_code == 503 and caught.value.code == "upstream_rate_limited"
    assert caught.value.headers["Retry-After"]


async def test_unknown_player_is_player_not_found(
    fake: FakeChesscom, client: ChesscomClient
) -> None:
    with pytest.raises(PlayerNotFoundError) as caught:
        await client.recent_games("no-such-player-zzz", 10)
    assert caught.value.status_code == 404 and caught.value.code == "player_not_found"


async def test_requests_are_serial(fake: FakeChesscom, client: ChesscomClient) -> None:
    import asyncio

    active = 0
    peak = 0
    send = client._send

    async def tracking(path: str, headers: dict[str, str]):  # type: ignore[no-untyped-def]
        nonlocal active, peak
        active += 1
        peak = max(peak, active)
        try:
            await asyncio.sleep(0.01)
            return await send(path, headers)
        finally:
            active -= 1

    client._send = tracking  # type: ignore[method-assign]
    await asyncio.gather(
        *(client.get(f"/player/{PLAYER}/games/2020/{m}") for m in ("03", "05")),
        client.archives(PLAYER),
    )
    assert peak == 1


@pytest.fixture
async def redis_cache(redis_url: str) -> AsyncIterator[RedisCache]:
    """A Redis cache in a namespace of its own, removed afterwards."""
    cache = RedisCache.from_url(redis_url, namespace=f"edgelab:test:chess:{uuid.uuid4().hex}:")
    try:
        yield cache
    finally:
        await cache.delete_prefix("")
        await cache.close()


async def _ttl_seconds(redis_url: str, cache: RedisCache, key: str) -> float:
    async with aioredis.from_url(redis_url) as redis:
        return int(await redis.pttl(cache._ns + key)) / 1000


async def test_with_redis_a_new_client_revalidates_the_cached_month_with_a_304(
    fake: FakeChesscom, fake_url: str, redis_url: str, redis_cache: RedisCache
) -> None:
    """What one process fetched, another (a fresh client: nothing in its memory) reuses: it
    asks with the stored ETag, gets a 304 and serves the body from Redis."""
    first = ChesscomClient(_settings(fake_url), redis_cache, retry_initial_wait=0.01)
    try:
        fetched = await first.get(f"/player/{PLAYER}/games/2020/05")
    finally:
        await first.aclose()
    assert fetched.status == 200 and fake.conditional[MAY] == 0
    keep = await _ttl_seconds(redis_url, redis_cache, f"chess:http:/player/{PLAYER}/games/2020/05")
    assert KEEP_SECONDS - 60 < keep <= KEEP_SECONDS

    second = ChesscomClient(_settings(fake_url), redis_cache, retry_initial_wait=0.01)
    try:
        fresh = await second.get(f"/player/{PLAYER}/games/2020/05")
        assert fresh.status == 0 and fake.hits[MAY] == 1  # fresh in Redis: not asked at all
        second.revalidate_seconds = 0
        revalidated = await second.get(f"/player/{PLAYER}/games/2020/05")
        assert revalidated.status == 304 and fake.conditional[MAY] == 1 and fake.hits[MAY] == 2
        assert revalidated.body == fetched.body and len(revalidated.body["games"]) == 17
        assert revalidated.version == fetched.version
        fake.version = 2  # the month changed: the stored ETag no longer matches
        changed = await second.get(f"/player/{PLAYER}/games/2020/05")
        assert changed.status == 200 and changed.version != fetched.version
    finally:
        await second.aclose()


async def test_with_redis_a_410_is_remembered_by_every_client(
    fake: FakeChesscom, fake_url: str, redis_url: str, redis_cache: RedisCache
) -> None:
    """The gone month is never asked again, even by a client that did not see the 410."""
    first = ChesscomClient(_settings(fake_url), redis_cache, retry_initial_wait=0.01)
    try:
        games = await first.recent_games(PLAYER, 30)
    finally:
        await first.aclose()
    assert fake.hits[APRIL] == 1 and len(games.games) == 30 and games.months == 2
    gone = await _ttl_seconds(redis_url, redis_cache, f"chess:gone:/player/{PLAYER}/games/2020/04")
    assert GONE_SECONDS - 60 < gone <= GONE_SECONDS

    second = ChesscomClient(_settings(fake_url), redis_cache, retry_initial_wait=0.01)
    second.revalidate_seconds = 0
    try:
        again = await second.recent_games(PLAYER, 30)
        with pytest.raises(KeyError):
            await second.get(f"/player/{PLAYER}/games/2020/04")
    finally:
        await second.aclose()
    assert fake.hits[APRIL] == 1  # never asked again
    assert fake.hits[MARCH] == 2 and fake.conditional[MARCH] == 1  # the others revalidated
    assert [g["uuid"] for g in again.games] == [g["uuid"] for g in games.games]
