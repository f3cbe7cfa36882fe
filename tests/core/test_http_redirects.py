"""An outbound call that is redirected to another origin takes none of our credentials along.

httpx itself strips only `Authorization`; NewsAPI's key travels in `X-Api-Key`. The upstream
is an `httpx.MockTransport`: `api.example.test` redirects, every other host records what it got.
"""

from __future__ import annotations

import httpx
import pytest

from edgelab.core.http import make_http_client
from tests.fixtures.database import make_settings

CREDENTIALS = {
    "X-Api-Key": "newsapi-key-DO-NOT-LEAK",
    "Authorization": "Bearer resend-key-DO-NOT-LEAK",
    "Api-Key": "other-key-DO-NOT-LEAK",
}


def _upstream(location: str, seen: list[httpx.Request]) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.host == "api.example.test" and request.url.path == "/v2/everything":
            return httpx.Response(302, headers={"Location": location})
        return httpx.Response(200, json={"status": "ok", "articles": []})

    return httpx.MockTransport(handler)


@pytest.mark.parametrize(
    "location",
    [
        "https://collector.attacker.test/steal",  # another host
        "https://api.example.test:8443/v2/other",  # another port
        "http://api.example.test/v2/other",  # another scheme (a downgrade)
    ],
)
async def test_a_redirect_to_another_origin_carries_no_credential_headers(location: str) -> None:
    seen: list[httpx.Request] = []
    settings = make_settings("sqlite+aiosqlite:///:memory:")
    async with make_http_client(
        settings, base_url="https://api.example.test", transport=_upstream(location, seen)
    ) as client:
        response = await client.get("/v2/everything", headers=CREDENTIALS)
    assert response.status_code == 200
    first, redirected = seen
    assert all(first.headers[name] == value for name, value in CREDENTIALS.items())
    assert str(redirected.url) == location
    assert [name for name in CREDENTIALS if name in redirected.headers] == []
    assert redirected.headers["user-agent"] == settings.http_user_agent  # the rest stays


async def test_a_redirect_within_the_origin_keeps_the_credentials() -> None:
    seen: list[httpx.Request] = []
    settings = make_settings("sqlite+aiosqlite:///:memory:")
    location = "https://api.example.test:443/v2/moved"
    async with make_http_client(
        settings, base_url="https://api.example.test", transport=_upstream(location, seen)
    ) as client:
        await client.get("/v2/everything", headers=CREDENTIALS)
    assert seen[-1].url.path == "/v2/moved"
    assert all(seen[-1].headers[name] == value for name, value in CREDENTIALS.items())


async def test_a_redirect_back_to_the_origin_after_another_one_gets_nothing_back() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.host == "api.example.test" and request.url.path == "/v2/everything":
            return httpx.Response(307, headers={"Location": "https://hop.example.test/a"})
        if request.url.host == "hop.example.test":
            return httpx.Response(307, headers={"Location": "https://api.example.test/v2/b"})
        return httpx.Response(200)

    settings = make_settings("sqlite+aiosqlite:///:memory:")
    async with make_http_client(
        settings, base_url="https://api.example.test", transport=httpx.MockTransport(handler)
    ) as client:
        await client.get("/v2/everything", headers=CREDENTIALS)
    assert len(seen) == 3
    for hop in seen[1:]:  # the hop and the way back: the credentials left at the first move
        assert [name for name in CREDENTIALS if name in hop.headers] == []
