"""My bets in a real browser on the real NBA data: a value bet tracked from its row (htmx), the
list with its delete, the performance page drawn, and a Sentinel time-out explained
(screenshots under the run's output)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from edgelab.accounts.service import restrict_user
from edgelab.core.db import create_engine, create_sessionmaker
from edgelab.core.settings import Settings
from tests.web.conftest import LiveDashboard, screenshot


def test_a_value_bet_is_tracked_from_its_row_and_the_performance_page_is_drawn(
    open_page: Any, live_dashboard: LiveDashboard
) -> None:
    user = live_dashboard.user("tracker@example.com", tier="free")
    page = open_page(user)
    page.goto(f"{live_dashboard.url}/app/bets")
    rows = page.get_by_test_id("bet-row")
    rows.first.wait_for()
    first = rows.first
    market = first.get_by_test_id("track-form").get_attribute("data-market")
    first.locator('input[name="stake"]').fill("25")
    first.get_by_role("button", name="Track").click()
    done = first.get_by_test_id("track-result")
    done.wait_for()
    assert "Tracked: 25.00 USD" in done.inner_text()
    screenshot(page, "my-bets-tracked-from-row")

    # a few more rows, so the performance page has something to draw
    tracked = min(rows.count(), 8)
    for n in range(1, tracked):
        row = rows.nth(n)
        row.locator('input[name="stake"]').fill(str(10 + n))
        row.get_by_role("button", name="Track").click()
        row.get_by_test_id("track-result").wait_for()

    page.get_by_role("link", name="My bets", exact=True).first.click()
    page.wait_for_url(f"{live_dashboard.url}/app/my-bets")
    listed = page.get_by_test_id("my-bet")
    assert listed.count() == tracked
    assert page.locator(f'[data-testid="my-bet"] a[href="/app/bets/{market}"]').count() == 1
    screenshot(page, "my-bets-list")

    before = listed.count()
    page.once("dialog", lambda dialog: dialog.accept())
    listed.first.get_by_test_id("delete-bet").click()
    page.get_by_test_id("deleted-notice").wait_for()
    assert page.get_by_test_id("my-bet").count() == before - 1

    page.goto(f"{live_dashboard.url}/app/performance")
    verdict = page.get_by_test_id("verdict")
    verdict.wait_for()
    # the slate's games are final in the real data: every bet settled when it was tracked
    settled = tracked - 1
    assert f"After {settled} settled bets your ROI is" in verdict.inner_text()
    assert page.get_by_test_id("roi-n").inner_text() == str(settled)
    chart = page.locator('[data-testid="profit-chart"][data-rendered="true"]')
    chart.wait_for()
    assert int(chart.get_attribute("data-points") or 0) == settled + 1  # from 0, then each bet
    clv_n = int(page.get_by_test_id("clv-n").inner_text())
    bars = page.locator('[data-testid="clv-histogram"] rect')
    assert sum(int(bars.nth(i).get_attribute("data-n") or 0) for i in range(bars.count())) == clv_n
    assert page.get_by_test_id("by-book").is_visible()
    screenshot(page, "my-performance")


def test_a_time_out_that_starts_after_the_page_loaded_is_explained_where_track_was(
    open_page: Any, live_dashboard: LiveDashboard
) -> None:
    user = live_dashboard.user("breaking@example.com", tier="free")
    page = open_page(user)
    page.goto(f"{live_dashboard.url}/app/bets")
    row = page.get_by_test_id("bet-row").first
    row.wait_for()
    until = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(hours=12)

    async def restrict(settings: Settings) -> None:
        engine = create_engine(settings)
        try:
            async with create_sessionmaker(engine)() as session:
                assert await restrict_user(session, user, until, by="test")
                await session.commit()
        finally:
            await engine.dispose()

    live_dashboard.run(restrict)  # as Sentinel's time-out would, while the page is open
    row.locator('input[name="stake"]').fill("10")
    row.get_by_role("button", name="Track").click()
    refused = row.get_by_test_id("track-error")
    refused.wait_for()
    shown = until.strftime("%Y-%m-%d %H:%M UTC")
    assert f"your time-out runs until {shown}" in refused.inner_text()
    screenshot(page, "my-bets-track-refused-time-out")

    page.goto(f"{live_dashboard.url}/app/my-bets")
    notice = page.get_by_test_id("restriction-notice")
    assert notice.is_visible() and page.get_by_test_id("restricted-until").inner_text() == shown
    screenshot(page, "my-bets-time-out")
