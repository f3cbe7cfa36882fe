"""What accounts adds to the app at start-up: billing and upload jobs, its part of deletion."""

from __future__ import annotations

from contextlib import AsyncExitStack

from sqlalchemy.ext.asyncio import AsyncSession

from edgelab.core.jobs import Jobs
from edgelab.core.resources import Product, Resources
from edgelab.core.settings import Settings


def _register_jobs(jobs: Jobs, settings: Settings) -> None:
    from edgelab.accounts.billing.processing import register_billing_jobs
    from edgelab.accounts.uploads.service import register_upload_jobs

    register_billing_jobs(jobs, settings)
    register_upload_jobs(jobs, settings)


async def _start(resources: Resources, stack: AsyncExitStack) -> None:
    """Paddle's API client for self-service, when a key is set (no I/O until first use)."""
    key = resources.settings.paddle_api_key
    if key is None:
        return
    from edgelab.accounts.billing.paddle_api import PaddleApi

    api = PaddleApi(resources.settings, api_key=key.get_secret_value())
    resources.provide(PaddleApi, api)
    stack.push_async_callback(api.aclose)


async def _erase_user(session: AsyncSession, resources: Resources, user_id: str) -> None:
    from edgelab.accounts.uploads.service import delete_user_uploads

    await delete_user_uploads(session, user_id)  # the files go after the commit


PRODUCT = Product(
    name="accounts", register_jobs=_register_jobs, start=_start, erase_user=_erase_user
)
