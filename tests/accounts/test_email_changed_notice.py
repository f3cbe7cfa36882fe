"""When an address change completes: every other session of the account ends, the old address
is told (with the API keys that still work), and the keys themselves are kept."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from edgelab.accounts.models import User
from edgelab.core.email.models import OutboxEmail
from tests.accounts.test_email_change import _auth, _mail, _signed_in, _token

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_a_completed_change_ends_other_sessions_and_tells_the_old_address_the_keys(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    laptop = await _signed_in(client, session, "moving@example.com")
    phone = await _signed_in(client, session, "moving@example.com")
    user = (await session.execute(select(User).where(User.email == "moving@example.com"))).scalar()
    assert user is not None
    user.tier = "paid"  # keys are a paid feature
    await session.commit()
    headers = _auth(laptop["access_token"])
    kept = await client.post("/me/api-keys", json={"name": "notebook"}, headers=headers)
    gone = await client.post("/me/api-keys", json={"name": "old-bot"}, headers=headers)
    assert kept.status_code == gone.status_code == 201, kept.text
    revoked = await client.delete(f"/me/api-keys/{gone.json()['id']}", headers=headers)
    assert revoked.status_code == 204
    await session.commit()

    r = await client.post("/me/email", json={"email": "moved@example.com"}, headers=headers)
    assert r.status_code == 202, r.text
    token = _token(await _mail(session, "moved@example.com", "email_change_verify"))
    before = (
        await session.execute(
            select(OutboxEmail).where(OutboxEmail.template == "email_changed_notice")
        )
    ).first()
    assert before is None  # nothing is said to have changed before the link is used
    await session.commit()
    r = await client.post("/auth/verify-email", json={"token": token})
    assert r.status_code == 200, r.text
    await session.commit()

    notice = await _mail(session, "moving@example.com", "email_changed_notice")
    assert notice.essential and notice.subject == "Your edgelab address was changed"
    assert "moved@example.com" in notice.text and "token=" not in notice.text
    assert "notebook" in notice.text and kept.json()["prefix"] in notice.text
    assert "old-bot" not in notice.text  # a revoked key is not listed
    assert "notebook" in notice.html
    # both sessions from before the change are over; the kept key still works
    for before_change in (laptop, phone):
        old = await client.post(
            "/auth/refresh", json={"refresh_token": before_change["refresh_token"]}
        )
        assert old.status_code == 401
    me = await client.get("/me", headers=_auth(kept.json()["key"]))
    assert me.status_code == 200 and me.json()["email"] == "moved@example.com"
