"""The Anthropic SDK follows redirects with our `x-api-key`: a redirect to another origin must
reach it without the key (and so fail, and the template answers).

Two loopback servers: the configured Anthropic URL answers every call with a 307 to the fake
Messages API on another port (another origin), which records the headers it got.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse
from starlette.routing import Route

from edgelab.sentinel.anthropic_client import ClaudeExplainer, explanation, make_explainer
from tests.fixtures.database import make_settings
from tests.sentinel.fake_anthropic import VALID_KEY, FakeAnthropic, serve

FACTS = {"risk_category": "HIGH", "composite_risk_score": 0.52, "top_features": []}
TEMPLATE = "Risk HIGH (0.52 on a 0-1 scale)."


def _redirecting_to(target: str) -> Starlette:
    async def moved(request: Request) -> RedirectResponse:
        return RedirectResponse(f"{target}{request.url.path}", status_code=307)

    return Starlette(routes=[Route("/v1/messages", moved, methods=["POST"])])


@pytest.fixture
def redirected() -> Iterator[tuple[FakeAnthropic, str]]:
    other = FakeAnthropic()
    with (
        serve(other.app(), name="the other origin") as other_url,
        serve(_redirecting_to(other_url), name="the redirecting origin") as url,
    ):
        yield other, url


async def test_a_redirect_to_another_origin_does_not_carry_the_api_key(redirected) -> None:
    other, url = redirected
    settings = make_settings(
        "sqlite+aiosqlite:///:memory:",
        anthropic_api_key=VALID_KEY,
        anthropic_url=url,
        anthropic_timeout_seconds=5.0,
    )
    explainer = make_explainer(settings)
    assert isinstance(explainer, ClaudeExplainer)
    try:
        written = await explanation(explainer, FACTS, TEMPLATE)
    finally:
        await explainer.aclose()
    assert len(other.headers_seen) == 1  # the SDK did follow the redirect...
    assert "x-api-key" not in other.headers_seen[0]  # ...without the key
    assert written.source == "template"
