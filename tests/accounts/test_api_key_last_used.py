"""An API key's `last_used_at` is written at most once a minute, not on every request (issue 16).

Every request with a key used to UPDATE its row: a write per GET, which on SQLite waits for the
database's one write lock. The app's clock is held still (`manual_clock`) and moved by hand.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncSession

from edgelab.accounts.models import ApiKey
from edgelab.accounts.service import create_api_key, create_user
from edgelab.core.auth import Principal
from edgelab.core.clock import ManualClock

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest.fixture
def key_updates(session: AsyncSession) -> Iterator[list[str]]:
    """The UPDATE statements on `api_keys` run on the test's connection (which the app's
    requests share)."""
    seen: list[str] = []
    sync_connection = session.bind.sync_connection  # type: ignore[union-attr]

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("UPDATE API_KEYS"):
            seen.append(statement)

    event.listen(sync_connection, "before_cursor_execute", record)
    yield seen
    event.remove(sync_connection, "before_cursor_execute", record)


async def _last_used(session: AsyncSession, key_id: str) -> dt.datetime | None:
    stored = await session.scalar(
        select(ApiKey.last_used_at)
        .where(ApiKey.id == key_id)
        .execution_options(populate_existing=True)
    )
    return stored


async def test_last_used_is_written_once_a_minute_per_key(
    client: httpx.AsyncClient,
    session: AsyncSession,
    manual_clock: ManualClock,
    key_updates: list[str],
) -> None:
    user = await create_user(session, "last-used@example.com", tier="paid")
    principal = Principal(user.id, user.role, user.tier, "jwt")
    key, plaintext = await create_api_key(session, principal, "poller")
    await session.commit()
    auth = {"Authorization": f"Bearer {plaintext}"}
    first_use = manual_clock.now()

    assert (await client.get("/me", headers=auth)).status_code == 200
    assert await _last_used(session, key.id) == first_use
    assert len(key_updates) == 1

    manual_clock.advance(30)
    for _ in range(3):  # within the minute: no write, the stored time stays
        assert (await client.get("/me", headers=auth)).status_code == 200
    assert await _last_used(session, key.id) == first_use
    assert len(key_updates) == 1

    manual_clock.advance(31)  # a minute and a second after the write
    assert (await client.get("/me", headers=auth)).status_code == 200
    assert await _last_used(session, key.id) == first_use + dt.timedelta(seconds=61)
    assert len(key_updates) == 2
