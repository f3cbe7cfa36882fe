"""Charts backfill on demand: the part of a window the CLOB was never asked for is fetched,
stored once and answered; offline, the stored points answer and the failure is remembered."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from edgelab.accounts.service import create_user
from edgelab.core.auth import issue_access_token
from edgelab.core.settings import Settings
from edgelab.predictions.history import missing_ranges
from edgelab.predictions.ingest import ingest_polymarket
from edgelab.predictions.models import PredictionOutcome, PredictionPriceSnapshot
from edgelab.predictions.sources.polymarket import PolymarketClient
from tests.predictions.fake_polymarket import FakePolymarket, make_market, token_for

WEEK = 7 * 86_400
MARKET = "2000004"


async def _ingest(session: AsyncSession, settings: Settings) -> None:
    """The plain ingest (no `--history`): one Gamma point per outcome."""
    client = PolymarketClient(settings, retry_initial_wait=0.01)
    try:
        await ingest_polymarket(session, settings, client=client)
    finally:
        await client.aclose()
    await session.commit()


@pytest.fixture
async def paid(session: AsyncSession, settings: Settings) -> dict[str, str]:
    user = await create_user(session, "backfill@api.test", tier="paid")
    await session.commit()
    return {"Authorization": f"Bearer {issue_access_token(settings, user.id)}"}


@pytest.fixture
async def week_of_prices(fake: FakePolymarket, session: AsyncSession, settings: Settings) -> int:
    """Market 2000004 ingested without history; the CLOB holds a week and a day of hourly
    prices of its Yes outcome ending now. Returns now."""
    fake.markets = [make_market(i) for i in range(3, 6)]
    now = int(time.time())
    fake.histories[token_for(MARKET, 0)] = [
        {"t": now - WEEK - 86_400 + 3600 * i, "p": round(0.2 + i / 1000, 4)}
        for i in range(8 * 24 + 1)
    ]
    await _ingest(session, settings)
    return now


async def _stored(session: AsyncSession, token: str) -> int:
    s = PredictionPriceSnapshot
    return int((await session.execute(select(func.count()).where(s.token_id == token))).scalar())


@pytest.mark.usefixtures("week_of_prices")
async def test_a_market_ingested_without_history_answers_its_week_from_the_clob(
    client: httpx.AsyncClient, fake: FakePolymarket, session: AsyncSession, paid: dict[str, str]
) -> None:
    token = token_for(MARKET, 0)
    assert await _stored(session, token) == 1  # Gamma's one point: the bug's starting state
    url = f"/predictions/markets/{MARKET}/history"
    r = await client.get(url, params={"interval": "1w"}, headers=paid)
    body = r.json()
    assert r.status_code == 200, r.text
    assert body["source"] == "clob" and not body["stale"] and body["recorded"] is False
    assert body["points"] >= 7 * 24 - 1  # hourly buckets over the week, not one point
    asked = fake.calls("/prices-history")[-1].params
    assert asked["market"] == [token] and "interval" not in asked  # a range, by token id
    assert int(asked["endTs"][0]) - int(asked["startTs"][0]) == WEEK
    stored = await _stored(session, token)
    # another bucket length: not the cached answer, the stored points
    again = (await client.get(url, params={"interval": "1w", "fidelity": 120}, headers=paid)).json()
    assert again["source"] == "stored" and again["points"] >= 7 * 12 - 1
    assert len(fake.calls("/prices-history")) == 1  # covered now: not asked again
    assert await _stored(session, token) == stored  # and nothing written twice


async def test_only_the_part_of_the_window_not_fetched_is_asked_for(
    client: httpx.AsyncClient,
    fake: FakePolymarket,
    session: AsyncSession,
    paid: dict[str, str],
    week_of_prices: int,
) -> None:
    token = token_for(MARKET, 0)
    url = f"/predictions/markets/{MARKET}/history"
    day = (await client.get(url, params={"interval": "1d"}, headers=paid)).json()
    assert day["source"] == "clob" and 20 <= day["points"] <= 26
    outcome = await session.get(PredictionOutcome, token, populate_existing=True)
    assert outcome is not None and outcome.clob_from_ts is not None
    day_start = outcome.clob_from_ts
    week = (await client.get(url, params={"interval": "1w"}, headers=paid)).json()
    assert week["source"] == "clob" and week["points"] >= 7 * 24 - 1
    asked = fake.calls("/prices-history")[-1].params
    assert int(asked["endTs"][0]) == day_start  # only the six days before the day fetched
    six_days = day_start - int(asked["startTs"][0])
    assert abs(six_days - (WEEK - 86_400)) <= 60  # the two requests' "now" a moment apart
    assert day_start >= week_of_prices - 86_400
    times = [p["time"] for p in week["data"]]
    assert times == sorted(set(times))


@pytest.mark.usefixtures("week_of_prices")
async def test_offline_the_stored_points_answer_and_the_failure_is_remembered(
    client: httpx.AsyncClient, fake: FakePolymarket, paid: dict[str, str]
) -> None:
    fake.plan(path="/prices-history", status=503, times=2)  # every retry fails
    url = f"/predictions/markets/{MARKET}/history"
    r = await client.get(url, params={"interval": "1m"}, headers=paid)
    body = r.json()
    assert r.status_code == 200, r.text
    assert body["stale"] is True and body["points"] == 1  # Gamma's point, said to be stale
    assert any("could not be asked" in note for note in body["notes"])
    tried = len(fake.calls("/prices-history"))
    # the CLOB is healthy again, but the failure is remembered: no request for a while
    again = (await client.get(url, params={"interval": "1w"}, headers=paid)).json()
    assert again["stale"] is True and any("asked again after" in n for n in again["notes"])
    assert len(fake.calls("/prices-history")) == tried


@pytest.mark.usefixtures("week_of_prices")
async def test_an_unreachable_clob_is_remembered_for_every_market(
    client: httpx.AsyncClient, fake: FakePolymarket, paid: dict[str, str]
) -> None:
    fake.plan(path="/prices-history", status=503, times=2)
    first = await client.get(
        f"/predictions/markets/{MARKET}/history", params={"interval": "1w"}, headers=paid
    )
    assert first.json()["stale"] is True
    tried = len(fake.calls("/prices-history"))
    other = await client.get(
        "/predictions/markets/2000005/history", params={"interval": "1w"}, headers=paid
    )
    assert other.status_code == 200 and other.json()["stale"] is True
    assert len(fake.calls("/prices-history")) == tried  # an offline app waits once, not per chart


@pytest.mark.usefixtures("week_of_prices")
async def test_a_request_refused_for_one_token_is_remembered_for_that_token_only(
    client: httpx.AsyncClient, fake: FakePolymarket, paid: dict[str, str]
) -> None:
    fake.plan(path="/prices-history", status=400)  # a 4xx is not retried
    first = await client.get(
        f"/predictions/markets/{MARKET}/history", params={"interval": "1w"}, headers=paid
    )
    assert first.json()["stale"] is True
    other = await client.get(
        "/predictions/markets/2000005/history", params={"interval": "1w"}, headers=paid
    )
    assert other.json()["stale"] is False and other.json()["source"] == "clob"
    again = await client.get(
        f"/predictions/markets/{MARKET}/history", params={"interval": "1d"}, headers=paid
    )
    assert again.json()["stale"] is True and len(fake.calls("/prices-history")) == 2


async def test_a_failure_is_not_remembered_when_the_retry_period_is_zero(
    client: httpx.AsyncClient,
    fake: FakePolymarket,
    paid: dict[str, str],
    settings: Settings,
    week_of_prices: int,
) -> None:
    settings.polymarket_backfill_retry_seconds = 0
    fake.plan(path="/prices-history", status=503, times=2)
    url = f"/predictions/markets/{MARKET}/history"
    first = (await client.get(url, params={"interval": "1w"}, headers=paid)).json()
    assert first["stale"] is True
    second = (await client.get(url, params={"interval": "1d"}, headers=paid)).json()
    assert second["stale"] is False and second["source"] == "clob"


@pytest.mark.parametrize(
    ("covered", "since", "end", "moving", "gaps"),
    [
        ((None, None), 100, 200, True, [(100, 200)]),  # never fetched: the whole window
        ((150, 200), 100, 200, True, [(100, 150)]),  # the older part only
        ((100, 150), 100, 200, True, [(150, 200)]),  # the newer part only
        ((100, 150), 100, 200, False, []),  # a closed market's prices stopped moving
        ((100, 195), 100, 200, True, []),  # 5 s behind: within the refresh period
        ((50, 200), None, 200, True, [(None, 50)]),  # "max": everything before
        ((0, 200), None, 200, True, []),  # "max" already fetched
    ],
)
def test_missing_ranges(
    covered: tuple[int | None, int | None],
    since: int | None,
    end: int,
    moving: bool,
    gaps: list[tuple[int | None, int]],
) -> None:
    assert missing_ranges(covered, since, end, 10, moving=moving) == gaps


async def _forget(redis_url: str) -> None:
    from redis.asyncio import Redis

    redis = Redis.from_url(redis_url)
    try:
        async for key in redis.scan_iter(match="predictions:*"):
            await redis.delete(key)
    finally:
        await redis.aclose()


@pytest.mark.usefixtures("week_of_prices")
async def test_every_app_process_remembers_a_failure_through_redis(
    redis_url: str,
    settings: Settings,
    session: AsyncSession,
    fake: FakePolymarket,
    paid: dict[str, str],
) -> None:
    from tests.fixtures.app import app_in_session

    on_redis = settings.model_copy(update={"redis_url": redis_url})
    url = f"/predictions/markets/{MARKET}/history"
    await _forget(redis_url)
    try:
        fake.plan(path="/prices-history", status=503, times=2)
        async with app_in_session(on_redis, session) as (_, one):
            first = (await one.get(url, params={"interval": "1w"}, headers=paid)).json()
        assert first["stale"] is True
        tried = len(fake.calls("/prices-history"))
        async with app_in_session(on_redis, session) as (_, other):  # another process
            second = (await other.get(url, params={"interval": "1d"}, headers=paid)).json()
        assert second["stale"] is True and len(fake.calls("/prices-history")) == tried
    finally:
        await _forget(redis_url)


async def test_every_gap_is_fetched_before_anything_is_written(
    client: httpx.AsyncClient,
    fake: FakePolymarket,
    session: AsyncSession,
    paid: dict[str, str],
    week_of_prices: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A day fetched two hours ago: a week's window misses the six days before it and the two
    hours since. Both are asked for before the first write, so the transaction holds no write
    lock while Polymarket answers."""
    from edgelab.predictions import history

    token = token_for(MARKET, 0)
    outcome = await session.get(PredictionOutcome, token)
    assert outcome is not None
    outcome.clob_from_ts = week_of_prices - 86_400 - 7200
    outcome.clob_to_ts = week_of_prices - 7200
    await session.commit()
    asked_when_written: list[int] = []
    real_store, real_mark = history.store_history, history.mark_covered

    async def store(*args: Any, **kwargs: Any) -> int:
        asked_when_written.append(len(fake.calls("/prices-history")))
        return await real_store(*args, **kwargs)

    async def mark(*args: Any, **kwargs: Any) -> None:
        asked_when_written.append(len(fake.calls("/prices-history")))
        await real_mark(*args, **kwargs)

    monkeypatch.setattr(history, "store_history", store)
    monkeypatch.setattr(history, "mark_covered", mark)
    url = f"/predictions/markets/{MARKET}/history"
    r = await client.get(url, params={"interval": "1w"}, headers=paid)
    assert r.status_code == 200, r.text
    assert r.json()["source"] == "clob"
    assert len(fake.calls("/prices-history")) == 2  # the two gaps
    assert asked_when_written and set(asked_when_written) == {2}  # written after both
    outcome = await session.get(PredictionOutcome, token, populate_existing=True)
    assert outcome is not None and outcome.clob_to_ts is not None
    assert outcome.clob_to_ts >= week_of_prices  # both gaps marked covered


async def test_a_gap_from_the_beginning_is_one_request_reaching_now(
    client: httpx.AsyncClient,
    fake: FakePolymarket,
    session: AsyncSession,
    paid: dict[str, str],
    week_of_prices: int,
) -> None:
    """A day fetched two hours ago; "all" misses everything before it and the two hours since:
    Polymarket's "max" window holds both, so it is the one request."""
    token = token_for(MARKET, 0)
    outcome = await session.get(PredictionOutcome, token)
    assert outcome is not None
    outcome.clob_from_ts = week_of_prices - 86_400 - 7200
    outcome.clob_to_ts = week_of_prices - 7200
    await session.commit()
    url = f"/predictions/markets/{MARKET}/history"
    r = await client.get(url, params={"interval": "max"}, headers=paid)
    assert r.status_code == 200, r.text
    calls = fake.calls("/prices-history")
    assert len(calls) == 1 and calls[0].params.get("interval") == ["max"]
    outcome = await session.get(PredictionOutcome, token, populate_existing=True)
    assert outcome is not None and outcome.clob_from_ts == 0
    assert outcome.clob_to_ts is not None and outcome.clob_to_ts >= week_of_prices
