"""The Odds API client against a local fake server speaking the documented v4 payloads.

Every call crosses a real socket (uvicorn on 127.0.0.1), so timeouts, retries and query
encoding are exercised as in production. Retries wait 0 s here (retry_initial_wait=0).
"""

from __future__ import annotations

import logging
import socket
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from edgelab.betting.odds.oddsapi import (
    OddsApiClient,
    OddsApiNotConfigured,
    OddsEvent,
    OddsResponse,
)
from edgelab.core.errors import InvalidInputError, NotFoundError, UpstreamError
from edgelab.core.settings import Settings
from tests.betting.fake_oddsapi import FakeOddsApi, load

pytestmark = pytest.mark.asyncio

CELTICS_KNICKS = "3f2a4e9c1b7d48a6a0e5c2d19b8f7a61"
NUGGETS_LAKERS = "b81c07d5e6f94a2c9d3e1f0a7b6c5d42"


def make_settings(url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "odds_api_url": url,
        "odds_api_key": "test-key",
        "http_timeout_seconds": 0.5,
        "http_max_retries": 2,
        **overrides,
    }
    return Settings(**values, _env_file=None)


@pytest.fixture
async def client(
    server: tuple[FakeOddsApi, str], fake: FakeOddsApi
) -> AsyncIterator[OddsApiClient]:
    odds = OddsApiClient(make_settings(server[1]), retry_initial_wait=0)
    yield odds
    await odds.aclose()


def book(event: OddsEvent, key: str) -> dict[str, Any]:
    """{market key: [(name, description, price, point)]} for one bookmaker of an event."""
    (bookmaker,) = [b for b in event.bookmakers if b.key == key]
    return {
        m.key: [(o.name, o.description, o.price, o.point) for o in m.outcomes]
        for m in bookmaker.markets
    }


async def upstream_error(call: Any) -> UpstreamError:
    with pytest.raises(UpstreamError) as info:
        await call
    return info.value


# ---------------------------------------------------------------- happy paths


async def test_decimal_odds_parsed_with_quota(client: OddsApiClient, fake: FakeOddsApi) -> None:
    result = await client.fetch_odds()

    assert isinstance(result, OddsResponse)
    assert result.odds_format == "decimal" and result.dropped == 0
    assert [e.home_team for e in result.events] == [
        "Boston Celtics",
        "Denver Nuggets",
        "Golden State Warriors",
    ]
    event = result.events[0]
    assert event.id == CELTICS_KNICKS and event.sport_key == "basketball_nba"
    assert event.commence_time.isoformat() == "2025-02-06T00:40:00+00:00"
    assert [b.key for b in event.bookmakers] == ["draftkings", "fanduel", "betmgm"]
    assert event.bookmakers[0].title == "DraftKings"
    assert event.bookmakers[0].last_update is not None
    dk = book(event, "draftkings")
    assert dk["h2h"] == [
        ("New York Knicks", None, 2.85, None),
        ("Boston Celtics", None, 1.44, None),
    ]
    assert dk["spreads"][1] == ("Boston Celtics", None, 1.91, -5.5)
    assert dk["totals"] == [("Over", None, 1.89, 226.5), ("Under", None, 1.93, 226.5)]
    # 3 markets x 1 region = 3 credits, from a 500-credit plan
    assert result.quota.model_dump() == {"remaining": 497, "used": 3, "last": 3}


