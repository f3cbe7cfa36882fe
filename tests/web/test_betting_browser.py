"""The betting pages in a real browser on the real NBA data: value bets, a bet, evaluation and
trends, as a free and as a paid user (screenshots of each page under the run's output)."""

from __future__ import annotations

import re
from typing import Any

from tests.web.conftest import LiveDashboard, screenshot

SLOW = 120_000  # ms: the first evaluation waits for the report's job


def test_a_free_user_browses_value_bets_and_meets_the_upgrade_prompt(
    open_page: Any, live_dashboard: LiveDashboard
) -> None:
    user = live_dashboard.user("free.bettor@example.com", tier="free")
    page = open_page(user)
    page.goto(f"{live_dashboard.url}/app/bets")
    rows = page.get_by_test_id("bet-row")
    rows.first.wait_for()
    assert rows.count() > 10
    # paid-only cells are blurred placeholders, and the prompt says how to see them
    assert page.locator("td.gated-cell .gated").count() == 2 * rows.count()
    assert (
        page.locator("td.gated-cell .gated")
        .first.evaluate("el => getComputedStyle(el).filter")
        .startswith("blur")
    )
    prompt = page.get_by_test_id("upgrade-prompt")
    assert prompt.is_visible() and "Upgrade to paid" in prompt.inner_text()
    assert page.get_by_test_id("bets-table").get_attribute("hx-trigger") == "every 60s"
    screenshot(page, "bets-free")

    # asking for a paid filter is the API's 403, shown as the upgrade prompt
    page.get_by_label("Min confidence (0–1) · paid").fill("0.4")
    page.get_by_role("button", name="Apply filters").click()
    page.get_by_test_id("refused").wait_for()
    assert "paid subscription" in page.get_by_test_id("refused").inner_text()
    assert page.get_by_test_id("upgrade-prompt").is_visible()
    assert page.get_by_test_id("bet-row").count() == 0
    screenshot(page, "bets-free-paid-filter")

    # a row leads to the bet, whose history is for paid subscribers
    page.goto(f"{live_dashboard.url}/app/bets")
    page.get_by_test_id("bet-row").first.get_by_role("link").click()
    page.get_by_test_id("history-gated").wait_for()
    assert page.locator(".chart").count() == 0
    screenshot(page, "bet-free")


def test_a_phone_sees_the_value_bets_table_scroll_inside_the_page(
    open_page: Any, live_dashboard: LiveDashboard
) -> None:
    page = open_page(width=390, height=844)
    page.goto(f"{live_dashboard.url}/app/bets")
    page.get_by_test_id("bet-row").first.wait_for()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390 + 1
    screenshot(page, "bets-phone")


def test_a_paid_user_opens_a_bet_and_sees_the_chart(
    open_page: Any, live_dashboard: LiveDashboard
) -> None:
    user = live_dashboard.user("paid.bettor@example.com", tier="paid")
    page = open_page(user)
    page.goto(f"{live_dashboard.url}/app/bets")
    page.get_by_label("Market type").select_option("spread")
    page.get_by_label("A", exact=True).check()
    page.get_by_role("button", name="Apply filters").click()
    page.wait_for_url(re.compile(r".*market_type=spread.*algorithm=a.*"))
    assert "algorithm A" in page.get_by_test_id("arm").inner_text()
    assert page.locator(".gated").count() == 0
    assert "upgrade-prompt" not in page.content()
    screenshot(page, "bets-paid")

    page.get_by_test_id("bet-row").first.get_by_role("link").click()
    chart = page.locator('[data-testid="score-chart"][data-rendered="true"]')
    chart.wait_for()
    assert int(chart.get_attribute("data-points") or 0) >= 2  # scores A and B, each >= 1 point
    assert chart.locator("canvas").count() > 0
    page.locator('[data-testid="odds-chart"][data-rendered="true"]').wait_for()
    assert "% of bankroll" in page.get_by_test_id("stake").inner_text()
    screenshot(page, "bet-paid")


def test_a_paid_user_reads_the_evaluation_and_the_trends(
    open_page: Any, live_dashboard: LiveDashboard
) -> None:
    user = live_dashboard.user("paid.analyst@example.com", tier="paid")
    page = open_page(user)
    page.goto(f"{live_dashboard.url}/app/evaluation", timeout=SLOW)
    # the first visit may find the report still being computed: the page reloads itself
    page.get_by_test_id("flagged-bets").wait_for(timeout=SLOW)
    plot = page.get_by_test_id("calibration").locator("img")
    plot.scroll_into_view_if_needed()
    page.wait_for_function(
        "img => img.complete && img.naturalWidth > 0", arg=plot.element_handle(), timeout=SLOW
    )
    assert page.get_by_test_id("bet-rule").count() >= 8
    seasons = page.get_by_test_id("season-row")  # loaded by htmx after the page
    seasons.first.wait_for(timeout=SLOW)
    assert seasons.count() >= 10
    screenshot(page, "evaluation")

    page.goto(f"{live_dashboard.url}/app/trends", timeout=SLOW)
    rows = page.get_by_test_id("trend-row")
    rows.first.wait_for()
    assert rows.count() > 10
    assert "Benjamini–Hochberg" in page.get_by_test_id("trend-count").inner_text()
    screenshot(page, "trends")

    page.get_by_label("From season (ending year)").fill("2019")
    page.get_by_label("To season (ending year)").fill("2012")
    page.get_by_role("button", name="Show").click()
    error = page.locator("#season_from-error")
    error.wait_for()
    assert "after season_to" in error.inner_text()
    assert page.get_by_label("From season (ending year)").get_attribute("aria-invalid") == "true"
