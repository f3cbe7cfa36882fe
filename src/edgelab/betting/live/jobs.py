"""Registering the live loop: `betting.poll_odds` (fired every near-tip interval, deciding for
itself whether to fetch) and `betting.poll_scores` (every scores interval), scheduled only when
an Odds API key is set; without one nothing is scheduled and `/health` says live odds are off.

Both tasks run in transactions of their own (a run is recorded as started before its work and
as finished or failed after it, whatever the work did): the unit of work's session only lends
its engine. A run in this process is never overlapped by another (a run slower than the firing
interval, a replay's fast clock); across processes the `loop_runs` row of a running run holds
the next firings of its job off. A failed run does not raise: it is recorded with its error and the
next firings retry it with back-off, and the schedules of every other job go on.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from edgelab.betting.live.odds_poll import firing_seconds, poll_odds
from edgelab.betting.live.runs import ODDS_JOB, SCORES_JOB, Sessions
from edgelab.betting.live.scores_poll import poll_scores
from edgelab.core.jobs import Jobs
from edgelab.core.settings import Settings

SCORES_OFFSET_SECONDS = 60  # results a minute after the odds firing of the same boundary


def live_loop_enabled(settings: Settings) -> bool:
    key = settings.odds_api_key
    return key is not None and bool(key.get_secret_value().strip())


def register_live_jobs(jobs: Jobs, settings: Settings) -> None:
    # One loop run at a time in this process: the two jobs write the same tables, and SQLite
    # takes one writer at a time, so a run waits for the other job's to finish. A firing that
    # finds a run of its own job going skips (the next firing decides again).
    one_at_a_time = asyncio.Lock()
    running: set[str] = set()

    def task(
        name: str, body: Callable[[Sessions, Settings], Awaitable[dict[str, Any]]]
    ) -> Callable[[AsyncSession], Awaitable[dict[str, Any]]]:
        async def run(session: AsyncSession) -> dict[str, Any]:
            if name in running:
                return {"status": "skipped", "reason": "a run is going"}
            bind = session.bind
            assert bind is not None
            sessions = async_sessionmaker(bind, expire_on_commit=False, autoflush=False)
            running.add(name)
            try:
                async with one_at_a_time:
                    return await body(sessions, settings)
            finally:
                running.discard(name)

        run.__name__ = name.rsplit(".", 1)[-1]
        return run

    jobs.task(ODDS_JOB)(task(ODDS_JOB, poll_odds))
    jobs.task(SCORES_JOB)(task(SCORES_JOB, poll_scores))
    if not live_loop_enabled(settings):
        return
    jobs.schedule(ODDS_JOB, every_seconds=firing_seconds(settings))
    offset = min(SCORES_OFFSET_SECONDS, settings.scores_poll_seconds // 2)
    jobs.schedule(SCORES_JOB, every_seconds=settings.scores_poll_seconds, offset_seconds=offset)
