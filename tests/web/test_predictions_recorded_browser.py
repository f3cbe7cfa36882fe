"""Offline, the dashboard shows real recorded Polymarket markets (Debian's Chromium under
Playwright): the demo's own choice (`demo_markets`: Polymarket unreachable, so the shipped
recording is loaded), an app whose Polymarket is unreachable (its start-up ingest fails), and
a recorded market's price chart drawn from the recorded CLOB series, with more than one point.

This module serves its own dashboard (an empty database plus the recording), so what it shows
does not depend on which markets other browser tests have stored.
"""

from __future__ import annotations

import csv
import gzip
import io
from collections.abc import Iterator
from typing import Any

import pytest

from edgelab.app import create_app
from edgelab.core import migrations
from edgelab.predictions.commands import demo_markets, shipped_recording
from tests.loopback import loopback_socket, serve, url_of
from tests.web.conftest import LiveDashboard, dashboard_settings, screenshot

UNREACHABLE = "http://127.0.0.1:9"  # nothing listens there: Polymarket "offline"
MARKET_ID = "248824"
QUESTION = "Will there be a Senate vacancy in Pennsylvania by EOY?"


@pytest.fixture(scope="module")
def live_dashboard(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveDashboard]:
    """Overrides the shared live dashboard for this module: the offline demo's markets."""
    database = tmp_path_factory.mktemp("recorded") / "recorded.db"
    sock = loopback_socket()
    settings = dashboard_settings(
        f"sqlite+aiosqlite:///{database}",
        app_base_url=url_of(sock),
        polymarket_gamma_url=UNREACHABLE,
        polymarket_clob_url=UNREACHABLE,
        polymarket_ingest_minutes=60,  # a live source configured, but unreachable
        http_max_retries=0,
    )
    migrations.upgrade(settings)
    assert demo_markets(settings) == "recording"
    app = create_app(settings)
    with serve(app, name="dashboard (recorded)", sock=sock, lifespan="on", start_seconds=30) as url:
        yield LiveDashboard(url, settings)


def _recorded_points(market_id: str, outcome: str) -> int:
    """The shipped CLOB file's rows of one market's outcome (read apart from the product)."""
    path = shipped_recording() / "clob_history" / "polymarket_prices.csv.gz"
    rows = csv.DictReader(io.StringIO(gzip.decompress(path.read_bytes()).decode()))
    return sum(1 for r in rows if r["market_id"] == market_id and r["outcome"] == outcome)


def _chart_drawn(page: Any, testid: str) -> int:
    """Wait until Lightweight Charts drew the chart; its points."""
    page.wait_for_function(
        f"""() => {{
            const c = document.querySelector('[data-testid="{testid}"]');
            return c && c.dataset.rendered === 'true' && +c.dataset.points > 0
                && c.querySelector('canvas') !== null;
        }}"""
    )
    return int(page.get_by_test_id(testid).get_attribute("data-points"))


def test_offline_a_recorded_market_shows_its_recorded_chart_with_many_points(
    open_page: Any, live_dashboard: LiveDashboard
) -> None:
    from playwright.sync_api import expect

    paid = live_dashboard.user("recorded.browser@example.com", tier="paid")
    page = open_page(paid)
    page.goto(f"{live_dashboard.url}/app/markets")
    banner = page.get_by_test_id("recorded-banner")
    expect(banner).to_contain_text("Offline: recorded markets.")
    expect(banner).to_contain_text("2026-02-07 20:57 UTC")  # the newest recording's date
    assert (
        page.get_by_test_id("recorded-badge").count() == page.get_by_test_id("market-row").count()
    )
    page.get_by_label("Search markets").fill("Senate vacancy in Pennsylvania")
    expect(page.get_by_test_id("market-row")).to_have_count(1)
    expect(page.get_by_test_id("recorded-badge")).to_have_text("recorded 2024-01-01")
    screenshot(page, "recorded-markets-list")

    page.get_by_role("link", name=QUESTION).click()
    page.wait_for_url(f"**/app/markets/{MARKET_ID}")
    notice = page.get_by_test_id("recorded-notice").inner_text()
    assert "Recorded market, not live" in notice and "2024-01-01" in notice
    points = _chart_drawn(page, "price-chart")
    summary = page.get_by_test_id("history-summary").inner_text()
    outcome = summary.split(":", 1)[0]
    assert points > 1 and points == _recorded_points(MARKET_ID, outcome)
    assert "recorded" in summary
    screenshot(page, "recorded-market-chart")
