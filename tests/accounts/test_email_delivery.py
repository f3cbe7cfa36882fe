"""The outbox sent through Resend (a local fake): statuses, retries, and the whole path from a
sign-in request to a delivered e-mail."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from edgelab.accounts.sign_in import MAGIC_LINK_MAIL
from edgelab.app import create_app
from edgelab.core import migrations
from edgelab.core.db import create_engine, create_sessionmaker
from edgelab.core.email.delivery import MAX_ATTEMPTS, REDACTED, deliver
from edgelab.core.email.models import OutboxEmail
from edgelab.core.email.outbox import queue_email
from edgelab.core.email.resend import ResendClient
from edgelab.core.jobs import unit_of_work_jobs
from edgelab.core.settings import Settings
from tests.accounts.fake_resend import VALID_KEY, FakeResend, serve
from tests.fixtures.app import resources
from tests.fixtures.database import make_settings

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest.fixture(scope="module")
def resend_server() -> Iterator[tuple[FakeResend, str]]:
    fake = FakeResend()
    with serve(fake.app) as url:
        yield fake, url


@pytest.fixture
async def sender(resend_server) -> AsyncIterator[ResendClient]:
    resend_server[0].reset()
    client = ResendClient(
        Settings(_env_file=None, http_timeout_seconds=0.5, http_max_retries=1),
        api_key=VALID_KEY,
        base_url=resend_server[1],
        max_per_second=50,
        retry_initial_wait=0,
    )
    yield client
    await client.aclose()


async def _pending(
    session: AsyncSession, settings: Settings, secret_expires_at: dt.datetime | None = None
) -> OutboxEmail:
    resend_settings = settings.model_copy(update={"resend_api_key": SecretStr(VALID_KEY)})

    class NoJobs:  # the send is driven by hand here
        def prepare(self, name, payload):
            return payload

    async with unit_of_work_jobs(NoJobs()) as buffer:  # type: ignore[arg-type]
        message = await queue_email(
            session,
            resend_settings,
            to="to@example.com",
            template=MAGIC_LINK_MAIL,
            context={"link": "https://x/y", "minutes": 15},
            secret_expires_at=secret_expires_at,
        )
        buffer.discard()
    return message


async def test_a_delivered_message_is_marked_sent_with_the_provider_id(
    session, settings, sender, resend_server
):
    message = await _pending(session, settings)
    assert message.status == "pending" and message.backend == "resend"
    assert await deliver(session, settings, sender, message.id) == "sent"
    assert message.provider_id == resend_server[0].sent[0]["id"] and message.attempts == 1
    assert resend_server[0].sent[0]["to"] == ["to@example.com"]
    assert await deliver(session, settings, sender, message.id) == "sent"  # no second send
    assert len(resend_server[0].sent) == 1


async def test_a_permanent_refusal_fails_at_once_and_a_transient_one_stays_pending(
    session, settings, sender, resend_server
):
    refused = await _pending(session, settings)
    resend_server[0].plan(
        status=422,
        body={"statusCode": 422, "name": "validation_error", "message": "Invalid `to` field."},
    )
    assert await deliver(session, settings, sender, refused.id) == "failed"
    assert "email_rejected" in (refused.last_error or "")
    flaky = await _pending(session, settings)
    resend_server[0].plan(status=503, times=5)
    assert await deliver(session, settings, sender, flaky.id) == "pending"
    flaky.attempts = MAX_ATTEMPTS - 1
    resend_server[0].plan(status=503, times=5)
    assert await deliver(session, settings, sender, flaky.id) == "failed"  # out of attempts


async def test_a_message_whose_sign_in_link_expired_before_it_went_out_is_never_sent(
    session, settings, sender, resend_server
):
    expired = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    message = await _pending(session, settings, secret_expires_at=expired)
    assert await deliver(session, settings, sender, message.id) == "failed"
    assert resend_server[0].sent == [] and message.attempts == 0
    assert message.text == message.html == REDACTED
    fresh = await _pending(
        session, settings, secret_expires_at=dt.datetime.now(dt.UTC) + dt.timedelta(minutes=15)
    )
    assert await deliver(session, settings, sender, fresh.id) == "sent"


async def test_a_sign_in_request_reaches_the_inbox_through_a_job(tmp_path: Path, resend_server):
    """No test session here: the real unit of work commits, then the job sends."""
    resend_server[0].reset()
    settings = make_settings(
        f"sqlite+aiosqlite:///{tmp_path / 'mail.db'}",
        resend_api_key=VALID_KEY,
        resend_url=resend_server[1],
        http_timeout_seconds=1.0,
    )
    await asyncio.to_thread(migrations.upgrade, settings)  # alembic runs its own loop
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            r = await client.post("/auth/magic-link", json={"email": "inbox@example.com"})
            assert r.status_code == 202
        await resources(app).jobs.drain(timeout=10)
    sent = resend_server[0].sent
    assert len(sent) == 1 and sent[0]["to"] == ["inbox@example.com"]
    assert re.search(r"/app/verify\?token=", sent[0]["text"])
    engine = create_engine(settings)
    async with create_sessionmaker(engine)() as s:
        row = (await s.execute(select(OutboxEmail))).scalar_one()
        assert row.status == "sent" and row.provider_id == sent[0]["id"]
    await engine.dispose()
