"""Chess.com Published-Data API client: archives list, then the newest months' games.

- User-Agent with contact details from `EDGELAB_CHESSCOM_USER_AGENT` (Chess.com answers 403
  without one); base URL `EDGELAB_CHESSCOM_URL`. Archive URLs Chess.com returns are rebased on
  it (only their `/player/...` path is kept).
- Requests to the host are serial (one lock per client): parallel calls are what Chess.com
  rate-limits. A 429 (or 5xx) is retried with exponential backoff honouring `Retry-After`
  (`core.http.upstream.Upstream`); still 429 after the retries is 503 `upstream_rate_limited`.
- Conditional requests: every answer is kept in the app cache with its `ETag` and
  `Last-Modified` (echoed verbatim: Chess.com's Last-Modified is not RFC format); the next
  request sends `If-None-Match` / `If-Modified-Since` and a 304 reuses the cached body. An entry
  fetched less than `REVALIDATE_SECONDS` ago is used without asking.
- 404 on the archives list is 404 `player_not_found`; a 410 is remembered (cache and process)
  and that URL is never asked again (treated as no games).
- Bounds (issue 16): in process memory (no Redis) the answers are kept in `ArchiveMemoryCache`,
  at most `EDGELAB_CHESS_CACHE_MAX_BYTES` bytes, least recently used evicted first (a strong
  player's month is hundreds of KB and the app cache bounds entries, not bytes); with Redis they
  go to the app cache with their TTL. One `recent_games` stops asking for more months once
  `EDGELAB_CHESS_ANALYSIS_DEADLINE_SECONDS` have passed (the newest month is always read) and
  answers what it has with `partial=True`.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import httpx
import orjson

from edgelab.core import clock
from edgelab.core import error_codes as codes
from edgelab.core.cache import Cache
from edgelab.core.error_codes import PLAYER_NOT_FOUND
from edgelab.core.errors import NotFoundError, UpstreamError
from edgelab.core.http import make_http_client, retry_after_seconds
from edgelab.core.http.upstream import (
    Refusal,
    Unreachable,
    Upstream,
    upstream_error,
    upstream_failure,
)
from edgelab.core.settings import Settings

log = logging.getLogger(__name__)
SERVICE = "chess.com"
KEEP_SECONDS = 30 * 86_400.0  # cached answers (revalidated before use)
GONE_SECONDS = 365 * 86_400.0  # a 410 is remembered this long
REVALIDATE_SECONDS = 300.0  # Chess.com refreshes at most every 12 h; ask again after this
MAX_MONTHS = 120  # at most this many monthly archives per analysis


class PlayerNotFoundError(NotFoundError):
    code = PLAYER_NOT_FOUND


@dataclass(frozen=True)
class Fetched:
    body: Any
    version: str  # the validator (ETag, else Last-Modified) of what we hold
    status: int  # 200, 304, or 0 when served from a fresh cache entry without asking


@dataclass(frozen=True)
class PlayerGames:
    username: str
    games: list[dict[str, Any]]  # newest first, at most the requested count
    version: str  # the newest archive's validator: changes when a new game lands
    months: int  # archives read
    partial: bool = False  # the deadline stopped the walk before `game_count` games were found


class ArchiveMemoryCache:
    """Chess.com answers in this process, bounded by bytes: least recently used evicted first.

    A value larger than the whole bound is not kept. TTLs on `clock.monotonic()`, as the app's
    memory cache. Only `get` and `set` (what the client needs of a `Cache`)."""

    backend = "memory"

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.bytes = 0  # held now (values only; keys are short)
        self._items: OrderedDict[str, tuple[float, bytes]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._items)

    def _drop(self, key: str) -> None:
        item = self._items.pop(key, None)
        if item is not None:
            self.bytes -= len(item[1])

    async def get(self, key: str) -> bytes | None:
        item = self._items.get(key)
        if item is None:
            return None
        if item[0] < clock.monotonic():
            self._drop(key)
            return None
        self._items.move_to_end(key)
        return item[1]

    async def set(self, key: str, value: bytes, ttl: float) -> None:
        self._drop(key)
        if ttl <= 0 or len(value) > self.max_bytes:
            return
        self._items[key] = (clock.monotonic() + ttl, value)
        self.bytes += len(value)
        while self.bytes > self.max_bytes:
            self._drop(next(iter(self._items)))


def _path_of(url: str) -> str:
    """`https://api.chess.com/pub/player/x/games/2020/05` -> `/player/x/games/2020/05`."""
    index = url.find("/player/")
    return url[index:] if index >= 0 else url


def _refused(refusal: Refusal) -> Exception:
    """Any answer but 200 that `get` does not handle itself (304, 404, 410)."""
    status = refusal.status
    if status == 429:
        wait = retry_after_seconds(refusal.response)
        return upstream_failure(
            SERVICE,
            codes.UPSTREAM_RATE_LIMITED,
            "Chess.com is rate limiting us; try again shortly.",
            retry_after=max(1, int(wait or 30)),
        )
    if status == 403:
        return upstream_failure(
            SERVICE,
            codes.UPSTREAM_AUTH_FAILED,
            "Chess.com refused the request (403): check EDGELAB_CHESSCOM_USER_AGENT.",
        )
    code = codes.UPSTREAM_UNAVAILABLE if status >= 500 else codes.UPSTREAM_BAD_RESPONSE
    return upstream_failure(SERVICE, code, f"Chess.com answered {status}.", status=status)


def _unreachable(failure: Unreachable) -> UpstreamError:
    return upstream_failure(
        SERVICE, codes.UPSTREAM_UNAVAILABLE, "Chess.com did not answer.", error=failure.kind
    )


def _not_json(response: httpx.Response) -> UpstreamError:
    return upstream_failure(
        SERVICE, codes.UPSTREAM_BAD_RESPONSE, "Chess.com answered something that is not JSON."
    )


class ChesscomClient:
    def __init__(
        self,
        settings: Settings,
        cache: Cache,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        retry_initial_wait: float = 0.5,
    ) -> None:
        self._http = make_http_client(
            settings,
            base_url=settings.chesscom_url.rstrip("/"),
            headers={"User-Agent": settings.chesscom_user_agent, "Accept": "application/json"},
            transport=transport,
        )
        self._cache = cache  # 410 markers (small), and the answers too when it is Redis
        self._answers: Cache | ArchiveMemoryCache = (
            ArchiveMemoryCache(settings.chess_cache_max_bytes)
            if cache.backend == "memory"
            else cache
        )
        self.deadline_seconds = settings.chess_analysis_deadline_seconds
        self._upstream = Upstream(
            SERVICE,
            settings,
            refused=_refused,
            unreachable=_unreachable,
            not_json=_not_json,
            initial_wait=retry_initial_wait,
            max_wait=8.0,
        )
        self._lock = asyncio.Lock()  # serial per host
        self._gone: set[str] = set()
        self.requests = 0  # sent to Chess.com (tests, benchmarks)
        self.revalidate_seconds = REVALIDATE_SECONDS

    @property
    def cached_bytes(self) -> int | None:
        """Bytes of answers held in process memory; None when they are in Redis."""
        answers = self._answers
        return answers.bytes if isinstance(answers, ArchiveMemoryCache) else None

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _is_gone(self, path: str) -> bool:
        return path in self._gone or await self._cache.get(f"chess:gone:{path}") is not None

    async def get(self, path: str) -> Fetched:
        """GET one path (conditional when we hold a copy). Raises `KeyError(path)` for 404/410."""
        if await self._is_gone(path):
            raise KeyError(path)
        key = f"chess:http:{path}"
        raw = await self._answers.get(key)
        held: dict[str, Any] | None = orjson.loads(raw) if raw else None
        if held is not None and clock.time() - held["at"] < self.revalidate_seconds:
            return Fetched(held["body"], held["version"], 0)
        headers: dict[str, str] = {}
        if held is not None:
            if held.get("etag"):
                headers["If-None-Match"] = held["etag"]
            if held.get("last_modified"):
                headers["If-Modified-Since"] = held["last_modified"]
        async with self._lock:
            response = await self._send(path, headers)
        status = response.status_code
        if status == 304 and held is not None:
            held["at"] = clock.time()
            await self._answers.set(key, orjson.dumps(held), KEEP_SECONDS)
            return Fetched(held["body"], held["version"], 304)
        if status == 410:
            self._gone.add(path)
            await self._cache.set(f"chess:gone:{path}", b"1", GONE_SECONDS)
            raise KeyError(path)
        if status == 404:
            raise KeyError(path)
        if status != 200:  # only a 200 carries a body worth keeping
            raise self._upstream.error_for(response)
        body = self._upstream.json(response)
        etag = response.headers.get("ETag")
        last_modified = response.headers.get("Last-Modified")
        version = etag or last_modified or f"t{clock.time():.0f}"
        entry = {
            "body": body,
            "etag": etag,
            "last_modified": last_modified,
            "version": version,
            "at": clock.time(),
        }
        await self._answers.set(key, orjson.dumps(entry), KEEP_SECONDS)
        return Fetched(body, version, 200)

    async def _send(self, path: str, headers: dict[str, str]) -> httpx.Response:
        async def once() -> httpx.Response:
            self.requests += 1
            return await self._http.get(path, headers=headers)

        return await self._upstream.send(once)

    async def archives(self, username: str) -> Fetched:
        user = username.lower()
        try:
            return await self.get(f"/player/{user}/games/archives")
        except KeyError:
            raise PlayerNotFoundError(
                f"No Chess.com player named {username!r}.", details={"username": username}
            ) from None

    async def recent_games(self, username: str, game_count: int) -> PlayerGames:
        """The newest `game_count` games (newest first): archives list, then months newest
        first until enough games are collected, or `deadline_seconds` have passed (then what
        was collected, `partial=True`)."""
        deadline = clock.monotonic() + self.deadline_seconds
        listing = await self.archives(username)
        urls = listing.body.get("archives") if isinstance(listing.body, dict) else None
        if not isinstance(urls, list):
            upstream_error(
                SERVICE, codes.UPSTREAM_BAD_RESPONSE, "Chess.com's archives list has no `archives`."
            )
        games: list[dict[str, Any]] = []
        version = f"empty:{listing.version}"
        months = 0
        partial = False
        for asked, url in enumerate(reversed(urls[-MAX_MONTHS:])):
            if asked and clock.monotonic() >= deadline:
                partial = True
                log.warning(
                    "chess.com: %s: deadline of %.0f s reached after %d months, %d games",
                    username,
                    self.deadline_seconds,
                    months,
                    len(games),
                )
                break
            path = _path_of(str(url))
            try:
                month = await self.get(path)
            except KeyError:
                continue
            months += 1
            if months == 1:
                version = f"{path}:{month.version}"
            rows = month.body.get("games", []) if isinstance(month.body, dict) else []
            rows = [g for g in rows if isinstance(g, dict)]
            rows.sort(key=lambda g: g.get("end_time") or 0, reverse=True)
            games.extend(rows)
            if len(games) >= game_count:
                break
        return PlayerGames(username.lower(), games[:game_count], version, months, partial)