async def test_american_prices_are_converted_to_decimal(
    client: OddsApiClient, fake: FakeOddsApi
) -> None:
    american = await client.fetch_odds(odds_format="american")
    decimal = await client.fetch_odds(odds_format="decimal")

    assert american.odds_format == "american"
    assert fake.requests[0].params["oddsFormat"] == "american"
    dk = book(american.events[0], "draftkings")
    assert dk["h2h"][0][2] == pytest.approx(2.85)  # +185
    assert dk["h2h"][1][2] == pytest.approx(1 + 100 / 225)  # -225
    warriors = book(american.events[2], "betmgm")["h2h"]
    assert warriors[1] == ("Golden State Warriors", None, 2.25, None)  # +125
    # Every converted price matches what the API itself sends as decimal (2 dp rounding).
    for got, want in zip(american.events, decimal.events, strict=True):
        for b_got, b_want in zip(got.bookmakers, want.bookmakers, strict=True):
            for m_got, m_want in zip(b_got.markets, b_want.markets, strict=True):
                for o_got, o_want in zip(m_got.outcomes, m_want.outcomes, strict=True):
                    assert o_got.price == pytest.approx(o_want.price, abs=0.006)
                    assert o_got.price > 1.0


async def test_default_parameters_sent(client: OddsApiClient, fake: FakeOddsApi) -> None:
    await client.fetch_odds()

    (request,) = fake.requests  # one GET, the key as the query parameter the API wants
    assert request.path == "/v4/sports/basketball_nba/odds"
    assert request.params == {
        "apiKey": "test-key",
        "regions": "us",
        "markets": "h2h,spreads,totals",
        "oddsFormat": "decimal",
        "dateFormat": "iso",
    }


async def test_bookmakers_replace_regions(client: OddsApiClient, fake: FakeOddsApi) -> None:
    result = await client.fetch_odds(bookmakers="draftkings, fanduel", markets="h2h", regions="uk")

    params = fake.requests[0].params
    assert params["bookmakers"] == "draftkings,fanduel" and "regions" not in params
    assert params["markets"] == "h2h"
    event = result.events[0]
    assert [b.key for b in event.bookmakers] == ["draftkings", "fanduel"]
    assert all([m.key for m in b.markets] == ["h2h"] for b in event.bookmakers)
    assert result.quota.last == 1


async def test_settings_bookmakers_used_unless_regions_are_given(
    server: tuple[FakeOddsApi, str], fake: FakeOddsApi
) -> None:
    settings = make_settings(server[1], odds_api_bookmakers="fanduel", odds_api_regions="us,uk")
    odds = OddsApiClient(settings, retry_initial_wait=0)
    try:
        await odds.fetch_odds()
        await odds.fetch_odds(regions="us2")
    finally:
        await odds.aclose()

    first, second = (r.params for r in fake.requests)
    assert first["bookmakers"] == "fanduel" and "regions" not in first
    assert second["regions"] == "us2" and "bookmakers" not in second


async def test_quota_headers_parsed_leniently(client: OddsApiClient, fake: FakeOddsApi) -> None:
    fake.quota_as_float = True
    result = await client.fetch_odds(markets="h2h,totals", regions="us,uk")

    assert result.quota.model_dump() == {"remaining": 496, "used": 4, "last": 4}


async def test_event_odds_returns_player_props(client: OddsApiClient, fake: FakeOddsApi) -> None:
    event, quota = await client.fetch_event_odds(CELTICS_KNICKS, markets="player_points")

    request = fake.requests[0]
    assert request.path == f"/v4/sports/basketball_nba/events/{CELTICS_KNICKS}/odds"
    assert request.params["markets"] == "player_points" and request.params["regions"] == "us"
    assert [b.key for b in event.bookmakers] == ["draftkings", "fanduel"]
    points = book(event, "draftkings")
    assert list(points) == ["player_points"]
    assert points["player_points"][:2] == [
        ("Over", "Jayson Tatum", 1.87, 27.5),
        ("Under", "Jayson Tatum", 1.95, 27.5),
    ]
    assert quota.last == 1

    american, _ = await client.fetch_event_odds(
        CELTICS_KNICKS, markets="player_points,player_rebounds", odds_format="american"
    )
    rebounds = book(american, "draftkings")["player_rebounds"]
    assert rebounds[1] == ("Under", "Jayson Tatum", 2.0, 8.5)  # +100
    assert rebounds[2][2] == pytest.approx(2.05)  # Brunson over, +105


