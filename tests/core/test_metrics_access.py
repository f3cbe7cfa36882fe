"""`/metrics` is the operator's: a bearer token when EDGELAB_METRICS_TOKEN is set, else loopback.

The client address is the ASGI transport's `client`, as uvicorn reports the peer's.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from edgelab.app import create_app
from edgelab.core.settings import Settings
from tests.fixtures.database import make_settings

pytestmark = pytest.mark.asyncio(loop_scope="session")

TOKEN = "metrics-token-for-the-suite-0123456789abcdef"


@asynccontextmanager
async def serve(settings: Settings, client_host: str) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=(client_host, 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            yield c


def _settings(tmp_path: Path, **overrides: Any) -> Settings:
    return make_settings(f"sqlite+aiosqlite:///{tmp_path / 'metrics.db'}", **overrides)


def _is_prometheus(response: httpx.Response) -> bool:
    return response.status_code == 200 and "# TYPE http_requests_total" in response.text


async def test_without_a_token_a_remote_client_is_refused_403(tmp_path: Path) -> None:
    async with serve(_settings(tmp_path), "203.0.113.7") as c:
        response = await c.get("/metrics")
    assert response.status_code == 403
    error = response.json()["error"]
    assert error["code"] == "forbidden" and "EDGELAB_METRICS_TOKEN" in error["message"]
    assert "http_requests_total" not in response.text


@pytest.mark.parametrize("host", ["127.0.0.1", "::1"])
async def test_without_a_token_a_loopback_client_is_served(tmp_path: Path, host: str) -> None:
    async with serve(_settings(tmp_path), host) as c:
        assert _is_prometheus(await c.get("/metrics"))


async def test_without_a_token_a_request_through_a_local_proxy_is_refused(
    tmp_path: Path,
) -> None:
    """A reverse proxy on this machine connects from loopback on behalf of anyone."""
    async with serve(_settings(tmp_path), "127.0.0.1") as c:
        response = await c.get("/metrics", headers={"X-Forwarded-For": "203.0.113.7"})
    assert response.status_code == 403


@pytest.mark.parametrize("host", ["203.0.113.7", "127.0.0.1"])
async def test_with_a_token_only_its_bearer_is_served(tmp_path: Path, host: str) -> None:
    async with serve(_settings(tmp_path, metrics_token=TOKEN), host) as c:
        missing = await c.get("/metrics")
        wrong = await c.get("/metrics", headers={"Authorization": "Bearer nope"})
        right = await c.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    for refused in (missing, wrong):
        assert refused.status_code == 401
        assert refused.json()["error"]["code"] == "unauthorized"
        assert refused.headers["www-authenticate"] == "Bearer"
    assert _is_prometheus(right)
