"""Issue 18: a database outage is a 503 `database_unavailable` with `Retry-After` on every route,
never a 500, and the app serves again by itself when the database is back (no restart).

PostgreSQL: a throwaway database of our own, made to refuse connections (`ALLOW_CONNECTIONS
false`) with its sessions dropped (`pg_terminate_backend`): what a restart or failover looks
like to the app; no other database is touched. SQLite: its directory taken away (a volume gone)
while the pool opens new connections.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import make_url

from edgelab.app import create_app
from edgelab.core import migrations
from edgelab.core.db import is_database_unavailable
from tests.fixtures.app import resources, serve_app
from tests.fixtures.database import PG_ENV, fresh_database, make_settings

pytestmark = pytest.mark.asyncio(loop_scope="session")

# the reads and writes a client makes first; each touches the database on every call
CALLS: list[tuple[str, str, dict[str, str] | None]] = [
    ("GET", "/markets?limit=50", None),
    ("GET", "/predictions/markets", None),
    ("POST", "/auth/magic-link", {"email": "outage@example.com"}),
    ("POST", "/auth/verify", {"token": "x" * 43}),
]

UNCACHED = {"predictions_cache_ttl_seconds": 0}  # every call reads the database (no cache hit)


async def _call_all(client: httpx.AsyncClient) -> list[httpx.Response]:
    return [await client.request(m, path, json=body) for m, path, body in CALLS]


def _assert_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, (response.request.url, response.text)
    body = response.json()
    assert body["error"]["code"] == "database_unavailable", body
    assert int(response.headers["Retry-After"]) >= 1


@pytest.fixture(scope="module")
def pg_outage_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A migrated PostgreSQL database of this module's own (`<test db>_outage`)."""
    if not os.environ.get(PG_ENV):
        pytest.skip(f"PostgreSQL tests skipped: {PG_ENV} is not set")
    url = fresh_database(request, "postgresql", tmp_path_factory.mktemp("pg"), "outage")
    migrations.upgrade(make_settings(url))
    yield url


async def _admin(url: str, *statements: str) -> None:
    """Run statements on the server's maintenance database (never on the one under test)."""
    import asyncpg

    parsed = make_url(url)
    conn = await asyncpg.connect(
        user=parsed.username or "postgres",
        password=parsed.password,
        host=parsed.host,
        port=parsed.port or 5432,
        database="postgres",
    )
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


async def _take_down(url: str) -> None:
    name = make_url(url).database
    assert name and name.startswith("edgelab_"), name  # only ever our own throwaway database
    await _admin(
        url,
        f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false',
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        f"WHERE datname = '{name}' AND pid <> pg_backend_pid()",
    )


async def _bring_back(url: str) -> None:
    name = make_url(url).database
    await _admin(url, f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')


async def test_postgresql_outage_is_503_everywhere_and_the_pool_recovers_by_itself(
    pg_outage_url: str,
) -> None:
    app = create_app(make_settings(pg_outage_url, **UNCACHED))
    async with serve_app(app) as client:
        before = await _call_all(client)
        assert [r.status_code for r in before] == [200, 200, 202, 401]
        assert (await client.get("/health")).status_code == 200

        await _take_down(pg_outage_url)
        try:
            during = await _call_all(client)
            health = await client.get("/health")
            # concurrent callers too: each pooled connection was dropped under it
            burst = await asyncio.gather(*(client.get("/markets?limit=50") for _ in range(16)))
        finally:
            await _bring_back(pg_outage_url)

        for response in [*during, *burst]:
            _assert_unavailable(response)
        _assert_unavailable(health)
        report = health.json()["error"]["details"]
        assert report["database_ok"] is False
        assert report["backends"]["database"].startswith("down since ")
        degradation = resources(app).degradation
        assert degradation.count("database", "request") >= len(during) + len(burst)

        after = await _call_all(client)  # same app, same pool: no restart
        assert [r.status_code for r in after] == [200, 200, 202, 401]
        health_after = await client.get("/health")
        assert health_after.status_code == 200
        assert health_after.json()["backends"]["database"] == "up"


@pytest.fixture
def sqlite_data(tmp_path: Path) -> Path:
    """A directory holding a migrated SQLite database, `edgelab.db`."""
    data = tmp_path / "data"
    data.mkdir()
    migrations.upgrade(make_settings(f"sqlite+aiosqlite:///{data / 'edgelab.db'}"))
    return data


async def test_sqlite_gone_is_503_and_serves_again_once_it_is_back(
    sqlite_data: Path, tmp_path: Path
) -> None:
    """The database file's directory disappears (a volume unmounted) while the pool opens new
    connections; putting it back is enough."""
    data = sqlite_data
    app = create_app(make_settings(f"sqlite+aiosqlite:///{data / 'edgelab.db'}", **UNCACHED))
    async with serve_app(app) as client:
        assert [r.status_code for r in await _call_all(client)] == [200, 200, 202, 401]

        data.rename(tmp_path / "unmounted")
        await resources(app).engine.dispose()  # the pool's connections are replaced
        try:
            during = await _call_all(client)
            health = await client.get("/health")
        finally:
            (tmp_path / "unmounted").rename(data)

        for response in during:
            _assert_unavailable(response)
        _assert_unavailable(health)
        assert [r.status_code for r in await _call_all(client)] == [200, 200, 202, 401]
        assert (await client.get("/health")).status_code == 200


async def test_a_bug_in_a_route_is_still_a_500_not_a_database_outage() -> None:
    """Only the database's own failures are 503: an error of ours must stay visible."""
    assert not is_database_unavailable(PermissionError("uploads directory is read-only"))
    assert not is_database_unavailable(TimeoutError("an upstream took too long"))
    assert not is_database_unavailable(KeyError("missing"))


async def test_every_operation_documents_the_503_database_unavailable() -> None:
    schema = create_app(make_settings("sqlite+aiosqlite:///unused.db")).openapi()
    markets = schema["paths"]["/markets"]["get"]["responses"]["503"]
    assert "`database_unavailable`" in markets["description"]
    assert markets["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ErrorEnvelope"
    }
    checkout = schema["paths"]["/billing/checkout"]["post"]["responses"]["503"]["description"]
    assert "`billing_not_configured`" in checkout and "`database_unavailable`" in checkout