async def test_list_events_costs_nothing(client: OddsApiClient, fake: FakeOddsApi) -> None:
    events, quota = await client.list_events()

    assert [e.id for e in events][:2] == [CELTICS_KNICKS, NUGGETS_LAKERS]
    assert all(e.bookmakers == [] for e in events)
    assert quota.last == 0 and quota.remaining == 500
    assert fake.requests[0].params == {"apiKey": "test-key", "dateFormat": "iso"}


# ---------------------------------------------------------------- upstream refusals


async def test_bad_key_is_auth_failed_and_not_retried(
    server: tuple[FakeOddsApi, str], fake: FakeOddsApi
) -> None:
    odds = OddsApiClient(make_settings(server[1], odds_api_key="wrong-key"), retry_initial_wait=0)
    try:
        error = await upstream_error(odds.fetch_odds())
    finally:
        await odds.aclose()

    assert (error.code, error.status_code) == ("odds_api_auth_failed", 502)
    assert error.details["upstream_error_code"] == "INVALID_KEY"
    assert "wrong-key" not in error.message and "wrong-key" not in str(error.details)
    assert len(fake.requests) == 1


async def test_spent_credits_are_out_of_credits_not_a_bad_key_and_not_retried(
    client: OddsApiClient, fake: FakeOddsApi
) -> None:
    # APIS.md section 9: a spent month is answered 401 with error_code OUT_OF_USAGE_CREDITS
    body = {
        "message": "Usage quota has been reached. See usage plans at https://the-odds-api.com",
        "error_code": "OUT_OF_USAGE_CREDITS",
        "details_url": "https://the-odds-api.com/liveapi/guides/v4/api-error-codes.html",
    }
    fake.plan(status=401, body=body, times=3)

    error = await upstream_error(client.fetch_odds())

    assert (error.code, error.status_code) == ("odds_api_out_of_credits", 503)
    assert error.details["upstream_error_code"] == "OUT_OF_USAGE_CREDITS"
    assert "next month" in error.message
    assert len(fake.requests) == 1


@pytest.mark.parametrize(
    ("status", "code", "http_status"),
    [
        (401, "odds_api_auth_failed", 502),
        (403, "odds_api_auth_failed", 502),
        (422, "odds_api_bad_request", 502),
        (404, "odds_api_bad_request", 502),
    ],
)
async def test_client_errors_are_mapped_without_retry(
    client: OddsApiClient, fake: FakeOddsApi, status: int, code: str, http_status: int
) -> None:
    fake.plan(status=status, body={"message": f"upstream says {status}"}, times=3)

    error = await upstream_error(client.fetch_odds())

    assert (error.code, error.status_code) == (code, http_status)
    assert error.details["upstream_message"] == f"upstream says {status}"
    assert len(fake.requests) == 1


async def test_invalid_market_is_bad_request_with_upstream_message(
    client: OddsApiClient, fake: FakeOddsApi
) -> None:
    error = await upstream_error(client.fetch_odds(markets="h2h,player_points"))

    assert (error.code, error.status_code) == ("odds_api_bad_request", 502)
    assert error.details["upstream_message"] == "Markets not supported here: player_points"
    assert "player_points" in error.message


async def test_unknown_event_is_not_found(client: OddsApiClient, fake: FakeOddsApi) -> None:
    with pytest.raises(NotFoundError) as info:
        await client.fetch_event_odds("0" * 32, markets="player_points")

    assert info.value.code == "odds_event_not_found"


@pytest.mark.parametrize("event_id", ["../odds", "", "a/b", "x?apiKey=1"])
async def test_unsafe_event_id_is_refused_before_any_request(
    client: OddsApiClient, fake: FakeOddsApi, event_id: str
) -> None:
    with pytest.raises(InvalidInputError):
        await client.fetch_event_odds(event_id, markets="player_points")

    assert fake.requests == []


