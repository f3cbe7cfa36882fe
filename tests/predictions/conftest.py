"""Fixtures of the prediction-markets tests: the local fake of Polymarket and NewsAPI, and
settings (and so the `client` app) pointing at it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from edgelab.core.settings import Settings
from tests.fixtures.database import make_settings
from tests.loopback import serve
from tests.predictions.fake_polymarket import NEWS_KEY, FakePolymarket


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[FakePolymarket, str]]:
    fake = FakePolymarket()
    with serve(fake.app, name="fake Polymarket") as url:
        yield fake, url


@pytest.fixture
def fake(server: tuple[FakePolymarket, str]) -> FakePolymarket:
    server[0].reset()
    return server[0]


@pytest.fixture
def fake_url(server: tuple[FakePolymarket, str]) -> str:
    return server[1]


@pytest.fixture
async def settings(db_url: str, fake_url: str, fake: FakePolymarket) -> Settings:
    """The suite's settings with every prediction-markets upstream at the fake."""
    return make_settings(
        db_url,
        polymarket_gamma_url=fake_url,
        polymarket_clob_url=fake_url,
        newsapi_url=f"{fake_url}/v2",
        newsapi_key=NEWS_KEY,
        http_max_retries=1,
        http_timeout_seconds=1.0,
        polymarket_page_size=10,
        polymarket_ingest_minutes=0,
        polymarket_cache_ttl_seconds=60,
    )
