"""Nobody can keep an address's owner from getting sign-in links (issue 16).

The per-address limit used to be the only one on an address: 20 requests an hour from anyone
kept the owner from signing in for the rest of the hour. Now one requester is limited per
(address, requesting IP) and the per-address cap is looser and spent only by requests that
passed the per-IP limits.
"""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from edgelab.app import create_app
from edgelab.core.email.models import OutboxEmail
from edgelab.core.settings import Settings
from tests.fixtures.app import bind_to_session, client_at
from tests.fixtures.database import make_settings

pytestmark = pytest.mark.asyncio(loop_scope="session")

VICTIM = "victim-lockout@example.com"


async def _mails_to(session: AsyncSession, address: str) -> int:
    stmt = select(func.count()).select_from(OutboxEmail).where(OutboxEmail.to_address == address)
    return int((await session.execute(stmt)).scalar_one())


async def test_an_attackers_requests_from_one_ip_do_not_stop_the_owners_link(
    settings: Settings, session: AsyncSession
) -> None:
    """Default limits: 20 requests for the victim's address from one IP, then the victim from
    their own IP still gets a link (before the fix the 6th request locked the address)."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        bind_to_session(app, session)
        async with (
            client_at(app, "198.51.100.66") as attacker,
            client_at(app, "192.0.2.44") as owner,
        ):
            statuses = [
                (await attacker.post("/auth/magic-link", json={"email": VICTIM})).status_code
                for _ in range(20)
            ]
            refused = await attacker.post("/auth/magic-link", json={"email": VICTIM.upper()})
            mine = await owner.post("/auth/magic-link", json={"email": VICTIM})

    assert statuses.count(202) == 5 and statuses[5:] == [429] * 15
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "rate_limited"
    assert int(refused.headers["retry-after"]) >= 1
    assert mine.status_code == 202, mine.text
    assert await _mails_to(session, VICTIM) == 6  # the attacker's 5, and the owner's link


async def test_the_per_address_cap_still_bounds_the_links_one_inbox_gets(
    db_url: str, session: AsyncSession
) -> None:
    settings = make_settings(
        db_url, rate_limit_auth_per_email_ip="2/minute", rate_limit_auth_per_email="3/minute"
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        bind_to_session(app, session)
        async with client_at(app, "198.51.100.1") as one, client_at(app, "198.51.100.2") as two:
            first = [
                (await one.post("/auth/magic-link", json={"email": VICTIM})).status_code
                for _ in range(3)
            ]
            second = [
                (await two.post("/auth/magic-link", json={"email": VICTIM})).status_code
                for _ in range(2)
            ]
    assert first == [202, 202, 429]  # this requester's share of the address
    assert second == [202, 429]  # the address's cap, 3 a minute from everywhere
    assert await _mails_to(session, VICTIM) == 3
