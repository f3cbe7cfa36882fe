"""What prediction markets add to the app at start-up: the ingest job, the Polymarket and
NewsAPI clients, and Polymarket's prices of our games for value betting's bet detail."""

from __future__ import annotations

from contextlib import AsyncExitStack

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

    clients = resources.provide(PredictionClients, PredictionClients.create(resources.settings))
    stack.push_async_callback(clients.aclose)  # no I/O until first use
    resources.provide(OtherVenues, OtherVenues(polymarket_prices))


PRODUCT = Product(name="predictions", register_jobs=_register_jobs, start=_start)
