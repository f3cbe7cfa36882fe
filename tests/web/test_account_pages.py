"""The account page over ASGI: what a free, paid and restricted user sees, and its forms (API
keys shown once, alert rules for paid users, profile) with the API's errors next to fields."""

from __future__ import annotations

import datetime as dt
import re

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from edgelab.accounts.service import create_user
from edgelab.core.auth import issue_access_token
from edgelab.core.settings import Settings
from edgelab.sentinel.betlog import tracker
from tests.sentinel.factories import headers_for

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def _cookie(
    session: AsyncSession, settings: Settings, email: str, tier: str = "free"
) -> dict[str, str]:
    user = await create_user(session, email, tier=tier)
    await session.commit()
    return {"cookie": f"edgelab_access={issue_access_token(settings, user.id)}"}


def _error(html: str, error_id: str) -> str:
    found = re.search(rf'id="{error_id}">([^<]*)<', html)
    assert found, f"no error #{error_id} on the page"
    return found.group(1)


async def test_a_signed_out_visitor_is_asked_to_sign_in(client: httpx.AsyncClient) -> None:
    r = await client.get("/app/account")
    assert r.status_code == 401 and "/app/signin" in r.text


async def test_a_new_free_user_sees_who_they_are_checkout_and_the_upgrade_prompt(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    cookie = await _cookie(session, settings, "ap-free@example.com")
    r = await client.get("/app/account", headers=cookie)
    assert r.status_code == 200, r.text
    assert 'data-testid="me-email">ap-free@example.com<' in r.text
    assert 'data-testid="subscription-status">no subscription<' in r.text
    # no Paddle client token in these settings (tests/web/test_account_checkout.py has one)
    assert 'data-testid="checkout-not-configured"' in r.text
    assert 'data-testid="upgrade-prompt"' in r.text  # alert rules are paid
    assert 'data-testid="rule-form"' not in r.text
    assert 'data-testid="no-keys"' in r.text
    assert 'data-testid="restriction-notice"' not in r.text


async def test_a_free_user_asking_for_an_api_key_meets_the_upgrade_prompt(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    cookie = await _cookie(session, settings, "ap-free-keys@example.com")
    r = await client.post("/app/account/api-keys", headers=cookie, data={"name": "notebook"})
    assert r.status_code == 403
    assert "paid_subscription_required" in r.text and 'data-testid="upgrade-prompt"' in r.text


async def test_an_api_key_is_shown_once_listed_and_revoked(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    cookie = await _cookie(session, settings, "ap-keys@example.com", tier="paid")
    blank = await client.post("/app/account/api-keys", headers=cookie, data={"name": ""})
    assert blank.status_code == 422 and _error(blank.text, "key-name-error")

    r = await client.post("/app/account/api-keys", headers=cookie, data={"name": "notebook"})
    assert r.status_code == 201 and r.headers["cache-control"] == "no-store"
    key = re.search(r'value="(elk_[^"]+)" data-testid="new-key-value"', r.text)
    assert key, "the new key is shown"
    assert (await client.get("/me", headers={"authorization": f"Bearer {key.group(1)}"})).is_success

    again = await client.get("/app/account", headers=cookie)
    assert key.group(1) not in again.text  # never shown again
    assert "notebook" in again.text and "active" in again.text
    key_id = re.search(r'/app/account/api-keys/([^/"]+)/revoke', again.text)
    assert key_id
    r = await client.post(f"/app/account/api-keys/{key_id.group(1)}/revoke", headers=cookie)
    assert r.status_code == 303 and r.headers["location"] == "/app/account#api-keys"
    after = await client.get("/app/account", headers=cookie)
    assert "revoked " in after.text and "/revoke" not in after.text


@pytest.mark.parametrize(
    ("form", "error_id"),
    [
        ({"name": "Big edges", "min_value_score": "150"}, "min_value_score-error"),
        ({"name": "Big edges", "min_value_score": "lots"}, "min_value_score-error"),
        ({"name": "", "min_value_score": "60"}, "name-error"),
        ({"name": "No markets", "min_value_score": "60", "market_types": []}, "market_types-error"),
        ({"name": "Bad team", "min_value_score": "60", "teams": ["XXX"]}, "teams-error"),
    ],
)
async def test_alert_rule_errors_are_shown_next_to_their_field(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings, form, error_id
) -> None:
    cookie = await _cookie(session, settings, f"ap-rule-{error_id}@example.com", tier="paid")
    data = {"algorithm": "a", "market_types": ["moneyline"], "active": "true", **form}
    r = await client.post("/app/account/alert-rules", headers=cookie, data=data)
    assert r.status_code == 422, r.text
    assert _error(r.text, error_id)
    assert f'value="{form["min_value_score"]}"' in r.text  # what was typed is kept


async def test_a_paid_user_creates_and_deletes_an_alert_rule(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    cookie = await _cookie(session, settings, "ap-rules@example.com", tier="paid")
    page = await client.get("/app/account", headers=cookie)
    assert (
        'data-testid="rule-form"' in page.text and 'data-testid="upgrade-prompt"' not in page.text
    )
    assert 'data-testid="checkout-button"' not in page.text
    r = await client.post(
        "/app/account/alert-rules",
        headers=cookie,
        data={
            "name": "Celtics spreads",
            "min_value_score": "65",
            "algorithm": "b",
            "market_types": ["spread"],
            "teams": ["BOS"],
            "active": "true",
        },
    )
    assert r.status_code == 303 and r.headers["location"] == "/app/account#alert-rules"
    page = await client.get("/app/account", headers=cookie)
    row = page.text.split('data-testid="alert-rules"')[1]
    assert "Celtics spreads" in row and ">65<" in row and ">B<" in row and "BOS" in row
    rule_id = re.search(r"/app/account/alert-rules/([^/\"]+)/delete", page.text)
    assert rule_id
    r = await client.post(f"/app/account/alert-rules/{rule_id.group(1)}/delete", headers=cookie)
    assert r.status_code == 303
    assert 'data-testid="no-rules"' in (await client.get("/app/account", headers=cookie)).text


async def test_a_free_user_posting_a_rule_meets_the_upgrade_prompt(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    cookie = await _cookie(session, settings, "ap-free-rule@example.com")
    r = await client.post(
        "/app/account/alert-rules",
        headers=cookie,
        data={"name": "x", "min_value_score": "60", "market_types": ["total"]},
    )
    assert r.status_code == 403
    assert "paid_subscription_required" in r.text and 'data-testid="upgrade-prompt"' in r.text


async def test_the_profile_form_saves_and_shows_a_bad_time_zone_next_to_the_field(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    cookie = await _cookie(session, settings, "ap-profile@example.com")
    r = await client.post(
        "/app/account/profile",
        headers=cookie,
        data={"display_name": "Ada", "time_zone": "Mars/Olympus"},
    )
    assert r.status_code == 422 and _error(r.text, "time_zone-error")
    assert 'value="Mars/Olympus"' in r.text
    r = await client.post(
        "/app/account/profile",
        headers=cookie,
        data={"display_name": "Ada", "time_zone": "Europe/London"},
    )
    assert r.status_code == 303
    page = await client.get("/app/account", headers=cookie)
    assert 'value="Ada"' in page.text and 'value="Europe/London"' in page.text
    assert "Ada" in page.text.split("<header")[1].split("</header>")[0]


async def test_a_restricted_account_shows_the_time_out_notice(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    analyst = await headers_for(session, settings, "ap-analyst@example.com")
    user = await create_user(session, "ap-restricted@example.com", tier="paid")
    player = await tracker.ensure_user_player(session, user.id)
    await session.commit()
    created = await client.post(
        "/api/interventions",
        headers=analyst,
        json={
            "player_id": player.player_id,
            "intervention_type": "timeout",
            "reason": "Escalating stakes after losses, several nights in a row.",
            "duration_hours": 24,
        },
    )
    assert created.status_code == 201, created.text
    token = issue_access_token(settings, user.id)
    cookie = {"cookie": f"edgelab_access={token}"}
    r = await client.get("/app/account", headers=cookie)
    assert r.status_code == 200
    assert 'data-testid="restriction-notice"' in r.text
    assert 'data-testid="rules-paused"' in r.text and 'data-testid="rule-form"' not in r.text
    ends = created.json()["ends_at"][:16].replace("T", " ")
    assert f'data-testid="restricted-until">{ends} UTC<' in r.text
    # the end shown is the one `GET /me` reports
    me = await client.get("/me", headers={"Authorization": f"Bearer {token}"})
    assert me.json()["restricted_until"][:16].replace("T", " ") == ends


async def test_a_time_out_that_has_ended_shows_no_notice(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    user = await create_user(session, "ap-ended@example.com", tier="paid")
    user.restricted_until = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    await session.commit()
    cookie = {"cookie": f"edgelab_access={issue_access_token(settings, user.id)}"}
    r = await client.get("/app/account", headers=cookie)
    assert r.status_code == 200
    assert 'data-testid="restriction-notice"' not in r.text
    assert 'data-testid="rule-form"' in r.text  # the alert rules are back
