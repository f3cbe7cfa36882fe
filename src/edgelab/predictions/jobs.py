"""The scheduled Polymarket ingest (`predictions.ingest_polymarket`), every
`EDGELAB_POLYMARKET_INGEST_MINUTES` (0 = not scheduled; `edgelab ingest polymarket` still works).

Offline or with Polymarket failing, a run does not raise: it is recorded as failed
(`prediction_ingest_runs.ok = false`, with its errors) and logs one warning, so the schedule
neither crashes nor floods the log. Registered by the app's `_register_jobs`.

The schedule's first firing is a whole period after start-up, so when no live market is
stored yet (a new install; recorded markets do not count) the app sends the first run at
start-up, in the background (`first_ingest`): a new user with internet sees markets at once.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from edgelab.core.jobs import Jobs
from edgelab.core.resources import Resources
from edgelab.core.settings import Settings

log = logging.getLogger(__name__)

INGEST_TASK = "predictions.ingest_polymarket"


def register_prediction_jobs(jobs: Jobs, settings: Settings) -> None:
    if settings.polymarket_ingest_minutes <= 0:
        return

    async def ingest(session: AsyncSession, limit: int | None = None) -> dict[str, Any]:
        """Fetch and store active Polymarket markets (at most `limit`)."""
        from edgelab.predictions.ingest import ingest_polymarket

        return await ingest_polymarket(session, settings, limit=limit, trigger="job")

    jobs.task(INGEST_TASK)(ingest)
    jobs.schedule(INGEST_TASK, every_seconds=settings.polymarket_ingest_minutes * 60)


async def first_ingest(resources: Resources) -> bool:
    """Send the ingest job now when the schedule is on and no live market is stored; whether
    it was sent. Run as a background task of the start-up: it never holds up the app."""
    from edgelab.predictions.service import has_live_data

    if resources.settings.polymarket_ingest_minutes <= 0:
        return False
    try:
        async with resources.sessionmaker() as session:
            if await has_live_data(session):
                return False
        await resources.jobs.send(INGEST_TASK)
    except Exception:  # a start-up nicety: the schedule still runs if this fails
        log.exception("the start-up Polymarket ingest could not be sent")
        return False
    log.info("no live Polymarket markets stored: the first ingest runs now")
    return True
