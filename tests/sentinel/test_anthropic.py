"""Claude explanations against a local fake of the Messages API: success says `claude`; a 429,
a 529, a timeout, a server error or a bad answer falls back to the template, and the request
never fails. The key never reaches the logs, and nothing identifying the player is sent."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from edgelab.core.settings import Settings
from edgelab.sentinel.anthropic_client import (
    ClaudeExplainer,
    explanation,
    make_explainer,
)
from tests.fixtures.database import make_settings
from tests.sentinel.factories import bet_row, headers_for
from tests.sentinel.fake_anthropic import (
    PAYLOADS,
    VALID_KEY,
    VERSION,
    FakeAnthropic,
    Planned,
    overloaded,
    rate_limited,
    serve,
)

pytestmark = pytest.mark.asyncio(loop_scope="session")

SHARED = Path("/work/shared/reference/payloads/anthropic")
FACTS = {"risk_category": "HIGH", "composite_risk_score": 0.52, "top_features": []}
TEMPLATE = "Risk HIGH (0.52 on a 0-1 scale)."
PLAYER = "PLR_7701_NJ"


@pytest.fixture
def fake() -> Iterator[tuple[FakeAnthropic, str]]:
    f = FakeAnthropic()
    with serve(f.app(), name="fake Anthropic") as url:
        yield f, url


def _settings(url: str, **changes: object) -> Settings:
    base: dict[str, object] = {
        "anthropic_api_key": VALID_KEY,
        "anthropic_url": url,
        "anthropic_timeout_seconds": 1.0,
    }
    return make_settings("sqlite+aiosqlite:///:memory:", **{**base, **changes})


def _shared_payloads() -> dict[str, object] | None:
    if not SHARED.is_dir():
        return None
    return {name: json.loads((SHARED / f"{name}.json").read_text()) for name in PAYLOADS}


async def test_the_fakes_payloads_are_the_shared_reference_copies() -> None:
    shared = _shared_payloads()
    if shared is None:
        pytest.skip("the shared reference payloads are not on this machine")
    for name, payload in PAYLOADS.items():
        recorded = shared[name]
        assert isinstance(recorded, dict)
        assert payload == recorded.get("body", recorded), name


async def test_without_a_key_there_is_no_client_and_the_template_answers() -> None:
    settings = make_settings("sqlite+aiosqlite:///:memory:")
    assert make_explainer(settings) is None
    written = await explanation(None, FACTS, TEMPLATE)
    assert (written.text, written.source, written.fallback_reason) == (TEMPLATE, "template", None)


async def test_claude_writes_the_explanation_through_the_documented_request(fake) -> None:
    f, url = fake
    explainer = make_explainer(_settings(url, anthropic_model="claude-haiku-4-5"))
    assert isinstance(explainer, ClaudeExplainer)
    try:
        written = await explanation(explainer, FACTS, TEMPLATE)
    finally:
        await explainer.aclose()
    assert written.source == "claude" and written.text == f.reply_text
    assert written.fallback_reason is None
    sent = f.requests[-1]
    assert sent["model"] == "claude-haiku-4-5" and sent["max_tokens"] > 0
    assert isinstance(sent["system"], str) and sent["messages"][0]["role"] == "user"
    assert json.loads(sent["messages"][0]["content"].split("\n", 1)[1]) == FACTS
    headers = f.headers_seen[-1]
    assert headers["x-api-key"] == VALID_KEY and headers["anthropic-version"] == VERSION


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        (rate_limited(), "rate_limit_error"),
        (overloaded(), "overloaded_error"),
        (Planned(status=500, body={"type": "error", "error": {"type": "api_error"}}), "api_error"),
        (Planned(status=503, body={"oops": True}), "http_503"),
        (Planned(delay=2.5), "timeout"),
        (Planned(status=200, body={"type": "message", "content": []}), "bad_payload"),
        (Planned(status=200, body={"not": "a message"}), "bad_payload"),
    ],
)
async def test_any_failure_falls_back_to_the_template_quickly_and_is_not_retried(
    fake, answer: Planned, reason: str
) -> None:
    f, url = fake
    f.plan(answer)
    explainer = make_explainer(_settings(url))
    assert explainer is not None
    try:
        written = await explanation(explainer, FACTS, TEMPLATE)
    finally:
        await explainer.aclose()
    assert (written.text, written.source) == (TEMPLATE, "template")
    assert written.fallback_reason == reason
    assert len(f.requests) == 1  # no retries: the template is ready


async def test_a_wrong_key_or_an_unreachable_service_falls_back_too(fake) -> None:
    _, url = fake
    for settings in (
        _settings(url, anthropic_api_key="sk-ant-wrong"),
        _settings("http://127.0.0.1:9"),  # nothing listens on the discard port
    ):
        explainer = make_explainer(settings)
        assert explainer is not None
        try:
            written = await explanation(explainer, FACTS, TEMPLATE)
        finally:
            await explainer.aclose()
        assert written.source == "template"
        assert written.fallback_reason in ("authentication_error", "connection_error")


# --- through analyze-player ------------------------------------------------------------------


@pytest.fixture
def anthropic_fake() -> Iterator[tuple[FakeAnthropic, str]]:
    f = FakeAnthropic()
    with serve(f.app(), name="fake Anthropic") as url:
        yield f, url


@pytest.fixture
async def settings(db_url: str, anthropic_fake: tuple[FakeAnthropic, str]) -> Settings:
    """The suite's settings with a key and the fake's URL: the app's explainer uses Claude."""
    return make_settings(
        db_url,
        anthropic_api_key=VALID_KEY,
        anthropic_url=anthropic_fake[1],
        anthropic_timeout_seconds=1.0,
    )


