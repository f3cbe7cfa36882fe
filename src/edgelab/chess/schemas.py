"""Request and response models of the chess analyzer API, and its error codes (the catalogue:
`edgelab.core.error_codes`; `player_not_found`, shared with Sentinel, is Sentinel's)."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, Field

from edgelab.core.error_codes import error_code
from edgelab.core.formats import TimeZoneName

ENGINE_UNAVAILABLE = error_code(
    "engine_unavailable", 503, "Game review needs Stockfish, which this server does not have."
)
REVIEW_JOB_NOT_FOUND = error_code(
    "review_job_not_found", 404, "No game-review job with this id for this caller."
)
TOO_MANY_REVIEWS = error_code(
    "too_many_reviews",
    429,
    "This account already has as many game reviews queued or running as allowed "
    "(`EDGELAB_CHESS_REVIEWS_PER_USER`); retry when one has finished (Retry-After).",
)
NOT_PGN = error_code(
    "not_pgn", 400, "The file sent to `POST /api/analyze/pgn` is not PGN text (binary, or no game)."
)
PGN_NO_GAMES = error_code(
    "pgn_no_games",
    400,
    "The PGN holds no game that can be read (empty, or every game broken: `details` lists them).",
)
PLAYER_NOT_IN_GAMES = error_code(
    "player_not_in_games",
    400,
    "No game of the PGN has this player as White or Black (`details.names`: the most frequent).",
)
PGN_TOO_MANY_GAMES = error_code(
    "pgn_too_many_games",
    413,
    "The PGN holds more games than `EDGELAB_CHESS_PGN_MAX_GAMES`, or more plies in all than "
    "`EDGELAB_CHESS_PGN_MAX_TOTAL_PLIES`.",
)
# What a failed review job says in `error_code` (the job's outcome, not an HTTP answer); the
# exception itself is only logged. Each maps to the message shown in `error`.
REVIEW_FAILED = "review_failed"
REVIEW_ENGINE_UNAVAILABLE = "engine_unavailable"
REVIEW_BAD_PGN = "unreadable_game"
REVIEW_INTERRUPTED = "review_interrupted"
REVIEW_ERRORS = {
    REVIEW_FAILED: "The review failed on our side; please start it again later.",
    REVIEW_ENGINE_UNAVAILABLE: "The chess engine is not available on this server.",
    REVIEW_BAD_PGN: "One of the games could not be read, so the review stopped.",
    REVIEW_INTERRUPTED: "The review was interrupted several times (the server restarted); "
    "please start it again.",
}

USERNAME_PATTERN = r"^[A-Za-z0-9_-]{1,50}$"  # Chess.com's allowed characters
# The most games one review may ask for: the schema's bound (the setting can only lower it)
REVIEW_MAX_GAMES = 20
JobStatus = Literal["queued", "running", "succeeded", "failed"]


class AnalyzeRequest(BaseModel):
    username: str = Field(
        min_length=1, max_length=50, pattern=USERNAME_PATTERN, examples=["hikaru"]
    )
    game_count: int = Field(100, ge=1, le=500, description="The newest N games are analysed.")
    tz: TimeZoneName = Field(
        "UTC",
        description="IANA time zone for `by_hour` / `by_weekday` (Chess.com times are UTC).",
        examples=["Europe/Oslo"],
    )


class PgnOptions(BaseModel):
    """`POST /api/analyze/pgn`'s fields besides the file (form fields, query or JSON)."""

    player: str | None = Field(
        None,
        min_length=1,
        max_length=100,
        description="Whose side to take, as the file writes it (`Carlsen, Magnus` and "
        "`Magnus Carlsen` are one player); default: the name in the most games.",
    )
    tz: TimeZoneName = Field("UTC", description="IANA time zone for `by_hour` / `by_weekday`.")


class PgnJson(PgnOptions):
    pgn: str = Field(description="The PGN text (any number of games).")
    filename: str | None = Field(None, max_length=200, description="Shown in `source`.")


class ReviewRequest(BaseModel):
    username: str = Field(min_length=1, max_length=50, pattern=USERNAME_PATTERN)
    game_count: int = Field(
        10,
        ge=1,
        le=REVIEW_MAX_GAMES,
        description=f"The newest N standard games are reviewed (at most {REVIEW_MAX_GAMES}; a "
        "server may set a lower cap with `EDGELAB_CHESS_REVIEW_MAX_GAMES`, 400 `invalid_input` "
        "above it).",
    )


class ReviewAccepted(BaseModel):
    job_id: str
    status: JobStatus
    status_url: str = Field(examples=["/api/analyze/6f1c0e3b9a2d4c58b1e7f0a9d3c2b1a0"])
    games: int = Field(description="Games queued for review.")
    depth: int = Field(description="Stockfish search depth per position.")


class ReviewJobOut(BaseModel):
    job_id: str
    status: JobStatus
    username: str
    depth: int
    progress: float = Field(ge=0, le=1, description="Share of games reviewed, 0 to 1.")
    games_total: int
    games_done: int
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    result: dict[str, Any] | None = Field(
        description="Overall accuracy, classifications, blunders by phase and piece, the worst "
        "moments with the better move, and per-game figures; null until the job succeeds."
    )
    error: str | None = Field(
        description="Why the review failed, for people; null unless `status` is `failed`."
    )
    error_code: str | None = Field(
        None,
        description="Why the review failed, for programs: `review_failed`, `engine_unavailable`, "
        "`unreadable_game` or `review_interrupted`; null unless `status` is `failed`.",
    )
