"""Issue 16's security-review findings on the chess analyzer: a per-caller limit across
usernames, a byte-bounded in-process cache of Chess.com answers, a deadline per analysis, a
per-user cap on queued reviews, one review at a time per process without holding job slots,
and failed reviews that show a code and a safe message, never the exception."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from edgelab.accounts.service import create_user
from edgelab.chess import jobs as chess_jobs
from edgelab.chess import service
from edgelab.chess.chesscom import ArchiveMemoryCache, ChesscomClient
from edgelab.chess.jobs import ReviewSlot, run_review
from edgelab.chess.models import ChessReviewJob
from edgelab.core.auth import issue_access_token
from edgelab.core.cache import MemoryCache
from edgelab.core.clock import ManualClock, use_clock, utcnow
from edgelab.core.settings import Settings
from tests.chess.fake_chesscom import MONTH, PLAYER, FakeChesscom
from tests.fixtures.app import app_in_session

pytestmark = pytest.mark.asyncio(loop_scope="session")
MAY = f"/pub/player/{PLAYER}/games/2020/05"
MARCH = f"/pub/player/{PLAYER}/games/2020/03"


def _error(response: httpx.Response) -> dict[str, Any]:
    return response.json()["error"]


async def _user(session: AsyncSession, settings: Settings, email: str, tier: str) -> tuple:
    user = await create_user(session, email, tier=tier)
    await session.commit()
    return user.id, {"Authorization": f"Bearer {issue_access_token(settings, user.id)}"}


# 1. per caller, whichever usernames -------------------------------------------------------


async def test_cycling_usernames_meets_the_per_caller_limit(
    settings: Settings, session: AsyncSession, fake: FakeChesscom
) -> None:
    limited = settings.model_copy(update={"chess_rate_limit_per_caller": "2/hour"})
    _, signed_in = await _user(session, settings, "caller@chess.test", "free")
    async with app_in_session(limited, session, base_url="http://t") as (_, c):
        first = await c.post("/api/analyze", json={"username": PLAYER, "game_count": 5})
        second = await c.post("/api/analyze", json={"username": "nobody-1"})
        third = await c.post("/api/analyze", json={"username": "nobody-2"})
        # a signed-in caller is counted by user id, not by the shared address
        user_ok = await c.post("/api/analyze", json={"username": "nobody-3"}, headers=signed_in)
    assert first.status_code == 200 and second.status_code == 404
    assert third.status_code == 429, third.text
    assert _error(third)["code"] == "rate_limited"
    assert int(third.headers["Retry-After"]) >= 1
    assert user_ok.status_code == 404  # counted apart, so it reached Chess.com
    assert fake.hits["/pub/player/nobody-2/games/archives"] == 0


# 2. the in-process cache is bounded by bytes, and an analysis has a deadline --------------


async def test_the_memory_cache_evicts_least_recently_used_by_bytes() -> None:
    store = ArchiveMemoryCache(max_bytes=10)
    await store.set("a", b"aaaa", 60)
    await store.set("b", b"bbbb", 60)
    assert await store.get("a") == b"aaaa"  # a is now the most recently used
    await store.set("c", b"cccc", 60)
    assert store.bytes == 8 and await store.get("b") is None
    assert await store.get("a") == b"aaaa" and await store.get("c") == b"cccc"
    await store.set("huge", b"x" * 11, 60)  # larger than the bound: not kept, nothing evicted
    assert await store.get("huge") is None and store.bytes == 8


async def test_chesscom_answers_held_in_memory_stay_under_the_byte_bound(
    settings: Settings, fake: FakeChesscom
) -> None:
    month_bytes = len(orjson.dumps(MONTH))
    bound = int(month_bytes * 1.5)  # the archives list and one month, not two
    client = ChesscomClient(
        settings.model_copy(update={"chess_cache_max_bytes": bound}),
        MemoryCache(),
        retry_initial_wait=0.01,
    )
    try:
        walked = await client.recent_games(PLAYER, 40)  # May, then (April gone) March
        assert walked.months == 2
        assert client.cached_bytes is not None and 0 < client.cached_bytes <= bound
        await client.recent_games(PLAYER, 5)  # May was evicted by March: asked again
    finally:
        await client.aclose()
    assert fake.hits[MAY] == 2 and fake.conditional[MAY] == 0


class _SlowChesscom(ChesscomClient):
    """Each Chess.com answer takes `seconds` of the (manual) clock."""

    clock: ManualClock
    seconds = 40.0

    async def get(self, path: str) -> Any:
        try:
            return await super().get(path)
        finally:
            self.clock.advance(self.seconds)


@pytest.fixture
async def slow_client(settings: Settings, fake: FakeChesscom) -> AsyncIterator[_SlowChesscom]:
    with use_clock(ManualClock()) as manual:
        assert isinstance(manual, ManualClock)
        client = _SlowChesscom(
            settings.model_copy(update={"chess_analysis_deadline_seconds": 60.0}),
            MemoryCache(),
            retry_initial_wait=0.01,
        )
        client.clock = manual
        yield client
        await client.aclose()


async def test_an_analysis_past_its_deadline_answers_what_it_read_marked_partial(
    slow_client: _SlowChesscom, fake: FakeChesscom
) -> None:
    cache = MemoryCache()
    body, cached = await service.analyze_player(slow_client, cache, PLAYER, 40, "UTC")
    result = orjson.loads(body)
    # archives (t=40), May (t=80): past 60 s, April and March are not asked
    assert fake.hits[MARCH] == 0
    assert result["partial"] is True and result["source"]["partial"] is True
    assert result["source"]["months_read"] == 1 and result["games_analyzed"] == 17
    assert cached is False
    _, again = await service.analyze_player(slow_client, cache, PLAYER, 40, "UTC")
    assert again is False  # a partial answer is not cached


# 3. reviews: a cap per user, one at a time per process without holding job slots ----------


def _job(user_id: str, status: str) -> ChessReviewJob:
    return ChessReviewJob(
        id=uuid.uuid4().hex,
        status=status,
        requested_by=user_id,
        username=PLAYER,
        depth=4,
        games_total=1,
        games_done=0,
        progress=0.0,
        created_at=utcnow(),
        games=["1. e4 e5 *"],
    )


async def test_a_user_with_reviews_queued_and_running_up_to_the_cap_gets_429(
    settings: Settings, session: AsyncSession, fake: FakeChesscom
) -> None:
    engine = settings.model_copy(update={"stockfish_path": "/bin/true"})  # only its presence
    user_id, paid = await _user(session, settings, "cap@chess.test", "paid")
    stranded = [_job(user_id, "queued"), _job(user_id, "running")]  # a dead worker's
    for job in stranded:
        job.created_at = utcnow() - dt.timedelta(hours=service.REVIEW_CAP_HOURS + 1)
    session.add_all([_job(user_id, "queued"), _job(user_id, "failed"), *stranded])
    await session.commit()
    body = {"username": PLAYER, "game_count": 1}
    async with app_in_session(engine, session, base_url="http://t") as (_, c):
        second = await c.post("/api/analyze/review", json=body, headers=paid)
        hits = sum(fake.hits.values())
        refused = await c.post("/api/analyze/review", json=body, headers=paid)
    assert second.status_code == 202, second.text  # one active, stranded ones do not count
    assert refused.status_code == 429, refused.text
    assert _error(refused)["code"] == "too_many_reviews"
    assert int(refused.headers["Retry-After"]) >= 1
    assert sum(fake.hits.values()) == hits  # refused before Chess.com is asked


def _no_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    """The slot's bookkeeping in the rows (who holds a job, heartbeats) is left out here:
    `test_review_locks` covers it against a database."""

    async def hold(*_: Any) -> bool:
        return True

    async def quiet(*_: Any, **__: Any) -> None:
        return None

    monkeypatch.setattr(chess_jobs, "hold_job", hold)
    monkeypatch.setattr(chess_jobs, "heartbeat", quiet)
    monkeypatch.setattr(chess_jobs, "release_job", quiet)


async def test_reviews_run_one_at_a_time_and_waiting_ones_free_their_job_slot(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    release = asyncio.Event()
    running: list[str] = []
    order: list[str] = []
    most = 0

    async def fake_run_review(
        sessions: Any, settings: Any, job_id: str, **_: Any
    ) -> dict[str, Any]:
        nonlocal most
        running.append(job_id)
        most = max(most, len(running))
        order.append(job_id)
        if job_id == "a":
            await release.wait()
        running.remove(job_id)
        if job_id == "b":
            raise RuntimeError("b failed")  # recorded in its row by run_review; c still runs
        return {"job_id": job_id, "status": "succeeded"}

    monkeypatch.setattr(chess_jobs, "run_review", fake_run_review)
    _no_rows(monkeypatch)
    slot = ReviewSlot()
    first = asyncio.ensure_future(slot.run(None, None, "a"))  # type: ignore[arg-type]
    await asyncio.sleep(0)
    assert running == ["a"]
    # the job slots of b and c are free at once: they return while a still runs
    assert await slot.run(None, None, "b") == {"job_id": "b", "status": "deferred"}  # type: ignore[arg-type]
    assert await slot.run(None, None, "c") == {"job_id": "c", "status": "deferred"}  # type: ignore[arg-type]
    release.set()
    assert (await first)["status"] == "succeeded"
    assert order == ["a", "b", "c"] and most == 1 and not slot.busy


async def test_a_stopped_review_sends_the_waiting_ones_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A worker shutting down cancels its running review: the reviews waiting for it in
    this process are sent again (for another worker), not left queued."""
    hold = asyncio.Event()
    started: list[str] = []

    async def blocking(sessions: Any, settings: Any, job_id: str, **_: Any) -> dict[str, Any]:
        started.append(job_id)
        await hold.wait()
        return {}

    sent: list[str] = []

    async def resend(job_id: str) -> str:
        sent.append(job_id)
        return job_id

    monkeypatch.setattr(chess_jobs, "run_review", blocking)
    _no_rows(monkeypatch)
    slot = ReviewSlot(resend)
    first = asyncio.ensure_future(slot.run(None, None, "a"))  # type: ignore[arg-type]
    await asyncio.sleep(0)
    await slot.run(None, None, "b")  # type: ignore[arg-type]
    await slot.run(None, None, "c")  # type: ignore[arg-type]
    hold.set()  # a finishes, then b starts and blocks (hold cleared again)
    hold.clear()
    await asyncio.sleep(0)
    assert started == ["a", "b"]
    first.cancel()  # stopped while b runs: b (its row says running) and c are sent again
    with pytest.raises(asyncio.CancelledError):
        await first
    assert sent == ["b", "c"] and not slot.waiting and not slot.busy


