"""Synthetic seasons for the evaluation tests: one book's lines, then many books' quotes.

`synthetic_seasons` gives each game a close (and spreads and totals an open) from one book,
`sbr`, as the shipped Kaggle/SBR history has them. `quote_every_day` adds The Odds API-style
quotes of seven books before tip-off (`factories.add_book_quotes`: two sharp books on the
truth, four soft ones wobbling around it, one lagging a point or two on one market per game)
on every day of the seasons asked. The lagging book is where the value is: its stale number
or price is what the flagged bets take, and the close (the truth) is what they beat.

`lagging_database` builds, once per test session and backend, three seasons (2030-31 ..
2032-33, ending years 2031 .. 2033) where the first has only `sbr`'s lines and the two later
ones the seven books every day (player props on the last season's days too).
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from edgelab.core import migrations
from edgelab.core.db import create_engine, create_sessionmaker
from edgelab.core.settings import Settings
from tests.betting.factories import (
    SyntheticSeasons,
    add_book_quotes,
    import_synthetic,
    synthetic_seasons,
)
from tests.fixtures.database import fresh_database, make_settings

SEASONS = {"seasons": 3, "days_per_season": 30}
MULTI_BOOK = (2032, 2033)  # ending years quoted by many books; 2031 has one book only
_BUILT: dict[str, str] = {}


async def quote_every_day(
    session: AsyncSession,
    settings: Settings,
    data: SyntheticSeasons,
    seasons: tuple[int, ...],
    *,
    props: tuple[int, ...] = (),
) -> int:
    """Seven books' quotes on every day of `seasons` (ending years), props on `props`'."""
    written = 0
    for day in data.dates:
        season = day.year + 1 if day.month >= 8 else day.year
        if season in seasons:
            written += await add_book_quotes(
                session, settings, data, day=day, props=season in props
            )
    return written


async def fill(url: str, **kwargs: Any) -> SyntheticSeasons:
    settings = make_settings(url)
    data = synthetic_seasons(**{**SEASONS, **kwargs})
    engine = create_engine(settings)
    try:
        async with create_sessionmaker(engine)() as session:
            await import_synthetic(session, settings, data)
            await quote_every_day(session, settings, data, MULTI_BOOK, props=(2033,))
            await session.commit()
    finally:
        await engine.dispose()
    return data


def in_thread(url: str, **kwargs: Any) -> None:
    """`fill` in a thread of its own: the test session's event loop may be running."""
    errors: list[BaseException] = []

    def run() -> None:
        try:
            asyncio.run(fill(url, **kwargs))
        except BaseException as exc:  # re-raised in the caller's thread
            errors.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    if errors:
        raise errors[0]


def lagging_database(request: pytest.FixtureRequest, tmp: pytest.TempPathFactory) -> str:
    """The three seasons above in a migrated database of `request.param`'s backend, built once
    per backend and shared read-only (tests write inside a rolled-back transaction)."""
    backend = request.param
    if backend not in _BUILT:
        url = fresh_database(request, backend, tmp.mktemp("lagging"), "lagging")
        migrations.upgrade(make_settings(url))
        in_thread(url)
        _BUILT[backend] = url
    return _BUILT[backend]
