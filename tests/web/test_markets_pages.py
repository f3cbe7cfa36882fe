"""The prediction-markets pages over ASGI: the list and its search, a market's outcomes, its
price chart (paid), and news, with Polymarket and NewsAPI at the local fake."""

from __future__ import annotations

import json
import re
import time

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncSession

from edgelab.accounts.service import create_user
from edgelab.core.auth import issue_access_token
from edgelab.core.settings import Settings
from edgelab.predictions.ingest import ingest_polymarket, store_history
from edgelab.predictions.sources.polymarket import PolymarketClient
from tests.fixtures.database import make_settings
from tests.predictions.conftest import fake, server  # noqa: F401 (fixtures)
from tests.predictions.fake_polymarket import NEWS_KEY, FakePolymarket, make_market, token_for

pytestmark = pytest.mark.asyncio(loop_scope="session")

CELTICS = "Will the Boston Celtics beat the New York Knicks?"


@pytest.fixture
async def settings(db_url: str, server: tuple[FakePolymarket, str]) -> Settings:
    """No NewsAPI key: news is off (a test that wants news sets one on a copy)."""
    url = server[1]
    return make_settings(
        db_url,
        polymarket_gamma_url=url,
        polymarket_clob_url=url,
        newsapi_url=f"{url}/v2",
        newsapi_key=None,
        http_max_retries=1,
        http_timeout_seconds=1.0,
        polymarket_page_size=10,
        polymarket_cache_ttl_seconds=60,
        predictions_cache_ttl_seconds=0,
    )


@pytest.fixture
async def markets(fake: FakePolymarket, session: AsyncSession, settings: Settings) -> None:
    fake.markets = [make_market(i) for i in range(6)]
    fake.markets.append(make_market(50, question=CELTICS, endDate="2026-12-10T00:00:00Z"))
    client = PolymarketClient(settings, retry_initial_wait=0.01)
    try:
        await ingest_polymarket(session, settings, client=client)
    finally:
        await client.aclose()
    now = int(time.time())
    points = [(now - 6 * 86_400 + 3600 * i, 0.40 + i / 1000) for i in range(6 * 24)]
    await store_history(session, token_for("2000050", 0), points, "clob")
    await session.commit()


async def _cookie(
    session: AsyncSession, settings: Settings, email: str, tier: str
) -> dict[str, str]:
    user = await create_user(session, email, tier=tier)
    await session.commit()
    return {"cookie": f"edgelab_access={issue_access_token(settings, user.id)}"}


def _series(html: str, testid: str) -> list[dict[str, object]]:
    found = re.search(rf"data-testid=\"{testid}\" data-series='([^']*)'", html)
    assert found, f"no chart {testid!r} on the page"
    return json.loads(found.group(1).replace("&#34;", '"').replace("&quot;", '"'))


@pytest.mark.usefixtures("markets")
async def test_the_list_shows_price_volume_and_end_date(client: httpx.AsyncClient) -> None:
    r = await client.get("/app/markets")
    assert r.status_code == 200
    html = r.text
    assert html.count('data-testid="market-row"') == 7
    assert CELTICS in html and 'href="/app/markets/2000050"' in html
    assert "2026-12-10 00:00 UTC" in html  # its end date
    assert "$1,500" in html  # market 50's volume (1000 + 50 * 10)
    assert re.search(r"Yes</span> <strong>\d+%</strong>", html)
    assert '<label for="q">Search markets</label>' in html


@pytest.mark.usefixtures("markets")
async def test_search_narrows_the_list(client: httpx.AsyncClient) -> None:
    r = await client.get("/app/markets", params={"q": "celtics"})
    assert r.text.count('data-testid="market-row"') == 1 and CELTICS in r.text
    none = await client.get("/app/markets", params={"q": "zebra"})
    assert 'data-testid="no-markets"' in none.text and "zebra" in none.text