async def test_quota_spent_429_is_not_retried(client: OddsApiClient, fake: FakeOddsApi) -> None:
    spent = {"Retry-After": "120", "x-requests-remaining": "0", "x-requests-used": "500"}
    fake.plan(status=429, body={"message": "Usage quota has been reached."}, headers=spent, times=3)

    error = await upstream_error(client.fetch_odds())

    assert (error.code, error.status_code) == ("odds_api_rate_limited", 503)
    assert error.retry_after == 120 and error.headers == {"Retry-After": "120"}
    assert "quota is spent" in error.message and error.details["quota_spent"] is True
    assert len(fake.requests) == 1


async def test_burst_429_is_retried_then_succeeds(client: OddsApiClient, fake: FakeOddsApi) -> None:
    fake.plan(status=429, headers={"Retry-After": "0", "x-requests-remaining": "400"})

    result = await client.fetch_odds()

    assert len(result.events) == 3 and len(fake.requests) == 2


async def test_burst_429_exhausted_defaults_retry_after(
    client: OddsApiClient, fake: FakeOddsApi
) -> None:
    fake.plan(status=429, body={"message": "Too many requests"}, times=3)

    error = await upstream_error(client.fetch_odds())

    assert (error.code, error.status_code, error.retry_after) == ("odds_api_rate_limited", 503, 60)
    assert "quota" not in error.message and error.details["quota_spent"] is False
    assert len(fake.requests) == 3


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_5xx_is_retried_then_succeeds(
    client: OddsApiClient, fake: FakeOddsApi, status: int
) -> None:
    fake.plan(status=status, times=2)

    result = await client.fetch_odds()

    assert len(result.events) == 3 and len(fake.requests) == 3


async def test_5xx_exhausted_is_unavailable(client: OddsApiClient, fake: FakeOddsApi) -> None:
    fake.plan(status=503, body="<html>Service Unavailable</html>", times=3)

    error = await upstream_error(client.fetch_odds())

    assert (error.code, error.status_code) == ("odds_api_unavailable", 503)
    assert error.details["upstream_status"] == 503
    assert len(fake.requests) == 3


async def test_timeout_is_unavailable(client: OddsApiClient, fake: FakeOddsApi) -> None:
    fake.plan(delay=1.5, times=3)

    error = await upstream_error(client.fetch_odds())

    assert (error.code, error.status_code) == ("odds_api_unavailable", 503)
    assert "timed out" in error.message
    assert len(fake.requests) == 3  # three 0.5 s attempts, each cut by the timeout


async def test_slow_answer_within_retries_succeeds(
    client: OddsApiClient, fake: FakeOddsApi
) -> None:
    fake.plan(delay=1.0)

    result = await client.fetch_odds()

    assert len(result.events) == 3 and len(fake.requests) == 2


async def test_connection_refused_is_unavailable(fake: FakeOddsApi) -> None:
    with socket.socket() as probe:  # a port that was free a moment ago: nothing listens there
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    odds = OddsApiClient(make_settings(f"http://127.0.0.1:{port}"), retry_initial_wait=0)
    try:
        error = await upstream_error(odds.list_events())
    finally:
        await odds.aclose()

    assert (error.code, error.status_code) == ("odds_api_unavailable", 503)
    assert "could not be reached" in error.message


# ---------------------------------------------------------------- malformed payloads


@pytest.mark.parametrize(
    "body",
    [
        "<html><body>Bad gateway page served with 200</body></html>",
        {"message": "an object where an array belongs"},
        [1, 2, 3],
        load("nba_odds_event_without_home_team.json"),
    ],
    ids=["not-json", "object", "not-events", "event-without-home-team"],
)
async def test_malformed_body_is_bad_response(
    client: OddsApiClient, fake: FakeOddsApi, body: Any
) -> None:
    fake.plan(body=body)

    error = await upstream_error(client.fetch_odds())

    assert (error.code, error.status_code) == ("odds_api_bad_response", 502)
    assert len(fake.requests) == 1
    if isinstance(body, list) and body and isinstance(body[0], dict):
        assert error.details == f"event {NUGGETS_LAKERS} lacks a valid home_team"


