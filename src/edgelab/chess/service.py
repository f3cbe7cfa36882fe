"""Chess use cases: the pattern analysis of a Chess.com player (cached per user and latest
archive version), and starting and reading engine reviews (a job row, reviewed in the
background by `jobs.run_review`)."""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from typing import Any

import orjson
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from edgelab.chess.chesscom import ChesscomClient, PlayerGames
from edgelab.chess.models import REVIEW_TASK, ChessReviewJob
from edgelab.chess.schemas import (
    ENGINE_UNAVAILABLE,
    NOT_PGN,
    PGN_NO_GAMES,
    PGN_TOO_MANY_GAMES,
    PLAYER_NOT_IN_GAMES,
    REVIEW_ERRORS,
    REVIEW_FAILED,
    REVIEW_JOB_NOT_FOUND,
    TOO_MANY_REVIEWS,
)
from edgelab.core.cache import Cache
from edgelab.core.clock import real_utcnow, utcnow
from edgelab.core.errors import AppError, InvalidInputError, NotFoundError, RateLimitedError
from edgelab.core.jobs import enqueue
from edgelab.core.settings import Settings

ANALYSIS_TTL = 12 * 3600.0  # the key carries the newest archive's version; this bounds memory
REVIEW_RETRY_AFTER = 60  # seconds: a review of the default 10 games takes about a minute
# A review queued or running for longer stops counting against its user's cap (one stranded
# by a worker that died must not lock its user out for good)
REVIEW_CAP_HOURS = 6


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
    result["partial"] = fetched.partial
    result["source"] = {
        "service": "chess.com",
        "games_fetched": len(fetched.games),
        "months_read": fetched.months,
        "archive_version": fetched.version,
        "partial": fetched.partial,
    }
    return result


async def analyze_player(
    client: ChesscomClient, cache: Cache, username: str, game_count: int, tz: str
) -> tuple[bytes, bool]:
    """The analysis as JSON bytes, and whether it came from the cache. An analysis cut short
    by the deadline (`partial`) is not cached: the months it read are, so the next ask goes
    further."""
    import asyncio

    fetched = await client.recent_games(username, game_count)
    key = analysis_key(username, game_count, tz, fetched.version)
    hit = await cache.get(key)
    if hit is not None:
        return hit, True
    result = await asyncio.to_thread(analyze_games, fetched, tz)
    body = orjson.dumps(result)
    if not fetched.partial:
        await cache.set(key, body, ANALYSIS_TTL)
    return body, False


PGN_ERRORS = {
    "not_pgn": NOT_PGN,
    "no_games": PGN_NO_GAMES,
    "too_many_games": PGN_TOO_MANY_GAMES,
    "too_many_moves": PGN_TOO_MANY_GAMES,
}
NAMES_LISTED = 10


def analyze_pgn_file(
    data: bytes,
    *,
    player: str | None,
    tz: str,
    max_games: int,
    filename: str | None = None,
    max_plies: int | None = None,
    max_total_plies: int | None = None,
) -> dict[str, Any]:
    """The pattern analysis of an uploaded PGN (CPU: run it in a thread), the same keys as
    `analyze_games` plus `skipped_games` (the unreadable games and those over `max_plies`
    plies: index in the file, players, date, why). 400 `not_pgn`, `pgn_no_games`,
    `player_not_in_games`; 413 `pgn_too_many_games` past `max_games` games or
    `max_total_plies` plies in all."""
    from edgelab.chess.games import PgnFileError, read_pgn_file
    from edgelab.chess.patterns import analyze, name_counts, name_key

    try:
        pgn = read_pgn_file(
            data, max_games=max_games, max_plies=max_plies, max_total_plies=max_total_plies
        )
    except PgnFileError as exc:
        raise AppError(str(exc), code=PGN_ERRORS[exc.kind], details=exc.details) from None
    result = analyze(pgn.games, player, tz=tz)
    if result["games_analyzed"] == 0:
        counts = name_counts(g for g in pgn.games if g.rules == "chess")
        spelled = {name_key(n): n for g in pgn.games for n in (g.white, g.black)}
        names = [
            {"name": spelled.get(k, k), "games": n} for k, n in counts.most_common(NAMES_LISTED)
        ]
        who = repr(player) if player else "any player"
        raise AppError(
            f"No standard game of the file has {who} as White or Black.",
            code=PLAYER_NOT_IN_GAMES,
            details={"player": player, "names": names},
        )
    result["skipped"]["unreadable"] = pgn.unreadable
    result["skipped"]["too_long"] = pgn.too_long
    result["skipped_games"] = pgn.skipped_games
    result["username"] = result["player_name"]
    result["partial"] = False
    result["source"] = {
        "service": "pgn",
        "filename": filename,
        "encoding": pgn.encoding,
        "games_in_file": pgn.games_in_file,
        "games_read": len(pgn.games),
        "unreadable": pgn.unreadable,
        "too_long": pgn.too_long,
        "partial": False,
    }
    return result


class EngineUnavailableError(AppError):
    status_code = 503
    code = ENGINE_UNAVAILABLE


