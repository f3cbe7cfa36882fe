"""A PGN file analysed in a real browser (Debian's Chromium under Playwright), offline: the
page's requests that leave the live dashboard are refused and counted, and the report is read
from the file alone (issue 17)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.web.conftest import LiveDashboard, screenshot

PGN_DIR = Path(__file__).parents[1] / "chess" / "fixtures" / "pgn"


def _offline(page: Any, live_dashboard: LiveDashboard) -> list[str]:
    """Refuse every request of the page that is not to the dashboard; the list of them."""
    outside: list[str] = []

    def route(r: Any) -> None:
        if r.request.url.startswith(live_dashboard.url):
            r.continue_()
        else:
            outside.append(r.request.url)
            r.abort()

    page.route("**/*", route)
    return outside


def test_a_lichess_export_is_analysed_from_the_file(
    open_page: Any, live_dashboard: LiveDashboard
) -> None:
    page = open_page()
    outside = _offline(page, live_dashboard)
    page.goto(f"{live_dashboard.url}/app/chess")
    page.get_by_text("Or read a PGN file").click()
    page.get_by_label("PGN file").set_input_files(str(PGN_DIR / "lichess_export.pgn"))
    page.get_by_label("Zone for hours").fill("Europe/Oslo")
    page.get_by_role("button", name="Read the file").click()
    report = page.get_by_test_id("chess-report")
    report.wait_for()
    assert "alice_chess: 5 games" in report.get_by_role("heading", level=2).first.inner_text()
    colour = page.get_by_test_id("by-color")
    white = colour.get_by_role("row", name="White").inner_text().split()
    black = colour.get_by_role("row", name="Black").inner_text().split()
    assert white == ["White", "3", "1", "1", "1", "50.0%"]  # games, won, drawn, lost, score
    assert black == ["Black", "2", "1", "0", "1", "50.0%"]
    assert "lichess_export.pgn: 5 of 5 games read" in page.get_by_test_id("pgn-source").inner_text()
    terminations = page.get_by_test_id("terminations").inner_text()
    assert "checkmate" in terminations and "time forfeit" in terminations
    # 19h (two games), 08h and 22h (two) in Oslo; the hours before 10 count too
    assert page.get_by_test_id("chart-by-hour").locator("rect.b").count() == 3
    assert page.get_by_test_id("review-start").count() == 0
    screenshot(page, "chess-pgn-report")
    assert outside == []


def test_a_database_with_a_broken_game_lists_it_and_says_what_it_lacks(
    open_page: Any, live_dashboard: LiveDashboard
) -> None:
    page = open_page(width=420, height=900)  # a phone
    outside = _offline(page, live_dashboard)
    page.goto(f"{live_dashboard.url}/app/chess")
    page.get_by_text("Or read a PGN file").click()
    page.get_by_label("PGN file").set_input_files(str(PGN_DIR / "otb_database_latin1.pgn"))
    page.get_by_label("Player in the file (optional)").fill("Magnus Carlsen")
    page.get_by_role("button", name="Read the file").click()
    page.get_by_test_id("chess-report").wait_for()
    skipped = page.get_by_test_id("skipped-games")
    assert "Müller, Jürgen" in skipped.inner_text() and "Ke3" in skipped.inner_text()
    notes = page.get_by_test_id("coverage-notes").inner_text()
    assert "4 of 4 games have no start time" in notes
    screenshot(page, "chess-pgn-database-phone")
    # a player who is not in the file: the names that are, on the form
    page.get_by_label("PGN file").set_input_files(str(PGN_DIR / "otb_database_latin1.pgn"))
    page.get_by_label("Player in the file (optional)").fill("Garry Kasparov")
    page.get_by_role("button", name="Read the file").click()
    problem = page.get_by_test_id("pgn-problem")
    problem.wait_for()
    assert "Carlsen, Magnus (4)" in problem.inner_text()
    assert outside == []
