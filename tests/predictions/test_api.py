"""The prediction-markets API over the real app and database, upstreams at the local fake."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from edgelab.accounts.service import create_user
from edgelab.core.auth import issue_access_token
from edgelab.core.settings import Settings
from edgelab.predictions.ingest import ingest_polymarket, store_history
from edgelab.predictions.sources.polymarket import PolymarketClient
from tests.predictions.fake_polymarket import FakePolymarket, make_market, token_for


async def _ingest(session: AsyncSession, settings: Settings) -> None:
    client = PolymarketClient(settings, retry_initial_wait=0.01)
    try:
        await ingest_polymarket(session, settings, client=client)
    finally:
        await client.aclose()
    await session.commit()


@pytest.fixture
async def markets(fake: FakePolymarket, session: AsyncSession, settings: Settings) -> None:
    tagged = {"tags": [{"id": "745", "label": "NBA", "slug": "nba"}]}
    fake.markets = [make_market(i) for i in range(12)]
    fake.markets.append(
        make_market(
            50,
            question="Will the Boston Celtics beat the New York Knicks?",
            volumeNum=None,
            volume=None,
            endDate="2026-12-10T00:00:00Z",
            **tagged,
        )
    )
    await _ingest(session, settings)


@pytest.fixture
async def paid_headers(session: AsyncSession, settings: Settings) -> dict[str, str]:
    user = await create_user(session, "pm-paid@api.test", tier="paid")
    await session.commit()
    return {"Authorization": f"Bearer {issue_access_token(settings, user.id)}"}


async def test_no_data_answers_an_empty_list_with_how_to_ingest(client: httpx.AsyncClient) -> None:
    r = await client.get("/predictions/markets")
    assert r.status_code == 200
    body = r.json()
    assert body["items"] == [] and body["total"] == 0
    assert "edgelab ingest polymarket" in body["notes"][0]
    health = (await client.get("/health")).json()
    assert "no data ingested" in health["predictions"]


@pytest.mark.usefixtures("markets")
async def test_list_sorts_filters_and_pages(client: httpx.AsyncClient) -> None:
    r = await client.get("/predictions/markets", params={"sort": "volume", "limit": 5})
    body = r.json()
    assert r.status_code == 200 and body["total"] == 13 and len(body["items"]) == 5
    volumes = [m["volume"] for m in body["items"]]
    assert volumes == sorted(volumes, reverse=True) and volumes[0] == 1110.0
    page2 = (
        await client.get("/predictions/markets", params={"sort": "volume", "limit": 5, "offset": 5})
    ).json()
    assert not {m["id"] for m in page2["items"]} & {m["id"] for m in body["items"]}
    asc = (
        await client.get("/predictions/markets", params={"sort": "volume", "order": "asc"})
    ).json()
    assert asc["items"][-1]["volume"] is None  # nulls last either way
    assert asc["items"][0]["volume"] == 1000.0
    ending = (
        await client.get("/predictions/markets", params={"sort": "end_date", "order": "asc"})
    ).json()
    assert ending["items"][0]["id"] == "2000050"
    first = body["items"][0]
    assert first["outcomes"][0]["name"] == "Yes" and 0 <= first["outcomes"][0]["price"] <= 1


@pytest.mark.usefixtures("markets")
@pytest.mark.parametrize(
    ("params", "ids"),
    [
        ({"tag": "NBA"}, ["2000050"]),
        ({"q": "celtics"}, ["2000050"]),
        ({"q": "100%"}, []),
        ({"min_volume": 1100}, ["2000010", "2000011"]),
        ({"min_liquidity": 950}, ["2000007"]),
        ({"ending_before": "2027-01-01T00:00:00Z"}, ["2000050"]),
        ({"ending_after": "2027-12-01T00:00:00Z"}, ["2000011"]),
        ({"closed": "true"}, []),
        ({"active": "true", "q": "number 3 "}, ["2000003"]),
    ],
)
async def test_filters(client: httpx.AsyncClient, params: dict[str, Any], ids: list[str]) -> None:
    r = await client.get("/predictions/markets", params={**params, "limit": 200})
    assert r.status_code == 200, r.text
    assert sorted(m["id"] for m in r.json()["items"]) == ids
    assert r.json()["notes"] == []


async def test_bad_input_is_an_envelope_not_a_500(client: httpx.AsyncClient) -> None:
    r = await client.get("/predictions/markets", params={"ending_before": "2027-01-01T00:00:00"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_input"
    for number in ("0.5", "0", "1790000000", "0001-01-01T00:00:00+01:00"):  # no epoch, no UTC
        r = await client.get("/predictions/markets", params={"ending_before": number})
        assert r.status_code == 422 and r.json()["error"]["code"] == "validation_error"
        r = await client.get("/predictions/markets", params={"ending_after": number})
        assert r.status_code == 422
    r = await client.get("/predictions/markets", params={"sort": "nope", "limit": 0})
    assert r.status_code == 422 and r.json()["error"]["code"] == "validation_error"
    r = await client.get(
        "/predictions/markets",
        params={"ending_before": "2026-01-01T00:00:00Z", "ending_after": "2027-01-01T00:00:00Z"},
    )  # each bound is valid: a window nothing fits in is an empty answer that says why
    assert r.status_code == 200 and r.json()["total"] == 0
    assert any("ending_after is not earlier" in n for n in r.json()["notes"])


@pytest.mark.usefixtures("markets")
async def test_market_detail_by_id_or_slug(client: httpx.AsyncClient) -> None:
    r = await client.get("/predictions/markets/2000004")
    body = r.json()
    assert r.status_code == 200
    assert [o["name"] for o in body["outcomes"]] == ["Yes", "No"]
    assert body["outcomes"][0]["token_id"] == token_for("2000004", 0)
    assert body["spread"] == 0.01 and body["best_bid"] < body["best_ask"]
    assert body["resolution"] == {"status": "open", "uma_status": None, "outcome": None}
    assert (await client.get("/predictions/markets/test-market-4")).json()["id"] == "2000004"
    missing = await client.get("/predictions/markets/nope")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "market_not_found"


@pytest.mark.usefixtures("markets")
async def test_history_is_paid(client: httpx.AsyncClient) -> None:
    r = await client.get("/predictions/markets/2000001/history")
    assert r.status_code == 401
    user_free = await client.get("/predictions/markets/2000001/news")
    assert user_free.status_code == 401


@pytest.mark.usefixtures("markets")
async def test_history_fetches_from_the_clob_when_missing_and_stores(
    client: httpx.AsyncClient, fake: FakePolymarket, paid_headers: dict[str, str]
) -> None:
    token = token_for("2000002", 1)
    now = int(time.time())
    fake.histories[token] = [{"t": now - 3000 + 60 * i, "p": 0.4 + i / 1000} for i in range(40)]
    fake.histories[token].append({"t": now - 3000, "p": 0.41})  # a repeated second
    url = "/predictions/markets/2000002/history"
    r = await client.get(
        url, params={"outcome": "no", "interval": "1h", "fidelity": 1}, headers=paid_headers
    )
    body = r.json()
    assert r.status_code == 200, r.text
    assert body["source"] == "clob" and body["token_id"] == token and not body["stale"]
    times = [p["time"] for p in body["data"]]
    assert times == sorted(set(times)) and len(times) == 40
    assert body["data"][0]["value"] == 0.41  # the later answer for that second wins
    assert fake.calls("/prices-history")[-1].params["market"] == [token]  # token, not condition
    again = (
        await client.get(
            url, params={"outcome": "No", "interval": "1h", "fidelity": 1}, headers=paid_headers
        )
    ).json()
    assert again["data"] == body["data"] and len(fake.calls("/prices-history")) == 1


@pytest.mark.usefixtures("markets")
async def test_candles_match_hand_computed_buckets(
    client: httpx.AsyncClient, session: AsyncSession, paid_headers: dict[str, str]
) -> None:
    token = token_for("2000006", 0)
    now = int(time.time()) // 3600 * 3600
    b0 = now - 7200
    hand = [
        (b0 + 60, 0.50),
        (b0 + 600, 0.62),
        (b0 + 1200, 0.45),
        (b0 + 3000, 0.55),
        (b0 + 3600 + 5, 0.7),
    ]
    await store_history(session, token, hand, "clob")
    await session.commit()
    r = await client.get(
        "/predictions/markets/2000006/history",
        params={"interval": "1d", "fidelity": 60, "format": "candles"},
        headers=paid_headers,
    )
    data = [c for c in r.json()["data"] if c["time"] >= b0]
    assert data[:2] == [
        {"time": b0, "open": 0.5, "high": 0.62, "low": 0.45, "close": 0.55},
        {"time": b0 + 3600, "open": 0.7, "high": 0.7, "low": 0.7, "close": 0.7},
    ]
    assert r.json()["series_type"] == "Candlestick"


@pytest.mark.usefixtures("markets")
async def test_history_serves_stored_points_as_stale_when_the_clob_fails(
    client: httpx.AsyncClient,
    fake: FakePolymarket,
    session: AsyncSession,
    paid_headers: dict[str, str],
) -> None:
    token = token_for("2000008", 0)
    await store_history(session, token, [(1000, 0.3), (2000, 0.35)], "clob")
    await session.commit()
    fake.plan(path="/prices-history", status=503, times=2)
    r = await client.get(
        "/predictions/markets/2000008/history", params={"fidelity": 1}, headers=paid_headers
    )
    body = r.json()
    assert r.status_code == 200 and body["stale"] is True and body["source"] == "stored"
    assert [p["value"] for p in body["data"]][:2] == [0.3, 0.35]
    fake.plan(path="/prices-history", status=503, times=2)
    r = await client.get(
        "/predictions/markets/2000009/history", params={"outcome": "No"}, headers=paid_headers
    )
    # nothing stored for that outcome beyond Gamma's one point: still answered, stale
    assert r.status_code == 200 and r.json()["stale"] is True
    fake.plan(path="/prices-history", status=429, times=2)
    r = await client.get(
        "/predictions/markets/2000009/history", params={"outcome": "nope"}, headers=paid_headers
    )
    assert r.status_code == 404 and r.json()["error"]["code"] == "outcome_not_found"


@pytest.mark.usefixtures("markets")
async def test_news_for_a_market(
    client: httpx.AsyncClient, fake: FakePolymarket, paid_headers: dict[str, str]
) -> None:
    r = await client.get("/predictions/markets/2000050/news", headers=paid_headers)
    body = r.json()
    assert r.status_code == 200, r.text
    assert body["query"] == '"Boston Celtics" AND "New York Knicks"'
    dates = [a["published_at"] for a in body["articles"]]
    assert dates == sorted(dates, reverse=True) and len(dates) == 3
    fake.plan(
        path="/v2/everything",
        status=429,
        body={"status": "error", "code": "rateLimited", "message": "x"},
    )
    other = await client.get("/predictions/markets/2000001/news", headers=paid_headers)
    assert other.status_code == 503 and other.json()["error"]["code"] == "upstream_rate_limited"
    assert other.headers["Retry-After"] == "3600"
    cached = await client.get("/predictions/markets/2000050/news", headers=paid_headers)
    assert cached.json()["articles"] == body["articles"] and len(fake.calls("/v2/everything")) == 2


@pytest.mark.usefixtures("markets")
async def test_chart_config(client: httpx.AsyncClient) -> None:
    r = await client.get("/charts/config", params={"market_id": "2000003", "theme": "light"})
    body = r.json()
    assert r.status_code == 200
    assert body["price_format"] == {"type": "price", "precision": 2, "minMove": 0.01}
    assert body["chart_options"]["layout"]["background"]["color"] == "#ffffff"
    assert [s["title"] for s in body["series"]] == ["Yes", "No"]
    assert body["series"][0]["type"] == "Line"
    assert body["series"][0]["data_url"].startswith(
        "/predictions/markets/2000003/history?outcome=Yes"
    )
    candles = (
        await client.get(
            "/charts/config", params={"market_id": "2000003", "series_type": "candlestick"}
        )
    ).json()
    assert len(candles["series"]) == 1 and "format=candles" in candles["series"][0]["data_url"]
    assert candles["series"][0]["options"]["upColor"]
    generic = (await client.get("/charts/config")).json()
    assert generic["series"] == [] and generic["market_id"] is None
    assert (await client.get("/charts/config", params={"market_id": "x"})).status_code == 404
