"""The chess pages over ASGI with Chess.com at the local fake: the report's figures and
charts, the API's refusals (422 by field, 404, 429), and the engine review's pages."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from edgelab.accounts.service import create_user
from edgelab.chess.jobs import run_review
from edgelab.chess.models import ChessReviewJob
from edgelab.chess.review import engine_path
from edgelab.core.auth import issue_access_token
from edgelab.core.settings import Settings
from tests.chess.conftest import server  # noqa: F401 (fixtures)
from tests.chess.fake_chesscom import PLAYER, FakeChesscom
from tests.fixtures.database import make_settings

pytestmark = pytest.mark.asyncio(loop_scope="session")

UA = "edgelab-tests/1.0 (contact: tests@edgelab.invalid)"


@pytest.fixture
async def settings(db_url: str, server: tuple[FakeChesscom, str]) -> Settings:
    server[0].reset()
    return make_settings(
        db_url,
        chesscom_url=f"{server[1]}/pub",
        chesscom_user_agent=UA,
        http_max_retries=1,
        http_timeout_seconds=2.0,
        engine_depth=4,
        chess_rate_limit_per_username="3/minute",
    )


async def _cookie(
    session: AsyncSession, settings: Settings, email: str, tier: str
) -> dict[str, str]:
    user = await create_user(session, email, tier=tier)
    await session.commit()
    return {"cookie": f"edgelab_access={issue_access_token(settings, user.id)}"}


def _report_url(**params: str) -> str:
    return "/app/chess?" + urlencode(params)


async def test_the_form_has_a_label_for_every_field(client: httpx.AsyncClient) -> None:
    r = await client.get("/app/chess")
    assert r.status_code == 200
    for field in ("username", "game_count", "tz"):
        assert f'<label for="{field}">' in r.text and f'id="{field}"' in r.text
    assert 'data-testid="chess-report"' not in r.text


async def test_the_report_shows_results_by_colour_with_sample_sizes_and_charts(
    client: httpx.AsyncClient,
) -> None:
    r = await client.get(_report_url(username=PLAYER, game_count="17", tz="Europe/Oslo"))
    assert r.status_code == 200, r.text
    html = r.text
    colour = html.split('data-testid="by-color"', 1)[1].split("</table>", 1)[0]
    rows = re.findall(r"<tr><th scope=\"row\">(\w+)</th>(.*?)</tr>", colour)
    cells = {name: re.findall(r'<td class="num">([^<]*)</td>', rest) for name, rest in rows}
    # the recorded month: 9 games as White (5-1-3), 8 as Black (3-3-2)
    assert cells["White"] == ["9", "5", "1", "3", "61.1%"]
    assert cells["Black"] == ["8", "3", "3", "2", "56.2%"]
    for chart in ("chart-by-color", "chart-openings-white", "chart-time-class", "chart-by-hour"):
        figure = html.split(f'data-testid="{chart}"', 1)[1].split("</figure>", 1)[0]
        assert "<svg" in figure and "<rect" in figure, chart
    assert "61.1% (n=9)" in html  # the score and the sample size beside the bar
    assert "Score by local hour (Europe/Oslo)" in html
    assert 'data-testid="terminations"' in html and "resignation" in html
    assert 'data-testid="rating-trend"' in html and "3047" in html  # first blitz rating


async def test_a_bad_username_is_shown_next_to_the_field(client: httpx.AsyncClient) -> None:
    r = await client.get(_report_url(username="no spaces!"))
    assert r.status_code == 422
    error = re.search(r'<p class="field-error" id="username-error">([^<]+)</p>', r.text)
    assert error and error.group(1).strip()
    assert 'aria-describedby="username-error"' in r.text


@pytest.mark.parametrize(
    ("params", "field"),
    [({"game_count": "0"}, "game_count"), ({"tz": "Mars/Olympus"}, "tz")],
)
async def test_other_bad_fields_are_shown_next_to_them(
    client: httpx.AsyncClient, params: dict[str, str], field: str
) -> None:
    r = await client.get(_report_url(username=PLAYER, **params))
    assert r.status_code == 422
    assert f'id="{field}-error"' in r.text and 'id="username-error"' not in r.text


async def test_an_unknown_player_is_a_404_message_on_the_form(client: httpx.AsyncClient) -> None:
    r = await client.get(_report_url(username="nobody-at-all"))
    assert r.status_code == 404
    assert 'data-testid="chess-problem"' in r.text and 'id="username-error"' in r.text
    assert 'value="nobody-at-all"' in r.text  # the form keeps what was typed


async def test_too_many_reports_for_one_player_is_a_429_page(client: httpx.AsyncClient) -> None:
    statuses = [(await client.get(_report_url(username=PLAYER))).status_code for _ in range(4)]
    assert statuses[:3] == [200, 200, 200] and statuses[3] == 429
    r = await client.get(_report_url(username=PLAYER))
    assert r.status_code == 429 and "rate_limited" in r.text and r.headers.get("retry-after")


async def test_the_review_asks_anonymous_to_sign_in_and_free_users_to_upgrade(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    url = _report_url(username=PLAYER, game_count="17")
    anonymous = await client.get(url)
    assert 'data-testid="start-review"' not in anonymous.text and "/app/signin" in anonymous.text
    free = await _cookie(session, settings, "chess-free@web.test", "free")
    page = await client.get(url, headers=free)
    section = page.text.split('data-testid="review-start"', 1)[1]
    assert 'data-testid="upgrade-prompt"' in section
    refused = await client.post(
        "/app/chess/review", data={"username": PLAYER, "game_count": "1"}, headers=free
    )
    assert refused.status_code == 403 and 'data-testid="upgrade-prompt"' in refused.text


async def test_a_review_over_the_cap_is_shown_next_to_the_game_count(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    if engine_path(settings.stockfish_path) is None:
        pytest.skip("Stockfish is not installed (apt-get install stockfish): engine tests skip")
    paid = await _cookie(session, settings, "chess-cap@web.test", "paid")
    r = await client.post(
        "/app/chess/review", data={"username": PLAYER, "game_count": "500"}, headers=paid
    )
    assert r.status_code in (400, 422)
    assert 'id="review_games-error"' in r.text


async def test_the_review_shows_progress_then_worst_moments_on_boards(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    if engine_path(settings.stockfish_path) is None:
        pytest.skip("Stockfish is not installed (apt-get install stockfish): engine tests skip")
    paid = await _cookie(session, settings, "chess-paid@web.test", "paid")
    page = await client.get(_report_url(username=PLAYER, game_count="17"), headers=paid)
    assert 'data-testid="start-review"' in page.text
    started = await client.post(
        "/app/chess/review", data={"username": PLAYER, "game_count": "1"}, headers=paid
    )
    assert started.status_code == 303, started.text
    location = started.headers["location"]
    job_id = location.rsplit("/", 1)[1]
    queued = await client.get(location, headers=paid)
    assert queued.status_code == 200
    assert 'data-testid="review-progress"' in queued.text
    assert f'hx-get="/app/chess/review/{job_id}"' in queued.text  # htmx asks again

    # the in-process job cannot see the test's uncommitted transaction: run it here
    maker = async_sessionmaker(
        bind=session.bind, expire_on_commit=False, join_transaction_mode="create_savepoint"
    )
    job = await session.get(ChessReviewJob, job_id)
    assert job is not None
    job.status = "queued"
    await session.commit()
    await run_review(maker, settings, job_id)

    done = await client.get(location, headers={**paid, "hx-request": "true"})
    assert done.status_code == 200 and "<html" not in done.text  # the panel alone
    assert 'data-status="succeeded"' in done.text and "hx-get" not in done.text
    moments = done.text.count('data-testid="moment"')
    assert moments >= 1
    assert done.text.count('<div class="board"><svg') == moments  # each on a board
    assert "Better: <strong>" in done.text
    full = await client.get(location, headers=paid)
    assert full.status_code == 200 and 'data-testid="review-summary"' in full.text


async def test_someone_elses_review_is_a_404_page(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    paid = await _cookie(session, settings, "chess-nobody@web.test", "paid")
    r = await client.get("/app/chess/review/" + "0" * 32, headers=paid)
    assert r.status_code == 404 and "review_job_not_found" in r.text


# a PGN file (issue 17) ---------------------------------------------------------------------

PGN_DIR = Path(__file__).parents[1] / "chess" / "fixtures" / "pgn"


async def test_a_pgn_file_gives_the_report_with_what_it_could_not_tell(
    client: httpx.AsyncClient,
) -> None:
    otb = (PGN_DIR / "otb_database_latin1.pgn").read_bytes()
    r = await client.post(
        "/app/chess/pgn",
        files={"file": ("carlsen.pgn", otb, "application/octet-stream")},
        data={"player": "magnus carlsen", "tz": "Europe/Oslo"},
    )
    assert r.status_code == 200, r.text
    assert 'data-testid="chess-report"' in r.text and "Carlsen, Magnus: 4 games" in r.text
    assert "From the file carlsen.pgn: 4 of 5 games read." in r.text
    assert "2018-11-09 to 2018-11-13" in r.text  # dates only: the file has no times
    notes = r.text.split('data-testid="coverage-notes"', 1)[1].split("</ul>", 1)[0]
    assert "4 of 4 games have no start time" in notes
    assert "4 of 4 games have no time control" in notes
    skipped = r.text.split('data-testid="skipped-games"', 1)[1].split("</details>", 1)[0]
    assert "Müller, Jürgen" in skipped and "Ke3" in skipped
    assert 'data-testid="review-start"' not in r.text  # the engine review is for Chess.com names


async def test_a_pgn_files_refusals_are_shown_on_the_form(client: httpx.AsyncClient) -> None:
    lichess = (PGN_DIR / "lichess_export.pgn").read_bytes()
    stranger = await client.post(
        "/app/chess/pgn",
        files={"file": ("l.pgn", lichess, "application/x-chess-pgn")},
        data={"player": "Kasparov"},
    )
    assert stranger.status_code == 400
    problem = stranger.text.split('data-testid="pgn-problem"', 1)[1].split("</div>", 1)[0]
    assert "alice_chess (5)" in problem
    binary = await client.post(
        "/app/chess/pgn", files={"file": ("x.png", b"\x89PNG\r\n\x1a\n\x00\x00", "image/png")}
    )
    assert binary.status_code == 400 and 'data-testid="pgn-problem"' in binary.text
    bad_zone = await client.post(
        "/app/chess/pgn",
        files={"file": ("l.pgn", lichess, "application/x-chess-pgn")},
        data={"tz": "Mars/Olympus"},
    )
    assert bad_zone.status_code == 422 and 'id="pgn_tz-error"' in bad_zone.text
    no_file = await client.post("/app/chess/pgn", files={"other": ("a", b"")}, data={"tz": "UTC"})
    assert no_file.status_code == 422 and 'id="pgn_file-error"' in no_file.text
