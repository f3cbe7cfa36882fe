"""The Polymarket client against the local fake: parsing, paging, retries and error mapping."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from edgelab.core.errors import NotFoundError, UpstreamError
from edgelab.core.settings import Settings
from edgelab.predictions.sources.polymarket import (
    GammaMarket,
    MarketPages,
    PolymarketClient,
    json_list,
    parse_market,
)
from tests.predictions.fake_polymarket import RECORDED_ROW, FakePolymarket, make_market


@pytest.fixture
async def api(settings: Settings) -> AsyncIterator[PolymarketClient]:
    client = PolymarketClient(settings, retry_initial_wait=0.01)
    yield client
    await client.aclose()


async def _all(api: PolymarketClient, report: MarketPages, **kw: object) -> list[GammaMarket]:
    out: list[GammaMarket] = []
    async for page in api.iter_markets(report=report, **kw):  # type: ignore[arg-type]
        out.extend(page)
    return out


def test_recorded_row_decodes_the_json_string_fields() -> None:
    m = parse_market(RECORDED_ROW)
    assert m is not None
    assert [o.name for o in m.outcomes] == ["Up", "Down"]
    assert [o.price for o in m.outcomes] == [0.585, 0.415]
    assert m.outcomes[0].token_id == (
        "8851848546962572193739008211889046036776198486765606333032192644001246174440"
    )
    assert m.condition_id == "0x2e6af11e4b853b05ba7135239b21d77e808889b6ce1e735de856c94c4e5b5fce"
    assert m.volume == pytest.approx(92509.470055)  # volumeNum; "volume" is a string
    assert m.liquidity == pytest.approx(20579.7452)
    assert (m.best_bid, m.best_ask, m.tick_size) == (0.58, 0.59, 0.01)
    assert m.end_date is not None and m.end_date.isoformat() == "2025-12-31T17:15:00+00:00"


def test_missing_and_malformed_fields_are_tolerated() -> None:
    bare = parse_market({"id": 7, "question": "Bare?"})
    assert bare is not None and bare.id == "7" and bare.outcomes == [] and bare.volume is None
    broken = parse_market(
        {
            "id": "8",
            "question": "Broken?",
            "outcomes": "[not json",
            "volume": "lots",
            "endDate": "someday",
            "bestBid": True,
            "liquidity": "12.5",
        }
    )
    assert broken is not None
    assert (broken.outcomes, broken.volume, broken.end_date, broken.best_bid) == (
        [],
        None,
        None,
        None,
    )
    assert broken.liquidity == 12.5  # the string form is read when the number is absent
    assert parse_market({"question": "no id"}) is None
    assert parse_market(["not", "a", "dict"]) is None
    assert json_list('["a", "b"]') == ["a", "b"] and json_list('{"a": 1}') is None


def test_outcome_without_a_token_is_dropped_not_misaligned() -> None:
    row = {**RECORDED_ROW, "clobTokenIds": '["111"]'}
    m = parse_market(row)
    assert m is not None
    assert [(o.name, o.token_id) for o in m.outcomes] == [("Up", "111")]
    assert m.dropped_outcomes == 1


async def test_keyset_pages_through_every_market(
    fake: FakePolymarket, api: PolymarketClient
) -> None:
    fake.markets = [make_market(i) for i in range(25)]
    report = MarketPages()
    got = await _all(api, report)
    assert sorted(m.id for m in got) == sorted(r["id"] for r in fake.markets)
    assert (report.paging, report.pages) == ("keyset", 3)
    calls = fake.calls("/markets/keyset")
    assert [c.params.get("after_cursor") for c in calls] == [None, ["10"], ["20"]]
    assert all(c.params["closed"] == ["false"] for c in calls)  # never left to the default


async def test_missing_keyset_falls_back_to_offset(
    fake: FakePolymarket, api: PolymarketClient
) -> None:
    fake.markets = [make_market(i) for i in range(23)]
    fake.keyset = "missing"
    report = MarketPages()
    got = await _all(api, report)
    assert len({m.id for m in got}) == 23 and len(got) == 23
    assert report.paging == "offset"
    assert [c.params["offset"] for c in fake.calls("/markets")] == [["0"], ["10"], ["20"]]


async def test_ignored_cursor_falls_back_to_offset_without_duplicates(
    fake: FakePolymarket, api: PolymarketClient
) -> None:
    fake.markets = [make_market(i) for i in range(25)]
    fake.keyset = "ignores_cursor"
    report = MarketPages()
    got = await _all(api, report)
    ids = [m.id for m in got]
    assert report.paging == "offset"
    # the repeated first page was stored once (the ingest dedupes by id); all 25 came
    assert set(ids) == {r["id"] for r in fake.markets}


async def test_limit_stops_the_listing(fake: FakePolymarket, api: PolymarketClient) -> None:
    fake.markets = [make_market(i) for i in range(40)]
    got = await _all(api, MarketPages(), limit=15)
    assert len(got) == 15
    assert [c.params["limit"] for c in fake.calls("/markets/keyset")] == [["10"], ["5"]]


async def test_closed_markets_need_closed_true(fake: FakePolymarket, api: PolymarketClient) -> None:
    fake.markets = [make_market(1), make_market(2, closed=True, active=False)]
    open_only = await _all(api, MarketPages())
    closed = await _all(api, MarketPages(), active=None, closed=True)
    assert [m.id for m in open_only] == ["2000001"]
    assert [m.id for m in closed] == ["2000002"]


async def test_rows_without_id_are_counted_not_fatal(
    fake: FakePolymarket, api: PolymarketClient
) -> None:
    fake.markets = [make_market(1), {"question": "no id", "active": True}, "junk", make_market(2)]
    report = MarketPages()
    got = await _all(api, report)
    assert [m.id for m in got] == ["2000001", "2000002"] and report.dropped == 2


async def test_429_with_retry_after_is_retried(fake: FakePolymarket, api: PolymarketClient) -> None:
    fake.markets = [make_market(1)]
    fake.plan(path="/markets/keyset", status=429, headers={"Retry-After": "0"})
    got = await _all(api, MarketPages())
    assert [m.id for m in got] == ["2000001"]
    assert len(fake.calls("/markets/keyset")) == 2


async def test_429_without_retry_after_maps_to_503_rate_limited(
    fake: FakePolymarket, api: PolymarketClient
) -> None:
    fake.plan(path="/prices-history", status=429, times=2)
    with pytest.raises(UpstreamError) as caught:
        await api.prices_history("123")
    err = caught.value
    assert (err.status_code, err.code) == (503, "upstream_rate_limited")
    assert err.headers["Retry-After"] == "10" and err.details["service"] == "Polymarket"


async def test_429_retry_after_is_passed_on(fake: FakePolymarket, api: PolymarketClient) -> None:
    fake.plan(path="/prices-history", status=429, headers={"Retry-After": "0.2"}, times=2)
    with pytest.raises(UpstreamError) as caught:
        await api.prices_history("123")
    assert caught.value.headers["Retry-After"] == "1"  # whole seconds, at least 1


async def test_5xx_is_retried_then_503(fake: FakePolymarket, api: PolymarketClient) -> None:
    fake.plan(path="/book", status=502)
    book = await api.book(
        "52114319501245915516055106046884209969926127482827954674443846427813813222426"
    )
    assert book.best_bid == 0.5  # the highest bid, wherever the wire puts it
    fake.plan(path="/book", status=500, times=2)
    with pytest.raises(UpstreamError) as caught:
        await api.book("1")
    assert (caught.value.status_code, caught.value.code) == (503, "upstream_unavailable")


async def test_slow_answer_past_the_timeout(fake: FakePolymarket, settings: Settings) -> None:
    quick = settings.model_copy(update={"http_timeout_seconds": 0.2, "http_max_retries": 0})
    api = PolymarketClient(quick, retry_initial_wait=0.01)
    fake.plan(path="/midpoint", delay=1.0)
    try:
        with pytest.raises(UpstreamError) as caught:
            await api.midpoint("1")
    finally:
        await api.aclose()
    assert (caught.value.status_code, caught.value.code) == (503, "upstream_unavailable")
    assert caught.value.details["error"] == "timeout"


async def test_malformed_json_is_502(fake: FakePolymarket, api: PolymarketClient) -> None:
    fake.plan(path="/prices-history", body=b'{"history": [')
    with pytest.raises(UpstreamError) as caught:
        await api.prices_history("1")
    assert (caught.value.status_code, caught.value.code) == (502, "upstream_bad_response")


async def test_history_takes_numbers_or_strings(
    fake: FakePolymarket, api: PolymarketClient
) -> None:
    fake.history_as_strings = True
    fake.histories["42"] = [{"t": 1000, "p": 0.5}, {"t": 1500, "p": "0.55"}, {"t": "x", "p": 1}]
    assert await api.prices_history("42", interval="1d", fidelity=5) == [(1000, 0.5), (1500, 0.55)]
    call = fake.calls("/prices-history")[-1]
    assert call.params == {"market": ["42"], "interval": ["1d"], "fidelity": ["5"]}


async def test_single_market_and_midpoint(fake: FakePolymarket, api: PolymarketClient) -> None:
    fake.markets = [make_market(3)]
    m = await api.get_market("2000003")
    assert m.outcomes[0].name == "Yes"
    assert await api.midpoint("1") == 0.5  # "0.5" on the wire
    with pytest.raises(NotFoundError):
        await api.get_market("999")


async def test_events_and_tags(fake: FakePolymarket, api: PolymarketClient) -> None:
    events = await api.list_events()
    tags = await api.list_tags()
    assert events[0]["volume"] == 12.5  # a number on events
    assert tags == [{"id": "745", "label": "NBA", "slug": "nba"}]  # the id-less one dropped
