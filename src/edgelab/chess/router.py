"""HTTP layer of the chess analyzer.

| route                          | free (and anonymous) | paid |
| `POST /api/analyze`            | yes                  | yes  |
| `POST /api/analyze/pgn`        | yes                  | yes  |
| `POST /api/analyze/review`     | 403                  | yes  |
| `GET /api/analyze/{job_id}`    | own jobs             | own jobs |

The pattern analysis answers within the request, for everyone (rate limited per caller by tier,
per caller by `EDGELAB_CHESS_RATE_LIMIT_PER_CALLER` across usernames, and per Chess.com
username, so nobody can use us to hammer Chess.com). The engine review costs minutes of CPU per
batch of games, so it is paid: 202 with a job id, then poll `GET /api/analyze/{job_id}`; 503
`engine_unavailable` when Stockfish is not installed; 429 `too_many_reviews` past
`EDGELAB_CHESS_REVIEWS_PER_USER` queued or running.

The PGN analysis reads the body itself (no FastAPI body parameter), so it can stop reading at
`EDGELAB_CHESS_PGN_MAX_BYTES` and take a multipart upload, a JSON body or a bare PGN body on one
route; it asks nobody outside and counts against the same per-caller chess limit.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Path, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response as RawResponse
from pydantic import ValidationError
from starlette.datastructures import FormData, UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from edgelab.chess import schemas, service
from edgelab.chess.chesscom import ChesscomClient
from edgelab.core import error_codes as codes
from edgelab.core.auth import READS_ONLY, CurrentUser, PaidUser, Principal
from edgelab.core.db import ReadSessionMakerDep, SessionDep
from edgelab.core.deps import CacheDep, SettingsDep
from edgelab.core.errors import AppError, error_responses
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
PgnCaller = Annotated[Principal | None, Depends(limited_caller("POST /api/analyze/pgn"))]


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


class PgnTooLargeError(AppError):
    code = codes.PAYLOAD_TOO_LARGE


class PgnMediaTypeError(AppError):
    code = codes.UNSUPPORTED_MEDIA_TYPE


PGN_MEDIA_TYPES = ("application/x-chess-pgn", "application/vnd.chess-pgn", "text/plain")
FRAMING = 64 * 1024  # room for multipart boundaries and form fields, JSON escapes aside


async def read_capped(request: Request, cap: int) -> bytes:
    """The request body, refused with 413 `payload_too_large` as soon as it passes `cap` bytes
    (a declared `Content-Length` over it before a byte is read)."""
    declared = request.headers.get("content-length", "")
    too_large = PgnTooLargeError(
        f"The upload may be at most {cap} bytes.", details={"limit_bytes": cap}
    )
    if declared.isdigit() and int(declared) > cap:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > cap:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


async def read_upload_form(request: Request, max_bytes: int) -> FormData:
    """A multipart form with one file of at most `max_bytes` (413 `payload_too_large` past it,
    with room for the framing), parsed from memory; 400 `bad_request` when it is not one."""
    body = await read_capped(request, max_bytes + FRAMING)

    async def replay() -> Any:
        yield body

    try:
        return await MultiPartParser(request.headers, replay(), max_files=1, max_fields=10).parse()
    except MultiPartException as exc:
        raise AppError(
            f"The form could not be read: {exc.message}", code=codes.BAD_REQUEST
        ) from None


def _options(values: dict[str, Any], where: str) -> schemas.PgnOptions:
    try:
        return schemas.PgnOptions.model_validate(
            {k: v for k, v in values.items() if v not in (None, "")}
        )
    except ValidationError as exc:
        raise RequestValidationError(
            [{**e, "loc": (where, *e["loc"])} for e in exc.errors(include_url=False)]
        ) from None


async def pgn_upload(
    request: Request, max_bytes: int
) -> tuple[bytes, schemas.PgnOptions, str | None]:
    """The PGN, the options and the file's name from a multipart upload (`file`, `player`,
    `tz`), a JSON body (`pgn`, `player`, `tz`) or a bare PGN body (`player`, `tz` in the query).
    415 `unsupported_media_type` for another body; 413 past `max_bytes`."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media == "multipart/form-data":
        form = await read_upload_form(request, max_bytes)
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise RequestValidationError(
                [
                    {
                        "type": "missing",
                        "loc": ("body", "file"),
                        "msg": "Field required",
                        "input": None,
                    }
                ]
            )
        data = await upload.read()
        options = _options({"player": form.get("player"), "tz": form.get("tz")}, "body")
        name = upload.filename
    elif media == "application/json":
        body = await read_capped(request, 2 * max_bytes + FRAMING)
        try:
            sent = schemas.PgnJson.model_validate_json(body)
        except ValidationError as exc:
            raise RequestValidationError(
                [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]
            ) from None
        data = sent.pgn.encode()
        options, name = sent, sent.filename
    elif media in PGN_MEDIA_TYPES or media == "application/octet-stream" or not media:
        data = await read_capped(request, max_bytes)
        options = _options(dict(request.query_params), "query")
        name = None
    else:
        raise PgnMediaTypeError(
            f"Send the PGN as multipart/form-data (field `file`), JSON or {PGN_MEDIA_TYPES[0]}."
        )
    if len(data) > max_bytes:
        raise PgnTooLargeError(
            f"The PGN may be at most {max_bytes} bytes.", details={"limit_bytes": max_bytes}
        )
    return data, options, name


