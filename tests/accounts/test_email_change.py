"""Changing the account's address: a link to the new address, a notice to the old one, and the
change only when the link is used (once)."""

from __future__ import annotations

import re

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from edgelab.accounts import email_change
from edgelab.accounts.models import AuditEvent, EmailChange, User
from edgelab.accounts.service import create_user
from edgelab.core.email.models import EmailSuppression, OutboxEmail
from edgelab.core.email.suppression import suppress
from edgelab.core.settings import Settings
from tests.fixtures.database import make_settings

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest.fixture
async def settings(db_url: str) -> Settings:
    return make_settings(db_url, rate_limits_enabled=False)


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _mail(session: AsyncSession, to: str, template: str) -> OutboxEmail:
    found = (
        (
            await session.execute(
                select(OutboxEmail)
                .where(OutboxEmail.to_address == to, OutboxEmail.template == template)
                .order_by(OutboxEmail.id.desc())
            )
        )
        .scalars()
        .first()
    )
    assert found is not None, f"no {template} mail to {to}"
    return found


def _token(mail: OutboxEmail) -> str:
    match = re.search(r"verify-email\?token=([A-Za-z0-9_%-]+)", mail.text)
    assert match is not None and match.group(1) in mail.html
    return match.group(1)


async def _signed_in(client: httpx.AsyncClient, session: AsyncSession, address: str) -> dict:
    """A real sign-in (a refresh token too, to see it end)."""
    assert (await client.post("/auth/magic-link", json={"email": address})).status_code == 202
    mail = await _mail(session, address, "magic_link")
    token = re.search(r"token=([A-Za-z0-9_%-]+)", mail.text)
    assert token is not None
    r = await client.post("/auth/verify", json={"token": token.group(1)})
    assert r.status_code == 200, r.text
    await session.commit()
    return r.json()


async def test_the_link_to_the_new_address_changes_it_once_and_ends_other_sessions(client, session):
    tokens = await _signed_in(client, session, "old@example.com")
    r = await client.post(
        "/me/email", json={"email": "New@Example.com"}, headers=_auth(tokens["access_token"])
    )
    assert r.status_code == 202, r.text
    verify = await _mail(session, "new@example.com", "email_change_verify")
    notice = await _mail(session, "old@example.com", "email_change_notice")
    assert verify.essential and notice.essential and verify.secret_expires_at is not None
    assert "new@example.com" in notice.text and "token=" not in notice.text
    me = await client.get("/me", headers=_auth(tokens["access_token"]))
    assert me.json()["email"] == "old@example.com"  # nothing changes before the link is used
    await session.commit()

    r = await client.post("/auth/verify-email", json={"token": _token(verify)})
    assert r.status_code == 200, r.text
    fresh = r.json()
    assert (await client.get("/me", headers=_auth(fresh["access_token"]))).json()[
        "email"
    ] == "new@example.com"
    await session.commit()
    # the link is single use
    again = await client.post("/auth/verify-email", json={"token": _token(verify)})
    assert again.status_code == 401
    assert again.json()["error"]["code"] == "invalid_email_change_link"
    # the sessions from before the change end; the one the link opened goes on
    old = await client.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert old.status_code == 401
    new = await client.post("/auth/refresh", json={"refresh_token": fresh["refresh_token"]})
    assert new.status_code == 200
    # the old address signs in no more to this account (it would make a new one)
    user = (await session.execute(select(User).where(User.email == "new@example.com"))).scalar()
    assert user is not None
    changed = (
        await session.execute(
            select(AuditEvent).where(
                AuditEvent.event == "email_changed", AuditEvent.user_id == user.id
            )
        )
    ).scalar_one()
    assert changed.details == {"old_email": "old@example.com", "new_email": "new@example.com"}


async def test_an_address_of_another_account_is_409_user_exists(client, session, settings):
    from edgelab.core.auth import issue_access_token

    me = await create_user(session, "me@example.com")
    await create_user(session, "taken@example.com")
    await session.commit()
    headers = _auth(issue_access_token(settings, me.id))
    r = await client.post("/me/email", json={"email": "TAKEN@example.com"}, headers=headers)
    assert r.status_code == 409 and r.json()["error"]["code"] == "user_exists"
    r = await client.post("/me/email", json={"email": "me@example.com"}, headers=headers)
    assert r.status_code == 409 and r.json()["error"]["code"] == "email_unchanged"
    r = await client.post("/me/email", json={"email": "not an address"}, headers=headers)
    assert r.status_code == 422
    assert (
        await session.execute(select(OutboxEmail).where(OutboxEmail.template.like("email_change%")))
    ).first() is None


async def test_an_address_taken_after_the_request_is_409_when_the_link_is_used(
    client, session, settings
):
    from edgelab.core.auth import issue_access_token

    me = await create_user(session, "slow@example.com")
    await session.commit()
    r = await client.post(
        "/me/email",
        json={"email": "race@example.com"},
        headers=_auth(issue_access_token(settings, me.id)),
    )
    assert r.status_code == 202
    token = _token(await _mail(session, "race@example.com", "email_change_verify"))
    await create_user(session, "race@example.com")  # someone signs up with it meanwhile
    await session.commit()
    r = await client.post("/auth/verify-email", json={"token": token})
    assert r.status_code == 409 and r.json()["error"]["code"] == "user_exists"
    await session.refresh(me)
    assert me.email == "slow@example.com"


