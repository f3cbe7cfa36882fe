"""Request ids, /health, /metrics and CORS: what operators and browsers see on every response."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession

import edgelab
from edgelab.app import create_app
from edgelab.core.db import get_session
from edgelab.core.observability import REQUEST_ID_HEADER, RequestIdFilter, request_id_var
from edgelab.core.settings import Settings
from tests.fixtures.database import make_settings

pytestmark = pytest.mark.asyncio(loop_scope="session")

FRESH_ID = re.compile(r"^[0-9a-f]{32}$")
FRESHNESS_KEYS = {"games", "latest_result_date", "latest_odds_at", "latest_scored_at"}
ALLOWED = "https://app.example"


@asynccontextmanager
async def serve(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            yield c


def _tmp_sqlite(tmp_path: Path, name: str = "obs.db") -> str:
    return f"sqlite+aiosqlite:///{tmp_path / name}"


class _ListHandler(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self.addFilter(RequestIdFilter())

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


# --- request ids ----------------------------------------------------------------------------


async def test_every_response_carries_a_request_id(client: httpx.AsyncClient) -> None:
    responses = [
        await client.get("/health"),
        await client.get("/nowhere"),
        await client.get("/markets", params={"limit": "0"}),
        await client.get("/metrics"),
    ]
    assert [r.status_code for r in responses] == [200, 404, 422, 200]
    ids = [r.headers.get(REQUEST_ID_HEADER) for r in responses]
    assert all(rid and FRESH_ID.match(rid) for rid in ids), ids
    assert len(set(ids)) == len(ids), "each request gets its own id"


async def test_error_body_request_id_matches_header(client: httpx.AsyncClient) -> None:
    response = await client.get("/nowhere")
    assert response.json()["request_id"] == response.headers[REQUEST_ID_HEADER]


@pytest.mark.parametrize("incoming", ["gw-42", "3f2a4e9c-1b7d-48a6", "trace:abc.def_1", "x" * 128])
async def test_sane_incoming_request_id_is_echoed(client: httpx.AsyncClient, incoming: str) -> None:
    response = await client.get("/nowhere", headers={REQUEST_ID_HEADER: incoming})
    assert response.headers[REQUEST_ID_HEADER] == incoming
    assert response.json()["request_id"] == incoming


@pytest.mark.parametrize(
    "incoming",
    ["has spaces in it", "x" * 500, "x" * 129, "<script>", "a/b", "id;drop", "é-accent"],
)
async def test_insane_incoming_request_id_is_replaced(
    client: httpx.AsyncClient, incoming: str
) -> None:
    response = await client.get("/nowhere", headers={REQUEST_ID_HEADER: incoming.encode()})
    rid = response.headers[REQUEST_ID_HEADER]
    assert rid != incoming
    assert FRESH_ID.match(rid)
    assert response.json()["request_id"] == rid


async def test_request_id_header_is_not_duplicated(client: httpx.AsyncClient) -> None:
    response = await client.get("/health", headers={REQUEST_ID_HEADER: "only-once"})
    assert response.headers.get_list(REQUEST_ID_HEADER) == ["only-once"]


async def test_log_records_during_a_request_carry_its_id(tmp_path: Path) -> None:
    app = create_app(make_settings(_tmp_sqlite(tmp_path)))
    seen: list[str | None] = []

    @app.get("/_test/log")
    async def log_something() -> dict[str, str]:
        seen.append(request_id_var.get())
        logging.getLogger("edgelab.test.request").warning("inside the route")
        return {"ok": "yes"}

    handler = _ListHandler()
    logger = logging.getLogger("edgelab.test.request")
    logger.addHandler(handler)
    try:
        async with serve(app) as c:
            first = await c.get("/_test/log", headers={REQUEST_ID_HEADER: "req-log-1"})
            second = await c.get("/_test/log")
    finally:
        logger.removeHandler(handler)
    assert first.status_code == second.status_code == 200
    ids = [getattr(r, "request_id", None) for r in handler.records]
    assert ids == ["req-log-1", second.headers[REQUEST_ID_HEADER]]
    assert seen == ids
    # Outside a request the id is gone again, and log lines say so with "-".
    assert request_id_var.get() is None
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "outside", None, None)
    assert RequestIdFilter().filter(record) is True
    assert record.request_id == "-"  # type: ignore[attr-defined]


async def test_configured_log_lines_show_the_request_id(tmp_path: Path) -> None:
    create_app(make_settings(_tmp_sqlite(tmp_path)))  # configures logging
    ours = [h for h in logging.getLogger().handlers if getattr(h, "_edgelab", False)]
    assert len(ours) == 1, "configure_logging is idempotent: one handler however many apps"
    handler = ours[0]
    token = request_id_var.set("req-format-7")
    try:
        record = logging.LogRecord("edgelab.x", logging.INFO, __file__, 1, "hello", None, None)
        assert handler.filter(record)
        line = handler.format(record)
    finally:
        request_id_var.reset(token)
    assert "[req-format-7]" in line and "hello" in line


# --- /health --------------------------------------------------------------------------------


async def test_health_reports_database_version_cache_and_freshness(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    response = await client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["database_ok"] is True
    assert body["version"] == edgelab.__version__
    expected_db = make_url(settings.database_url).get_backend_name()
    assert body["database"] == expected_db
    assert body["database"] in {"sqlite", "postgresql"}
    assert body["cache"] == "memory"
    assert body["env"] == "test"
    assert body["live_odds"].startswith("offline")
    assert set(body["data"]) >= FRESHNESS_KEYS
    assert body["data"]["games"] == 0
    assert body["uptime_seconds"] >= 0


async def test_health_names_redis_cache_when_configured(
    db_url: str, redis_url: str, session: AsyncSession
) -> None:
    app = create_app(make_settings(db_url, redis_url=redis_url))

    async def test_session() -> AsyncIterator[AsyncSession]:
        yield session

    app.dependency_overrides[get_session] = test_session
    async with serve(app) as c:
        body = (await c.get("/health")).json()
    assert body["cache"] == "redis"
    assert body["database_ok"] is True


async def test_health_answers_503_with_the_envelope_when_the_schema_is_missing(
    tmp_path: Path,
) -> None:
    """An unmigrated database answers SELECT 1 but has no tables: /health says 503, so load
    balancers take the instance out, and reports what it saw in the envelope's details."""
    app = create_app(make_settings(_tmp_sqlite(tmp_path, "empty.db")))
    async with serve(app) as c:
        response = await c.get("/health")
    assert response.status_code == 503
    body = response.json()
    assert body["error"]["code"] == "database_unavailable"
    assert body["error"]["details"]["database_ok"] is False
    assert body["error"]["details"]["status"] == "degraded"


