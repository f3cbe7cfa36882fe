"""What accounts adds to the app at start-up: billing and upload jobs, its part of deletion."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from edgelab.core.jobs import Jobs
from edgelab.core.resources import Product, Resources
from edgelab.core.settings import Settings


def _register_jobs(jobs: Jobs, settings: Settings) -> None:
    from edgelab.accounts.billing.processing import register_billing_jobs
    from edgelab.accounts.uploads.service import register_upload_jobs

    register_billing_jobs(jobs, settings)
    register_upload_jobs(jobs, settings)


async def _erase_user(session: AsyncSession, resources: Resources, user_id: str) -> None:
    from edgelab.accounts.uploads.service import delete_user_uploads

    await delete_user_uploads(session, resources.blob_store, user_id)


PRODUCT = Product(name="accounts", register_jobs=_register_jobs, erase_user=_erase_user)
