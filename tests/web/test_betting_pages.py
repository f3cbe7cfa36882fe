"""The betting pages over ASGI on a scored synthetic slate: what a free and a paid user see.

The synthetic odds are dated in the future, so the free view's 15-minute delay would hide them
all: these tests run with `EDGELAB_FREE_ODDS_DELAY_MINUTES=0`, so both tiers see the same
markets and differ only in what is gated. The session cookie is sent as a browser sends it.
"""

from __future__ import annotations

import datetime as dt
import html
import re
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from edgelab.accounts.service import create_user
from edgelab.betting.evaluation import report as evaluation_report
from edgelab.betting.evaluation import service as evaluation_service
from edgelab.betting.evaluation.jobs import compute_and_store
from edgelab.betting.odds.models import Game, Market, Outcome
from edgelab.core.auth import issue_access_token
from edgelab.core.settings import Settings
from edgelab.predictions.models import PredictionMarket, PredictionOutcome
from edgelab.web.betting import history_series
from tests.betting.factories import SyntheticSeasons
from tests.fixtures.database import make_settings
from tests.fixtures.slate import shared_slate


@pytest.fixture
async def settings(db_url: str) -> Settings:
    return make_settings(db_url, free_odds_delay_minutes=0)


db_url, engine, _seasons = shared_slate(seasons=3, days_per_season=30)


@pytest.fixture
def slate(_seasons: SyntheticSeasons) -> str:
    return _seasons.last_date.isoformat()


@pytest.fixture
async def cookies(session: AsyncSession, settings: Settings) -> dict[str, dict[str, str]]:
    """Request headers carrying the session cookie of a free and of a paid user."""
    out: dict[str, dict[str, str]] = {"anonymous": {}}
    for tier in ("free", "paid"):
        user = await create_user(session, f"{tier}@betting-pages.test", tier=tier)
        out[tier] = {"cookie": f"edgelab_access={issue_access_token(settings, user.id)}"}
    await session.commit()
    return out


def _rows(page: str) -> list[str]:
    return re.findall(r'<tr data-testid="bet-row">(.*?)</tr>', page, flags=re.S)


def _market_ids(page: str) -> list[str]:
    return re.findall(r'<a href="/app/bets/([^"?]+)">', page)


async def test_a_free_user_sees_gated_cells_blurred_and_the_upgrade_prompt(
    client: httpx.AsyncClient, slate: str, cookies: dict[str, dict[str, str]]
) -> None:
    r = await client.get("/app/bets", headers=cookies["free"])
    assert r.status_code == 200, r.text
    rows = _rows(r.text)
    assert len(rows) == 48  # the API's default page holds the whole slate's 48 sides
    for row in rows:
        assert row.count("gated-cell") == 2 and row.count("paid only") == 2
    assert 'data-testid="upgrade-prompt"' in r.text
    assert "free view" in r.text
    assert "Confidence and market-quality breakdowns are for paid subscribers" in r.text  # notes


async def test_a_paid_user_sees_confidence_and_market_quality(
    client: httpx.AsyncClient, slate: str, cookies: dict[str, dict[str, str]]
) -> None:
    r = await client.get("/app/bets?algorithm=a", headers=cookies["paid"])
    assert r.status_code == 200, r.text
    assert "gated" not in r.text and 'data-testid="upgrade-prompt"' not in r.text
    api = await client.get(
        "/markets?algorithm=a",
        headers={"authorization": cookies["paid"]["cookie"].replace("edgelab_access=", "Bearer ")},
    )
    top = api.json()["items"][0]
    first = _rows(r.text)[0]
    assert f"{100 * top['algo_a_confidence']:.1f}%" in first
    assert f"{100 * top['algo_a_market_quality']:.1f}%" in first
    assert _market_ids(r.text)[0] == top["market_id"]


