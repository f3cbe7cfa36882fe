"""Scoring runs: incremental (only players with new activity), idempotent, recorded, locked,
and the hourly job's registration."""

from __future__ import annotations

import asyncio
import datetime as dt
from contextlib import AsyncExitStack

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from edgelab.app import register_all_jobs
from edgelab.core import clock
from edgelab.core.clock import ManualClock
from edgelab.core.jobs import Jobs
from edgelab.core.jobs.schedule import Schedule, always_claim, run_schedule
from edgelab.core.settings import Settings
from edgelab.sentinel import features
from edgelab.sentinel.betlog import ingest
from edgelab.sentinel.models import SentinelPlayer, SentinelScore, SentinelScoreRun
from edgelab.sentinel.rescore import ADVISORY_LOCK_KEY, run_rescore
from edgelab.sentinel.schemas import BetRow, TransactionRow
from tests.fixtures.database import make_settings
from tests.sentinel.factories import bet_row, simulated_population, tx_row

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def _scores_per_player(session: AsyncSession) -> dict[str, int]:
    rows = await session.execute(
        select(SentinelPlayer.player_id, func.count(SentinelScore.id))
        .join(SentinelScore, SentinelScore.player_pk == SentinelPlayer.pk)
        .group_by(SentinelPlayer.player_id)
    )
    return {pid: int(n) for pid, n in rows}


async def test_an_incremental_run_rescores_only_players_with_new_activity(
    session: AsyncSession, settings: Settings
) -> None:
    sim = await simulated_population(session, players=40, seed=8)
    full = await run_rescore(session, settings, mode="full", trigger="cli")
    assert full.status == "ok" and full.players_scored >= 35
    before = await _scores_per_player(session)
    bettor, depositor = sim.players[0].player_id, sim.players[1].player_id
    await ingest.ingest_bets(
        session,
        [
            BetRow.model_validate(
                bet_row(
                    "new-1",
                    bettor,
                    placed_at="2026-11-01T13:00:00+00:00",
                    settled_at="2026-11-01T13:30:00+00:00",
                )
            )
        ],
    )
    await ingest.ingest_transactions(
        session,
        [
            TransactionRow.model_validate(
                tx_row("new-t1", depositor, occurred_at="2026-11-01T13:05:00+00:00")
            )
        ],
    )
    inc = await run_rescore(session, settings, mode="incremental", trigger="job")
    assert (inc.mode, inc.status, inc.players_scored) == ("incremental", "ok", 2)
    after = await _scores_per_player(session)
    assert {p for p in after if after[p] != before.get(p, 0)} == {bettor, depositor}
    assert after[bettor] == before[bettor] + 1
    # the incremental run read the two players' logs only, not the population's
    assert inc.bets_read < full.bets_read / 10
    again = await run_rescore(session, settings, mode="incremental", trigger="job")
    assert again.players_scored == 0  # idempotent: nothing new, nothing scored


async def test_a_duplicate_delivery_does_not_make_a_player_due(
    session: AsyncSession, settings: Settings
) -> None:
    await ingest.ingest_bets(session, [BetRow.model_validate(bet_row("dup-1"))])
    await run_rescore(session, settings, mode="full", trigger="cli")
    await ingest.ingest_bets(session, [BetRow.model_validate(bet_row("dup-1"))])
    run = await run_rescore(session, settings, mode="incremental", trigger="job")
    assert run.players_scored == 0


async def test_each_run_is_recorded_with_its_figures(
    session: AsyncSession, settings: Settings
) -> None:
    await simulated_population(session, players=20, seed=9)
    summary = await run_rescore(session, settings, mode="incremental", trigger="job")
    assert summary.mode == "full"  # no reference yet: the first run builds it
    run = await session.get(SentinelScoreRun, summary.run_id)
    assert run is not None
    assert (run.status, run.trigger, run.errors) == ("ok", "job", 0)
    assert run.players_scored == summary.players_scored > 0
    assert run.bets_read > 0 and run.duration_seconds is not None and run.finished_at
    assert run.reference and "be_intensity" in run.reference
    assert set(run.timings) == {"select", "read", "compute", "write"}