@pytest.mark.usefixtures("markets")
async def test_a_live_search_gets_only_the_results(client: httpx.AsyncClient) -> None:
    r = await client.get(
        "/app/markets",
        params={"q": "celtics"},
        headers={"hx-request": "true", "hx-target": "market-results"},
    )
    assert r.status_code == 200
    assert "<html" not in r.text and r.text.count('data-testid="market-row"') == 1


async def test_a_query_the_api_refuses_is_shown_next_to_the_field(
    client: httpx.AsyncClient,
) -> None:
    r = await client.get("/app/markets", params={"q": "x" * 201})
    assert r.status_code == 422
    assert 'id="q-error"' in r.text and 'aria-invalid="true"' in r.text


async def test_an_empty_database_says_how_to_ingest(client: httpx.AsyncClient) -> None:
    r = await client.get("/app/markets")
    assert r.status_code == 200 and "edgelab ingest polymarket" in r.text


@pytest.mark.usefixtures("markets")
async def test_a_market_shows_outcomes_and_asks_anonymous_visitors_to_sign_in(
    client: httpx.AsyncClient,
) -> None:
    r = await client.get("/app/markets/2000050")
    assert r.status_code == 200
    html = r.text
    assert CELTICS in html and 'data-testid="outcomes"' in html
    assert 'data-testid="history-gated"' in html and "/app/signin" in html
    assert 'data-testid="price-chart"' not in html


@pytest.mark.usefixtures("markets")
async def test_a_free_user_meets_the_upgrade_prompt_for_history_and_news(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    free = await _cookie(session, settings, "pm-free@web.test", "free")
    r = await client.get("/app/markets/2000050", headers=free)
    assert r.status_code == 200
    assert r.text.count('data-testid="upgrade-prompt"') == 2  # history and news


@pytest.mark.usefixtures("markets")
async def test_a_paid_user_sees_the_price_chart_and_that_news_is_off(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    paid = await _cookie(session, settings, "pm-paid@web.test", "paid")
    r = await client.get("/app/markets/2000050", headers=paid)
    assert r.status_code == 200
    series = _series(r.text, "price-chart")
    data = series[0]["data"]
    assert isinstance(data, list) and len(data) > 100
    times = [p["time"] for p in data]
    assert times == sorted(set(times))
    assert 'data-testid="news-off"' in r.text and "EDGELAB_NEWSAPI_KEY" in r.text
    for interval in ("1d", "1w", "1m", "max"):
        assert f'value="{interval}"' in r.text


@pytest.mark.usefixtures("markets")
async def test_an_interval_change_redraws_only_the_price_panel(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    paid = await _cookie(session, settings, "pm-panel@web.test", "paid")
    r = await client.get(
        "/app/markets/2000050",
        params={"interval": "1d", "outcome": "Yes"},
        headers={**paid, "hx-request": "true", "hx-target": "price-panel"},
    )
    assert r.status_code == 200 and "<html" not in r.text and 'data-testid="news"' not in r.text
    day = _series(r.text, "price-chart")[0]["data"]
    assert isinstance(day, list) and 20 <= len(day) <= 25  # hourly points of one day
    assert 'value="1d" checked' in r.text


@pytest.mark.usefixtures("markets")
async def test_news_articles_are_listed_when_a_key_is_set(
    settings: Settings, session: AsyncSession
) -> None:
    from tests.fixtures.app import app_in_session

    with_news = settings.model_copy(update={"newsapi_key": SecretStr(NEWS_KEY)})
    paid = await _cookie(session, settings, "pm-news@web.test", "paid")
    async with app_in_session(with_news, session, base_url="http://t") as (_, c):
        r = await c.get("/app/markets/2000050", headers=paid)
    assert r.status_code == 200
    assert 'data-testid="articles"' in r.text and 'data-testid="news-off"' not in r.text
    assert r.text.count('rel="noopener noreferrer" target="_blank">') >= 3


async def test_an_unknown_market_is_a_404_page(client: httpx.AsyncClient) -> None:
    r = await client.get("/app/markets/nope")
    assert r.status_code == 404 and "market_not_found" in r.text
