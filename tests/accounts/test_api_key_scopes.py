"""API key scopes: a key reads (`read`, the default) or acts too (`write`, asked for at
creation), and no key, whatever its scope, manages keys or changes or deletes the account."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from edgelab.accounts.models import ApiKey, User
from edgelab.accounts.service import create_user
from edgelab.core.auth import issue_access_token
from edgelab.core.settings import Settings

pytestmark = pytest.mark.asyncio(loop_scope="session")

RULE = {"name": "big edges", "min_value_score": 60}


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _paid_user_with_keys(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings, address: str
) -> tuple[User, dict[str, str], dict[str, dict]]:
    user = await create_user(session, address, tier="paid")
    await session.commit()
    jwt_auth = _auth(issue_access_token(settings, user.id))
    keys = {}
    for body in ({"name": "dashboard"}, {"name": "bot", "scope": "write"}):
        r = await client.post("/me/api-keys", json=body, headers=jwt_auth)
        assert r.status_code == 201, r.text
        keys[body["name"]] = r.json()
    await session.commit()  # refused requests below roll back to here
    return user, jwt_auth, keys


async def test_a_key_is_read_only_unless_created_with_the_write_scope(client, session, settings):
    _, jwt_auth, keys = await _paid_user_with_keys(client, session, settings, "scopes@example.com")
    read, write = keys["dashboard"], keys["bot"]
    assert read["scope"] == "read" and write["scope"] == "write"
    listed = (await client.get("/me/api-keys", headers=jwt_auth)).json()["items"]
    assert {k["name"]: k["scope"] for k in listed} == {"dashboard": "read", "bot": "write"}

    assert (await client.get("/alerts/rules", headers=_auth(read["key"]))).status_code == 200
    refused = await client.post("/alerts/rules", json=RULE, headers=_auth(read["key"]))
    assert refused.status_code == 403, refused.text
    assert refused.json()["error"]["code"] == "api_key_read_only"
    assert (await client.get("/alerts/rules", headers=_auth(read["key"]))).json()["items"] == []

    made = await client.post("/alerts/rules", json=RULE, headers=_auth(write["key"]))
    assert made.status_code == 201, made.text


async def test_no_api_key_may_manage_keys_or_change_or_delete_the_account(
    client, session, settings
):
    user, _, keys = await _paid_user_with_keys(client, session, settings, "keyless@example.com")
    write = _auth(keys["bot"]["key"])
    attempts = [
        ("POST", "/me/api-keys", {"name": "minted", "scope": "write"}),
        ("GET", "/me/api-keys", None),
        ("DELETE", f"/me/api-keys/{keys['dashboard']['id']}", None),
        ("PATCH", "/me", {"display_name": "owned"}),
        ("DELETE", "/me", None),
    ]
    for method, path, body in attempts:
        r = await client.request(method, path, json=body, headers=write)
        assert r.status_code == 403, (method, path, r.text)
        assert r.json()["error"]["code"] == "session_required", (method, path)
    await session.refresh(user)
    assert user.deleted_at is None and user.display_name is None
    keys_now = (
        select(func.count())
        .select_from(ApiKey)
        .where(ApiKey.user_id == user.id, ApiKey.revoked_at.is_(None))
    )
    assert (await session.execute(keys_now)).scalar_one() == 2
    assert (await client.get("/me", headers=write)).status_code == 200  # reading is fine


async def test_an_unknown_scope_is_a_validation_error(client, session, settings):
    user = await create_user(session, "badscope@example.com", tier="paid")
    r = await client.post(
        "/me/api-keys",
        json={"name": "x", "scope": "admin"},
        headers=_auth(issue_access_token(settings, user.id)),
    )
    assert r.status_code == 422 and r.json()["error"]["code"] == "validation_error"


async def test_a_read_only_key_may_ask_for_an_analysis_by_post(client, session, settings):
    """POSTs that only ask for a computation (chess analysis, Sentinel's assessment) declare
    themselves read-only: a read key passes the scope check (here on to the body's 422)."""
    _, _, keys = await _paid_user_with_keys(client, session, settings, "analysis@example.com")
    read = _auth(keys["dashboard"]["key"])
    for path in ("/api/analyze", "/api/analytics/analyze-player"):
        r = await client.post(path, json={}, headers=read)
        assert r.json()["error"]["code"] != "api_key_read_only", (path, r.text)
        assert r.status_code in (403, 422), (path, r.text)  # 403 only: analysts-only route
    refused = await client.post("/api/analyze/review", json={}, headers=read)
    assert refused.json()["error"]["code"] == "api_key_read_only"


async def test_no_api_key_may_buy_cancel_or_change_the_subscription(client, session, settings):
    _, _, keys = await _paid_user_with_keys(client, session, settings, "billing.key@example.com")
    write = _auth(keys["bot"]["key"])
    for path, body in (
        ("/billing/checkout", None),
        ("/billing/cancel", {"when": "now"}),
        ("/billing/resume", None),
        ("/billing/pause", None),
        ("/billing/change-plan", {"plan": "yearly"}),
        ("/billing/payment-method", None),
        ("/billing/portal", None),
    ):
        r = await client.post(path, json=body, headers=write)
        assert r.status_code == 403, (path, r.text)
        assert r.json()["error"]["code"] == "session_required", path
