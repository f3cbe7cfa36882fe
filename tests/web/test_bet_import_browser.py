"""Importing a bet history in a real browser: upload 200 bets, see the 3 bad rows and why,
change a column's role, confirm, and land on the result linking to My bets."""

from __future__ import annotations

from typing import Any

from tests.betting.bet_history_csv import BAD_REASONS, FIXTURE, build
from tests.web.conftest import LiveDashboard, screenshot


def test_200_bets_are_imported_with_3_bad_rows_reported(
    open_page: Any, live_dashboard: LiveDashboard
) -> None:
    user = live_dashboard.user("browser.import@example.com")
    page = open_page(user, height=1000)
    page.goto(f"{live_dashboard.url}/app/my-bets/import")
    page.get_by_label("Bet-history CSV").set_input_files(str(FIXTURE))
    page.get_by_role("button", name="Upload and preview").click()
    page.wait_for_url("**/app/my-bets/import/imp_*")

    counts = page.get_by_test_id("import-counts").inner_text()
    assert "200 rows: 197 to import, 3 skipped, 0 already imported" in counts
    rows = page.get_by_test_id("skipped-row")
    assert rows.count() == 3
    reasons = page.get_by_test_id("skip-reason").all_inner_texts()
    assert reasons == [BAD_REASONS[b.bad] for b in build() if b.bad]
    lines = [rows.nth(i).locator("td").first.inner_text() for i in range(3)]
    assert lines == [str(b.number + 1) for b in build() if b.bad]
    assert page.get_by_label("Role of column Wager").input_value() == "stake"
    screenshot(page, "bet-import-preview")

    # ignoring the stake column: no bet can be imported, and the page says why
    page.get_by_label("Role of column Wager").select_option("")
    page.get_by_role("button", name="Apply mapping").click()
    page.get_by_test_id("missing-roles").wait_for()
    assert "Stake" in page.get_by_test_id("missing-roles").inner_text()
    assert page.get_by_test_id("confirm-import").is_disabled()
    page.get_by_label("Role of column Wager").select_option("stake")
    page.get_by_role("button", name="Apply mapping").click()
    page.get_by_role("button", name="Import 197 bets").click()

    page.get_by_test_id("import-result").wait_for()
    assert page.get_by_test_id("imported-count").inner_text() == "197"
    assert "3 rows skipped" in page.get_by_test_id("import-result").inner_text()
    assert page.get_by_test_id("to-my-bets").get_attribute("href") == "/app/my-bets"
    screenshot(page, "bet-import-result")

    # the same file again: everything is already imported
    page.goto(f"{live_dashboard.url}/app/my-bets/import")
    page.get_by_label("Bet-history CSV").set_input_files(str(FIXTURE))
    page.get_by_role("button", name="Upload and preview").click()
    page.wait_for_url("**/app/my-bets/import/imp_*")
    again = page.get_by_test_id("import-counts").inner_text()
    assert "0 to import, 3 skipped, 197 already imported" in again
    assert page.get_by_role("button", name="Import 0 bets").is_disabled()


def test_a_file_that_is_not_a_csv_is_refused_on_the_form(
    open_page: Any, live_dashboard: LiveDashboard, tmp_path: Any
) -> None:
    user = live_dashboard.user("browser.import.bad@example.com")
    page = open_page(user)
    picture = tmp_path / "slip.png"
    picture.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    page.goto(f"{live_dashboard.url}/app/my-bets/import")
    page.get_by_label("Bet-history CSV").set_input_files(str(picture))
    page.get_by_role("button", name="Upload and preview").click()
    error = page.get_by_test_id("upload-error")
    error.wait_for()
    assert "not a readable CSV" in error.inner_text()
