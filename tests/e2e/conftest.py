"""The shipped real NBA data, imported and scored once per backend for end-to-end tests."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from edgelab.app import create_app
from edgelab.core import migrations
from edgelab.core.settings import Settings
from tests.fixtures.database import BACKENDS, fresh_database, make_settings
from tests.fixtures.real_data import copy_of, load_real_data, real_sqlite_file  # noqa: F401


@pytest.fixture(scope="session", params=BACKENDS)
def real_settings(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Settings:
    if request.param == "sqlite":
        template = request.getfixturevalue("real_sqlite_file")
        return make_settings(copy_of(template, tmp_path_factory.mktemp("real")))
    url = fresh_database(request, request.param, tmp_path_factory.mktemp("real"), "real")
    settings = make_settings(url)
    migrations.upgrade(settings)
    asyncio.run(load_real_data(settings))
    return settings


@pytest.fixture(scope="session")
async def real_client(real_settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(real_settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            yield c


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory, real_sqlite_file: Path) -> Iterator[str]:
    with contextlib.ExitStack() as stack:
        yield from _live_server(stack, tmp_path_factory, real_sqlite_file)


def _live_server(
    stack: contextlib.ExitStack, tmp_path_factory: pytest.TempPathFactory, real_sqlite_file: Path
) -> Iterator[str]:
    """The app on a real loopback port (SQLite with the real data), for schemathesis."""
    from tests.chess.fake_chesscom import FakeChesscom
    from tests.loopback import serve

    # Chess.com is a local fake here, so the fuzzer meets its answers (a 404 for an unknown
    # player), not a 503 from a host this machine cannot reach
    chesscom = stack.enter_context(serve(FakeChesscom().app, name="fake Chess.com"))
    settings = make_settings(
        copy_of(real_sqlite_file, tmp_path_factory.mktemp("live")),
        # billing configured, so the fuzzer meets the signature check rather than a 503
        paddle_webhook_secret="pdl_ntfset_e2e_secret_0123456789",
        paddle_price_id="pri_e2e",
        # and Resend's delivery webhooks likewise (a whsec_ secret: base64 after the prefix)
        resend_webhook_secret="whsec_ZTJlLXJlc2VuZC13ZWJob29rLXNlY3JldA==",
        chesscom_url=f"{chesscom}/pub",
    )
    with serve(create_app(settings), name="live app", lifespan="on", start_seconds=20) as url:
        yield url
