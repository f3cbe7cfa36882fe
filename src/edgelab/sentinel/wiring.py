"""What Sentinel adds to the app at start-up: rescoring jobs, the optional Claude explainer,
and its part of deletion (its copy of the user's tracked bets)."""

from __future__ import annotations

from contextlib import AsyncExitStack

from sqlalchemy.ext.asyncio import AsyncSession

from edgelab.core.jobs import Jobs
from edgelab.core.resources import Product, Resources
from edgelab.core.settings import Settings


def _register_jobs(jobs: Jobs, settings: Settings) -> None:
    from edgelab.sentinel.jobs import register_sentinel_jobs

    register_sentinel_jobs(jobs, settings)


async def _start(resources: Resources, stack: AsyncExitStack) -> None:
    from edgelab.sentinel.anthropic_client import ClaudeExplainer, make_explainer

    explainer = make_explainer(resources.settings)  # None without a key: the template explains
    if explainer is not None:
        resources.provide(ClaudeExplainer, explainer)
        stack.push_async_callback(explainer.aclose)


async def _erase_user(session: AsyncSession, resources: Resources, user_id: str) -> None:
    from edgelab.sentinel.betlog.tracker import remove_user_bets

    await remove_user_bets(session, user_id)


PRODUCT = Product(
    name="sentinel", register_jobs=_register_jobs, start=_start, erase_user=_erase_user
)