# 4. a failed review shows a code and a safe message; the exception is logged --------------


async def test_a_failed_review_shows_a_code_and_a_safe_message_not_the_exception(
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from edgelab.chess import review

    async def leaking(*args: Any, **kwargs: Any) -> list[dict[str, Any]]:
        raise RuntimeError("connect to postgresql://admin:hunter2@db.internal failed")

    monkeypatch.setattr(review, "engine_path", lambda configured: "/bin/true")
    monkeypatch.setattr(review, "review_games", leaking)
    user_id, paid = await _user(session, settings, "leak@chess.test", "paid")
    job = _job(user_id, "queued")
    legacy = _job(user_id, "failed")
    legacy.error = "OSError: [Errno 2] /srv/edgelab/secret.key"  # stored before this fix
    session.add_all([job, legacy])
    await session.commit()
    maker = async_sessionmaker(
        bind=session.bind, expire_on_commit=False, join_transaction_mode="create_savepoint"
    )
    with (
        caplog.at_level(logging.ERROR, logger="edgelab.chess.jobs"),
        pytest.raises(RuntimeError),
    ):
        await run_review(maker, settings, job.id)
    assert "hunter2" in caplog.text  # the operator sees the exception in the log
    stored = await session.get(ChessReviewJob, job.id, populate_existing=True)
    assert stored is not None and stored.error == "review_failed"  # the code, not the text
    out = (await client.get(f"/api/analyze/{job.id}", headers=paid)).json()
    assert out["status"] == "failed" and out["error_code"] == "review_failed"
    assert "hunter2" not in out["error"] and "RuntimeError" not in out["error"]
    old = (await client.get(f"/api/analyze/{legacy.id}", headers=paid)).json()
    assert old["error_code"] == "review_failed" and "secret" not in old["error"]


async def test_a_review_stopped_in_its_own_run_is_sent_again_with_the_waiting_ones(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A worker shutting down while the slot's own review runs: `run_review` lets go of its
    row (queued), and the job is sent again at once, not left for the stale time."""
    hold = asyncio.Event()
    started: list[str] = []

    async def blocking(sessions: Any, settings: Any, job_id: str, **_: Any) -> dict[str, Any]:
        started.append(job_id)
        await hold.wait()
        return {}

    sent: list[str] = []

    async def resend(job_id: str) -> str:
        sent.append(job_id)
        return job_id

    monkeypatch.setattr(chess_jobs, "run_review", blocking)
    _no_rows(monkeypatch)
    slot = ReviewSlot(resend)
    first = asyncio.ensure_future(slot.run(None, None, "a"))  # type: ignore[arg-type]
    await asyncio.sleep(0)
    await slot.run(None, None, "b")  # type: ignore[arg-type]
    assert started == ["a"]
    first.cancel()  # stopped while a (the slot's own) runs
    with pytest.raises(asyncio.CancelledError):
        await first
    assert sent == ["a", "b"] and not slot.waiting and not slot.busy