async def _scored_player(client: httpx.AsyncClient, h: dict[str, str]) -> None:
    rows = [
        bet_row(
            f"cl-{i}",
            PLAYER,
            placed_at=f"2026-10-0{i}T23:30:00-04:00",
            settled_at=f"2026-10-0{i}T23:55:00-04:00",
            stake_minor=1000 * i,
            status="lost",
            payout_minor=0,
        )
        for i in range(1, 6)
    ]
    r = await client.post("/sentinel/bets", headers=h, json={"bets": rows})
    assert r.status_code == 200, r.text


async def test_analyze_player_says_claude_wrote_it_and_sends_no_identity(
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    anthropic_fake: tuple[FakeAnthropic, str],
) -> None:
    f, _ = anthropic_fake
    h = await headers_for(session, settings, "claude-ok@example.com")
    await _scored_player(client, h)
    r = await client.post("/api/analytics/analyze-player", headers=h, json={"player_id": PLAYER})
    assert r.status_code == 200, r.text
    assert r.json()["explanation_source"] == "claude"
    assert r.json()["ai_explanation"] == f.reply_text
    sent = json.dumps(f.requests[-1])
    assert PLAYER not in sent and "claude-ok@example.com" not in sent
    assert "composite_risk_score" in sent and "component_scores" in sent


@pytest.mark.parametrize("answer", [rate_limited(), overloaded(), Planned(delay=2.5)])
async def test_analyze_player_falls_back_to_the_template_and_never_logs_the_key(
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    anthropic_fake: tuple[FakeAnthropic, str],
    caplog: pytest.LogCaptureFixture,
    answer: Planned,
) -> None:
    f, _ = anthropic_fake
    h = await headers_for(session, settings, "claude-down@example.com")
    await _scored_player(client, h)
    f.plan(answer)
    with caplog.at_level(logging.DEBUG):
        r = await client.post(
            "/api/analytics/analyze-player", headers=h, json={"player_id": PLAYER}
        )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["explanation_source"] == "template"
    assert body["ai_explanation"].startswith(f"Risk {body['risk_category']}")
    assert any("Claude could not write the explanation" in n for n in body["notes"])
    assert "Claude explanation unavailable" in caplog.text
    assert VALID_KEY not in caplog.text
