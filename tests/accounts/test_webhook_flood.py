"""A flood of unsigned Paddle webhooks is limited per IP and stops writing audit rows (issue 16).

Each failed signature used to be a 401 and an audit row, without limit. Now, past
`EDGELAB_RATE_LIMIT_WEBHOOK_UNSIGNED` from one IP, it is a 429 that records nothing; signed
deliveries are verified first and never counted or refused.
"""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from edgelab.accounts.billing.paddle import sign
from edgelab.accounts.models import AuditEvent
from edgelab.app import create_app
from tests.fixtures.app import bind_to_session, client_at
from tests.fixtures.database import make_settings

pytestmark = pytest.mark.asyncio(loop_scope="session")

SECRET = "pdl_ntfset_01test_suite_secret_0123456789"
FLOOD_IP, OTHER_IP = "203.0.113.77", "203.0.113.78"


async def _rejections_from(session: AsyncSession, ip: str) -> int:
    stmt = (
        select(func.count())
        .select_from(AuditEvent)
        .where(AuditEvent.event == "webhook_rejected", AuditEvent.ip == ip)
    )
    return int((await session.execute(stmt)).scalar_one())


async def test_failed_signatures_past_the_limit_are_429_without_an_audit_row_each(
    db_url: str, session: AsyncSession
) -> None:
    settings = make_settings(
        db_url, paddle_webhook_secret=SECRET, rate_limit_webhook_unsigned="3/minute"
    )
    body = b'{"event_id": "evt_flood"}'
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        bind_to_session(app, session)
        async with client_at(app, FLOOD_IP) as flood, client_at(app, OTHER_IP) as other:
            unsigned = [await flood.post("/webhooks/paddle", content=body) for _ in range(3)] + [
                await flood.post("/webhooks/paddle", content=body, headers={"Paddle-Signature": h})
                for h in ("ts=1;h1=00", "garbage", "ts=2;h1=11")
            ]
            # a signed delivery from the same IP is verified before anything is counted: it
            # reaches the payload check (400 here: signed, but not a notification)
            now = int(dt.datetime.now(dt.UTC).timestamp())
            signed = await flood.post(
                "/webhooks/paddle",
                content=b"[]",
                headers={"Paddle-Signature": sign(b"[]", SECRET, now)},
            )
            elsewhere = await other.post("/webhooks/paddle", content=body)

    assert [r.status_code for r in unsigned] == [401, 401, 401, 429, 429, 429]
    refused = unsigned[-1]
    assert refused.json()["error"]["code"] == "rate_limited" and refused.json()["request_id"]
    assert int(refused.headers["retry-after"]) >= 1
    assert refused.headers["x-ratelimit-remaining"] == "0"
    assert await _rejections_from(session, FLOOD_IP) == 3  # one per 401, none past the limit
    assert signed.status_code == 400
    assert signed.json()["error"]["code"] == "invalid_webhook_payload"
    assert elsewhere.status_code == 401  # another IP has its own budget
    assert await _rejections_from(session, OTHER_IP) == 1