async def test_filters_and_the_algorithm_are_passed_through_to_the_api(
    client: httpx.AsyncClient, slate: str, cookies: dict[str, dict[str, str]]
) -> None:
    r = await client.get(
        "/app/bets?market_type=spread&min_value_score=5&algorithm=b", headers=cookies["paid"]
    )
    assert r.status_code == 200, r.text
    rows = _rows(r.text)
    assert rows and all("spread ·" in row for row in rows)
    scores = [float(s) for s in re.findall(r"<strong>([\d.]+)</strong>", "".join(rows))]
    assert scores and min(scores) >= 5
    assert "algorithm B</strong> (chosen)" in r.text
    # the self-refreshing table asks for the same filters
    hx = re.search(r'hx-get="([^"]+)"', r.text)
    assert hx is not None
    query = parse_qs(urlsplit(html.unescape(hx.group(1))).query)
    assert query == {"market_type": ["spread"], "min_value_score": ["5"], "algorithm": ["b"]}
    assert 'hx-trigger="every 60s"' in r.text


async def test_without_an_algorithm_the_page_names_the_callers_arm(
    client: httpx.AsyncClient, slate: str, cookies: dict[str, dict[str, str]]
) -> None:
    r = await client.get("/app/bets", headers=cookies["paid"])
    arm = re.search(r"Ranked by <strong>algorithm ([AB])</strong>: your A/B arm", r.text)
    assert arm is not None, r.text


async def test_the_refresh_partial_is_the_table_alone(
    client: httpx.AsyncClient, slate: str, cookies: dict[str, dict[str, str]]
) -> None:
    r = await client.get(
        "/app/bets/table?market_type=total", headers={**cookies["free"], "hx-request": "true"}
    )
    assert r.status_code == 200
    assert "<html" not in r.text and r.text.lstrip().startswith('<div id="bets-table"')
    assert _rows(r.text) and all("total ·" in row for row in _rows(r.text))


async def test_a_free_user_asking_for_a_paid_filter_meets_the_upgrade_prompt(
    client: httpx.AsyncClient, slate: str, cookies: dict[str, dict[str, str]]
) -> None:
    for query in ("min_confidence=0.5", "market_type=prop"):
        r = await client.get(f"/app/bets?{query}", headers=cookies["free"])
        assert r.status_code == 403, query
        assert 'data-testid="upgrade-prompt"' in r.text
        assert 'data-testid="refused"' in r.text and "paid subscription" in r.text
        assert not _rows(r.text)


async def test_an_invalid_filter_is_shown_next_to_its_field(
    client: httpx.AsyncClient, slate: str, cookies: dict[str, dict[str, str]]
) -> None:
    r = await client.get("/app/bets?min_value_score=500", headers=cookies["free"])
    assert r.status_code == 422
    error = re.search(r'<p class="field-error" id="min_value_score-error">(.*?)</p>', r.text)
    assert error is not None and error.group(1).strip()
    assert 'aria-describedby="min_value_score-error"' in r.text
    assert 'value="500"' in r.text  # the form keeps what was typed


async def test_an_unknown_bet_is_a_404_page(
    client: httpx.AsyncClient, slate: str, cookies: dict[str, dict[str, str]]
) -> None:
    r = await client.get("/app/bets/nba-1999-01-01-xxx-yyy-ml-home", headers=cookies["paid"])
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("text/html")
    assert "market_not_found" in r.text and "<h1>Bet not available</h1>" in r.text


async def test_a_paid_bet_page_has_the_history_chart_and_both_breakdowns(
    client: httpx.AsyncClient, slate: str, cookies: dict[str, dict[str, str]]
) -> None:
    listing = await client.get("/app/bets?market_type=spread", headers=cookies["paid"])
    market_id = _market_ids(listing.text)[0]
    r = await client.get(f"/app/bets/{market_id}", headers=cookies["paid"])
    assert r.status_code == 200, r.text
    assert 'data-testid="score-chart"' in r.text and 'data-testid="odds-chart"' in r.text
    assert "Value score A" in html.unescape(r.text)  # the series names travel in data-series
    assert "Algorithm A" in r.text and "Algorithm B" in r.text
    assert "gated" not in r.text and "% of bankroll" in r.text


async def test_a_free_bet_page_shows_the_history_as_the_upgrade_prompt(
    client: httpx.AsyncClient, slate: str, cookies: dict[str, dict[str, str]]
) -> None:
    listing = await client.get("/app/bets", headers=cookies["free"])
    r = await client.get(f"/app/bets/{_market_ids(listing.text)[0]}", headers=cookies["free"])
    assert r.status_code == 200, r.text
    assert 'data-testid="history-gated"' in r.text and 'data-testid="upgrade-prompt"' in r.text
    assert 'class="chart"' not in r.text
    assert r.text.count("paid only") >= 4  # confidence and market quality of A and B


