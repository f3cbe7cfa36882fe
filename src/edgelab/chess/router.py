"""HTTP layer of the chess analyzer.

| route                          | free (and anonymous) | paid |
| `POST /api/analyze`            | yes                  | yes  |
| `POST /api/analyze/review`     | 403                  | yes  |
| `GET /api/analyze/{job_id}`    | own jobs             | own jobs |

The pattern analysis answers within the request, for everyone (rate limited per caller by tier,
per caller by `EDGELAB_CHESS_RATE_LIMIT_PER_CALLER` across usernames, and per Chess.com
username, so nobody can use us to hammer Chess.com). The engine review costs minutes of CPU per
batch of games, so it is paid: 202 with a job id, then poll `GET /api/analyze/{job_id}`; 503
`engine_unavailable` when Stockfish is not installed; 429 `too_many_reviews` past
`EDGELAB_CHESS_REVIEWS_PER_USER` queued or running.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, Response
from fastapi.responses import Response as RawResponse

from edgelab.chess import schemas, service
from edgelab.chess.chesscom import ChesscomClient
from edgelab.core import error_codes as codes
from edgelab.core.auth import READS_ONLY, CurrentUser, PaidUser, Principal
from edgelab.core.db import SessionDep
from edgelab.core.deps import CacheDep, SettingsDep
from edgelab.core.errors import error_responses
from edgelab.core.ratelimit import client_ip, enforce, limited_caller, rate_limit
from edgelab.core.resources import resource, resources_of

router = APIRouter(tags=["chess"])
JobIdPath = Annotated[str, Path(min_length=1, max_length=40)]


ChesscomDep = Annotated[ChesscomClient, Depends(resource(ChesscomClient))]


async def limit_username(request: Request, username: str, limit: str) -> None:
    """Per Chess.com username, whoever asks: 429 `rate_limited` with Retry-After."""
    limiter = resources_of(request).ratelimiter
    if limiter is None:
        return
    decision = await limiter.hit(limit, "chess-username", username.lower(), "analyze")
    enforce(decision, f"the Chess.com player {username!r}")


async def limit_caller(request: Request, caller: Principal | None, limit: str) -> None:
    """Analyses and reviews per caller, whichever usernames they ask about (cycling usernames
    would pass the per-username limit): per user id when signed in, else per client IP.
    429 `rate_limited` with Retry-After."""
    resources = resources_of(request)
    limiter = resources.ratelimiter
    if limiter is None:
        return
    if caller is not None:
        key = ("user", caller.id)
    else:
        key = ("ip", client_ip(request, resources.ratelimit_policy.trusted_proxies))
    decision = await limiter.hit(limit, "chess-caller", *key, "analyze")
    enforce(decision, "chess analyses from this caller")


AnalyzeCaller = Annotated[Principal | None, Depends(limited_caller("POST /api/analyze"))]


@router.post(
    "",
    openapi_extra=READS_ONLY,  # an analysis asked for: a read-only key may ask
    responses={
        200: {"description": "The pattern analysis (see the README for the keys)."},
        **error_responses(401, 404, 422, 429, 502, codes.UPSTREAM_UNAVAILABLE),
    },
    summary="Pattern analysis of a Chess.com player's newest games",
)
async def analyze(
    body: schemas.AnalyzeRequest,
    request: Request,
    caller: AnalyzeCaller,
    settings: SettingsDep,
    cache: CacheDep,
    client: ChesscomDep,
) -> RawResponse:
    """Results by colour, opening, time class and control, local hour and weekday, terminations,
    rating trend, streaks and tilt, game length, opponent rating bands and Chess.com accuracy,
    each with its sample size. Cached per player and newest archive version.
    404 `player_not_found` for an unknown player. When fetching the player's months took more
    than `EDGELAB_CHESS_ANALYSIS_DEADLINE_SECONDS`, the answer covers the games fetched by then
    and says `partial: true` (not cached)."""
    await limit_caller(request, caller, settings.chess_rate_limit_per_caller)
    await limit_username(request, body.username, settings.chess_rate_limit_per_username)
    data, cached = await service.analyze_player(
        client, cache, body.username, body.game_count, body.tz
    )
    return RawResponse(
        data, media_type="application/json", headers={"X-Cache": "hit" if cached else "miss"}
    )


def _status_url(job_id: str) -> str:
    return f"/api/analyze/{job_id}"


@router.post(
    "/review",
    status_code=202,
    response_model=schemas.ReviewAccepted,
    responses=error_responses(
        400, 401, 403, 404, 422, 429, 502, codes.UPSTREAM_UNAVAILABLE, schemas.ENGINE_UNAVAILABLE
    ),
    dependencies=[Depends(rate_limit("POST /api/analyze/review"))],
    summary="Start a Stockfish review of a player's newest games (background job)",
)
async def start_review(
    body: schemas.ReviewRequest,
    request: Request,
    response: Response,
    caller: PaidUser,
    session: SessionDep,
    settings: SettingsDep,
    client: ChesscomDep,
) -> schemas.ReviewAccepted:
    """Answers 202 with a job id at once; poll `status_url`. Paid only. 503
    `engine_unavailable` (with the install hint) when Stockfish is not installed; 429
    `too_many_reviews` when the caller has `EDGELAB_CHESS_REVIEWS_PER_USER` reviews queued or
    running."""
    service.check_review_request(settings, body.game_count)
    await limit_caller(request, caller, settings.chess_rate_limit_per_caller)
    await limit_username(request, body.username, settings.chess_rate_limit_per_username)
    job = await service.start_review(
        session,
        settings,
        client,
        requested_by=caller.id,
        username=body.username,
        game_count=body.game_count,
    )
    response.headers["Location"] = _status_url(job.id)
    return schemas.ReviewAccepted(
        job_id=job.id,
        status="queued",
        status_url=_status_url(job.id),
        games=job.games_total,
        depth=job.depth,
    )


@router.get(
    "/{job_id}",
    response_model=schemas.ReviewJobOut,
    responses=error_responses(401, 404, 422, 429),
    dependencies=[Depends(rate_limit("GET /api/analyze/{job_id}"))],
    summary="Status, progress and result of an engine review",
)
async def get_review(
    job_id: JobIdPath, caller: CurrentUser, session: SessionDep
) -> schemas.ReviewJobOut:
    """Only the account that started the review sees it (others get 404)."""
    job = await service.get_review(session, job_id, caller.id)
    error_code, error = service.review_failure(job.error)
    return schemas.ReviewJobOut(
        job_id=job.id,
        status=job.status,  # type: ignore[arg-type]  # one of JOB_STATUSES by construction
        username=job.username,
        depth=job.depth,
        progress=job.progress,
        games_total=job.games_total,
        games_done=job.games_done,
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
        result=job.result,
        error=error,
        error_code=error_code,
    )
