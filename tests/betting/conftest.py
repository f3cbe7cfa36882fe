"""Fixtures shared by the betting tests: the local fake of The Odds API."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.betting.fake_oddsapi import FakeOddsApi, serve


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[FakeOddsApi, str]]:
    """The fake on a real loopback port: (the fake, its base URL)."""
    fake = FakeOddsApi()
    with serve(fake.app) as url:
        yield fake, url


@pytest.fixture
def fake(server: tuple[FakeOddsApi, str]) -> FakeOddsApi:
    server[0].reset()
    return server[0]
