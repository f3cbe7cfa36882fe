"""The app on a replay's simulated time (`EDGELAB_CLOCK_URL`): `make replay` runs the app on
the replay's clock, so recorded games are upcoming, `/health` says whose time it is and every
page shows the simulated now."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from edgelab.app import create_app
from edgelab.betting.odds.replay.recording import Recording
from edgelab.betting.odds.replay.results import FinalScores
from edgelab.betting.odds.replay.server import ReplayConfig, create_replay_app
from edgelab.core import clock
from edgelab.core.clock import ScaledClock, SystemClock
from edgelab.core.clock.followed import ClockUrlError
from edgelab.core.settings import Settings
from tests.betting.test_replay import SPORT, recording_file, results_file  # noqa: F401
from tests.fixtures.app import serve_app
from tests.loopback import loopback_socket, serve, url_of

pytestmark = pytest.mark.asyncio(loop_scope="session")

START = dt.datetime(2023, 3, 15, 12, tzinfo=dt.UTC)


@pytest.fixture
def replay_url(recording_file: Path, results_file: Path) -> Iterator[str]:  # noqa: F811
    app = create_replay_app(
        Recording.load([recording_file], sport=SPORT),
        ScaledClock(START, 1440),
        results=FinalScores.load(results_file),
        config=ReplayConfig(),
    )
    with serve(app, name="replay") as url:
        yield url


async def test_the_app_runs_on_the_replays_clock_and_says_so(
    replay_url: str, settings: Settings, session: AsyncSession
) -> None:
    followed = settings.model_copy(update={"clock_url": f"{replay_url}/replay/clock"})
    before = clock.current_clock()
    async with serve_app(create_app(followed), session) as client:
        now = clock.utcnow()
        health = (await client.get("/health")).json()
        page = (await client.get("/app/chess")).text
    assert clock.current_clock() is before  # restored when the app stops
    # a day a real minute from 2023-03-15 12:00: seconds of real time are minutes here
    assert START <= now < START + dt.timedelta(hours=6)
    assert health["clock"]["source"] == f"{replay_url}/replay/clock"
    assert health["clock"]["speed"] == 1440
    assert health["clock"]["now"].startswith("2023-03-1")
    assert "Replay: simulated time 2023-03-1" in page and "1440&times; real time" in page


async def test_on_the_system_clock_no_banner_and_health_says_system(client) -> None:
    health = (await client.get("/health")).json()
    assert health["clock"]["source"] == "system"
    assert int(health["clock"]["now"][:4]) >= 2026
    assert "Replay: simulated time" not in (await client.get("/app/chess")).text


async def test_an_unreadable_clock_url_stops_the_start_up(settings: Settings) -> None:
    sock = loopback_socket()  # bound, never listening: the connection is refused
    try:
        broken = settings.model_copy(update={"clock_url": f"{url_of(sock)}/replay/clock"})
        app = create_app(broken)
        with pytest.raises(ClockUrlError, match="could not be read"):
            async with app.router.lifespan_context(app):
                pass
    finally:
        sock.close()
    assert isinstance(clock.current_clock(), SystemClock)
