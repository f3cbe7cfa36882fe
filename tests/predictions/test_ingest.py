"""Polymarket ingestion: stored once however often it runs, few statements per page, failed
runs recorded rather than raised, and the schedule only when enabled."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from edgelab.core.jobs import Jobs
from edgelab.core.settings import Settings
from edgelab.predictions.ingest import ingest_polymarket
from edgelab.predictions.jobs import INGEST_TASK, register_prediction_jobs
from edgelab.predictions.models import (
    PredictionIngestRun,
    PredictionMarket,
    PredictionOutcome,
    PredictionPriceSnapshot,
)
from edgelab.predictions.sources.polymarket import PolymarketClient
from tests.predictions.fake_polymarket import FakePolymarket, make_market, token_for


async def _count(session: AsyncSession, model: Any) -> int:
    return int((await session.execute(select(func.count()).select_from(model))).scalar_one())


@contextmanager
def counting(session: AsyncSession) -> Iterator[list[str]]:
    """SQL statements this session's connection runs (an executemany counts once)."""
    seen: list[str] = []
    engine = session.bind.sync_engine  # type: ignore[union-attr]

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "prediction_" in statement:
            seen.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


async def _ingest(session: AsyncSession, settings: Settings, **kw: Any) -> dict[str, Any]:
    client = PolymarketClient(settings, retry_initial_wait=0.01)
    try:
        return await ingest_polymarket(session, settings, client=client, **kw)
    finally:
        await client.aclose()


async def test_two_runs_store_each_market_outcome_and_point_once(
    fake: FakePolymarket, session: AsyncSession, settings: Settings
) -> None:
    fake.markets = [make_market(i) for i in range(25)]
    first = await _ingest(session, settings)
    second = await _ingest(session, settings)
    assert first["ok"] and second["ok"]
    assert (first["fetched"], first["written"], first["snapshots"]) == (25, 25, 50)
    assert second["snapshots"] == 0  # same updatedAt: nothing new to append
    assert await _count(session, PredictionMarket) == 25
    assert await _count(session, PredictionOutcome) == 50
    assert await _count(session, PredictionPriceSnapshot) == 50
    stored = await session.get(PredictionMarket, "2000003")
    assert (
        stored is not None
        and stored.volume == 1030.0
        and stored.question.endswith("3 resolve Yes?")
    )
    token = token_for("2000003", 0)
    outcome = await session.get(PredictionOutcome, token)
    assert outcome is not None and outcome.name == "Yes" and outcome.price == make_market_price(3)


def make_market_price(i: int) -> float:
    return float(json.loads(make_market(i)["outcomePrices"])[0])


async def test_a_moved_market_appends_one_point_and_updates_in_place(
    fake: FakePolymarket, session: AsyncSession, settings: Settings
) -> None:
    fake.markets = [make_market(1), make_market(2)]
    await _ingest(session, settings)
    fake.markets[0] = make_market(
        1, outcomePrices='["0.7", "0.3"]', updatedAt="2026-12-01T11:00:00Z", volumeNum=5e6
    )
    result = await _ingest(session, settings)
    assert result["snapshots"] == 2  # both outcomes of market 1, nothing for market 2
    market = await session.get(PredictionMarket, "2000001")
    assert market is not None and market.volume == 5e6
    points = (
        await session.execute(
            select(PredictionPriceSnapshot.ts, PredictionPriceSnapshot.price)
            .where(PredictionPriceSnapshot.token_id == token_for("2000001", 0))
            .order_by(PredictionPriceSnapshot.ts)
        )
    ).all()
    assert [p for _, p in points] == [make_market_price(1), 0.7]


async def test_statements_do_not_grow_with_the_number_of_markets(
    fake: FakePolymarket, session: AsyncSession, settings: Settings
) -> None:
    big = settings.model_copy(update={"polymarket_page_size": 1000})
    fake.markets = [make_market(i) for i in range(10)]
    with counting(session) as few:
        await _ingest(session, big)
    fake.markets = [make_market(i) for i in range(200, 500)]
    with counting(session) as many:
        await _ingest(session, big)
    assert len(many) == len(few) <= 8, many


async def test_an_offline_run_is_recorded_as_failed(
    session: AsyncSession, settings: Settings
) -> None:
    offline = settings.model_copy(
        update={"polymarket_gamma_url": "http://127.0.0.1:9", "http_max_retries": 0}
    )
    result = await _ingest(session, offline, trigger="job")
    assert result["ok"] is False and result["errors"][0]["code"] == "upstream_unavailable"
    run = await session.get(PredictionIngestRun, result["run_id"])
    assert run is not None and not run.ok and run.trigger == "job" and run.errors


async def test_history_backfill_stores_clob_points(
    fake: FakePolymarket, session: AsyncSession, settings: Settings
) -> None:
    fake.markets = [make_market(5)]
    fake.histories[token_for("2000005", 0)] = [{"t": 100 + i, "p": 0.5} for i in range(30)]
    result = await _ingest(session, settings, history=True, history_interval="1d")
    # 30 points for Yes, the fixture's 3 for No (its token has no planned history)
    assert result["history_points"] == 33
    assert [c.path for c in fake.requests if "history" in c.path] == ["/batch-prices-history"]
    again = await _ingest(session, settings, history=True, history_interval="1d")
    assert again["history_points"] == 0


async def test_history_backfill_goes_one_by_one_without_the_batch_endpoint(
    fake: FakePolymarket, session: AsyncSession, settings: Settings
) -> None:
    fake.markets = [make_market(6)]
    fake.batch = False
    result = await _ingest(session, settings, history=True)
    assert result["history_points"] == 6 and result["ok"]
    assert len(fake.calls("/prices-history")) == 2


async def test_the_schedule_is_registered_only_when_enabled(
    settings: Settings, session: AsyncSession
) -> None:
    sessions = async_sessionmaker(bind=session.bind)
    off, on = Jobs(None, session_factory=sessions), Jobs(None, session_factory=sessions)
    register_prediction_jobs(off, settings.model_copy(update={"polymarket_ingest_minutes": 0}))
    register_prediction_jobs(on, settings.model_copy(update={"polymarket_ingest_minutes": 15}))
    assert INGEST_TASK not in off._tasks and not off._schedules
    assert INGEST_TASK in on._tasks
    assert [(s.name, s.every_seconds) for s in on._schedules] == [(INGEST_TASK, 900.0)]
