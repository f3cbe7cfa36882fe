"""Sentinel's background job: the hourly incremental rescore (`sentinel.rescore`).

Registered by the app's `_register_jobs`. The schedule fires at minute
`EDGELAB_SENTINEL_RESCORE_MINUTE` (default 5) of every hour of the app's clock (`core.clock`),
not on the hour itself, where other hourly work lands. It fires once per hour across every
instance (a Redis lock per firing when Redis is set; one process otherwise); the run itself
takes a database lock too (see `rescore.py`), so a by-hand `edgelab sentinel rescore` at the
same moment cannot overlap it. Each run is recorded in `sentinel_score_runs`.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from edgelab.core.jobs import Jobs
from edgelab.core.settings import Settings

RESCORE_TASK = "sentinel.rescore"
RESCORE_EVERY_SECONDS = 3600.0


def register_sentinel_jobs(jobs: Jobs, settings: Settings) -> None:
    async def rescore(session: AsyncSession, full: bool = False) -> dict[str, Any]:
        """Rescore players with new bets or transactions (all of them with `full`)."""
        from edgelab.sentinel.rescore import run_rescore

        summary = await run_rescore(
            session, settings, mode="full" if full else "incremental", trigger="job"
        )
        return summary.as_dict()

    jobs.task(RESCORE_TASK)(rescore)
    jobs.schedule(
        RESCORE_TASK,
        every_seconds=RESCORE_EVERY_SECONDS,
        offset_seconds=60.0 * settings.sentinel_rescore_minute,
    )
