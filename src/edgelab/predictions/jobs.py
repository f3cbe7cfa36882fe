"""The scheduled Polymarket ingest (`predictions.ingest_polymarket`), every
`EDGELAB_POLYMARKET_INGEST_MINUTES` (0 = not scheduled; `edgelab ingest polymarket` still works).

Offline or with Polymarket failing, a run does not raise: it is recorded as failed
(`prediction_ingest_runs.ok = false`, with its errors) and logs one warning, so the schedule
neither crashes nor floods the log. Registered by the app's `_register_jobs`.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from edgelab.core.jobs import Jobs
from edgelab.core.settings import Settings

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
