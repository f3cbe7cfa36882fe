"""Fixtures of the chess tests: the local fake of Chess.com and settings pointing at it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from edgelab.core.settings import Settings
from tests.chess.fake_chesscom import UA, FakeChesscom
from tests.fixtures.database import make_settings
from tests.loopback import serve


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[FakeChesscom, str]]:
    fake = FakeChesscom()
    with serve(fake.app, name="fake Chess.com") as url:
        yield fake, url


@pytest.fixture
def fake(server: tuple[FakeChesscom, str]) -> FakeChesscom:
    server[0].reset()
    return server[0]


@pytest.fixture
def fake_url(server: tuple[FakeChesscom, str]) -> str:
    return f"{server[1]}/pub"


@pytest.fixture
async def settings(db_url: str, fake_url: str, fake: FakeChesscom) -> Settings:
    return make_settings(
        db_url,
        chesscom_url=fake_url,
        chesscom_user_agent=UA,
        http_max_retries=2,
        http_timeout_seconds=2.0,
        engine_depth=6,
    )
