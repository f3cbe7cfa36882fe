"""Deleting an account takes the e-mails sent to it and its chess reviews, and removes its files
only once the deletion has committed."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from edgelab.accounts.models import User
from edgelab.accounts.service import create_user
from edgelab.accounts.uploads.models import Upload
from edgelab.chess.models import ChessReviewJob
from edgelab.core.auth import issue_access_token
from edgelab.core.email.models import OutboxEmail
from edgelab.core.resources import Resources
from edgelab.core.settings import Settings
from tests.accounts.test_uploads import BET_HISTORY, Caller, post_upload, stored_files
from tests.fixtures.app import app_in_session, resources
from tests.fixtures.database import make_settings

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest.fixture
async def settings(db_url: str, tmp_path: Path) -> Settings:
    return make_settings(db_url, upload_dir=tmp_path / "uploads")


async def _count(session: AsyncSession, stmt) -> int:
    return int((await session.execute(stmt)).scalar_one())


async def _user_with_data(client, session: AsyncSession, settings: Settings, address: str):
    assert (await client.post("/auth/magic-link", json={"email": address})).status_code == 202
    user = await create_user(session, f"other-{address}")  # someone else's mail stays
    assert (
        await client.post("/auth/magic-link", json={"email": f"other-{address}"})
    ).status_code == 202
    owner = (await session.execute(select(User).where(User.email == address))).scalar_one()
    caller = Caller(owner.id, issue_access_token(settings, owner.id))
    r = await post_upload(client, caller, "bet_history", BET_HISTORY, filename="bets.csv")
    assert r.status_code == 201, r.text
    session.add(
        ChessReviewJob(
            id=f"job-{owner.id}", requested_by=owner.id, username="hikaru", depth=8, games=[]
        )
    )
    await session.commit()
    assert user.id != owner.id and stored_files(settings)
    return caller


async def test_deleting_the_account_takes_its_mail_reviews_and_files(settings, session):
    async with app_in_session(settings, session) as (app, client):
        caller = await _user_with_data(client, session, settings, "leaver@example.com")
        r = await client.delete("/me", headers={"Authorization": f"Bearer {caller.token}"})
        assert r.status_code == 204, r.text
        await resources(app).jobs.drain(timeout=10)
    mail_to = select(func.count()).select_from(OutboxEmail).where
    assert await _count(session, mail_to(OutboxEmail.to_address == "leaver@example.com")) == 0
    assert await _count(session, mail_to(OutboxEmail.to_address == "other-leaver@example.com"))
    reviews = select(func.count()).select_from(ChessReviewJob)
    assert await _count(session, reviews.where(ChessReviewJob.requested_by == caller.id)) == 0
    uploads = select(func.count()).select_from(Upload).where(Upload.user_id == caller.id)
    assert await _count(session, uploads) == 0
    assert stored_files(settings) == []


async def test_a_deletion_that_rolls_back_keeps_the_files(settings, session):
    async def failing_eraser(session: AsyncSession, resources: Resources, user_id: str) -> None:
        raise RuntimeError("a product failed to erase")

    async with app_in_session(settings, session) as (app, client):
        caller = await _user_with_data(client, session, settings, "stayer@example.com")
        files = stored_files(settings)
        resources(app).user_erasers.append(failing_eraser)
        r = await client.delete("/me", headers={"Authorization": f"Bearer {caller.token}"})
        assert r.status_code == 500
        await resources(app).jobs.drain(timeout=10)
    uploads = select(func.count()).select_from(Upload).where(Upload.user_id == caller.id)
    assert await _count(session, uploads) == 1
    assert stored_files(settings) == files  # the rows are back, and so are their files
