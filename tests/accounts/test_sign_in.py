"""Magic-link sign-in, JWT sessions, refresh rotation, API keys and the profile, end to end."""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import available_timezones

import httpx
import jwt
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from edgelab.accounts.models import AuditEvent, User
from edgelab.accounts.service import create_user
from edgelab.core.auth import issue_access_token
from edgelab.core.email.models import OutboxEmail
from edgelab.core.settings import Settings

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def _link_token(session: AsyncSession, address: str) -> str:
    mail = (
        (
            await session.execute(
                select(OutboxEmail)
                .where(OutboxEmail.to_address == address)
                .order_by(OutboxEmail.id.desc())
            )
        )
        .scalars()
        .first()
    )
    assert mail is not None and mail.status == "logged" and mail.backend == "outbox"
    match = re.search(r"token=([A-Za-z0-9_%-]+)", mail.text)
    assert match is not None and match.group(1) in mail.html
    return match.group(1)


async def _sign_in(client: httpx.AsyncClient, session: AsyncSession, address: str) -> dict:
    r = await client.post("/auth/magic-link", json={"email": address})
    assert r.status_code == 202
    r = await client.post(
        "/auth/verify", json={"token": await _link_token(session, address.lower())}
    )
    assert r.status_code == 200, r.text
    return r.json()


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_a_new_address_signs_up_and_in_with_a_single_use_link(client, session):
    tokens = await _sign_in(client, session, "Ada@Example.com")
    me = (await client.get("/me", headers=_auth(tokens["access_token"]))).json()
    assert me["email"] == "ada@example.com" and me["role"] == "user" and me["tier"] == "free"
    assert set(me) >= {"id", "email", "role", "tier"}
    token = await _link_token(session, "ada@example.com")
    again = await client.post("/auth/verify", json={"token": token})
    assert again.status_code == 401 and again.json()["error"]["code"] == "invalid_sign_in_link"
    events = (
        (await session.execute(select(AuditEvent.event).where(AuditEvent.user_id == me["id"])))
        .scalars()
        .all()
    )
    assert {"magic_link_requested", "sign_in", "sign_in_failed"} <= set(events)


async def test_the_link_request_answers_the_same_for_known_and_unknown_addresses(client, session):
    await create_user(session, "known@example.com")
    known = await client.post("/auth/magic-link", json={"email": "known@example.com"})
    unknown = await client.post("/auth/magic-link", json={"email": "nobody@example.com"})
    assert known.status_code == unknown.status_code == 202
    assert known.json() == unknown.json()


async def test_an_expired_link_is_refused(client, session):
    await client.post("/auth/magic-link", json={"email": "late@example.com"})
    token = await _link_token(session, "late@example.com")
    from edgelab.accounts.models import MagicLink

    for link in (await session.execute(select(MagicLink))).scalars():
        link.expires_at = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    r = await client.post("/auth/verify", json={"token": token})
    assert r.status_code == 401