_FIELDS = schemas.PgnOptions.model_json_schema()["properties"]
PGN_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        "player": {k: v for k, v in _FIELDS["player"]["anyOf"][0].items()},
                        "tz": _FIELDS["tz"],
                    },
                }
            },
            "application/json": {"schema": schemas.PgnJson.model_json_schema()},
            "application/x-chess-pgn": {"schema": {"type": "string"}},
        },
    },
    "parameters": [
        {"name": "player", "in": "query", "required": False, "schema": _FIELDS["player"]},
        {"name": "tz", "in": "query", "required": False, "schema": _FIELDS["tz"]},
    ],
}


@router.post(
    "/pgn",
    openapi_extra={**READS_ONLY, **PGN_BODY},
    responses={
        200: {"description": "The pattern analysis, as `POST /api/analyze` answers it."},
        **error_responses(400, 401, 413, 415, 422, 429),
    },
    summary="Pattern analysis of the games in a PGN file (Lichess, Chess.com, databases)",
)
async def analyze_pgn(request: Request, caller: PgnCaller, settings: SettingsDep) -> RawResponse:
    """The keys of `POST /api/analyze` for a PGN sent as a multipart upload (field `file`, form
    fields `player` and `tz`), a JSON body `{pgn, player, tz}` or a bare body
    (`application/x-chess-pgn` or `text/plain`, `player` and `tz` in the query). The player
    defaults to the name in the most games. Games that cannot be read are skipped and listed in
    `skipped_games`, as are games longer than `EDGELAB_CHESS_PGN_MAX_PLIES` plies; figures a
    file cannot give (hours without start times, ratings without Elo) are absent, and
    `coverage` counts the games carrying each field. 400 `not_pgn`,
    `pgn_no_games`, `player_not_in_games`; 413 `payload_too_large` past
    `EDGELAB_CHESS_PGN_MAX_BYTES`, `pgn_too_many_games` past `EDGELAB_CHESS_PGN_MAX_GAMES` games or
    `EDGELAB_CHESS_PGN_MAX_TOTAL_PLIES` plies in all."""
    await limit_caller(request, caller, settings.chess_rate_limit_per_caller)
    data, options, name = await pgn_upload(request, settings.chess_pgn_max_bytes)
    result = await asyncio.to_thread(
        service.analyze_pgn_file,
        data,
        player=options.player,
        tz=options.tz,
        max_games=settings.chess_pgn_max_games,
        filename=name,
        max_plies=settings.chess_pgn_max_plies,
        max_total_plies=settings.chess_pgn_max_total_plies,
    )
    return RawResponse(orjson.dumps(result), media_type="application/json")


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
    reads: ReadSessionMakerDep,
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
        reads,
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
