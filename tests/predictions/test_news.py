"""NewsAPI: the query built from a question, de-duplication, the client's error mapping, and
the cached, budgeted news of a market (stale answers when NewsAPI fails)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from edgelab.core.cache import MemoryCache
from edgelab.core.errors import UpstreamError
from edgelab.core.settings import Settings
from edgelab.predictions.models import PredictionMarket
from edgelab.predictions.service import market_news
from edgelab.predictions.sources import news_query
from edgelab.predictions.sources.clients import PredictionClients
from edgelab.predictions.sources.newsapi import NewsApiClient, NewsBudget
from tests.predictions.fake_polymarket import FakePolymarket, load

ERRORS = load("errors.json")


def test_query_keeps_entities_and_drops_stop_words() -> None:
    q = news_query.build_query("Will the Los Angeles Lakers win the 2026 NBA Finals?")
    assert q == '"Los Angeles Lakers" AND "NBA Finals"'
    q = news_query.build_query("Bitcoin Up or Down - December 31, 12:00PM-12:15PM ET")
    assert q == "Bitcoin"
    assert news_query.build_query("will inflation exceed expectations?") == (
        "inflation AND exceed AND expectations"
    )
    assert news_query.build_query("Will it be?") is None


def test_dedupe_by_url_and_title_newest_first() -> None:
    articles: list[dict[str, Any]] = [
        {
            "url": "https://www.a.com/x/?utm=1",
            "title": "Same story",
            "published_at": "2026-01-02T00:00:00Z",
        },
        {"url": "https://a.com/x", "title": "Other title", "published_at": "2026-01-01T00:00:00Z"},
        {"url": "https://b.com/y", "title": "SAME story!", "published_at": "2026-01-03T00:00:00Z"},
        {"url": "https://c.com/z", "title": "Fresh", "published_at": "2026-01-04T00:00:00Z"},
        {"url": "https://d.com/r", "title": "[Removed]", "published_at": "2026-01-05T00:00:00Z"},
    ]
    out = news_query.dedupe_newest_first(articles)
    # b's title repeats the older www.a.com copy (dropped); a.com/x is another story
    assert [a["url"] for a in out] == ["https://c.com/z", "https://b.com/y", "https://a.com/x"]
    same_url = [dict(articles[1]), {**articles[0], "title": "Different"}]
    assert [a["title"] for a in news_query.dedupe_newest_first(same_url)] == ["Different"]


@pytest.fixture
async def news(settings: Settings) -> AsyncIterator[NewsApiClient]:
    client = NewsApiClient(settings, retry_initial_wait=0.01)
    yield client
    await client.aclose()


async def test_everything_sends_key_in_header_and_parses(
    fake: FakePolymarket, news: NewsApiClient
) -> None:
    page = await news.everything('"NBA Finals"')
    assert page.total_results == 771 and len(page.articles) == 3
    assert page.articles[2]["source"] == "Lifehacker.jp" and page.articles[2]["source_id"] is None
    call = fake.calls("/v2/everything")[0]
    assert call.headers["x-api-key"] and "apiKey" not in call.params
    assert call.params["language"] == ["en"] and call.params["sortBy"] == ["publishedAt"]
    assert call.params["pageSize"] == ["20"]


@pytest.mark.parametrize(
    ("status", "body", "headers", "code", "http", "retry_after"),
    [
        (429, ERRORS["rateLimited_429"], {}, "upstream_rate_limited", 503, "3600"),
        (
            429,
            ERRORS["rateLimited_429"],
            {"Retry-After": "120"},
            "upstream_rate_limited",
            503,
            "120",
        ),
        (401, ERRORS["apiKeyInvalid_401"], {}, "upstream_auth_failed", 502, None),
        (426, ERRORS["maximumResultsReached_426"], {}, "upstream_bad_request", 502, None),
        (500, "<html>oops</html>", {}, "upstream_unavailable", 503, "60"),
        (
            200,
            {"status": "error", "code": "rateLimited", "message": "x"},
            {},
            "upstream_rate_limited",
            503,
            "3600",
        ),
    ],
)
async def test_errors_are_mapped(
    fake: FakePolymarket,
    news: NewsApiClient,
    status: int,
    body: Any,
    headers: dict[str, str],
    code: str,
    http: int,
    retry_after: str | None,
) -> None:
    fake.plan(path="/v2/everything", status=status, body=body, headers=headers, times=2)
    with pytest.raises(UpstreamError) as caught:
        await news.everything("x")
    err = caught.value
    assert (err.code, err.status_code) == (code, http)
    assert err.headers.get("Retry-After") == retry_after
    if status == 429:
        assert len(fake.calls("/v2/everything")) == 1  # a daily allowance is not retried


def _market(question: str = "Will the Boston Celtics win the 2026 NBA Finals?") -> PredictionMarket:
    return PredictionMarket(id="77", question=question, tags=[], tag_slugs="|")


async def test_market_news_is_cached_and_budgeted(fake: FakePolymarket, settings: Settings) -> None:
    s = settings.model_copy(update={"newsapi_daily_budget": 1, "newsapi_cache_ttl_seconds": 60})
    cache, clients = MemoryCache(), PredictionClients.create(s, retry_initial_wait=0.01)
    try:
        first = await market_news(s, cache, clients, _market())
        again = await market_news(s, cache, clients, _market())
        assert len(fake.calls("/v2/everything")) == 1  # the second came from the cache
        assert first.articles == again.articles and not again.stale
        assert first.query == '"Boston Celtics" AND "NBA Finals"'
        assert first.budget == {"used": 1, "limit": 1}
        # another market: the budget is spent, so no call and no cached answer: 503
        with pytest.raises(UpstreamError) as caught:
            await market_news(s, cache, clients, PredictionMarket(id="78", question="Will Ohio?"))
        assert caught.value.code == "upstream_rate_limited" and caught.value.retry_after
        assert len(fake.calls("/v2/everything")) == 1
    finally:
        await clients.aclose()
        await cache.close()


async def test_failing_newsapi_serves_the_last_answer_as_stale(
    fake: FakePolymarket, settings: Settings
) -> None:
    s = settings.model_copy(update={"newsapi_cache_ttl_seconds": 0.05})
    cache, clients = MemoryCache(), PredictionClients.create(s, retry_initial_wait=0.01)
    try:
        fresh = await market_news(s, cache, clients, _market())
        import asyncio

        await asyncio.sleep(0.1)
        fake.plan(path="/v2/everything", status=401, body=ERRORS["apiKeyInvalid_401"])
        stale = await market_news(s, cache, clients, _market())
        assert stale.stale and stale.articles == fresh.articles and stale.notes
    finally:
        await clients.aclose()
        await cache.close()


async def test_no_key_means_a_note_and_no_call(fake: FakePolymarket, settings: Settings) -> None:
    s = settings.model_copy(update={"newsapi_key": None})
    cache, clients = MemoryCache(), PredictionClients.create(s)
    try:
        answer = await market_news(s, cache, clients, _market())
    finally:
        await clients.aclose()
    assert answer.articles == [] and "EDGELAB_NEWSAPI_KEY" in answer.notes[0]
    assert fake.calls("/v2/everything") == []


async def test_budget_counts_per_utc_day() -> None:
    budget = NewsBudget(MemoryCache(), 2)
    assert [await budget.take() for _ in range(3)] == [True, True, False]
    assert await budget.used() == 2
