"""`POST /api/analyze`, the review job routes: validation, caching, rate limits, job flow."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from edgelab.accounts.service import create_user
from edgelab.chess.chesscom import ChesscomClient
from edgelab.chess.jobs import run_review
from edgelab.chess.models import ChessReviewJob
from edgelab.chess.review import engine_path
from edgelab.core.auth import issue_access_token
from edgelab.core.settings import Settings
from tests.chess.fake_chesscom import PLAYER, FakeChesscom
from tests.fixtures.app import resources

pytestmark = pytest.mark.asyncio(loop_scope="session")
ENGINE = engine_path(None)


def _error(response: httpx.Response) -> dict[str, Any]:
    body = response.json()
    assert set(body) >= {"error", "request_id"}
    return body["error"]


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"username": ""},
        {"username": "a" * 51},
        {"username": "bad name"},
        {"username": "bad/../name"},
        {"username": "ünïcode"},
        {"username": PLAYER, "game_count": 0},
        {"username": PLAYER, "game_count": 501},
        {"username": PLAYER, "game_count": "many"},
        {"username": PLAYER, "tz": "Mars/Olympus"},
        {"username": PLAYER, "tz": "europe/london"},
    ],
)
async def test_bad_input_is_a_422_envelope(
    client: httpx.AsyncClient, fake: FakeChesscom, payload: dict[str, Any]
) -> None:
    response = await client.post("/api/analyze", json=payload)
    assert response.status_code == 422
    assert _error(response)["code"] == "validation_error"
    assert sum(fake.hits.values()) == 0  # nothing reached Chess.com


async def test_analysis_of_a_player(client: httpx.AsyncClient, fake: FakeChesscom) -> None:
    response = await client.post(
        "/api/analyze", json={"username": "FabianoCaruana", "game_count": 20, "tz": "Europe/Rome"}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["games_analyzed"] == 20 and body["username"] == PLAYER
    colours = body["by_color"]
    assert set(colours) == {"white", "black"}
    for row in colours.values():
        assert set(row) >= {"games", "wins", "draws", "losses"}
        assert row["games"] == row["wins"] + row["draws"] + row["losses"]
    assert colours["white"]["games"] + colours["black"]["games"] == 20
    assert body["source"]["months_read"] == 2 and body["tz"] == "Europe/Rome"
    assert body["accuracy"]["games"] > 0
    assert response.headers["X-Cache"] == "miss"


async def test_repeat_is_cached_until_the_newest_archive_changes(
    client: httpx.AsyncClient, fake: FakeChesscom
) -> None:
    payload = {"username": PLAYER, "game_count": 10}
    first = await client.post("/api/analyze", json=payload)
    second = await client.post("/api/analyze", json=payload)
    assert first.status_code == second.status_code == 200
    assert second.headers["X-Cache"] == "hit" and second.content == first.content
    client_obj = resources(client._transport.app).get(ChesscomClient)  # type: ignore[attr-defined]
    client_obj.revalidate_seconds = 0
    fake.version = 2  # a new game landed: new ETag on the newest month
    third = await client.post("/api/analyze", json=payload)
    assert third.headers["X-Cache"] == "miss"
    assert third.json()["source"]["archive_version"] != first.json()["source"]["archive_version"]


async def test_unknown_player_is_404(client: httpx.AsyncClient, fake: FakeChesscom) -> None:
    response = await client.post("/api/analyze", json={"username": "nobody-here"})
    assert response.status_code == 404
    assert _error(response)["code"] == "player_not_found"


@pytest.fixture
async def limited_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"chess_rate_limit_per_username": "2/minute"})


async def test_rate_limit_per_username(
    limited_settings: Settings, session: AsyncSession, fake: FakeChesscom
) -> None:
    import edgelab.app

    app = edgelab.app.create_app(limited_settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            for _ in range(2):
                ok = await c.post("/api/analyze", json={"username": PLAYER, "game_count": 5})
                assert ok.status_code == 200
            refused = await c.post("/api/analyze", json={"username": "FABIANOCARUANA"})
            assert refused.status_code == 429
            assert _error(refused)["code"] == "rate_limited"
            assert int(refused.headers["Retry-After"]) >= 1
            other = await c.post("/api/analyze", json={"username": "someone-else"})
            assert other.status_code == 404  # another username has its own budget


async def _user(session: AsyncSession, settings: Settings, email: str, tier: str) -> dict:
    user = await create_user(session, email, tier=tier)
    await session.commit()
    return {"Authorization": f"Bearer {issue_access_token(settings, user.id)}"}


async def test_review_needs_a_paid_account(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    anonymous = await client.post("/api/analyze/review", json={"username": PLAYER})
    assert anonymous.status_code == 401
    free = await _user(session, settings, "free@chess.test", "free")
    refused = await client.post("/api/analyze/review", json={"username": PLAYER}, headers=free)
    assert refused.status_code == 403
    assert _error(refused)["code"] == "paid_subscription_required"


async def test_review_without_the_engine_is_503(
    settings: Settings, session: AsyncSession, fake: FakeChesscom
) -> None:
    from tests.fixtures.app import app_in_session

    no_engine = settings.model_copy(update={"stockfish_path": "/nonexistent/stockfish"})
    paid = await _user(session, settings, "paid-noengine@chess.test", "paid")
    async with app_in_session(no_engine, session, base_url="http://t") as (_, c):
        response = await c.post("/api/analyze/review", json={"username": PLAYER}, headers=paid)
        # patterns still work without the engine
        patterns = await c.post("/api/analyze", json={"username": PLAYER, "game_count": 3})
    assert response.status_code == 503
    error = _error(response)
    assert error["code"] == "engine_unavailable" and "apt-get install stockfish" in error["message"]
    assert patterns.status_code == 200 and patterns.json()["games_analyzed"] == 3


async def test_review_game_count_over_the_schemas_bound_is_422(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    """The schema allowed 200 games, the server 20 (`EDGELAB_CHESS_REVIEW_MAX_GAMES`): a
    valid-by-schema request was refused. The schema's bound is now the server's default."""
    body = (await client.get("/openapi.json")).json()["components"]["schemas"]["ReviewRequest"]
    assert body["properties"]["game_count"]["maximum"] == settings.chess_review_max_games == 20
    paid = await _user(session, settings, "paid-cap@chess.test", "paid")
    response = await client.post(
        "/api/analyze/review", json={"username": PLAYER, "game_count": 21}, headers=paid
    )
    assert response.status_code == 422 and _error(response)["code"] == "validation_error"


async def test_review_game_count_over_a_lower_server_cap_is_400(
    settings: Settings, session: AsyncSession, fake: FakeChesscom
) -> None:
    if ENGINE is None:
        pytest.skip("Stockfish is not installed (apt-get install stockfish): engine tests skip")
    from tests.fixtures.app import app_in_session

    lower = settings.model_copy(update={"chess_review_max_games": 5})
    paid = await _user(session, settings, "paid-cap5@chess.test", "paid")
    async with app_in_session(lower, session, base_url="http://t") as (_, c):
        response = await c.post(
            "/api/analyze/review", json={"username": PLAYER, "game_count": 6}, headers=paid
        )
    assert response.status_code == 400 and _error(response)["code"] == "invalid_input"
    assert _error(response)["details"] == {"max_games": 5}


async def test_review_job_flow(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings, fake: FakeChesscom
) -> None:
    if ENGINE is None:
        pytest.skip("Stockfish is not installed (apt-get install stockfish): engine tests skip")
    paid = await _user(session, settings, "paid@chess.test", "paid")
    other = await _user(session, settings, "paid2@chess.test", "paid")
    accepted = await client.post(
        "/api/analyze/review", json={"username": PLAYER, "game_count": 2}, headers=paid
    )
    assert accepted.status_code == 202, accepted.text
    body = accepted.json()
    assert body["status"] == "queued" and body["games"] == 2
    assert accepted.headers["Location"] == body["status_url"]
    queued = await client.get(body["status_url"], headers=paid)
    assert queued.status_code == 200 and queued.json()["progress"] == 0.0
    assert (await client.get(body["status_url"], headers=other)).status_code == 404

    maker = async_sessionmaker(
        bind=session.bind, expire_on_commit=False, join_transaction_mode="create_savepoint"
    )
    fast = settings.model_copy(update={"engine_depth": 4})
    job = await session.get(ChessReviewJob, body["job_id"])
    assert job is not None
    job.depth = 4
    await session.commit()
    await run_review(maker, fast, body["job_id"])
    done = await client.get(body["status_url"], headers=paid)
    out = done.json()
    assert out["status"] == "succeeded" and out["progress"] == 1.0 and out["games_done"] == 2
    result = out["result"]
    assert result["games_reviewed"] == 2 and result["accuracy"]["games"] == 2
    assert 0 <= result["accuracy"]["mean"] <= 100
    assert result["engine"]["nodes"] > 0
    for game in result["games"]:
        assert game["player_color"] in ("white", "black")
        assert set(game["classifications"]) == {"inaccuracy", "mistake", "blunder"}


async def test_unknown_job_is_404(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    paid = await _user(session, settings, "paid3@chess.test", "paid")
    response = await client.get("/api/analyze/" + "0" * 32, headers=paid)
    assert response.status_code == 404 and _error(response)["code"] == "review_job_not_found"
