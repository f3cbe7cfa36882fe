"""Prediction markets and chess in a real browser (Debian's Chromium under Playwright).

The live dashboard's database has no prediction markets: the markets tests seed some through
the project's own ingest, from a local fake Polymarket, with a week of hourly prices ending
now (so the history route serves stored prices and never asks the real Polymarket). The chess
tests use the fake Chess.com the live dashboard points at (player `fabianocaruana`).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from edgelab.core.db import create_engine, create_sessionmaker
from edgelab.core.settings import Settings
from edgelab.predictions.ingest import ingest_polymarket, store_history
from edgelab.predictions.sources.polymarket import PolymarketClient
from tests.chess.fake_chesscom import PLAYER
from tests.loopback import serve
from tests.predictions.fake_polymarket import FakePolymarket, make_market, token_for
from tests.web.conftest import LiveDashboard, screenshot

COMET = "Will the browser-test comet be seen from Oslo before 2027?"
COMET_ID = "2000901"
WEEK_HOURS = 7 * 24


async def _seed_markets(settings: Settings) -> None:
    fake = FakePolymarket()
    fake.markets = [
        make_market(901, question=COMET, endDate="2027-01-01T00:00:00Z"),
        make_market(902, question="Will the browser-test comet break up in 2026?"),
        make_market(903, question="Will the browser-test rocket launch on time?"),
    ]
    with serve(fake.app, name="fake Polymarket") as url:
        at_fake = settings.model_copy(
            update={"polymarket_gamma_url": url, "polymarket_clob_url": url}
        )
        engine = create_engine(at_fake)
        client = PolymarketClient(at_fake, retry_initial_wait=0.01)
        try:
            async with create_sessionmaker(engine)() as session:
                await ingest_polymarket(session, at_fake, client=client)
                now = int(time.time()) - 60
                points = [
                    (now - 3600 * (WEEK_HOURS - i), round(0.30 + 0.25 * i / WEEK_HOURS, 4))
                    for i in range(WEEK_HOURS + 1)
                ]
                await store_history(session, token_for(COMET_ID, 0), points, "clob")
                await session.commit()
        finally:
            await client.aclose()
            await engine.dispose()


@pytest.fixture(scope="module")
def seeded_markets(live_dashboard: LiveDashboard) -> Iterator[None]:
    live_dashboard.run(_seed_markets)
    yield


def _chart_drawn(page: Any, testid: str, *, below: int | None = None) -> int:
    """Wait until Lightweight Charts drew the chart (at most `below` points); its points."""
    limit = "Infinity" if below is None else str(below)
    page.wait_for_function(
        f"""() => {{
            const c = document.querySelector('[data-testid="{testid}"]');
            return c && c.dataset.rendered === 'true' && +c.dataset.points > 0
                && +c.dataset.points < {limit} && c.querySelector('canvas') !== null;
        }}"""
    )
    return int(page.get_by_test_id(testid).get_attribute("data-points"))


@pytest.mark.usefixtures("seeded_markets")
def test_a_paid_user_searches_markets_and_opens_one_with_its_price_chart(
    open_page: Any, live_dashboard: LiveDashboard
) -> None:
    from playwright.sync_api import expect

    paid = live_dashboard.user("markets.browser@example.com", tier="paid")
    page = open_page(paid)
    page.goto(f"{live_dashboard.url}/app/markets")
    page.get_by_label("Search markets").fill("browser-test comet")
    expect(page.get_by_test_id("market-row")).to_have_count(2)  # live search, no reload
    rows = page.get_by_test_id("markets-table").inner_text()
    assert COMET in rows and "rocket" not in rows
    assert "2027-01-01 00:00 UTC" in rows and "$10,010" in rows  # end date, volume
    screenshot(page, "markets-list")

    page.get_by_role("link", name=COMET).click()
    page.wait_for_url(f"**/app/markets/{COMET_ID}")
    assert page.get_by_test_id("market-question").inner_text() == COMET
    outcomes = page.get_by_test_id("outcomes").inner_text()
    assert "Yes" in outcomes and "No" in outcomes
    week = _chart_drawn(page, "price-chart")
    assert week >= WEEK_HOURS - 2
    assert "News is off" in page.get_by_test_id("news").inner_text()  # no NewsAPI key here
    screenshot(page, "market-page")

    page.get_by_label("1 day").check()  # htmx redraws only the price panel
    day = _chart_drawn(page, "price-chart", below=40)
    assert 20 <= day <= 30
    page.wait_for_url("**interval=1d**")
    screenshot(page, "market-page-1d")


@pytest.mark.usefixtures("seeded_markets")
def test_a_free_user_sees_the_market_but_meets_the_upgrade_prompt_for_its_chart(
    open_page: Any, live_dashboard: LiveDashboard
) -> None:
    free = live_dashboard.user("markets.free.browser@example.com")
    page = open_page(free, width=390, height=844)  # a phone
    page.goto(f"{live_dashboard.url}/app/markets/{COMET_ID}")
    page.get_by_test_id("history-gated").wait_for()
    assert page.get_by_test_id("upgrade-prompt").count() == 2  # price history and news
    assert page.get_by_test_id("price-chart").count() == 0
    screenshot(page, "market-page-free-phone")


def test_the_chess_form_shows_a_report(open_page: Any, live_dashboard: LiveDashboard) -> None:
    page = open_page()
    page.goto(f"{live_dashboard.url}/app/chess")
    screenshot(page, "chess-form")
    page.get_by_label("Chess.com username").fill(PLAYER)
    page.get_by_label("Newest games").fill("17")
    page.get_by_label("Time zone (for hours)").fill("Europe/Oslo")
    page.get_by_role("button", name="Analyse").click()
    page.get_by_test_id("chess-report").wait_for()

    colour = page.get_by_test_id("by-color")
    white = colour.get_by_role("row", name="White").inner_text().split()
    black = colour.get_by_role("row", name="Black").inner_text().split()
    assert white == ["White", "9", "5", "1", "3", "61.1%"]  # games, won, drawn, lost, score
    assert black == ["Black", "8", "3", "3", "2", "56.2%"]
    chart = page.get_by_test_id("chart-by-color")
    assert chart.locator("svg rect.win").count() == 2 and chart.locator("svg").is_visible()
    assert "61.1% (n=9)" in chart.inner_text()
    assert page.get_by_test_id("chart-by-hour").locator("rect.b").count() >= 5
    assert "resignation" in page.get_by_test_id("terminations").inner_text()
    screenshot(page, "chess-report")


def test_a_mistyped_chess_username_is_shown_next_to_the_field(
    open_page: Any, live_dashboard: LiveDashboard
) -> None:
    page = open_page()
    page.goto(f"{live_dashboard.url}/app/chess")
    page.get_by_label("Chess.com username").fill("not a name!")
    page.get_by_role("button", name="Analyse").click()
    error = page.locator("#username-error")
    error.wait_for()
    assert error.inner_text().strip()
    assert page.get_by_label("Chess.com username").get_attribute("aria-invalid") == "true"
    screenshot(page, "chess-form-error")


def test_a_paid_user_reviews_a_game_and_sees_the_worst_moments_on_boards(
    open_page: Any, live_dashboard: LiveDashboard
) -> None:
    from edgelab.chess.review import engine_path

    if engine_path(live_dashboard.settings.stockfish_path) is None:
        pytest.skip("Stockfish is not installed (apt-get install stockfish): engine tests skip")
    paid = live_dashboard.user("chess.review.browser@example.com", tier="paid")
    page = open_page(paid)
    page.goto(f"{live_dashboard.url}/app/chess?username={PLAYER}&game_count=17")
    page.get_by_label("Games to review").fill("1")
    page.get_by_test_id("start-review").click()
    page.wait_for_url("**/app/chess/review/*")
    page.get_by_test_id("review-panel").wait_for()
    # htmx polls the job until it is done (one game at the server's depth: seconds)
    page.locator('[data-testid="review-panel"][data-status="succeeded"]').wait_for(timeout=120_000)
    moments = page.get_by_test_id("moment")
    assert moments.count() >= 1
    assert page.locator('[data-testid="moment"] .board svg').count() == moments.count()
    assert "Better:" in moments.first.inner_text()
    screenshot(page, "chess-review")
