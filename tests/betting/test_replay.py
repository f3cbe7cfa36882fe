"""`edgelab replay odds-api`: a local The Odds API serving recorded payloads on a simulated clock.

The replay runs in-process (httpx's ASGI transport) on a `ManualClock`, so a test moves the
simulated time instead of sleeping. The small recording below copies real 2022-23 events (ids,
teams, tip-offs) with made-up prices; its results CSV holds the real final scores of two of
them, copied from the shipped Kaggle file.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from starlette.applications import Starlette

from edgelab.betting.odds.oddsapi import OddsApiClient
from edgelab.betting.odds.oddsapi_payload import (
    Malformed,
    american_price_to_decimal,
    decimal_price_to_american,
    parse_score,
)
from edgelab.betting.odds.replay.recording import Recording
from edgelab.betting.odds.replay.results import FinalScores
from edgelab.betting.odds.replay.server import ReplayConfig, create_replay_app
from edgelab.core.clock import ManualClock, ScaledClock
from edgelab.core.settings import Settings, data_dir

SPORT = "basketball_nba"
ODDS = f"/v4/sports/{SPORT}/odds"
SCORES = f"/v4/sports/{SPORT}/scores"
KEY = {"apiKey": "replay"}
GAME_LINES = {**KEY, "regions": "us", "markets": "h2h,spreads,totals"}

PHI_AT_CLE = "d83842da13c94e306f15c00059a82986"  # tip 2023-03-15T23:30Z; real final 118-109
GSW_AT_LAC = "94d96c799bd41cd4e7b8bffff53b9549"  # tip 2023-03-16T02:00Z; real final 126-134
OKC_AT_TOR = "0c7e5d1e2b3a4f5e6d7c8b9a0f1e2d3c"  # listed the next day; no result in the CSV
FIRST_SNAPSHOT = dt.datetime(2023, 3, 15, 11, 55, 38, tzinfo=dt.UTC)
SECOND_SNAPSHOT = dt.datetime(2023, 3, 16, 11, 55, 37, tzinfo=dt.UTC)
CLE_TIP = dt.datetime(2023, 3, 15, 23, 30, tzinfo=dt.UTC)
GAME_LENGTH = dt.timedelta(hours=2, minutes=15)

# Header and two rows copied verbatim from src/edgelab/data/nba/kaggle/nba_2020-2023.csv.
RESULTS_CSV = (
    "season,date,regular,playoffs,away,home,score_away,score_home,q1_away,q2_away,q3_away,"
    "q4_away,ot_away,q1_home,q2_home,q3_home,q4_home,ot_home,whos_favored,spread,total,"
    "moneyline_away,moneyline_home,h2_spread,h2_total,id_spread,id_total\r\n"
    "2023,2023-03-15,True,False,gs,lac,126,134,23,35,35,33,0,28,33,38,35,0,home,3.5,237.5,,,,,1,1\r\n"
    "2023,2023-03-15,True,False,phi,cle,118,109,29,26,29,34,0,24,36,23,26,0,away,2.5,222.5,,,,,1,1\r\n"
)


def _market(key: str, at: str, *outcomes: tuple[str, int, float | None]) -> dict[str, Any]:
    rows = []
    for name, price, point in outcomes:
        row: dict[str, Any] = {"name": name, "price": price}
        if point is not None:
            row["point"] = point
        rows.append(row)
    return {"key": key, "last_update": at, "outcomes": rows}


def _event(event_id: str, tip: str, home: str, away: str, books: list[Any]) -> dict[str, Any]:
    return {
        "id": event_id,
        "sport_key": SPORT,
        "sport_title": "NBA",
        "commence_time": tip,
        "home_team": home,
        "away_team": away,
        "bookmakers": books,
    }


def _book(key: str, title: str, at: str, *markets: dict[str, Any]) -> dict[str, Any]:
    return {"key": key, "title": title, "last_update": at, "markets": list(markets)}


def recorded_lines() -> list[dict[str, Any]]:
    """Two daily snapshots (historical wrappers, American prices) and one event's props."""
    at1, at2, at3 = "2023-03-15T11:52:25Z", "2023-03-16T11:50:00Z", "2023-03-16T12:29:00Z"
    cle = _event(
        PHI_AT_CLE,
        "2023-03-15T23:30:00Z",
        "Cleveland Cavaliers",
        "Philadelphia 76ers",
        [
            _book(
                "draftkings",
                "DraftKings",
                at1,
                _market(
                    "h2h",
                    at1,
                    ("Cleveland Cavaliers", -130, None),
                    ("Philadelphia 76ers", 110, None),
                ),
                _market(
                    "spreads",
                    at1,
                    ("Cleveland Cavaliers", -110, -2.5),
                    ("Philadelphia 76ers", -110, 2.5),
                ),
                _market("totals", at1, ("Over", -110, 222.5), ("Under", -105, 222.5)),
            ),
            _book(
                "fanduel",
                "FanDuel",
                at1,
                _market(
                    "h2h",
                    at1,
                    ("Cleveland Cavaliers", -128, None),
                    ("Philadelphia 76ers", 108, None),
                ),
            ),
        ],
    )
    lac = _event(
        GSW_AT_LAC,
        "2023-03-16T02:00:00Z",
        "Los Angeles Clippers",
        "Golden State Warriors",
        [
            _book(
                "draftkings",
                "DraftKings",
                at1,
                _market(
                    "h2h",
                    at1,
                    ("Los Angeles Clippers", -160, None),
                    ("Golden State Warriors", 135, None),
                ),
            )
        ],
    )
    tor = _event(
        OKC_AT_TOR,
        "2023-03-17T00:30:00Z",
        "Toronto Raptors",
        "Oklahoma City Thunder",
        [
            _book(
                "draftkings",
                "DraftKings",
                at2,
                _market(
                    "h2h",
                    at2,
                    ("Toronto Raptors", -250, None),
                    ("Oklahoma City Thunder", 205, None),
                ),
            )
        ],
    )
    props = {
        **tor,
        "bookmakers": [
            {
                "key": "draftkings",
                "title": "DraftKings",
                "markets": [
                    {
                        "key": "player_points",
                        "last_update": at3,
                        "outcomes": [
                            {
                                "name": "Over",
                                "description": "Pascal Siakam",
                                "price": -115,
                                "point": 24.5,
                            },
                            {
                                "name": "Under",
                                "description": "Pascal Siakam",
                                "price": -105,
                                "point": 24.5,
                            },
                        ],
                    }
                ],
            }
        ],
    }
    return [
        {"timestamp": "2023-03-15T11:55:38Z", "data": [cle, lac]},
        {"timestamp": "2023-03-16T11:55:37Z", "data": [tor]},
        {"timestamp": "2023-03-16T12:30:00Z", "data": props},
    ]