async def test_an_api_key_cannot_change_the_address(client, session, settings):
    from edgelab.core.auth import issue_access_token

    user = await create_user(session, "keyed@example.com", tier="paid")
    await session.commit()
    r = await client.post(
        "/me/api-keys",
        json={"name": "bot", "scope": "write"},
        headers=_auth(issue_access_token(settings, user.id)),
    )
    assert r.status_code == 201, r.text
    await session.commit()
    r = await client.post(
        "/me/email", json={"email": "thief@example.com"}, headers=_auth(r.json()["key"])
    )
    assert r.status_code == 403 and r.json()["error"]["code"] == "session_required"
    r = await client.post("/me/email", json={"email": "thief@example.com"})
    assert r.status_code == 401


async def test_a_newer_request_or_a_cancel_ends_the_pending_link(client, session, settings):
    from edgelab.core.auth import issue_access_token

    user = await create_user(session, "fickle@example.com")
    await session.commit()
    headers = _auth(issue_access_token(settings, user.id))
    await client.post("/me/email", json={"email": "first@example.com"}, headers=headers)
    first = _token(await _mail(session, "first@example.com", "email_change_verify"))
    await client.post("/me/email", json={"email": "second@example.com"}, headers=headers)
    second = _token(await _mail(session, "second@example.com", "email_change_verify"))
    await session.commit()
    r = await client.post("/auth/verify-email", json={"token": first})
    assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_email_change_link"
    assert (await client.delete("/me/email", headers=headers)).status_code == 204
    await session.commit()
    r = await client.post("/auth/verify-email", json={"token": second})
    assert r.status_code == 401
    await session.refresh(user)
    assert user.email == "fickle@example.com"


async def test_an_expired_link_is_refused(client, session, settings):
    from edgelab.core.auth import issue_access_token
    from edgelab.core.clock import real_utcnow

    user = await create_user(session, "late@example.com")
    await session.commit()
    headers = _auth(issue_access_token(settings, user.id))
    await client.post("/me/email", json={"email": "later@example.com"}, headers=headers)
    token = _token(await _mail(session, "later@example.com", "email_change_verify"))
    row = (
        await session.execute(select(EmailChange).where(EmailChange.user_id == user.id))
    ).scalar_one()
    row.expires_at = real_utcnow()
    await session.commit()
    r = await client.post("/auth/verify-email", json={"token": token})
    assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_email_change_link"


async def test_a_link_is_consumed_by_one_conditional_update(session, settings):
    user = await create_user(session, "once@example.com")
    await session.flush()
    from edgelab.core.auth import Principal

    principal = Principal(id=user.id, role="user", tier="free", via="jwt")
    await email_change.request_email_change(
        session, settings, principal, "twice@example.com", ip=None
    )
    change = (
        await session.execute(select(EmailChange).where(EmailChange.user_id == user.id))
    ).scalar_one()
    assert await email_change._consume(session, change) is True
    # a second presentation that read the row before the first wrote (in memory only)
    set_committed_value(change, "used_at", None)
    assert await email_change._consume(session, change) is False


async def test_confirming_a_suppressed_new_address_lifts_its_suppression(client, session, settings):
    from edgelab.core.auth import issue_access_token

    user = await create_user(session, "moving@example.com")
    await suppress(session, "back@example.com", reason="bounced", detail=None, outbox_id=None)
    await session.commit()
    r = await client.post(
        "/me/email",
        json={"email": "back@example.com"},
        headers=_auth(issue_access_token(settings, user.id)),
    )
    assert r.status_code == 202
    verify = await _mail(session, "back@example.com", "email_change_verify")
    assert verify.status == "logged"  # essential: sent even to a suppressed address
    await session.commit()
    r = await client.post("/auth/verify-email", json={"token": _token(verify)})
    assert r.status_code == 200, r.text
    assert await session.get(EmailSuppression, "back@example.com") is None


async def test_deleting_the_account_forgets_its_change_requests(client, session, settings):
    from edgelab.core.auth import issue_access_token

    user = await create_user(session, "gone@example.com")
    await session.commit()
    headers = _auth(issue_access_token(settings, user.id))
    await client.post("/me/email", json={"email": "gone2@example.com"}, headers=headers)
    await session.commit()
    assert (await client.delete("/me", headers=headers)).status_code == 204
    left = await session.execute(select(EmailChange).where(EmailChange.user_id == user.id))
    assert left.first() is None


async def test_the_dashboard_page_of_the_link_changes_the_address_on_a_click(client, session):
    tokens = await _signed_in(client, session, "page.old@example.com")
    r = await client.post(
        "/me/email", json={"email": "page.new@example.com"}, headers=_auth(tokens["access_token"])
    )
    assert r.status_code == 202, r.text
    token = _token(await _mail(session, "page.new@example.com", "email_change_verify"))
    await session.commit()
    landing = await client.get(f"/app/verify-email?token={token}")  # a scanner spends nothing
    assert landing.status_code == 200 and 'name="token"' in landing.text
    assert (await client.get("/me", headers=_auth(tokens["access_token"]))).json()[
        "email"
    ] == "page.old@example.com"
    r = await client.post("/app/verify-email", data={"token": token})
    assert r.status_code == 303 and r.headers["location"] == "/app/account"
    assert any(c.startswith("edgelab_access=") for c in r.headers.get_list("set-cookie"))
    await session.commit()
    again = await client.post("/app/verify-email", data={"token": token})
    assert again.status_code == 401 and "set-cookie" not in again.headers
