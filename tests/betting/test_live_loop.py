"""The live loop end to end: the app's own scheduled jobs, on a manual clock, polling The Odds
API replayed from real recorded 2022-23 prices (`edgelab replay odds-api` on a loopback port)
or, for the faults, the local fake.

Each test gets an empty database of its own (the jobs commit, as in production) and an app
whose schedules run on a `ManualClock`: `Loop.tick` moves the clock one firing on, lets the
schedules fire and waits for the jobs they sent (follow-ups included) to finish. Nothing waits
for wall-clock time to pass. The recording is the shipped file's snapshots of 2023-05-12 and
-13 (real events, books and prices), plus player-props answers for two of its games; the results
are the shipped Kaggle file's rows of those days (real final scores).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import gzip
import json
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from edgelab.accounts.service import create_user
from edgelab.app import create_app
from edgelab.betting.alerts.models import AlertDelivery
from edgelab.betting.bets.models import UserBet
from edgelab.betting.live import plan
from edgelab.betting.live.closes import CLOSE_SOURCE
from edgelab.betting.live.models import LoopRun
from edgelab.betting.markets.models import ValueScore
from edgelab.betting.odds.models import Game, Market, OddsSnapshot, Outcome
from edgelab.betting.odds.replay.recording import Recording
from edgelab.betting.odds.replay.results import FinalScores
from edgelab.betting.odds.replay.server import ReplayConfig, create_replay_app
from edgelab.core import migrations
from edgelab.core.auth import issue_access_token
from edgelab.core.clock import ManualClock, use_clock
from edgelab.core.db import create_engine, create_sessionmaker
from edgelab.core.email.models import OutboxEmail
from edgelab.core.settings import Settings, data_dir
from edgelab.sentinel.models import SentinelBet
from tests.betting.fake_oddsapi import FakeOddsApi
from tests.fixtures.app import resources
from tests.fixtures.database import BACKENDS, fresh_database, make_settings
from tests.loopback import serve

SPORT = "basketball_nba"
ODDS_PATH = f"/v4/sports/{SPORT}/odds"
SCORES_PATH = f"/v4/sports/{SPORT}/scores"
ADMIN = "live-loop-admin-token-0123456789abcdefghij"
UTC = dt.UTC

NYK_AT_MIA = "c22f74c1c29b5adfac866c6cce995ec5"  # tip 2023-05-12T23:30Z; real final 96-92
GSW_AT_LAL = "4efca706163d4e2072510d3788fec553"  # tip 2023-05-13T02:00Z; real final 122-101
PHI_AT_BOS = "22daf55e428be9bfc9f0dafd462d893f"  # tip 2023-05-14T19:30Z
MIA_GAME = "nba-2023-05-12-mia-nyk"
START = dt.datetime(2023, 5, 12, 12, 0, tzinfo=UTC)  # the day's snapshot is from 11:55:40
MIA_TIP = dt.datetime(2023, 5, 12, 23, 30, tzinfo=UTC)
GAME_LENGTH = dt.timedelta(minutes=135)  # the replay's default: tip-off to final
SHIPPED_ODDS = data_dir() / "nba" / "odds_api" / "nba_odds_2022-23.jsonl.gz"
SHIPPED_RESULTS = data_dir() / "nba" / "kaggle" / "nba_2020-2023.csv"

pytestmark = pytest.mark.asyncio(loop_scope="session")


def _at(hour: int, minute: int = 0, day: int = 12) -> dt.datetime:
    return dt.datetime(2023, 5, day, hour, minute, tzinfo=UTC)


# ---------------------------------------------------------------- recorded data


def _props(event: dict[str, Any], player: str, at: str) -> dict[str, Any]:
    """A single event's answer with one book's player_points line (the shipped snapshots hold
    featured markets only)."""
    outcomes = [
        {"name": side, "description": player, "price": price, "point": 24.5}
        for side, price in (("Over", -115), ("Under", -105))
    ]
    book = {
        "key": "draftkings",
        "title": "DraftKings",
        "markets": [{"key": "player_points", "last_update": at, "outcomes": outcomes}],
    }
    return {**{k: v for k, v in event.items() if k != "bookmakers"}, "bookmakers": [book]}


@pytest.fixture(scope="module")
def recording_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    lines = []
    with gzip.open(SHIPPED_ODDS, "rt") as f:
        for line in f:
            if line.startswith(('{"timestamp":"2023-05-12', '{"timestamp":"2023-05-13')):
                lines.append(json.loads(line))
    assert [d["timestamp"][:10] for d in lines] == ["2023-05-12", "2023-05-13"]
    events = {e["id"]: e for e in lines[0]["data"]}
    at = "2023-05-12T11:58:00Z"
    for event_id, player in ((NYK_AT_MIA, "Jimmy Butler"), (PHI_AT_BOS, "Joel Embiid")):
        lines.append({"timestamp": at, "data": _props(events[event_id], player, at)})
    path = tmp_path_factory.mktemp("live") / "odds.jsonl.gz"
    path.write_bytes(gzip.compress("".join(json.dumps(d) + "\n" for d in lines).encode()))
    return path


@pytest.fixture(scope="module")
def results_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rows = SHIPPED_RESULTS.read_text().splitlines()
    kept = [rows[0], *(r for r in rows[1:] if "2023-05-10" <= r.split(",")[1] <= "2023-05-16")]
    path = tmp_path_factory.mktemp("live") / "results.csv"
    path.write_text("\n".join(kept) + "\n")
    return path


# ---------------------------------------------------------------- the loop under test


def _recorded(app: Any, log: list[tuple[dt.datetime, str]], clock: ManualClock) -> Any:
    """The upstream app, noting (simulated time, path) of every request it answers."""

    async def asgi(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            log.append((clock.now(), scope["path"]))
        await app(scope, receive, send)

    return asgi


@dataclass
class Loop:
    app: FastAPI
    client: httpx.AsyncClient
    clock: ManualClock
    sessions: async_sessionmaker[AsyncSession]
    requests: list[tuple[dt.datetime, str]]
    upstream: Any = None  # the replay's state (credits), when it is the replay
    baseline: int = 0  # tasks asleep on the clock when nothing is running
    settings: Settings = field(default_factory=Settings)

    @property
    def jobs(self) -> Any:
        return resources(self.app).jobs

    async def settle(self) -> None:
        """Wait until every schedule has fired and gone back to sleep, then for the jobs."""
        await wait_for(lambda: self.clock.sleepers >= self.baseline)
        await self.jobs.drain(60)

    async def tick(self, seconds: float = 120) -> None:
        self.clock.advance(seconds)
        await self.settle()

    async def jump(self, when: dt.datetime) -> None:
        """Set the clock (each schedule fires once, for its latest slot), then settle."""
        self.clock.set(when)
        await self.settle()

    async def run_until(self, when: dt.datetime) -> None:
        while self.clock.now() + dt.timedelta(seconds=120) <= when:
            await self.tick()

    def calls(self, path: str = ODDS_PATH) -> list[dt.datetime]:
        return [at for at, p in self.requests if p == path]

    def event_calls(self) -> list[str]:
        return [
            p.split("/")[5] for _, p in self.requests if p.endswith("/odds") and "/events/" in p
        ]

    async def runs(self, job: str = "betting.poll_odds") -> list[LoopRun]:
        async with self.sessions() as s:
            rows = await s.execute(select(LoopRun).where(LoopRun.job == job).order_by(LoopRun.id))
            return list(rows.scalars())

    async def scalar(self, stmt: Any) -> Any:
        async with self.sessions() as s:
            return (await s.execute(stmt)).scalar()

    async def user(self, address: str, tier: str = "paid") -> tuple[str, dict[str, str]]:
        async with self.sessions() as s:
            user = await create_user(s, address, tier=tier)
            await s.commit()
        return user.id, {"Authorization": f"Bearer {issue_access_token(self.settings, user.id)}"}


async def wait_for(condition: Callable[[], bool], within: float = 30.0) -> None:
    """Poll the event loop (the jobs and the loopback server run meanwhile) until `condition`."""
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.005)


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    url = fresh_database(request, request.param, tmp_path, "live_loop")
    migrations.upgrade(make_settings(url))
    return url


@pytest.fixture
def clock() -> Iterator[ManualClock]:
    with use_clock(ManualClock(START)) as manual:
        yield manual


async def _start_loop(
    db_url: str, clock: ManualClock, upstream_url: str, key: str | None, **overrides: Any
) -> AsyncIterator[Loop]:
    settings = make_settings(
        db_url,
        odds_api_url=upstream_url,
        odds_api_key=key,
        admin_token=ADMIN,
        rate_limits_enabled=False,
        http_max_retries=0,
        http_timeout_seconds=10.0,
        jobs_schedules_in_process=True,  # the loop is its schedules
        **overrides,
    )
    app = create_app(settings)
    engine = create_engine(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            loop = Loop(app, client, clock, create_sessionmaker(engine), [], settings=settings)
            await wait_for(lambda: clock.sleepers >= loop.jobs.schedule_count)
            await asyncio.sleep(0.05)  # every background loop of the app asleep on the clock
            loop.baseline = clock.sleepers
            yield loop
            await loop.jobs.drain(60)
    await engine.dispose()


@pytest.fixture
def replay_options() -> dict[str, Any]:
    return {}


@pytest.fixture
def loop_settings() -> dict[str, Any]:
    return {}


@pytest.fixture
async def loop(
    db_url: str,
    clock: ManualClock,
    recording_file: Path,
    results_file: Path,
    replay_options: dict[str, Any],
    loop_settings: dict[str, Any],
) -> AsyncIterator[Loop]:
    """The app on the replay of real 2023-05-12/13 prices, the clock at 2023-05-12 12:00Z."""
    recording = Recording.load([recording_file], sport=SPORT)
    replay = create_replay_app(
        recording,
        clock,
        results=FinalScores.load(results_file),
        config=ReplayConfig(**replay_options),
    )
    log: list[tuple[dt.datetime, str]] = []
    with serve(_recorded(replay, log, clock), name="replay") as url:
        async for running in _start_loop(db_url, clock, url, "replay", **loop_settings):
            running.requests = log
            running.upstream = replay.state.replay
            yield running


@pytest.fixture
async def faulty(
    db_url: str, server: tuple[FakeOddsApi, str], fake: FakeOddsApi
) -> AsyncIterator[tuple[Loop, FakeOddsApi]]:
    """The app on the local fake (its games tip off 2025-02-06 from 00:40Z)."""
    with use_clock(ManualClock(dt.datetime(2025, 2, 5, 12, 0, tzinfo=UTC))) as manual:
        async for running in _start_loop(db_url, manual, server[1], "test-key"):
            yield running, fake


# ---------------------------------------------------------------- the plan (pure)


async def test_a_spent_month_waits_for_the_first_of_the_next_month_utc() -> None:
    assert plan.next_month_start(_at(23, 59)) == dt.datetime(2023, 6, 1, tzinfo=UTC)
    assert plan.next_month_start(dt.datetime(2023, 12, 31, 23, tzinfo=UTC)) == dt.datetime(
        2024, 1, 1, tzinfo=UTC
    )


async def test_the_intervals_stretch_only_when_the_pace_would_spend_credits_before_month_end() -> (
    None
):
    now = dt.datetime(2023, 5, 11, 0, 0, tzinfo=UTC)  # 21 days left
    day_ago = now - dt.timedelta(hours=24)
    kw = {"now": now, "reserve": 50, "recent_since": day_ago, "min_span_seconds": 600}
    # 500 credits a day for 21 days = 10,500: fits in 20,000, is twice 5,300
    assert plan.stretch(remaining=20_000, used_recently=500, **kw) == 1.0
    assert plan.stretch(remaining=5_300, used_recently=500, **kw) == pytest.approx(2.0)
    assert plan.stretch(remaining=40, used_recently=500, **kw) == plan.MAX_STRETCH
    assert plan.stretch(remaining=None, used_recently=500, **kw) == 1.0


async def test_a_feed_prices_markets_times_regions_and_sends_props_to_the_event_endpoint() -> None:
    assert plan.split_markets("h2h, spreads,player_points") == (
        ["h2h", "spreads"],
        ["player_points"],
    )
    assert plan.regions_priced("us,eu", None) == 2
    assert plan.regions_priced("us", "pinnacle,lowvig,draftkings") == 1  # 10 books a region


# ---------------------------------------------------------------- odds: cadence and scoring


async def test_odds_are_fetched_every_poll_interval_and_every_two_minutes_in_the_last_hour(
    loop: Loop,
) -> None:
    await loop.run_until(_at(12, 12))
    first = loop.calls()
    await loop.jump(_at(22, 20))  # 70 minutes before the Knicks at the Heat
    await loop.run_until(_at(23, 32))

    assert first == [_at(12, 2), _at(12, 12)]  # not twice within ten minutes
    near_tip = [_at(22, 30) + dt.timedelta(minutes=2 * k) for k in range(30)]
    assert loop.calls() == [*first, _at(22, 20), *near_tip]  # 22:30 .. 23:28, then tip-off
    # 3 markets x 1 region a fetch; /scores?daysFrom=3 (2) once the Heat tipped off
    assert loop.upstream.credits.used == 3 * len(loop.calls()) + 2 * len(loop.calls(SCORES_PATH))
    runs = await loop.runs() + await loop.runs("betting.poll_scores")
    assert all(r.error_code is None for r in runs)
    latest = max(runs, key=lambda r: r.id)
    assert latest.credits_remaining == loop.upstream.credits.remaining  # the quota as last told


async def test_new_prices_are_scored_for_their_slates_before_tip_and_alert_each_market_once(
    loop: Loop,
) -> None:
    user_id, auth = await loop.user("live.alerts@example.com")
    rule = {"name": "everything", "min_value_score": 0, "algorithm": "a"}
    assert (await loop.client.post("/alerts/rules", json=rule, headers=auth)).status_code == 201

    await loop.run_until(_at(12, 42))  # four fetches of one snapshot: one price change
    first_run = (await loop.runs())[0]
    deliveries = select(func.count()).select_from(AlertDelivery)
    emails = select(func.count()).select_from(OutboxEmail).where(OutboxEmail.template == "alert")
    after_first = (await loop.scalar(deliveries), await loop.scalar(emails))
    scored_before_tip = await loop.scalar(
        select(func.count(func.distinct(Market.game_id)))
        .select_from(ValueScore)
        .join(Outcome, Outcome.id == ValueScore.outcome_id)
        .join(Market, Market.id == Outcome.market_id)
        .join(Game, Game.id == Market.game_id)
        .where(ValueScore.odds_kind == "live", ValueScore.computed_at < Game.tip_time)
    )
    await loop.jump(_at(12, 0, day=13))  # the next morning's snapshot: moved and new prices
    await loop.tick()

    assert first_run.details["scored_dates"] == ["2023-05-12", "2023-05-14"]
    assert all("scored_dates" not in r.details or not r.details["scored_dates"]
               for r in (await loop.runs())[1:4])  # fmt: skip
    assert scored_before_tip == 3
    assert after_first == (18, 2)  # 3 games x 6 sides, one e-mail per slate date
    newest = (await loop.runs())[-1]
    assert newest.details["scored_dates"] == ["2023-05-14", "2023-05-16"]
    dupes = await loop.scalar(
        select(func.count()).select_from(
            select(AlertDelivery.user_id, AlertDelivery.outcome_id)
            .group_by(AlertDelivery.user_id, AlertDelivery.outcome_id)
            .having(func.count() > 1)
            .subquery()
        )
    )
    # Boston's rescored sides were e-mailed already: only Denver's new game goes out
    assert (await loop.scalar(deliveries), await loop.scalar(emails)) == (24, 3)
    assert dupes == 0
    listed = (await loop.client.get("/alerts", headers=auth)).json()
    assert listed["total"] == 24 and user_id


@pytest.mark.parametrize(
    "loop_settings",
    [{"odds_api_markets": "h2h,spreads,totals,player_points", "props_hours_ahead": 24}],
)
async def test_props_are_fetched_only_for_games_tipping_within_the_window(loop: Loop) -> None:
    await loop.tick()

    # Miami (11.5 h) and the Lakers (14 h) are inside 24 hours; Boston (55.5 h) is not
    assert sorted(loop.event_calls()) == sorted([NYK_AT_MIA, GSW_AT_LAL])
    props = await loop.scalar(
        select(func.count())
        .select_from(Market)
        .where(Market.market_type == "prop", Market.game_id == MIA_GAME)
    )
    assert props == 1  # Jimmy Butler's points, from the event endpoint
    run = (await loop.runs())[0]
    assert run.calls == 3 and run.details["props"]["games"] == 2
    assert run.credits_used == 3 + 1  # Butler's market returned; the Lakers' had none


# ---------------------------------------------------------------- the quota


@pytest.mark.parametrize("replay_options", [{"credits": 60}])
@pytest.mark.parametrize("loop_settings", [{"odds_api_credit_reserve": 55}])
async def test_no_call_dips_into_the_reserve_and_health_says_it_is_held(loop: Loop) -> None:
    await loop.run_until(_at(13, 0))
    health = (await loop.client.get("/health")).json()

    assert loop.calls() == [_at(12, 2)]  # 60 -> 57; another 3 would leave 54 < 55
    assert health["live_loop"]["state"] == "holding_reserve"
    assert health["live_loop"]["credits_remaining"] == 57


async def test_out_of_usage_credits_stops_polling_until_next_month_and_health_says_so(
    faulty: tuple[Loop, FakeOddsApi],
) -> None:
    loop, fake = faulty
    spent = {
        "message": "Usage quota has been reached. See usage plans at https://the-odds-api.com",
        "error_code": "OUT_OF_USAGE_CREDITS",
    }
    fake.plan(status=401, body=spent, path=ODDS_PATH)
    await loop.tick()
    await loop.run_until(loop.clock.now() + dt.timedelta(hours=3))
    stopped = len(fake.requests)
    health = (await loop.client.get("/health")).json()
    run = (await loop.runs())[0]
    await loop.jump(dt.datetime(2025, 3, 1, 0, 1, tzinfo=UTC))
    await loop.tick()

    assert stopped == 1  # the refused call, then nothing for three hours
    assert (run.error_code, run.credits_remaining) == ("odds_api_out_of_credits", 0)
    assert health["live_loop"]["state"] == "out_of_credits"
    assert health["live_loop"]["stopped_until"] == "2025-03-01T00:00:00+00:00"
    assert health["live_odds"].startswith("the-odds-api: out of usage credits, paused until")
    assert len(fake.requests) == 2  # a new month: polling again


async def test_without_a_key_nothing_is_scheduled_and_health_says_live_odds_are_off(
    db_url: str, clock: ManualClock
) -> None:
    async for loop in _start_loop(db_url, clock, "http://127.0.0.1:9", None):
        names = {s.name for s in loop.jobs._schedules}
        health = (await loop.client.get("/health")).json()

    assert not names & {"betting.poll_odds", "betting.poll_scores"}
    assert health["live_odds"] == "offline (shipped data)"
    assert health["live_loop"]["state"] == "off"


# ---------------------------------------------------------------- closing line and results


async def _close_rows(loop: Loop, game_id: str) -> list[tuple[str, str, float, float | None]]:
    async with loop.sessions() as s:
        rows = await s.execute(
            select(
                OddsSnapshot.outcome_id,
                OddsSnapshot.bookmaker,
                OddsSnapshot.odds_decimal,
                OddsSnapshot.line,
            )
            .where(
                OddsSnapshot.kind == "close",
                OddsSnapshot.source == CLOSE_SOURCE,
                OddsSnapshot.outcome_id.like(f"{game_id}-%"),
            )
            .order_by(OddsSnapshot.outcome_id, OddsSnapshot.bookmaker)
        )
        return [tuple(r) for r in rows.all()]  # type: ignore[misc]


async def test_a_started_games_last_pre_tip_quote_of_each_book_is_kept_once_as_its_close(
    loop: Loop,
) -> None:
    await loop.tick()
    async with loop.sessions() as s:
        live = await s.execute(
            select(OddsSnapshot.outcome_id, OddsSnapshot.bookmaker, OddsSnapshot.odds_decimal)
            .where(OddsSnapshot.kind == "live", OddsSnapshot.outcome_id.like(f"{MIA_GAME}-%"))
            .order_by(OddsSnapshot.outcome_id, OddsSnapshot.bookmaker)
        )
        quoted = [tuple(r) for r in live.all()]
    sides: dict[tuple[str, str], int] = {}
    for outcome_id, book, _ in quoted:
        market = outcome_id.rsplit("-", 1)[0]
        sides[(market, book)] = sides.get((market, book), 0) + 1
    # one snapshot: each book's quote of both sides is its last (a book quoting one side only
    # has no two-way quote to close on)
    last_quotes = [q for q in quoted if sides[(q[0].rsplit("-", 1)[0], q[1])] == 2]
    await loop.run_until(MIA_TIP - dt.timedelta(minutes=2))
    assert await _close_rows(loop, MIA_GAME) == []  # not before tip-off
    await loop.tick()  # 23:30: the Heat tip off
    frozen = await _close_rows(loop, MIA_GAME)
    await loop.run_until(MIA_TIP + dt.timedelta(minutes=30))

    assert [(o, b, p) for o, b, p, _ in frozen] == last_quotes
    assert len({b for _, b, _, _ in frozen}) == 19  # every book that quoted the game
    assert await _close_rows(loop, MIA_GAME) == frozen  # kept once
    assert await _close_rows(loop, "nba-2023-05-12-lal-gsw") == []  # not started yet
    runs = await loop.runs()
    assert sum(r.rows_written for r in runs if "closes_kept_games" in r.details) == len(frozen)


async def test_a_tracked_bet_settles_once_with_payout_and_clv_and_sentinel_sees_it(
    loop: Loop,
) -> None:
    await loop.tick()
    _, auth = await loop.user("live.bettor@example.com")
    body = {
        "market_id": f"{MIA_GAME}-ml-home",
        "odds_american": -200,
        "stake_minor": 10_000,
        "bookmaker": "draftkings",
    }
    placed = await loop.client.post("/me/bets", json=body, headers=auth)
    assert placed.status_code == 201, placed.text
    bet_id = placed.json()["id"]

    await loop.jump(MIA_TIP + dt.timedelta(minutes=1))  # closes kept
    await loop.jump(MIA_TIP + GAME_LENGTH - dt.timedelta(minutes=5))  # still playing
    still_open = (await loop.client.get(f"/me/bets/{bet_id}", headers=auth)).json()
    await loop.jump(MIA_TIP + GAME_LENGTH + dt.timedelta(minutes=30))  # within one scores poll
    settled = (await loop.client.get(f"/me/bets/{bet_id}", headers=auth)).json()
    await loop.run_until(MIA_TIP + GAME_LENGTH + dt.timedelta(hours=2))  # more scores polls
    again = (await loop.client.get(f"/me/bets/{bet_id}", headers=auth)).json()

    assert still_open["status"] == "open" and still_open["payout_minor"] is None
    assert settled["status"] == "won"  # Miami 96, New York 92
    assert settled["payout_minor"] == 15_000  # 10,000 at 1.5, stake included
    assert settled["clv"] is not None and -0.2 < settled["clv"] < 0.2
    assert settled["closing_odds_decimal"] is not None
    assert again == settled  # settled once: nothing moves on later polls
    scores_runs = await loop.runs("betting.poll_scores")
    assert sum(r.details.get("settled", 0) for r in scores_runs) == 1
    assert await loop.scalar(select(Game.home_score).where(Game.id == MIA_GAME)) == 96
    async with loop.sessions() as s:
        copy = (
            await s.execute(
                select(SentinelBet).where(
                    SentinelBet.source == "tracker", SentinelBet.external_id == bet_id
                )
            )
        ).scalar_one()
    assert (copy.status, copy.payout_minor) == ("won", 15_000)
    assert copy.settled_at is not None
    bet = await loop.scalar(select(UserBet).where(UserBet.id == bet_id))
    assert bet.settled_at <= MIA_TIP + GAME_LENGTH + dt.timedelta(minutes=30)


# ---------------------------------------------------------------- failures and the record


async def test_a_failed_run_is_recorded_and_retried_at_the_next_firings_with_back_off(
    faulty: tuple[Loop, FakeOddsApi],
) -> None:
    loop, fake = faulty
    fake.plan(status=500, times=2, path=ODDS_PATH)
    await loop.tick()  # fails
    await loop.tick()  # retried one firing later: fails again
    await loop.tick()  # backing off: two firings after the second failure
    calls_backing_off = len(fake.requests)
    await loop.tick()  # retried, answered
    runs = await loop.runs()

    assert calls_backing_off == 2 and len(fake.requests) == 3
    assert [r.error_code for r in runs] == ["odds_api_unavailable", "odds_api_unavailable", None]
    assert runs[0].error and "HTTP 500" in runs[0].error
    assert runs[0].finished_at is not None
    assert runs[2].calls == 1 and runs[2].rows_written > 0
    health = (await loop.client.get("/health")).json()
    odds_job = health["live_loop"]["jobs"]["betting.poll_odds"]
    assert odds_job["latest"]["error_code"] is None
    assert odds_job["latest_failure"]["error_code"] == "odds_api_unavailable"


async def test_admin_runs_lists_the_loops_runs_to_admins_only(loop: Loop) -> None:
    await loop.tick()
    _, user_auth = await loop.user("live.user@example.com")

    anonymous = await loop.client.get("/admin/runs")
    user = await loop.client.get("/admin/runs", headers=user_auth)
    admin = await loop.client.get(
        "/admin/runs",
        params={"job": "betting.poll_odds"},
        headers={"Authorization": f"Bearer {ADMIN}"},
    )

    assert anonymous.status_code == 401 and user.status_code == 403
    assert admin.status_code == 200, admin.text
    body = admin.json()
    assert body["total"] == 1
    (run,) = body["items"]
    assert (run["job"], run["calls"], run["credits_used"]) == ("betting.poll_odds", 1, 3)
    assert run["credits_remaining"] == 20_000 - 3 and run["rows_written"] > 0


async def test_a_run_left_unfinished_by_a_stopped_app_does_not_hold_the_loop(
    faulty: tuple[Loop, FakeOddsApi],
) -> None:
    """Without Redis the app's own process runs the loop: a run row an earlier process left
    unfinished (killed mid-run) is not going, so the next firing fetches and closes it."""
    loop, fake = faulty
    async with loop.sessions() as s:
        s.add(
            LoopRun(
                job="betting.poll_odds",
                started_at=loop.clock.now() - dt.timedelta(minutes=5),
                calls=0,
                credits_used=0,
                rows_written=0,
                details={},
            )
        )
        await s.commit()
    await loop.tick()
    stale, fetched = await loop.runs()

    assert len(fake.requests) == 1 and fetched.error_code is None and fetched.calls == 1
    assert stale.finished_at is not None and stale.error_code == "internal_error"
    assert stale.error and "stopped mid-run" in stale.error