@pytest.fixture
def recording_file(tmp_path: Path) -> Path:
    path = tmp_path / "nba_odds.jsonl.gz"
    text = "".join(json.dumps(line, separators=(",", ":")) + "\n" for line in recorded_lines())
    path.write_bytes(gzip.compress(text.encode()))
    return path


@pytest.fixture
def results_file(tmp_path: Path) -> Path:
    path = tmp_path / "results.csv"
    path.write_text(RESULTS_CSV, newline="")
    return path


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(dt.datetime(2023, 3, 15, 12, tzinfo=dt.UTC))


def replay_app(
    recording_file: Path, results_file: Path, clock: ManualClock, **config: Any
) -> Starlette:
    recording = Recording.load([recording_file], sport=SPORT)
    results = FinalScores.load(results_file)
    return create_replay_app(recording, clock, results=results, config=ReplayConfig(**config))


async def client_of(app: Starlette) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://replay")


@pytest.fixture
async def api(
    recording_file: Path, results_file: Path, clock: ManualClock
) -> AsyncIterator[httpx.AsyncClient]:
    async with await client_of(replay_app(recording_file, results_file, clock)) as client:
        yield client


def ids(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [event["id"] for event in response.json()]


def quota(response: httpx.Response) -> tuple[int, int, int]:
    h = response.headers
    return (
        int(h["x-requests-remaining"]),
        int(h["x-requests-used"]),
        int(h["x-requests-last"]),
    )


def book_of(event: dict[str, Any], key: str) -> dict[str, Any]:
    (book,) = [b for b in event["bookmakers"] if b["key"] == key]
    return {m["key"]: m["outcomes"] for m in book["markets"]}


# ---------------------------------------------------------------- /odds


async def test_odds_are_the_latest_snapshots_games_not_yet_started(
    api: httpx.AsyncClient, clock: ManualClock
) -> None:
    clock.set(FIRST_SNAPSHOT - dt.timedelta(minutes=1))
    before = await api.get(ODDS, params=GAME_LINES)
    assert ids(before) == [] and quota(before)[2] == 0  # nothing recorded yet: empty and free

    clock.set(FIRST_SNAPSHOT)
    assert ids(await api.get(ODDS, params=GAME_LINES)) == [PHI_AT_CLE, GSW_AT_LAC]

    clock.set(CLE_TIP + dt.timedelta(minutes=1))  # Cleveland in play: off the board
    assert ids(await api.get(ODDS, params=GAME_LINES)) == [GSW_AT_LAC]

    clock.set(SECOND_SNAPSHOT + dt.timedelta(hours=1))  # the next morning's snapshot
    assert ids(await api.get(ODDS, params=GAME_LINES)) == [OKC_AT_TOR]


async def test_odds_convert_recorded_american_prices_to_the_format_asked(
    api: httpx.AsyncClient,
) -> None:
    american = await api.get(ODDS, params={**GAME_LINES, "oddsFormat": "american"})
    decimal = await api.get(ODDS, params=GAME_LINES)  # decimal by default, as the API

    dk = book_of(american.json()[0], "draftkings")
    assert [o["price"] for o in dk["h2h"]] == [-130, 110]  # exactly as recorded
    dk = book_of(decimal.json()[0], "draftkings")
    assert [o["price"] for o in dk["h2h"]] == [1.77, 2.1]  # 1 + 100/130, 1 + 110/100
    assert dk["spreads"] == [
        {"name": "Cleveland Cavaliers", "price": 1.91, "point": -2.5},
        {"name": "Philadelphia 76ers", "price": 1.91, "point": 2.5},
    ]
    assert decimal.json()[0]["bookmakers"][0]["last_update"] == "2023-03-15T11:52:25Z"


async def test_odds_keep_only_the_markets_and_bookmakers_asked(api: httpx.AsyncClient) -> None:
    h2h = await api.get(ODDS, params={**KEY, "regions": "us", "markets": "h2h"})
    fanduel = await api.get(ODDS, params={**KEY, "bookmakers": "fanduel", "markets": "h2h,totals"})

    assert {m["key"] for e in h2h.json() for b in e["bookmakers"] for m in b["markets"]} == {"h2h"}
    cle = fanduel.json()[0]
    assert [b["key"] for b in cle["bookmakers"]] == ["fanduel"]
    assert list(book_of(cle, "fanduel")) == ["h2h"]  # fanduel recorded no totals
    assert fanduel.json()[1]["bookmakers"] == []  # the Clippers game has no fanduel line
    assert quota(fanduel)[2] == 2  # 2 markets x 1 region (up to 10 bookmakers)


async def test_odds_filter_by_event_and_tip_off_window_in_unix_dates(
    api: httpx.AsyncClient,
) -> None:
    by_id = await api.get(ODDS, params={**GAME_LINES, "eventIds": GSW_AT_LAC})
    late = await api.get(
        ODDS,
        params={**GAME_LINES, "commenceTimeFrom": "2023-03-16T00:00:00Z", "dateFormat": "unix"},
    )
    naive = await api.get(ODDS, params={**GAME_LINES, "commenceTimeTo": "2023-03-16T00:00:00"})

    assert ids(by_id) == [GSW_AT_LAC]
    assert [(e["id"], e["commence_time"]) for e in late.json()] == [(GSW_AT_LAC, 1678932000)]
    assert (naive.status_code, naive.json()["error_code"]) == (422, "INVALID_COMMENCE_TIME_TO")


async def test_props_only_through_the_event_endpoint(
    api: httpx.AsyncClient, clock: ManualClock
) -> None:
    clock.set(SECOND_SNAPSHOT + dt.timedelta(hours=2))
    on_odds = await api.get(ODDS, params={**KEY, "regions": "us", "markets": "player_points"})
    path = f"/v4/sports/{SPORT}/events/{OKC_AT_TOR}/odds"
    props = await api.get(path, params={**KEY, "regions": "us", "markets": "player_points,h2h"})

    assert on_odds.status_code == 422 and on_odds.json()["error_code"] == "INVALID_MARKET"
    assert props.status_code == 200
    dk = book_of(props.json(), "draftkings")
    assert dk["player_points"][0] == {
        "name": "Over",
        "description": "Pascal Siakam",
        "price": 1.87,
        "point": 24.5,
    }
    assert [o["price"] for o in dk["h2h"]] == [1.4, 3.05]  # the snapshot's lines stay
    assert quota(props)[2] == 2  # markets returned x regions

    clock.set(dt.datetime(2023, 3, 17, 0, 31, tzinfo=dt.UTC))  # tipped off
    gone = await api.get(path, params={**KEY, "regions": "us", "markets": "h2h"})
    assert gone.status_code == 404 and gone.json()["error_code"] == "EVENT_NOT_FOUND"


# ---------------------------------------------------------------- /scores


async def test_a_game_completes_with_its_real_final_score_after_tip_plus_game_length(
    api: httpx.AsyncClient, clock: ManualClock
) -> None:
    clock.set(CLE_TIP + GAME_LENGTH - dt.timedelta(minutes=1))
    playing = await api.get(SCORES, params={**KEY, "daysFrom": "1"})
    clock.set(CLE_TIP + GAME_LENGTH)
    final = await api.get(SCORES, params={**KEY, "daysFrom": "1"})
    live_only = await api.get(SCORES, params=KEY)

    cle = playing.json()[0]
    assert (cle["id"], cle["completed"], cle["scores"], cle["last_update"]) == (
        PHI_AT_CLE,
        False,
        None,
        None,
    )
    assert final.json()[0] == {
        "id": PHI_AT_CLE,
        "sport_key": SPORT,
        "sport_title": "NBA",
        "commence_time": "2023-03-15T23:30:00Z",
        "completed": True,
        "home_team": "Cleveland Cavaliers",
        "away_team": "Philadelphia 76ers",
        "scores": [
            {"name": "Cleveland Cavaliers", "score": "109"},
            {"name": "Philadelphia 76ers", "score": "118"},
        ],
        "last_update": "2023-03-16T01:45:00Z",
    }
    assert ids(live_only) == [GSW_AT_LAC]  # without daysFrom: live and upcoming only


async def test_game_length_is_a_setting_and_an_unplayed_game_drops_off(
    recording_file: Path, results_file: Path, clock: ManualClock
) -> None:
    app = replay_app(recording_file, results_file, clock, game_length=dt.timedelta(hours=3))
    async with await client_of(app) as api:
        clock.set(CLE_TIP + GAME_LENGTH)
        assert not (await api.get(SCORES, params={**KEY, "daysFrom": "1"})).json()[0]["completed"]
        clock.set(CLE_TIP + dt.timedelta(hours=3))
        assert (await api.get(SCORES, params={**KEY, "daysFrom": "1"})).json()[0]["completed"]

        clock.set(dt.datetime(2023, 3, 17, 5, tzinfo=dt.UTC))  # Toronto over, no result known
        listed = ids(await api.get(SCORES, params={**KEY, "daysFrom": "3"}))
    assert listed == [PHI_AT_CLE, GSW_AT_LAC]


async def test_days_from_out_of_range_is_refused(api: httpx.AsyncClient) -> None:
    response = await api.get(SCORES, params={**KEY, "daysFrom": "4"})
    assert response.status_code == 422
    assert response.json()["error_code"] == "INVALID_SCORES_DAYS_FROM"


# ---------------------------------------------------------------- credits and keys


async def test_quota_headers_count_down_by_the_documented_cost(
    recording_file: Path, results_file: Path, clock: ManualClock
) -> None:
    async with await client_of(replay_app(recording_file, results_file, clock, credits=10)) as api:
        odds = await api.get(ODDS, params={**GAME_LINES, "regions": "us,eu"})
        scores = await api.get(SCORES, params=KEY)
        scores_days = await api.get(SCORES, params={**KEY, "daysFrom": "2"})
        events = await api.get(f"/v4/sports/{SPORT}/events", params=KEY)

    assert quota(odds) == (4, 6, 6)  # 3 markets x 2 regions
    assert quota(scores) == (3, 7, 1)
    assert quota(scores_days) == (1, 9, 2)
    assert quota(events) == (1, 9, 0)
    assert odds.headers["x-requests-remaining"] == "4"  # strings of integers


async def test_spent_credits_answer_401_out_of_usage_credits(
    recording_file: Path, results_file: Path, clock: ManualClock
) -> None:
    async with await client_of(replay_app(recording_file, results_file, clock, credits=4)) as api:
        first = await api.get(ODDS, params=GAME_LINES)  # 3 of 4
        short = await api.get(ODDS, params=GAME_LINES)  # 3 more: not enough left
        last = await api.get(SCORES, params=KEY)  # the last credit
        spent = await api.get(SCORES, params=KEY)

    assert quota(first) == (1, 3, 3) and quota(last) == (0, 4, 1)
    for refused in (short, spent):
        assert refused.status_code == 401
        assert refused.json() == {
            "message": "Usage quota has been reached. See usage plans at https://the-odds-api.com",
            "error_code": "OUT_OF_USAGE_CREDITS",
            "details_url": "https://the-odds-api.com/liveapi/guides/v4/api-error-codes.html"
            "#out-of-usage-credits",
        }
    assert quota(spent) == (0, 4, 0)  # a refused call costs nothing


async def test_a_missing_or_wrong_key_is_401_without_quota_headers(
    recording_file: Path, results_file: Path, clock: ManualClock
) -> None:
    app = replay_app(recording_file, results_file, clock, api_key="secret")
    async with await client_of(app) as api:
        missing = await api.get(ODDS, params={"regions": "us"})
        wrong = await api.get(ODDS, params={"apiKey": "guess", "regions": "us"})
        right = await api.get(ODDS, params={"apiKey": "secret", "regions": "us"})

    assert (missing.status_code, missing.json()["error_code"]) == (401, "MISSING_KEY")
    assert (wrong.status_code, wrong.json()["error_code"]) == (401, "INVALID_KEY")
    assert wrong.json()["message"].startswith("API key is not valid")
    assert "x-requests-remaining" not in wrong.headers
    assert right.status_code == 200


async def test_any_non_empty_key_works_by_default_and_unknown_sports_are_404(
    api: httpx.AsyncClient,
) -> None:
    assert (await api.get(ODDS, params={"apiKey": "anything", "regions": "us"})).status_code == 200
    blank = await api.get(ODDS, params={"apiKey": " ", "regions": "us"})
    unknown = await api.get("/v4/sports/soccer_epl/odds", params={**KEY, "regions": "us"})

    assert blank.status_code == 401
    assert (unknown.status_code, unknown.json()["error_code"]) == (404, "UNKNOWN_SPORT")


# ---------------------------------------------------------------- the clock


async def test_replay_clock_reports_simulated_now_start_and_speed(
    api: httpx.AsyncClient, clock: ManualClock, recording_file: Path
) -> None:
    clock.advance(3600)
    manual = (await api.get("/replay/clock")).json()
    start = dt.datetime(2023, 3, 15, 12, tzinfo=dt.UTC)
    scaled = create_replay_app(
        Recording.load([recording_file], sport=SPORT), ScaledClock(start, 1440)
    )
    async with await client_of(scaled) as fast:
        info = (await fast.get("/replay/clock")).json()

    assert manual["now"] == "2023-03-15T13:00:00Z" and manual["start"] == "2023-03-15T12:00:00Z"
    assert manual["snapshot"] == "2023-03-15T11:55:38Z"
    assert (info["start"], info["speed"]) == ("2023-03-15T12:00:00Z", 1440)
    assert info["now"] >= info["start"]


@given(st.integers(100, 20_000), st.booleans())
def test_whole_american_prices_survive_the_round_trip(size: int, favourite: bool) -> None:
    american = -size if favourite else size
    assert decimal_price_to_american(american_price_to_decimal(american)) == (
        100 if american == -100 else american
    )


# ---------------------------------------------------------------- end to end


async def test_the_live_client_reads_odds_and_scores_from_the_replay(
    recording_file: Path, results_file: Path, clock: ManualClock
) -> None:
    app = replay_app(recording_file, results_file, clock)
    settings = Settings(odds_api_url="http://replay", odds_api_key="replay", _env_file=None)
    transport = httpx.AsyncClient(transport=httpx.ASGITransport(app=app))
    client = OddsApiClient(settings, client=transport, retry_initial_wait=0)
    try:
        odds = await client.fetch_odds()
        clock.set(CLE_TIP + GAME_LENGTH)
        scores, scores_quota = await client.fetch_scores(days_from=1)
    finally:
        await transport.aclose()

    assert [e.id for e in odds.events] == [PHI_AT_CLE, GSW_AT_LAC]
    dk = next(b for b in odds.events[0].bookmakers if b.key == "draftkings")
    assert [m.key for m in dk.markets] == ["h2h", "spreads", "totals"]
    assert dk.markets[0].outcomes[0].price == 1.77
    assert (odds.quota.last, scores_quota.last) == (3, 2)  # h2h,spreads,totals x us; daysFrom
    cle = scores[0]
    assert (cle.id, cle.completed, cle.home_score, cle.away_score) == (PHI_AT_CLE, True, 109, 118)
    assert not scores[1].completed and scores[1].home_score is None


def test_a_score_is_matched_to_its_team_by_name_not_by_position() -> None:
    entry = {
        "id": PHI_AT_CLE,
        "commence_time": "2023-03-15T23:30:00Z",
        "completed": True,
        "home_team": "Cleveland Cavaliers",
        "away_team": "Philadelphia 76ers",
        "scores": [
            {"name": "Philadelphia 76ers", "score": "118"},  # away listed first
            {"name": "Cleveland Cavaliers", "score": "109"},
        ],
        "last_update": "2023-03-16T01:45:00Z",
    }
    score = parse_score(entry, SPORT)
    assert (score.home_score, score.away_score, score.sport_key) == (109, 118, SPORT)
    with pytest.raises(Malformed):  # a final without both teams' points settles nothing
        parse_score({**entry, "scores": entry["scores"][:1]}, SPORT)


# ---------------------------------------------------------------- the shipped season


@pytest.fixture(scope="module")
def shipped_app() -> Iterator[tuple[Starlette, ManualClock]]:
    base = data_dir() / "nba"
    recording = Recording.load([base / "odds_api" / "nba_odds_2022-23.jsonl.gz"], sport=SPORT)
    results = FinalScores.load(base / "kaggle" / "nba_2020-2023.csv")
    clock = ManualClock(dt.datetime(2023, 3, 15, 12, tzinfo=dt.UTC))
    yield create_replay_app(recording, clock, results=results), clock


async def test_the_shipped_2022_23_season_loads_and_serves(
    shipped_app: tuple[Starlette, ManualClock],
) -> None:
    app, clock = shipped_app
    async with await client_of(app) as api:
        odds = await api.get(ODDS, params=GAME_LINES)
        clock.set(dt.datetime(2023, 3, 16, 12, tzinfo=dt.UTC))
        scores = await api.get(SCORES, params={**KEY, "daysFrom": "1"})

    games = {(e["away_team"], e["home_team"]) for e in odds.json()}
    assert len(games) == 7 and ("Philadelphia 76ers", "Cleveland Cavaliers") in games
    assert all(len(e["bookmakers"]) >= 8 for e in odds.json())
    finals = {e["id"]: e["scores"] for e in scores.json() if e["completed"]}
    assert len(finals) == 7  # every game of 2023-03-15, with its Kaggle final
    assert finals[PHI_AT_CLE] == [
        {"name": "Cleveland Cavaliers", "score": "109"},
        {"name": "Philadelphia 76ers", "score": "118"},
    ]
