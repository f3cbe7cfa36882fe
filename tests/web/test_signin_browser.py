"""Sign-in by magic link in a real browser: ask for the link, read it from the outbox, open it."""

from __future__ import annotations

from typing import Any

from tests.web.conftest import LiveDashboard, screenshot


def test_a_new_user_signs_in_with_the_link_from_the_outbox(
    open_page: Any, live_dashboard: LiveDashboard
) -> None:
    page = open_page()
    page.goto(f"{live_dashboard.url}/app/signin")
    screenshot(page, "signin")
    page.get_by_label("E-mail address").fill("browser.signin@example.com")
    page.get_by_role("button", name="E-mail me a sign-in link").click()
    page.get_by_test_id("link-sent").wait_for()

    page.goto(live_dashboard.magic_link("browser.signin@example.com"))
    page.get_by_test_id("verify").click()
    page.wait_for_url("**/app/account")
    assert "browser.signin@example.com" in page.locator("header").inner_text()
    cookies = {c["name"]: c for c in page.context.cookies()}
    assert cookies["edgelab_access"]["httpOnly"] and cookies["edgelab_refresh"]["httpOnly"]


def test_a_mistyped_address_is_shown_next_to_the_field(
    open_page: Any, live_dashboard: LiveDashboard
) -> None:
    page = open_page()
    page.goto(f"{live_dashboard.url}/app/signin")
    page.get_by_label("E-mail address").fill("not-an-address")
    page.get_by_role("button", name="E-mail me a sign-in link").click()
    error = page.locator("#email-error")
    error.wait_for()
    assert error.inner_text().strip()
    assert page.get_by_label("E-mail address").get_attribute("aria-invalid") == "true"