def check_review_request(settings: Settings, game_count: int) -> None:
    """Refuse a review this server cannot run, before anything is fetched: 503
    `engine_unavailable` (with the install hint) without Stockfish, 400 `invalid_input` for
    more than EDGELAB_CHESS_REVIEW_MAX_GAMES games."""
    from edgelab.chess.review import INSTALL_HINT, engine_path

    if engine_path(settings.stockfish_path) is None:
        raise EngineUnavailableError(
            f"The chess engine is not installed on this server. {INSTALL_HINT}",
            details={"hint": INSTALL_HINT},
        )
    if game_count > settings.chess_review_max_games:
        raise InvalidInputError(
            f"At most {settings.chess_review_max_games} games per review.",
            details={"max_games": settings.chess_review_max_games},
        )


async def _active_reviews(session: AsyncSession, requested_by: str) -> int:
    since = utcnow() - dt.timedelta(hours=REVIEW_CAP_HOURS)
    active = await session.scalar(
        select(func.count())
        .select_from(ChessReviewJob)
        .where(
            ChessReviewJob.requested_by == requested_by[:64],
            ChessReviewJob.status.in_(("queued", "running")),
            ChessReviewJob.created_at >= since,
        )
    )
    return int(active or 0)


def _over_cap(settings: Settings, active: int) -> RateLimitedError | None:
    if active < settings.chess_reviews_per_user:
        return None
    return RateLimitedError(
        f"You already have {active} reviews queued or running (at most "
        f"{settings.chess_reviews_per_user}); start another when one has finished.",
        retry_after=REVIEW_RETRY_AFTER,
        code=TOO_MANY_REVIEWS,
    )


async def start_review(
    session: AsyncSession,
    reads: async_sessionmaker[AsyncSession],
    settings: Settings,
    client: ChesscomClient,
    *,
    requested_by: str,
    username: str,
    game_count: int,
) -> ChessReviewJob:
    """Fetch the player's newest standard-chess games (up to `game_count`), record a queued
    job for them and enqueue it (sent after the request's commit, dropped on rollback).

    429 `too_many_reviews` when the caller already has `EDGELAB_CHESS_REVIEWS_PER_USER`
    reviews queued or running, created in the last `REVIEW_CAP_HOURS`: checked before
    Chess.com is asked, in a read session of its own (`reads`), and again in the unit of work.

    Nothing touches the unit of work (`session`) until Chess.com has answered (issue 16): on
    SQLite the unit of a POST begins IMMEDIATE, holding the one write lock from its first
    statement, so a slow Chess.com must not come after it. The second check and the insert
    then run under that lock, so on SQLite two racing requests cannot both pass the cap."""
    async with reads() as read:
        refused = _over_cap(settings, await _active_reviews(read, requested_by))
    if refused is not None:
        raise refused
    fetched = await client.recent_games(username, max(game_count * 2, 20))
    pgns = [
        g["pgn"]
        for g in fetched.games
        if (g.get("rules") or "chess") == "chess" and isinstance(g.get("pgn"), str)
    ][:game_count]
    # the unit's first statement: the write lock is held from here to the commit only
    refused = _over_cap(settings, await _active_reviews(session, requested_by))
    if refused is not None:
        raise refused
    job = ChessReviewJob(
        id=uuid.uuid4().hex,
        status="queued",
        requested_by=requested_by[:64],
        username=fetched.username,
        depth=settings.engine_depth,
        games_total=len(pgns),
        games_done=0,
        progress=0.0,
        created_at=utcnow(),
        heartbeat_at=real_utcnow(),  # signs of life are real time (see `jobs`), not the app's
        games=pgns,
    )
    session.add(job)
    await session.flush()
    enqueue(REVIEW_TASK, job_id=job.id)
    return job


async def get_review(session: AsyncSession, job_id: str, requested_by: str) -> ChessReviewJob:
    """The job, for the account that started it only: anyone else gets the same 404
    `review_job_not_found` as for an unknown id."""
    # the job writes the row in transactions of its own: read it as stored now, not as this
    # session may have seen it before (`populate_existing`)
    job = await session.get(ChessReviewJob, job_id, populate_existing=True)
    if job is None or job.requested_by != requested_by[:64]:
        raise NotFoundError(f"No review job with id {job_id!r}.", code=REVIEW_JOB_NOT_FOUND)
    return job


def review_failure(stored: str | None) -> tuple[str | None, str | None]:
    """(error_code, message) shown for a job's stored `error`: a known code and its message;
    anything else (rows written before codes were stored held the exception's text) is
    `review_failed` with the generic message, never the stored text."""
    if stored is None:
        return None, None
    code = stored if stored in REVIEW_ERRORS else REVIEW_FAILED
    return code, REVIEW_ERRORS[code]


async def delete_user_reviews(session: AsyncSession, user_id: str) -> int:
    """Account deletion: the user's review jobs go (what they asked about, and the results);
    a review still running finds its row gone and its updates change nothing."""
    result = await session.execute(
        delete(ChessReviewJob).where(ChessReviewJob.requested_by == user_id[:64])
    )
    return int(getattr(result, "rowcount", 0) or 0)