async def test_a_moneyline_shows_the_polymarket_price_beside_the_sportsbook(
    client: httpx.AsyncClient,
    session: AsyncSession,
    slate: str,
    cookies: dict[str, dict[str, str]],
) -> None:
    """A Polymarket game market for the same teams and date (as `predictions` ingests it)."""
    outcome, game = (
        await session.execute(
            select(Outcome, Game)
            .join(Market, Market.id == Outcome.market_id)
            .join(Game, Game.id == Market.game_id)
            .where(
                Market.market_type == "moneyline",
                Outcome.side == "home",
                Game.game_date == dt.date.fromisoformat(slate),
            )
            .order_by(Outcome.id)
            .limit(1)
        )
    ).one()
    away, home = game.away_team, game.home_team
    session.add(
        PredictionMarket(
            id="777",
            question=f"{away} vs. {home}",
            slug=f"nba-{away.lower()}-{home.lower()}-{game.game_date}",
            tags=["NBA"],
            tag_slugs="|nba|",
            closed=False,
            active=True,
            fetched_at=dt.datetime.now(dt.UTC),
        )
    )
    await session.flush()
    session.add_all(
        [
            PredictionOutcome(token_id="a", market_id="777", position=0, name=away, price=0.37),
            PredictionOutcome(token_id="h", market_id="777", position=1, name=home, price=0.63),
        ]
    )
    await session.commit()
    r = await client.get(f"/app/bets/{outcome.id}", headers=cookies["free"])
    assert r.status_code == 200, r.text
    venue = re.search(r'data-testid="polymarket">(.*?)</div>', r.text, flags=re.S)
    assert venue is not None and "63.0%" in venue.group(1)
    assert 'href="/app/markets/777"' in venue.group(1)


async def test_evaluation_and_trends_are_the_upgrade_prompt_for_free_users(
    client: httpx.AsyncClient, slate: str, cookies: dict[str, dict[str, str]]
) -> None:
    for path in ("/app/evaluation", "/app/trends", "/app/evaluation/seasons"):
        r = await client.get(path, headers=cookies["free"])
        assert r.status_code == 403, path
        assert "paid_subscription_required" in r.text and 'data-testid="upgrade-prompt"' in r.text
    r = await client.get("/app/evaluation", headers=cookies["anonymous"])
    assert r.status_code == 401 and 'href="/app/signin' in r.text
    png = await client.get("/app/evaluation/calibration.png", headers=cookies["free"])
    assert png.status_code == 403 and not png.headers["content-type"].startswith("image/")


@pytest.fixture
async def evaluated(session: AsyncSession, settings: Settings) -> None:
    """The evaluation's report of the slate's seasons, as the job stores it."""
    await compute_and_store(session, settings, n_boot=100)
    await session.commit()


async def test_a_paid_user_sees_the_evaluation_with_its_plot_and_seasons(
    client: httpx.AsyncClient, slate: str, cookies: dict[str, dict[str, str]], evaluated: None
) -> None:
    r = await client.get("/app/evaluation?market_type=spread&line=open", headers=cookies["paid"])
    assert r.status_code == 200, r.text
    for testid in ("summary", "calibration", "forecasts", "flagged-bets", "baselines", "blend"):
        assert f'data-testid="{testid}"' in r.text, testid
    assert r.text.count('data-testid="bet-rule"') == 8  # every rule, for the one market type
    assert "the morning consensus" in r.text and 'data-testid="stale"' not in r.text
    src = re.search(r'<img src="([^"]+)"', r.text)
    assert src is not None
    plot_url = html.unescape(src.group(1))
    assert parse_qs(urlsplit(plot_url).query) == {"market_type": ["spread"], "line": ["open"]}
    png = await client.get(plot_url, headers=cookies["paid"])
    assert png.status_code == 200 and png.content.startswith(b"\x89PNG")
    seasons = await client.get(
        "/app/evaluation/seasons?market_type=spread",
        headers={**cookies["paid"], "hx-request": "true"},
    )
    assert seasons.status_code == 200 and "<html" not in seasons.text
    assert seasons.text.count('data-testid="season-row"') == 3  # every season, the first too