async def test_refresh_rotates_and_reusing_an_old_token_ends_the_whole_family(client, session):
    first = await _sign_in(client, session, "rot@example.com")
    second = (
        await client.post("/auth/refresh", json={"refresh_token": first["refresh_token"]})
    ).json()
    assert second["refresh_token"] != first["refresh_token"]
    reuse = await client.post("/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert reuse.status_code == 401 and reuse.json()["error"]["code"] == "refresh_token_reused"
    # the thief replayed an old token: the legitimate newest one is revoked too
    after = await client.post("/auth/refresh", json={"refresh_token": second["refresh_token"]})
    assert after.status_code == 401


async def test_logout_ends_the_refresh_family(client, session):
    tokens = await _sign_in(client, session, "bye@example.com")
    assert (
        await client.post("/auth/logout", json={"refresh_token": tokens["refresh_token"]})
    ).status_code == 204
    r = await client.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert r.status_code == 401


def _forge(settings: Settings, **changes) -> str:
    now = dt.datetime.now(dt.UTC)
    claims = {
        "sub": "usr_x",
        "iat": int(now.timestamp()),
        "exp": int(now.timestamp()) + 600,
        "aud": settings.jwt_audience,
        "iss": settings.jwt_issuer,
    }
    key = changes.pop("key", settings.jwt_secret.get_secret_value())
    alg = changes.pop("alg", "HS256")
    claims.update(changes)
    return jwt.encode(claims, key, algorithm=alg)


@pytest.mark.parametrize(
    "case", ["tampered", "alg_none", "expired", "wrong_audience", "wrong_key", "garbage"]
)
async def test_bad_access_tokens_are_refused_with_401(client, session, settings, case):
    user = await create_user(session, f"{case}@example.com")
    good = issue_access_token(settings, user.id)
    header, payload, sig = good.split(".")
    token = {
        "tampered": f"{header}.{payload[:-2]}xx.{sig}",
        "alg_none": jwt.encode(
            {
                "sub": user.id,
                "aud": settings.jwt_audience,
                "iss": settings.jwt_issuer,
                "iat": 1,
                "exp": 9999999999,
            },
            None,
            algorithm="none",
        ),
        "expired": _forge(settings, sub=user.id, exp=int(dt.datetime.now(dt.UTC).timestamp()) - 5),
        "wrong_audience": _forge(settings, sub=user.id, aud="someone-else"),
        "wrong_key": _forge(settings, sub=user.id, key="another-secret-that-is-long-enough-32"),
        "garbage": "not-a-jwt",
    }[case]
    assert (await client.get("/me", headers=_auth(good))).status_code == 200
    r = await client.get("/me", headers=_auth(token))
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    assert r.json()["error"]["code"] in {"invalid_token", "token_expired"}


async def test_me_without_credentials_is_401(client):
    r = await client.get("/me")
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"


async def test_a_tier_change_applies_on_the_next_request_not_at_token_expiry(
    client, session, settings
):
    user = await create_user(session, "upgrade@example.com")
    await session.commit()  # the refused request below rolls back to here, not further
    token = issue_access_token(settings, user.id)
    r = await client.post("/me/api-keys", json={"name": "bot"}, headers=_auth(token))
    assert r.status_code == 403 and r.json()["error"]["code"] == "paid_subscription_required"
    user.tier = "paid"
    await session.flush()
    r = await client.post("/me/api-keys", json={"name": "bot"}, headers=_auth(token))
    assert r.status_code == 201


async def test_api_keys_work_as_bearer_until_revoked_and_are_stored_hashed(
    client, session, settings
):
    user = await create_user(session, "keys@example.com", tier="paid")
    token = issue_access_token(settings, user.id)
    created = (
        await client.post("/me/api-keys", json={"name": "laptop"}, headers=_auth(token))
    ).json()
    key = created["key"]
    assert key.startswith("elk_") and created["prefix"] == key[:10]
    from edgelab.accounts.models import ApiKey

    stored = (await session.execute(select(ApiKey))).scalars().all()
    assert all(key not in (k.key_hash, k.prefix + "x") and k.key_hash != key for k in stored)
    me = await client.get("/me", headers=_auth(key))
    assert me.status_code == 200 and me.json()["email"] == "keys@example.com"
    listed = (await client.get("/me/api-keys", headers=_auth(token))).json()["items"]
    assert [k["id"] for k in listed] == [created["id"]] and "key" not in listed[0]
    assert (
        await client.delete(f"/me/api-keys/{created['id']}", headers=_auth(token))
    ).status_code == 204
    r = await client.get("/me", headers=_auth(key))
    assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_api_key"


async def test_one_user_cannot_see_or_revoke_anothers_key(client, session, settings):
    alice = await create_user(session, "alice@example.com", tier="paid")
    bob = await create_user(session, "bob@example.com", tier="paid")
    created = (
        await client.post(
            "/me/api-keys",
            json={"name": "a"},
            headers=_auth(issue_access_token(settings, alice.id)),
        )
    ).json()
    bob_auth = _auth(issue_access_token(settings, bob.id))
    assert (await client.get("/me/api-keys", headers=bob_auth)).json()["items"] == []
    r = await client.delete(f"/me/api-keys/{created['id']}", headers=bob_auth)
    assert r.status_code == 404 and r.json()["error"]["code"] == "api_key_not_found"


async def test_profile_updates_validate_the_time_zone(client, session, settings):
    user = await create_user(session, "tz@example.com")
    auth = _auth(issue_access_token(settings, user.id))
    r = await client.patch(
        "/me", json={"time_zone": "Europe/London", "display_name": "Tee"}, headers=auth
    )
    assert r.status_code == 200 and r.json()["time_zone"] == "Europe/London"
    bad = await client.patch("/me", json={"time_zone": "Mars/Olympus"}, headers=auth)
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "validation_error"
    unknown_field = await client.patch("/me", json={"tier": "paid"}, headers=auth)
    assert unknown_field.status_code == 422


async def test_profile_null_fields_answer_200_and_null_preferences_reset_them(
    client, session, settings
):
    """The fuzz's 500: null alert_preferences was stored as JSON null, then not a profile."""
    user = await create_user(session, "nulls@example.com")
    auth = _auth(issue_access_token(settings, user.id))
    await client.patch("/me", json={"alert_preferences": {"email": False}}, headers=auth)
    r = await client.patch(
        "/me",
        json={"time_zone": "Europe/London", "display_name": None, "alert_preferences": None},
        headers=auth,
    )
    assert r.status_code == 200, r.text
    assert r.json()["alert_preferences"] == {} and r.json()["display_name"] is None
    assert r.json()["time_zone"] == "Europe/London"


async def test_profile_refuses_text_that_is_not_unicode_with_422(client, session, settings):
    user = await create_user(session, "surrogate@example.com")
    await session.commit()  # a refused request rolls back to here
    auth = _auth(issue_access_token(settings, user.id))
    for body in ('{"alert_preferences": {"k": "\\ud800"}}', '{"display_name": "\\udfff"}'):
        r = await client.patch(
            "/me", content=body, headers={**auth, "Content-Type": "application/json"}
        )
        assert r.status_code == 422 and r.json()["error"]["code"] == "validation_error", r.text
    assert (await client.get("/me", headers=auth)).json()["alert_preferences"] == {}


async def test_profile_time_zones_are_exactly_the_ones_the_schema_lists(client, session, settings):
    schema = (await client.get("/openapi.json")).json()["components"]["schemas"]["MeUpdate"]
    zone = next(o for o in schema["properties"]["time_zone"]["anyOf"] if "enum" in o)
    assert set(zone["enum"]) == available_timezones()
    user = await create_user(session, "zones@example.com")
    auth = _auth(issue_access_token(settings, user.id))
    for name in ("Pacific/Chatham", "America/Argentina/Ushuaia", zone["enum"][-1]):
        r = await client.patch("/me", json={"time_zone": name}, headers=auth)
        assert r.status_code == 200 and r.json()["time_zone"] == name
    assert "Mars/Olympus" not in zone["enum"]


async def test_deleting_the_account_anonymises_it_and_ends_every_session(client, session, settings):
    tokens = await _sign_in(client, session, "gone@example.com")
    auth = _auth(tokens["access_token"])
    uid = (await client.get("/me", headers=auth)).json()["id"]
    assert (await client.delete("/me", headers=auth)).status_code == 204
    assert (await client.get("/me", headers=auth)).status_code == 401
    assert (
        await client.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    ).status_code == 401
    user = await session.get(User, uid)
    assert user is not None and user.email is None and user.deleted_at is not None
    # the address is free again: signing up anew makes a new account
    again = await _sign_in(client, session, "gone@example.com")
    assert (await client.get("/me", headers=_auth(again["access_token"]))).json()["id"] != uid


def test_operator_commands_create_a_user_print_a_token_and_show_the_outbox(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from edgelab.cli import app as cli_app
    from edgelab.core import migrations
    from edgelab.core.auth import decode_access_token
    from tests.fixtures.database import make_settings

    settings = make_settings(f"sqlite+aiosqlite:///{tmp_path / 'ops.db'}")
    migrations.upgrade(settings)
    monkeypatch.setenv("EDGELAB_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("EDGELAB_JWT_SECRET", settings.jwt_secret.get_secret_value())
    runner = CliRunner()
    created = runner.invoke(
        cli_app, ["users", "create", "Ops@Example.com", "--role", "analyst", "--tier", "paid"]
    )
    assert created.exit_code == 0, created.output
    uid = created.output.strip()
    assert uid.startswith("usr_")
    dup = runner.invoke(cli_app, ["users", "create", "ops@example.com"])
    assert dup.exit_code == 1 and "user_exists" in dup.output
    token = runner.invoke(cli_app, ["users", "token", "ops@example.com"]).output.strip()
    assert decode_access_token(settings, token)["sub"] == uid
    assert runner.invoke(cli_app, ["users", "token", "nobody@example.com"]).exit_code == 1
    outbox = runner.invoke(cli_app, ["email", "outbox", "--last", "5"])
    assert outbox.exit_code == 0 and outbox.output == ""


async def test_sign_in_link_requests_are_limited_per_address(client):
    for _ in range(5):
        assert (
            await client.post("/auth/magic-link", json={"email": "spam@example.com"})
        ).status_code == 202
    r = await client.post("/auth/magic-link", json={"email": "SPAM@example.com"})
    assert r.status_code == 429 and r.json()["error"]["code"] == "rate_limited"
    assert int(r.headers["retry-after"]) >= 1 and r.headers["x-ratelimit-remaining"] == "0"
    other = await client.post("/auth/magic-link", json={"email": "someone-else@example.com"})
    assert other.status_code == 202 and "x-ratelimit-limit" in other.headers


async def test_me_says_until_when_a_running_time_out_lasts_and_null_once_it_has_ended(
    client, session, settings
):
    user = await create_user(session, "timeout-me@example.com", tier="paid")
    await session.commit()
    auth = _auth(issue_access_token(settings, user.id))
    assert (await client.get("/me", headers=auth)).json()["restricted_until"] is None
    until = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(hours=24)
    user.restricted_until = until
    await session.commit()
    me = await client.get("/me", headers=auth)
    assert me.status_code == 200
    assert dt.datetime.fromisoformat(me.json()["restricted_until"]) == until
    # the same end the refusals report
    refused = await client.get("/alerts/rules", headers=auth)
    assert (
        refused.status_code == 403
        and refused.json()["error"]["details"]["restricted_until"] == until.isoformat()
    )
    # a time-out that has run out reads as none (the column is not cleared)
    user.restricted_until = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    await session.commit()
    assert (await client.get("/me", headers=auth)).json()["restricted_until"] is None