async def test_a_failing_run_is_recorded_and_writes_no_scores(
    session: AsyncSession, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    await simulated_population(session, players=10, seed=10)

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("feature failure")

    monkeypatch.setattr(features, "compute_features", broken)
    summary = await run_rescore(session, settings, mode="full", trigger="cli")
    assert (summary.status, summary.errors) == ("failed", 1)
    run = await session.get(SentinelScoreRun, summary.run_id)
    assert run is not None and run.status == "failed"
    assert run.error_detail == "RuntimeError: feature failure"
    assert (await session.execute(select(func.count(SentinelScore.id)))).scalar_one() == 0
    pending = await session.execute(select(SentinelPlayer.scored_version))
    assert all(v is None for (v,) in pending)


async def test_a_second_run_while_one_holds_the_lock_stops(
    session: AsyncSession, settings: Settings, engine: AsyncEngine
) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite serialises writers itself: its second run waits for the lock")
    await simulated_population(session, players=5, seed=11)
    async with engine.connect() as other:
        await other.execute(text("SELECT pg_advisory_lock(:k)"), {"k": ADVISORY_LOCK_KEY})
        try:
            summary = await run_rescore(session, settings, mode="full", trigger="cli")
        finally:
            await other.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": ADVISORY_LOCK_KEY})
    assert summary.status == "locked" and summary.players_scored == 0


async def test_the_hourly_job_is_registered_and_rescores(
    session: AsyncSession, settings: Settings
) -> None:
    jobs = Jobs(None, session_factory=lambda: session, run_schedules=False)
    register_all_jobs(jobs, settings, AsyncExitStack())  # no Resend key: nothing to close
    schedules = [s for s in jobs._schedules if s.name == "sentinel.rescore"]
    assert [(s.every_seconds, s.offset_seconds) for s in schedules] == [(3600.0, 300.0)]
    await simulated_population(session, players=10, seed=12)
    task = jobs._tasks["sentinel.rescore"]
    result = await task.func(session=session)
    assert result["status"] == "ok" and result["players_scored"] > 0
    assert (await task.func(session=session))["players_scored"] == 0


async def _settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


@pytest.mark.parametrize("minute", [5, 0, 59])
async def test_the_hourly_rescore_fires_at_its_minute_of_each_hour_on_the_app_clock(
    session: AsyncSession, manual_clock: ManualClock, minute: int
) -> None:
    settings = make_settings("sqlite+aiosqlite:///:memory:", sentinel_rescore_minute=minute)
    jobs = Jobs(None, session_factory=lambda: session, run_schedules=False)
    register_all_jobs(jobs, settings, AsyncExitStack())
    (schedule,) = [s for s in jobs._schedules if s.name == "sentinel.rescore"]
    manual_clock.set(dt.datetime(2030, 3, 4, 9, 30, 17, tzinfo=dt.UTC))  # not on a boundary
    fired: list[dt.datetime] = []

    async def fire(_: Schedule) -> None:
        fired.append(clock.utcnow())

    loop = asyncio.create_task(run_schedule(schedule, always_claim(), fire))
    try:
        first = dt.datetime(2030, 3, 4, 9 if minute > 30 else 10, minute, tzinfo=dt.UTC)
        expected = [first + dt.timedelta(hours=h) for h in range(3)]
        for n, at in enumerate(expected):
            await _settle()
            manual_clock.set(at - dt.timedelta(seconds=1))  # a second early: nothing yet
            await _settle()
            assert fired == expected[:n]
            manual_clock.set(at)
            await _settle()
            assert fired == expected[: n + 1]
    finally:
        loop.cancel()


async def test_the_rescore_minute_is_a_minute_of_the_hour() -> None:
    for bad in (-1, 60):
        with pytest.raises(ValueError, match="sentinel_rescore_minute"):
            make_settings("sqlite+aiosqlite:///:memory:", sentinel_rescore_minute=bad)