# --- /metrics -------------------------------------------------------------------------------


async def test_metrics_serves_prometheus_text_with_request_counter(
    client: httpx.AsyncClient,
) -> None:
    assert (await client.get("/health")).status_code == 200
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert "# TYPE http_requests_total counter" in response.text
    assert "# TYPE http_request_duration_seconds histogram" in response.text


def _requests_total(metrics_text: str, handler: str, method: str = "GET") -> float:
    total = 0.0
    for line in metrics_text.splitlines():
        if (
            line.startswith("http_requests_total{")
            and f'handler="{handler}"' in line
            and f'method="{method}"' in line
        ):
            total += float(line.rsplit(" ", 1)[1])
    return total


async def test_metrics_count_the_requests_of_the_app_serving_them(tmp_path: Path) -> None:
    """Apps are built per settings (tests, CLI): each one's /metrics must count its traffic."""
    earlier = create_app(make_settings(_tmp_sqlite(tmp_path, "earlier.db")))
    async with serve(earlier) as c:
        await c.get("/nowhere")

    app = create_app(make_settings(_tmp_sqlite(tmp_path, "current.db")))
    async with serve(app) as c:
        before = _requests_total((await c.get("/metrics")).text, "/health")
        for _ in range(3):
            await c.get("/health")
        await c.post("/health")  # 405, counted under its own method
        after_text = (await c.get("/metrics")).text
    assert _requests_total(after_text, "/health") - before == 3, [
        line for line in after_text.splitlines() if line.startswith("http_requests_total{")
    ]
    assert _requests_total(after_text, "/metrics") == 0, "/metrics itself is not counted"


# --- CORS -----------------------------------------------------------------------------------


def _preflight(origin: str) -> dict[str, str]:
    return {
        "Origin": origin,
        "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "X-Request-ID",
    }


async def test_cors_preflight_from_allowed_origin_is_granted(tmp_path: Path) -> None:
    app = create_app(make_settings(_tmp_sqlite(tmp_path), cors_origins=[ALLOWED]))
    async with serve(app) as c:
        response = await c.options("/markets", headers=_preflight(ALLOWED))
        simple = await c.get("/nowhere", headers={"Origin": ALLOWED})
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == ALLOWED
    assert "GET" in response.headers["access-control-allow-methods"]
    assert simple.headers["access-control-allow-origin"] == ALLOWED
    exposed = simple.headers["access-control-expose-headers"].lower()
    assert "x-request-id" in exposed and "retry-after" in exposed


async def test_cors_preflight_from_other_origin_is_refused(tmp_path: Path) -> None:
    app = create_app(make_settings(_tmp_sqlite(tmp_path), cors_origins=[ALLOWED]))
    async with serve(app) as c:
        response = await c.options("/markets", headers=_preflight("https://evil.example"))
        simple = await c.get("/nowhere", headers={"Origin": "https://evil.example"})
    assert response.status_code >= 400
    assert "access-control-allow-origin" not in response.headers
    assert "access-control-allow-origin" not in simple.headers


async def test_no_cors_headers_without_configured_origins(tmp_path: Path) -> None:
    app = create_app(make_settings(_tmp_sqlite(tmp_path)))
    async with serve(app) as c:
        response = await c.options("/markets", headers=_preflight(ALLOWED))
        simple = await c.get("/nowhere", headers={"Origin": ALLOWED})
    for r in (response, simple):
        assert not [h for h in r.headers if h.lower().startswith("access-control-")], r.headers
    assert response.status_code == 405
    body: dict[str, Any] = response.json()
    assert body["error"]["code"] == "method_not_allowed"
