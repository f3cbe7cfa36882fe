"""The pattern analysis of a Chess.com player, cached per user and latest archive version."""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

from edgelab.chess.chesscom import ChesscomClient, PlayerGames
from edgelab.core.cache import Cache

ANALYSIS_TTL = 12 * 3600.0  # the key carries the newest archive's version; this bounds memory


def analysis_key(username: str, game_count: int, tz: str, version: str) -> str:
    digest = hashlib.sha256(version.encode()).hexdigest()[:16]
    return f"chess:analysis:v1:{username.lower()}:{game_count}:{tz}:{digest}"


def analyze_games(fetched: PlayerGames, tz: str) -> dict[str, Any]:
    """Parse and analyse fetched archive games (CPU: run it in a thread)."""
    from edgelab.chess.games import records_from_chesscom
    from edgelab.chess.patterns import analyze

    records, unreadable = records_from_chesscom(fetched.games)
    result = analyze(records, fetched.username, tz=tz)
    result["skipped"]["unreadable"] = unreadable
    result["username"] = fetched.username
    result["source"] = {
        "service": "chess.com",
        "games_fetched": len(fetched.games),
        "months_read": fetched.months,
        "archive_version": fetched.version,
    }
    return result


async def analyze_player(
    client: ChesscomClient, cache: Cache, username: str, game_count: int, tz: str
) -> tuple[bytes, bool]:
    """The analysis as JSON bytes, and whether it came from the cache."""
    import asyncio

    fetched = await client.recent_games(username, game_count)
    key = analysis_key(username, game_count, tz, fetched.version)
    hit = await cache.get(key)
    if hit is not None:
        return hit, True
    result = await asyncio.to_thread(analyze_games, fetched, tz)
    body = orjson.dumps(result)
    await cache.set(key, body, ANALYSIS_TTL)
    return body, False
