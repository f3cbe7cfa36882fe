"""What prediction markets add to the app at start-up: the ingest job (and its first run when
no live market is stored), the Polymarket and NewsAPI clients, and Polymarket's prices of our
games for value betting's bet detail."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from dataclasses import dataclass

from edgelab.betting.markets.other_venues import OtherVenues
from edgelab.core.jobs import Jobs
from edgelab.core.resources import Product, Resources
from edgelab.core.settings import Settings
from edgelab.predictions.sources.clients import PredictionClients


def _register_jobs(jobs: Jobs, settings: Settings) -> None:
    from edgelab.predictions.jobs import register_prediction_jobs

    register_prediction_jobs(jobs, settings)


async def _start(resources: Resources, stack: AsyncExitStack) -> None:
    from edgelab.predictions.crossvenue import polymarket_prices
    from edgelab.predictions.jobs import first_ingest

    clients = resources.provide(PredictionClients, PredictionClients.create(resources.settings))
    stack.push_async_callback(clients.aclose)  # no I/O until first use
    resources.provide(OtherVenues, OtherVenues(polymarket_prices))
    if resources.settings.polymarket_ingest_minutes > 0:
        # in the background: the app (and /health) answers while it looks and the job runs
        task = asyncio.get_running_loop().create_task(first_ingest(resources))
        resources.provide(FirstIngest, FirstIngest(task))

        async def stop() -> None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

        stack.push_async_callback(stop)


@dataclass
class FirstIngest:
    """The start-up check that sends the first Polymarket ingest (`jobs.first_ingest`)."""

    task: asyncio.Task[bool]


PRODUCT = Product(name="predictions", register_jobs=_register_jobs, start=_start)
