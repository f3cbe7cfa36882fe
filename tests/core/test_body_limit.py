"""Every request body is capped while it arrives: 413 `payload_too_large`, never buffered whole.

The bodies are async generators that record each chunk the app pulls, so a test sees how much
of the body was read before the answer (httpx's ASGI transport hands chunks over on demand).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from edgelab.core.settings import Settings
from tests.fixtures.app import app_in_session
from tests.fixtures.database import make_settings

CAP = 4096
CHUNK = 1024
CHUNKS = 64  # 64 KiB in all: sixteen times the cap


@pytest.fixture
async def settings(db_url: str) -> Settings:
    return make_settings(
        db_url,
        max_body_bytes=CAP,
        paddle_webhook_secret="pdl_ntfset_body_limit_test_secret_0123456789",
    )


def _chunked(pulled: list[int]) -> AsyncIterator[bytes]:
    """A valid JSON body padded with whitespace to CHUNKS chunks, sent chunked (no
    Content-Length)."""

    async def body() -> AsyncIterator[bytes]:
        pulled.append(1)
        yield b'{"refresh_token": "not-a-token"'
        for _ in range(CHUNKS):
            pulled.append(1)
            yield b" " * CHUNK
        pulled.append(1)
        yield b"}"

    return body()


@pytest.mark.parametrize("path", ["/auth/logout", "/webhooks/paddle"])
async def test_a_chunked_body_over_the_cap_is_refused_before_it_is_all_read(
    client: httpx.AsyncClient, path: str
) -> None:
    pulled: list[int] = []
    response = await client.post(
        path,
        content=_chunked(pulled),
        headers={"Content-Type": "application/json", "Paddle-Signature": "ts=1;h1=00"},
    )
    assert response.status_code == 413, response.text
    body = response.json()
    assert body["error"]["code"] == "payload_too_large"
    assert body["error"]["details"] == {"limit_bytes": CAP}
    assert body["request_id"] == response.headers["x-request-id"]
    # the cap is 4 chunks: the app stopped right after it, far from the 66 chunks sent
    assert len(pulled) <= CAP // CHUNK + 2 < CHUNKS


async def test_a_declared_length_over_the_cap_is_refused_without_reading(
    client: httpx.AsyncClient,
) -> None:
    pulled: list[int] = []
    response = await client.post(
        "/auth/logout",
        content=_chunked(pulled),
        headers={"Content-Type": "application/json", "Content-Length": str(CAP + 1)},
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"
    assert pulled == []


async def test_a_body_within_the_cap_reaches_the_route(client: httpx.AsyncClient) -> None:
    body = b'{"refresh_token": "not-a-token"' + b" " * (CAP - 100) + b"}"
    response = await client.post(
        "/auth/logout", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 204


async def test_the_cap_is_a_setting(db_url: str, session: AsyncSession) -> None:
    roomy = make_settings(db_url, max_body_bytes=CAP * 32)
    async with app_in_session(roomy, session) as (_, c):
        pulled: list[int] = []
        response = await c.post(
            "/auth/logout", content=_chunked(pulled), headers={"Content-Type": "application/json"}
        )
    assert response.status_code == 204  # an unknown refresh token: logging out is idempotent
    assert len(pulled) == CHUNKS + 2
