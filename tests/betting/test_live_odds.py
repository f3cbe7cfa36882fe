"""Live odds from The Odds API (a local fake server) stored as games and snapshots, then scored."""

from __future__ import annotations

import datetime as dt

import pytest
from pydantic import SecretStr
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from edgelab.betting.markets.models import ValueScore
from edgelab.betting.markets.slate import score_slate
from edgelab.betting.odds.live import ingest_live_odds
from edgelab.betting.odds.models import Game, IngestRun, OddsSnapshot
from edgelab.betting.odds.oddsapi import OddsApiNotConfigured
from edgelab.core.errors import UpstreamError
from edgelab.core.settings import Settings
from tests.betting.factories import import_synthetic, synthetic_seasons
from tests.betting.fake_oddsapi import FakeOddsApi


@pytest.fixture
def live_settings(settings: Settings, server: tuple[FakeOddsApi, str]) -> Settings:
    server[0].reset()
    return settings.model_copy(
        update={
            "odds_api_url": server[1],
            "odds_api_key": SecretStr("test-key"),
            "http_max_retries": 1,
            "http_timeout_seconds": 2.0,
        }
    )


async def _count(session: AsyncSession, model: type) -> int:
    return int((await session.execute(select(func.count()).select_from(model))).scalar_one())


async def test_live_odds_become_games_with_real_tip_times_and_bookmaker_snapshots(
    session: AsyncSession, live_settings: Settings
):
    result = await ingest_live_odds(session, live_settings)
    assert result["events"] == 3 and result["games_new"] == 3
    game = (
        await session.execute(
            select(Game).where(Game.external_id == "3f2a4e9c1b7d48a6a0e5c2d19b8f7a61")
        )
    ).scalar_one()
    assert (game.home_team, game.away_team) == ("BOS", "NYK")
    assert game.tip_time == dt.datetime(2025, 2, 6, 0, 40, tzinfo=dt.UTC)
    assert game.tip_time_estimated is False
    assert game.game_date == dt.date(2025, 2, 5)  # 19:40 in New York, the US local date
    books = (
        (
            await session.execute(
                select(OddsSnapshot.bookmaker)
                .distinct()
                .where(OddsSnapshot.outcome_id.like(f"{game.id}-%"))
            )
        )
        .scalars()
        .all()
    )
    assert set(books) == {"draftkings", "fanduel", "betmgm"}
    run = (
        await session.execute(select(IngestRun).where(IngestRun.kind == "odds_api"))
    ).scalar_one()
    assert run.stats["quota"]["remaining"] is not None


async def test_ingesting_the_same_odds_twice_writes_nothing_new(
    session: AsyncSession, live_settings: Settings
):
    await ingest_live_odds(session, live_settings)
    snaps = await _count(session, OddsSnapshot)
    again = await ingest_live_odds(session, live_settings)
    assert again["snapshots_new"] == 0 and again["games_new"] == 0
    assert await _count(session, OddsSnapshot) == snaps


async def test_live_odds_are_scored_and_take_precedence(
    session: AsyncSession, live_settings: Settings
):
    await import_synthetic(session, live_settings, synthetic_seasons(seasons=1, days_per_season=10))
    await ingest_live_odds(session, live_settings)
    # the live slate has only 3 games: score it by date explicitly
    game = (
        await session.execute(
            select(Game).where(Game.home_team == "BOS", Game.external_id.is_not(None))
        )
    ).scalar_one()
    result = await score_slate(session, live_settings, game.game_date)
    assert result.scored > 0
    current = (
        (
            await session.execute(
                select(ValueScore).where(
                    ValueScore.is_current.is_(True), ValueScore.outcome_id.like(f"{game.id}-%")
                )
            )
        )
        .scalars()
        .all()
    )
    assert current and {c.odds_kind for c in current} == {"live"}
    assert len({c.outcome_id for c in current}) == len(current)  # one current row per side


async def test_without_a_key_nothing_is_fetched(session: AsyncSession, settings: Settings, server):
    server[0].reset()
    with pytest.raises(OddsApiNotConfigured):
        await ingest_live_odds(session, settings.model_copy(update={"odds_api_url": server[1]}))
    assert server[0].requests == []


async def test_an_upstream_failure_writes_nothing(
    session: AsyncSession, live_settings: Settings, server
):
    server[0].plan(status=401, body={"message": "Invalid API key"})
    with pytest.raises(UpstreamError) as info:
        await ingest_live_odds(session, live_settings)
    assert info.value.code == "odds_api_auth_failed"
    assert await _count(session, IngestRun) == 0 and await _count(session, OddsSnapshot) == 0


async def test_player_props_are_stored_as_over_under_prop_markets(
    session: AsyncSession, live_settings: Settings
):
    result = await ingest_live_odds(session, live_settings, props="player_points,player_rebounds")
    assert result["props_markets"] == "player_points,player_rebounds"
    rows = (
        await session.execute(
            select(OddsSnapshot.outcome_id, OddsSnapshot.line).where(
                OddsSnapshot.outcome_id.like("%-prop-%")
            )
        )
    ).all()
    tatum = {oid: line for oid, line in rows if "jayson-tatum" in oid and "player-points" in oid}
    assert set(tatum) == {k for k in tatum if k.endswith(("-over", "-under"))} and len(tatum) >= 2
    assert set(tatum.values()) == {27.5}


async def test_a_failed_props_call_keeps_the_main_odds_and_says_which_event(
    session: AsyncSession, live_settings: Settings, server
):
    server[0].plan(status=200)  # the main odds call passes through
    server[0].plan(status=404, body={"message": "Event not found"})  # first event's props
    result = await ingest_live_odds(session, live_settings, props="player_points")
    assert result["games_new"] == 3 and len(result["props_failed"]) == 1
    assert list(result["props_failed"].values()) == ["odds_event_not_found"]
    assert await _count(session, OddsSnapshot) > 0