async def test_a_season_the_value_model_was_tuned_on_is_marked_in_sample(
    client: httpx.AsyncClient,
    slate: str,
    cookies: dict[str, dict[str, str]],
    session: AsyncSession,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(evaluation_report, "TUNED_ON", (2032,))
    await compute_and_store(session, settings, n_boot=100)
    await session.commit()
    r = await client.get("/app/evaluation", headers=cookies["paid"])
    assert r.status_code == 200, r.text
    assert 'data-testid="in-sample"' in r.text and "Every season pooled but 2031–32" in r.text
    options = re.findall(r'<option value="(\d+)"[^>]*>([^<]+)</option>', r.text)
    assert [(v, "in sample" in label) for v, label in options] == [
        ("2031", False),
        ("2032", True),
        ("2033", False),
    ]
    one = await client.get("/app/evaluation?season=2032", headers=cookies["paid"])
    assert one.status_code == 200 and "show the fit, not evidence" in one.text
    seasons = await client.get("/app/evaluation/seasons", headers=cookies["paid"])
    rows = re.findall(r'<tr data-testid="season-row">(.*?)</tr>', seasons.text, flags=re.S)
    assert ["(in sample)" in row for row in rows] == [False, True, False]


async def test_an_unknown_season_is_shown_next_to_the_season_field(
    client: httpx.AsyncClient, slate: str, cookies: dict[str, dict[str, str]], evaluated: None
) -> None:
    r = await client.get("/app/evaluation?season=1999", headers=cookies["paid"])
    assert r.status_code == 404
    assert 'id="season-error"' in r.text and "Season 1999 cannot be evaluated" in r.text


async def test_before_the_first_report_the_page_says_it_is_being_computed(
    client: httpx.AsyncClient, slate: str, cookies: dict[str, dict[str, str]], monkeypatch
) -> None:
    async def queued(*_args: object) -> str:  # the job itself is the API tests' business
        return "queued"

    monkeypatch.setattr(evaluation_service, "_request_recompute", queued)
    r = await client.get("/app/evaluation", headers=cookies["paid"])
    assert r.status_code == 503
    assert 'data-testid="pending"' in r.text and "computed for the first time" in r.text
    assert 'http-equiv="refresh"' in r.text


async def test_a_paid_user_sees_the_trends_with_intervals_and_the_flag(
    client: httpx.AsyncClient, slate: str, cookies: dict[str, dict[str, str]]
) -> None:
    r = await client.get("/app/trends?market_type=spread&min_n=10", headers=cookies["paid"])
    assert r.status_code == 200, r.text
    rows = re.findall(r'<tr data-testid="trend-row">(.*?)</tr>', r.text, flags=re.S)
    assert rows
    for row in rows:
        assert re.search(r"\d+\.\d% – \d+\.\d%", row)  # the Wilson interval
        assert "survives" in row or "noise" in row
    assert 'value="10"' in r.text and "Benjamini–Hochberg" in r.text


async def test_a_reversed_season_range_is_shown_next_to_the_field(
    client: httpx.AsyncClient, slate: str, cookies: dict[str, dict[str, str]]
) -> None:
    r = await client.get("/app/trends?season_from=2033&season_to=2031", headers=cookies["paid"])
    assert r.status_code == 422
    assert 'id="season_from-error"' in r.text and "after season_to" in r.text


def test_the_history_chart_has_ascending_unique_times() -> None:
    """Lightweight Charts refuses repeated or unordered times: the later point wins."""
    point = {
        "odds_decimal": 2.0,
        "algo_a_value_score": 10.0,
        "algo_b_value_score": 5.0,
        "p_true": 0.5,
        "p_market": 0.48,
    }
    points = [
        {**point, "calc_time": "2024-01-02T00:00:00Z"},
        {**point, "calc_time": "2024-01-01T00:00:00Z"},
        {**point, "calc_time": "2024-01-02T00:00:00Z", "odds_decimal": 2.5},
    ]
    series = history_series(points)
    odds = series["odds"][0]["data"]
    assert [d["time"] for d in odds] == [1704067200, 1704153600]
    assert odds[-1]["value"] == 2.5
    assert series["probabilities"][0]["data"][0]["value"] == 50.0
