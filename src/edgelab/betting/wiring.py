"""What value betting adds to the app at start-up: alert, evaluation, model and live-loop jobs,
the A/B exposure buffer (flushed in the background), and its part of deletion (alerts, tracked
bets, A/B log)."""

from __future__ import annotations

from contextlib import AsyncExitStack

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from edgelab.betting.ab.exposures import ExposureBuffer
from edgelab.core.jobs import Jobs
from edgelab.core.resources import Product, Resources
from edgelab.core.settings import Settings


def _register_jobs(jobs: Jobs, settings: Settings) -> None:
    from edgelab.betting.alerts.sending import register_alert_jobs
    from edgelab.betting.evaluation.jobs import register_evaluation_jobs
    from edgelab.betting.live.jobs import register_live_jobs
    from edgelab.betting.model.recalibration import register_model_jobs

    register_alert_jobs(jobs, settings)
    register_evaluation_jobs(jobs, settings)
    register_model_jobs(jobs, settings)
    register_live_jobs(jobs, settings)  # the live loop, scheduled when an Odds API key is set


async def _start(resources: Resources, stack: AsyncExitStack) -> None:
    settings = resources.settings
    buffer = resources.provide(
        ExposureBuffer, ExposureBuffer(settings.ab_exposure_buffer_max_rows, resources.metrics)
    )

    async def sessions() -> async_sessionmaker[AsyncSession]:
        return resources.sessionmaker  # read at each flush: the current one

    buffer.start(sessions, settings.ab_exposure_flush_seconds)
    stack.push_async_callback(buffer.stop)


async def _erase_user(session: AsyncSession, resources: Resources, user_id: str) -> None:
    from edgelab.betting.ab.exposures import delete_user_exposures
    from edgelab.betting.alerts.service import delete_user_alert_data
    from edgelab.betting.bets.service import delete_user_bets

    await delete_user_alert_data(session, user_id)
    await delete_user_bets(session, user_id)
    resources.get(ExposureBuffer).forget_user(user_id)  # rows not yet written are never written
    await delete_user_exposures(session, user_id)


PRODUCT = Product(
    name="betting", register_jobs=_register_jobs, start=_start, erase_user=_erase_user
)
