"""While live odds are known, /markets lists the games about to start, and a game that has
started leaves the list (and with it the alerts' candidates)."""

from __future__ import annotations

import datetime as dt

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from edgelab.accounts.service import create_user
from edgelab.betting.markets.slate import score_slate
from edgelab.betting.odds.models import Game
from edgelab.core.auth import issue_access_token
from edgelab.core.clock import ManualClock
from edgelab.core.settings import Settings
from tests.betting.factories import add_book_quotes, import_synthetic, synthetic_seasons
from tests.fixtures.database import make_settings

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest.fixture
async def settings(db_url: str) -> Settings:
    return make_settings(db_url, markets_window_hours=72)


async def _tips(session: AsyncSession, day: dt.date) -> list[dt.datetime]:
    rows = await session.execute(select(Game.tip_time).where(Game.game_date == day))
    return sorted(rows.scalars())


async def test_live_markets_are_the_games_not_yet_started(
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    manual_clock: ManualClock,
) -> None:
    data = synthetic_seasons(seasons=1, days_per_season=12)
    await import_synthetic(session, settings, data)
    first, second = data.dates[-2], data.dates[-1]
    for day in (first, second):
        await add_book_quotes(session, settings, data, day=day, props=False)
        await score_slate(session, settings, day)
    user = await create_user(session, "live@markets.test", tier="paid")
    await session.commit()
    paid = {"Authorization": f"Bearer {issue_access_token(settings, user.id)}"}

    manual_clock.set((await _tips(session, first))[0] - dt.timedelta(hours=3))
    before = (await client.get("/markets?limit=200", headers=paid)).json()
    days = {row["game_id"][4:14] for row in before["items"]}
    assert days == {first.isoformat(), second.isoformat()}  # both days within 72 hours
    assert before["slate_date"] is None and any("Live:" in n for n in before["notes"])

    manual_clock.set((await _tips(session, first))[-1] + dt.timedelta(minutes=1))
    after = (await client.get("/markets?limit=200", headers=paid)).json()
    assert {row["game_id"][4:14] for row in after["items"]} == {second.isoformat()}
    assert after["total"] == before["total"] // 2  # same games a day: the first day's are gone

    pinned = await client.get(f"/markets?limit=200&date={first.isoformat()}", headers=paid)
    assert pinned.json()["total"] == before["total"] // 2  # a date asked for: that slate