async def test_partly_malformed_event_drops_only_bad_pieces(
    client: OddsApiClient, fake: FakeOddsApi
) -> None:
    fake.plan(body=load("nba_odds_partly_malformed.json"))

    result = await client.fetch_odds()

    # fanduel without a key, betmgm's markets not a list, one DraftKings spread price "n/a"
    assert result.dropped == 3
    first, second = result.events
    assert [b.key for b in first.bookmakers] == ["draftkings"]
    dk = book(first, "draftkings")
    assert list(dk) == ["h2h", "totals"]  # the spread book lost a side, so all of it goes
    assert dk["h2h"][0] == ("New York Knicks", None, 2.85, None)  # extra fields ignored
    assert [b.key for b in second.bookmakers] == ["draftkings", "fanduel", "betmgm"]


async def test_bad_prop_outcome_drops_only_that_players_lines(
    client: OddsApiClient, fake: FakeOddsApi
) -> None:
    event = load("nba_event_props_american.json")
    outcomes = event["bookmakers"][0]["markets"][0]["outcomes"]
    assert outcomes[2] == {
        "name": "Over",
        "description": "Jalen Brunson",
        "price": -110,
        "point": 26.5,
    }
    outcomes[2]["price"] = 50  # no American line lies strictly between -100 and +100
    fake.plan(body=event)

    parsed, _ = await client.fetch_event_odds(
        CELTICS_KNICKS, markets="player_points", odds_format="american"
    )

    players = {o[1] for o in book(parsed, "draftkings")["player_points"]}
    assert players == {"Jayson Tatum", "Jaylen Brown", "Karl-Anthony Towns"}
    assert "Jalen Brunson" in {o[1] for o in book(parsed, "fanduel")["player_points"]}


# ---------------------------------------------------------------- configuration and hygiene


@pytest.mark.parametrize("key", [None, "", "   "])
async def test_without_key_nothing_is_requested(
    server: tuple[FakeOddsApi, str], fake: FakeOddsApi, key: str | None
) -> None:
    odds = OddsApiClient(make_settings(server[1], odds_api_key=key))
    assert odds.configured is False
    try:
        for call in (
            odds.fetch_odds(),
            odds.fetch_event_odds(CELTICS_KNICKS, markets="player_points"),
            odds.list_events(),
        ):
            with pytest.raises(OddsApiNotConfigured) as info:
                await call
            assert (info.value.status_code, info.value.code) == (503, "odds_api_not_configured")
            assert "EDGELAB_ODDS_API_KEY" in info.value.message
            assert "historical" in info.value.message
    finally:
        await odds.aclose()
    assert fake.requests == []


async def test_key_never_reaches_the_logs(
    client: OddsApiClient, fake: FakeOddsApi, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    fake.plan(status=503)  # makes edgelab.core.http log the retried URL as well

    await client.fetch_odds()
    await client.list_events()

    assert "test-key" not in caplog.text
    assert "apiKey=***" in caplog.text  # httpx's own request log, masked
    quota_lines = [r for r in caplog.records if r.name == "edgelab.betting.odds.oddsapi"]
    assert any("remaining=497" in r.getMessage() for r in quota_lines)


async def test_client_closes_only_what_it_made(server: tuple[FakeOddsApi, str]) -> None:
    settings = make_settings(server[1])
    shared = httpx.AsyncClient()
    borrowed = OddsApiClient(settings, client=shared)
    owned = OddsApiClient(settings)
    await borrowed.aclose()
    await owned.aclose()

    assert not shared.is_closed and owned._client.is_closed
    await shared.aclose()
