"""The Sentinel console and the account page in a real browser (Debian's Chromium): an analyst
records a timeout for one of our users, who is then restricted; a new user lands on the account
page after signing in; a paid user creates an API key and an alert rule."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from edgelab.accounts.service import create_user
from edgelab.core.db import create_engine, create_sessionmaker
from edgelab.core.settings import Settings
from edgelab.sentinel.betlog import tracker
from edgelab.sentinel.rescore import run_rescore
from tests.sentinel.factories import simulated_population
from tests.web.conftest import LiveDashboard, screenshot

REASON = "Chasing losses with doubled stakes three nights in a row."


async def _member(settings: Settings, email: str) -> tuple[str, str]:
    """A paid user who is a Sentinel player (as after a first tracked bet): (user id, player id)."""
    engine = create_engine(settings)
    try:
        async with create_sessionmaker(engine)() as session:
            user = await create_user(session, email, tier="paid")
            player = await tracker.ensure_user_player(session, user.id)
            await session.commit()
            return user.id, player.player_id
    finally:
        await engine.dispose()


async def _scored_population(settings: Settings) -> str:
    """A simulated population, scored once for the whole session; returns its top player."""
    engine = create_engine(settings)
    try:
        async with create_sessionmaker(engine)() as session:
            sim = await simulated_population(session, players=40, seed=21)
            await run_rescore(session, settings, mode="full", trigger="cli")
            await session.commit()
            return str(sim.players[0].player_id)
    finally:
        await engine.dispose()


def _fits_the_phone(page: Any) -> None:
    """Wide tables scroll inside their own box; the page itself never scrolls sideways."""
    wide = page.evaluate(
        "[...document.querySelectorAll('body *')]"
        ".filter(e => e.getBoundingClientRect().right > window.innerWidth + 1"
        " && !e.closest('.table-wrap')).map(e => e.tagName + '.' + e.className).slice(0, 10)"
    )
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), wide


@pytest.fixture(scope="module")
def scored_player(live_dashboard: LiveDashboard) -> str:
    return str(live_dashboard.run(_scored_population))


def test_an_analyst_creates_a_timeout_and_the_player_is_then_restricted(
    open_page: Any, live_dashboard: LiveDashboard, scored_player: str
) -> None:
    analyst = live_dashboard.user("browser.analyst@example.com", role="analyst")
    member_id, player_id = live_dashboard.run(
        lambda settings: _member(settings, "browser.member@example.com")
    )
    member_token = live_dashboard.token(member_id)
    before = httpx.get(
        f"{live_dashboard.url}/markets", headers={"authorization": f"Bearer {member_token}"}
    )
    assert before.status_code == 200

    page = open_page(analyst)
    page.goto(f"{live_dashboard.url}/app/sentinel")
    page.get_by_test_id("players-table").wait_for()
    screenshot(page, "sentinel-console")

    page.get_by_label("Player id").fill(player_id)
    page.get_by_role("button", name="Open player").click()
    page.wait_for_url(f"**/app/sentinel/players/{player_id}")
    assert page.get_by_test_id("player-id").inner_text() == player_id

    # the API's validation, next to the field it concerns
    reason = page.get_by_label("Reason (10–500 characters, for the record)")
    duration = page.get_by_label("Duration in hours (timeouts only, 1–168)")
    page.get_by_label("Type").select_option("timeout")
    duration.fill("24")
    reason.fill("too short")
    page.get_by_role("button", name="Record intervention").click()
    page.locator("#reason-error").wait_for()
    assert reason.input_value() == "too short" and reason.get_attribute("aria-invalid") == "true"
    reason.fill(REASON)
    duration.fill("")
    page.get_by_role("button", name="Record intervention").click()
    duration_error = page.locator("#duration_hours-error")
    duration_error.wait_for()
    assert "timeout needs duration_hours" in duration_error.inner_text()
    screenshot(page, "sentinel-player-form-errors")

    page.get_by_label("Duration in hours (timeouts only, 1–168)").fill("24")
    page.get_by_label("Reason (10–500 characters, for the record)").fill(REASON)
    page.get_by_role("button", name="Record intervention").click()
    recorded = page.get_by_test_id("intervention-recorded")
    recorded.wait_for()
    assert "timeout" in recorded.inner_text() and "active" in recorded.inner_text()
    assert "restricted until" in page.get_by_test_id("restricted-until").inner_text()
    assert REASON in page.get_by_test_id("interventions").inner_text()
    screenshot(page, "sentinel-player-timeout")

    # the player is now restricted: the API refuses their paid feed ...
    after = httpx.get(
        f"{live_dashboard.url}/markets", headers={"authorization": f"Bearer {member_token}"}
    )
    assert after.status_code == 403
    assert after.json()["error"]["code"] == "account_restricted"
    # ... and their own account page says so
    member_page = open_page(member_id)
    member_page.goto(f"{live_dashboard.url}/app/account")
    notice = member_page.get_by_test_id("restriction-notice")
    notice.wait_for()
    assert "taking a break" in notice.inner_text()
    assert member_page.get_by_test_id("rules-paused").is_visible()
    screenshot(member_page, "account-restricted")


def test_an_analyst_reads_a_scored_players_history_chart_and_explanation(
    open_page: Any, live_dashboard: LiveDashboard, scored_player: str
) -> None:
    analyst = live_dashboard.user("browser.analyst2@example.com", role="analyst")
    page = open_page(analyst)
    page.goto(f"{live_dashboard.url}/app/sentinel")
    page.get_by_role("link", name=scored_player, exact=True).click()
    page.wait_for_url(f"**/app/sentinel/players/{scored_player}")
    page.locator('[data-testid="score-history"][data-rendered="true"]').wait_for()
    assert page.get_by_test_id("components").is_visible()
    # the explanation (a rescore, maybe Claude) only when asked: htmx swaps in the card alone
    assert page.get_by_test_id("explanation").count() == 0
    url = page.url
    page.get_by_role("button", name="Explain this score").click()
    explanation = page.get_by_test_id("explanation")
    explanation.wait_for()
    assert explanation.inner_text().strip() and page.url == url
    assert "Component weights: loss_chase" in page.get_by_test_id("weights").inner_text()
    assert page.get_by_test_id("explain-form").count() == 0
    assert page.locator('[data-testid="score-history"][data-rendered="true"]').is_visible()
    timeline = page.get_by_test_id("timeline")
    assert timeline.locator("li").count() >= 1
    screenshot(page, "sentinel-player")

    # the timeline holds the player's bets and transactions among the scoring runs, newest
    # first, and "Older activity" loads the next page in place (htmx), the page staying put
    assert timeline.locator('li[data-kind="bet"]').count() >= 1
    shown = timeline.locator("li[data-kind]").count()
    url = page.url
    older = page.get_by_role("link", name="Older activity")
    older.scroll_into_view_if_needed()
    older.click()
    page.wait_for_function(
        "n => document.querySelectorAll('[data-testid=timeline] li[data-kind]').length > n",
        arg=shown,
    )
    assert page.url == url
    times = timeline.locator("li[data-kind] time").evaluate_all(
        "els => els.map(e => Date.parse(e.getAttribute('datetime')))"
    )
    assert times == sorted(times, reverse=True)
    screenshot(page, "sentinel-player-timeline")

    phone = open_page(analyst, width=390, height=844)
    phone.goto(f"{live_dashboard.url}/app/sentinel/players/{scored_player}")
    phone.get_by_test_id("components").wait_for()
    _fits_the_phone(phone)
    screenshot(phone, "sentinel-player-phone")


def test_a_user_who_is_not_an_analyst_sees_the_apis_refusal(
    open_page: Any, live_dashboard: LiveDashboard
) -> None:
    user = live_dashboard.user("browser.notanalyst@example.com")
    page = open_page(user)
    response = page.goto(f"{live_dashboard.url}/app/sentinel")
    assert response is not None and response.status == 403
    assert "role_required" in page.locator("main").inner_text()
    screenshot(page, "sentinel-forbidden")


def test_a_new_user_lands_on_the_account_page_after_sign_in(
    open_page: Any, live_dashboard: LiveDashboard
) -> None:
    page = open_page()
    page.goto(f"{live_dashboard.url}/app/signin")
    page.get_by_label("E-mail address").fill("browser.account@example.com")
    page.get_by_role("button", name="E-mail me a sign-in link").click()
    page.get_by_test_id("link-sent").wait_for()
    page.goto(live_dashboard.magic_link("browser.account@example.com"))
    page.get_by_test_id("verify").click()
    page.wait_for_url("**/app/account")
    assert page.get_by_test_id("me-email").inner_text() == "browser.account@example.com"
    assert page.get_by_test_id("subscription-status").inner_text() == "no subscription"
    assert page.get_by_test_id("upgrade-prompt").is_visible()
    screenshot(page, "account")

    # no Paddle client token here: checkout itself is tests/web/test_checkout_browser.py
    assert page.get_by_test_id("checkout-not-configured").is_visible()


def test_a_paid_user_creates_an_api_key_and_an_alert_rule(
    open_page: Any, live_dashboard: LiveDashboard
) -> None:
    user = live_dashboard.user("browser.paid@example.com", tier="paid")
    page = open_page(user)
    page.goto(f"{live_dashboard.url}/app/account")
    page.get_by_label("New key's name").fill("my notebook")
    page.get_by_role("button", name="Create key").click()
    secret = page.get_by_test_id("new-key-value")
    secret.wait_for()
    key = secret.input_value()
    assert key.startswith("elk_")
    me = httpx.get(f"{live_dashboard.url}/me", headers={"authorization": f"Bearer {key}"})
    assert me.status_code == 200 and me.json()["email"] == "browser.paid@example.com"

    page.get_by_label("Name", exact=True).fill("Big edges")
    page.get_by_label("Minimum value score (0–100)").fill("150")
    page.get_by_role("button", name="Create rule").click()
    page.locator("#min_value_score-error").wait_for()
    page.get_by_label("Minimum value score (0–100)").fill("72")
    page.get_by_role("button", name="Create rule").click()
    page.wait_for_url("**/app/account#alert-rules")
    assert "Big edges" in page.get_by_test_id("alert-rules").inner_text()
    assert key not in page.content()  # the key is never shown again
    screenshot(page, "account-paid")

    phone = open_page(user, width=390, height=844)
    phone.goto(f"{live_dashboard.url}/app/account")
    phone.get_by_test_id("alert-rules").wait_for()
    _fits_the_phone(phone)
    screenshot(phone, "account-phone")
