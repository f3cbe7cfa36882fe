"""Nudges written for the player: by Claude (against a local fake of the Messages API) from the
player's top features only, checked before anyone sees them (a diagnosis word, a link, an empty
or overlong answer sends the template instead), kept per player and facts, and the template on
any failure without failing the request; the same writer e-mails a nudge intervention."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from edgelab.core.email.models import OutboxEmail
from edgelab.core.settings import Settings
from edgelab.sentinel import explain
from edgelab.sentinel.anthropic_client import (
    NUDGE_MAX_CHARS,
    NUDGE_SYSTEM_PROMPT,
    SYSTEM_PROMPT,
    ClaudeExplainer,
    make_explainer,
    nudge_problem,
    written_nudge,
)
from edgelab.sentinel.rescore import run_rescore
from edgelab.sentinel.scoring import FEATURES
from tests.fixtures.database import make_settings
from tests.sentinel.factories import bet_row, headers_for, simulated_population
from tests.sentinel.fake_anthropic import (
    VALID_KEY,
    VERSION,
    FakeAnthropic,
    Planned,
    overloaded,
    rate_limited,
    serve,
)
from tests.sentinel.test_enforcement import _member

pytestmark = pytest.mark.asyncio(loop_scope="session")

PLAYER = "PLR_7702_NJ"
NUDGE_PHRASE = "check-in messages"  # in the nudge's system prompt, not the explanation's
CLAUDE_NUDGE = (
    "You placed 74% of your bets in-play lately, more than most players. In-play markets move "
    "fast, so a budget set beforehand helps; deposit limits and time-outs are in your account "
    "settings whenever you want them."
)
TOP = [
    {
        "feature": "md_live_share",
        "component": "market_drift",
        "label": "bets mostly in-play",
        "value": 0.74,
        "score": 0.9,
        "contribution": 0.05,
    },
    {
        "feature": "lc_rebet_speedup",
        "component": "loss_chase",
        "label": "bets again faster after losses",
        "value": 0.41,
        "score": 0.62,
        "contribution": 0.04,
    },
]


@pytest.fixture
def fake() -> Iterator[tuple[FakeAnthropic, str]]:
    f = FakeAnthropic(reply_text=CLAUDE_NUDGE)
    with serve(f.app(), name="fake Anthropic") as url:
        yield f, url


def _explainer(url: str, **changes: object) -> ClaudeExplainer:
    base: dict[str, object] = {
        "anthropic_api_key": VALID_KEY,
        "anthropic_url": url,
        "anthropic_timeout_seconds": 1.0,
    }
    explainer = make_explainer(make_settings("sqlite+aiosqlite:///:memory:", **base, **changes))
    assert isinstance(explainer, ClaudeExplainer)
    return explainer


def _template() -> str:
    return explain.nudge(top_features=TOP)


# --- the facts and the check -----------------------------------------------------------------


async def test_the_facts_are_plain_figures_and_comparisons_without_scores_or_identity() -> None:
    facts = explain.nudge_facts(top_features=TOP)
    assert facts[0] == {
        "noticed": "bets mostly in-play",
        "area": "market drift",
        "figure": "74% of bets placed in-play",
        "compared_with_other_players": "higher than 95% of players",
    }
    # a contrast has no plain unit: only where the player stands
    assert "figure" not in facts[1]
    assert facts[1]["compared_with_other_players"] == "higher than 81% of players"
    # the self-assessment is an absolute score, not a rank among players
    gamalyze = explain.nudge_facts(
        top_features=[
            {"feature": "ba_gamalyze", "component": "behavioural", "label": "x", "value": 0.8}
            | {"score": 0.8}
        ]
    )
    assert "compared_with_other_players" not in gamalyze[0]
    sent = json.dumps(facts)
    assert "score" not in sent and "contribution" not in sent and PLAYER not in sent


@pytest.mark.parametrize(
    "text",
    [
        "Betting this often can be a sign of gambling addiction.",
        "You may be addicted to in-play betting.",
        "Patterns like these are linked to gambling disorder.",
        "We do not want you to become a problem gambler.",
        "Compulsive betting after losses is common.",
        "This looks pathological.",
        "Some players with a gambling problem bet like this.",
        "A PGSI screen could help you.",
    ],
)
async def test_a_message_naming_a_diagnosis_may_not_be_sent(text: str) -> None:
    assert nudge_problem(text) == "diagnosis_named"


async def test_empty_overlong_or_linked_messages_may_not_be_sent() -> None:
    assert nudge_problem("  ") == "bad_payload"
    assert nudge_problem("Take a break. " * (NUDGE_MAX_CHARS // 10)) == "bad_payload"
    assert nudge_problem("Set a limit at https://example.org/limits today.") == "link_in_text"
    assert nudge_problem(CLAUDE_NUDGE) is None


async def test_every_template_nudge_passes_the_same_check() -> None:
    """The fallback is always sendable: each feature as the strongest, and no feature at all."""
    for spec in FEATURES:
        top = [{"feature": spec.name, "component": spec.component, "label": spec.label}]
        assert nudge_problem(explain.nudge(top_features=top)) is None, spec.name
    assert nudge_problem(explain.nudge(top_features=[])) is None


# --- Claude writes it ------------------------------------------------------------------------


async def test_claude_writes_the_nudge_from_the_facts_only(fake) -> None:
    f, url = fake
    explainer = _explainer(url, anthropic_model="claude-haiku-4-5")
    facts = explain.nudge_facts(top_features=TOP)
    try:
        written = await written_nudge(explainer, facts, _template(), player_id=PLAYER)
    finally:
        await explainer.aclose()
    assert (written.text, written.source, written.fallback_reason) == (
        CLAUDE_NUDGE,
        "claude",
        None,
    )
    sent = f.requests[-1]
    assert sent["model"] == "claude-haiku-4-5" and sent["system"] == NUDGE_SYSTEM_PROMPT
    assert json.loads(sent["messages"][0]["content"].split("\n", 1)[1]) == facts
    assert PLAYER not in json.dumps(sent)
    for word in ("addiction", "gambling disorder", "problem gambler", "compulsive"):
        assert word in NUDGE_SYSTEM_PROMPT  # named as words never to use
    headers = f.headers_seen[-1]
    assert headers["x-api-key"] == VALID_KEY and headers["anthropic-version"] == VERSION


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        (rate_limited(), "rate_limit_error"),
        (overloaded(), "overloaded_error"),
        (Planned(status=500, body={"type": "error", "error": {"type": "api_error"}}), "api_error"),
        (Planned(delay=2.5), "timeout"),
        (Planned(status=200, body={"type": "message", "content": []}), "bad_payload"),
        (Planned(status=200, body={"not": "a message"}), "bad_payload"),
    ],
)
async def test_any_failure_sends_the_template_nudge(fake, answer: Planned, reason: str) -> None:
    f, url = fake
    f.plan(answer)
    explainer = _explainer(url)
    try:
        written = await written_nudge(
            explainer, explain.nudge_facts(top_features=TOP), _template(), player_id=PLAYER
        )
    finally:
        await explainer.aclose()
    assert (written.text, written.source, written.fallback_reason) == (
        _template(),
        "template",
        reason,
    )
    assert len(f.requests) == 1  # not retried


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        ("Betting like this can be an early sign of gambling addiction.", "diagnosis_named"),
        ("You show signs of compulsive betting after losses.", "diagnosis_named"),
        ("Set a limit at www.example.com now.", "link_in_text"),
        ("x" * (NUDGE_MAX_CHARS + 1), "bad_payload"),
    ],
)
async def test_a_reply_naming_a_diagnosis_is_never_sent(fake, reply: str, reason: str) -> None:
    f, url = fake
    f.reply_text = reply
    explainer = _explainer(url)
    try:
        written = await written_nudge(
            explainer, explain.nudge_facts(top_features=TOP), _template(), player_id=PLAYER
        )
    finally:
        await explainer.aclose()
    assert (written.source, written.fallback_reason) == ("template", reason)
    assert written.text == _template()


async def test_a_written_nudge_is_kept_per_player_and_facts_and_a_fallback_is_not(fake) -> None:
    f, url = fake
    facts = explain.nudge_facts(top_features=TOP)
    explainer = _explainer(url)
    try:
        f.plan(rate_limited())
        first = await written_nudge(explainer, facts, _template(), player_id=PLAYER)
        second = await written_nudge(explainer, facts, _template(), player_id=PLAYER)
        third = await written_nudge(explainer, facts, _template(), player_id=PLAYER)
        assert [first.source, second.source, third.source] == ["template", "claude", "claude"]
        assert len(f.requests) == 2  # the failure was asked again, the answer kept
        await written_nudge(explainer, facts, _template(), player_id="PLR_7703_NJ")
        assert len(f.requests) == 3  # another player: asked
        changed = explain.nudge_facts(top_features=TOP[1:])
        await written_nudge(explainer, changed, _template(), player_id=PLAYER)
        assert len(f.requests) == 4  # rescored, other facts: asked
    finally:
        await explainer.aclose()


async def test_without_facts_the_template_answers_and_claude_is_not_asked(fake) -> None:
    f, url = fake
    explainer = _explainer(url)
    try:
        written = await written_nudge(
            explainer, [], explain.nudge(top_features=[]), player_id=PLAYER
        )
    finally:
        await explainer.aclose()
    assert written.source == "template" and f.requests == []


# --- through the API -------------------------------------------------------------------------


@pytest.fixture
async def settings(db_url: str, fake: tuple[FakeAnthropic, str]) -> Settings:
    """The suite's settings with a key and the fake's URL: the app's writer uses Claude."""
    return make_settings(
        db_url,
        anthropic_api_key=VALID_KEY,
        anthropic_url=fake[1],
        anthropic_timeout_seconds=1.0,
    )


@pytest.fixture
async def population(session: AsyncSession, settings: Settings) -> None:
    """Players scored by a full run: the reference later players are ranked against."""
    await simulated_population(session, players=30, seed=5)
    summary = await run_rescore(session, settings, mode="full", trigger="cli")
    assert summary.status == "ok"
    await session.commit()


async def _bets(client: httpx.AsyncClient, h: dict[str, str], player_id: str) -> None:
    rows = [
        bet_row(
            f"{player_id}-{i}",
            player_id,
            placed_at=f"2026-10-0{i}T23:30:00-04:00",
            settled_at=f"2026-10-0{i}T23:55:00-04:00",
            stake_minor=1000 * i,
            status="lost",
            payout_minor=0,
            is_live=True,
        )
        for i in range(1, 6)
    ]
    r = await client.post("/sentinel/bets", headers=h, json={"bets": rows})
    assert r.status_code == 200, r.text


async def _analyze(client: httpx.AsyncClient, h: dict[str, str], **body: Any) -> dict[str, Any]:
    r = await client.post("/api/analytics/analyze-player", headers=h, json=body)
    assert r.status_code == 200, r.text
    answer: dict[str, Any] = r.json()
    return answer


async def test_analyze_player_nudge_is_written_by_claude(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings, fake, population
) -> None:
    f, _ = fake
    f.reply_when = {NUDGE_PHRASE: CLAUDE_NUDGE}
    f.reply_text = "Risk is driven by in-play betting."
    h = await headers_for(session, settings, "nudge-claude@example.com")
    await _bets(client, h, PLAYER)
    body = await _analyze(client, h, player_id=PLAYER, generate_nudge=True)
    assert body["top_features"]
    assert (body["nudge"], body["nudge_source"]) == (CLAUDE_NUDGE, "claude")
    assert body["explanation_source"] == "claude"
    asked = [r for r in f.requests if r["system"] == NUDGE_SYSTEM_PROMPT]
    assert len(asked) == 1 and PLAYER not in json.dumps(asked[0])
    assert {r["system"] for r in f.requests} == {NUDGE_SYSTEM_PROMPT, SYSTEM_PROMPT}
    # without generate_nudge: no nudge, and Claude is asked for the explanation alone
    before = len(f.requests)
    plain = await _analyze(client, h, player_id=PLAYER)
    assert plain["nudge"] is None and plain["nudge_source"] is None
    assert len(f.requests) == before + 1


async def test_analyze_player_sends_the_template_nudge_when_claude_names_a_diagnosis(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings, fake, population
) -> None:
    f, _ = fake
    f.reply_when = {NUDGE_PHRASE: "Your in-play betting looks like a gambling disorder."}
    h = await headers_for(session, settings, "nudge-diag@example.com")
    await _bets(client, h, PLAYER)
    body = await _analyze(client, h, player_id=PLAYER, generate_nudge=True)
    assert body["nudge_source"] == "template"
    assert body["nudge"] == explain.nudge(top_features=body["top_features"])
    assert "disorder" not in body["nudge"]
    assert any("could not write the nudge (diagnosis_named)" in n for n in body["notes"])


@pytest.mark.parametrize("answer", [rate_limited(), overloaded(), Planned(delay=2.5)])
async def test_analyze_player_never_fails_because_of_the_nudge(
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    fake,
    answer: Planned,
    population,
) -> None:
    f, _ = fake
    h = await headers_for(session, settings, "nudge-down@example.com")
    await _bets(client, h, PLAYER)
    f.plan(answer, answer)  # the explanation and the nudge are asked together
    body = await _analyze(client, h, player_id=PLAYER, generate_nudge=True)
    assert body["nudge_source"] == "template" and body["explanation_source"] == "template"
    assert body["nudge"].startswith("A quick check-in on your play.")


async def test_a_nudge_intervention_emails_what_claude_wrote(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings, fake, population
) -> None:
    f, _ = fake
    f.reply_when = {NUDGE_PHRASE: CLAUDE_NUDGE}
    analyst = await headers_for(session, settings, "nudge-analyst@example.com")
    _, _, player = await _member(session, settings, "nudge-member@example.com", tier="free")
    await _bets(client, analyst, player.player_id)
    await _analyze(client, analyst, player_id=player.player_id)  # scored: top features
    r = await client.post(
        "/api/interventions",
        headers=analyst,
        json={
            "player_id": player.player_id,
            "intervention_type": "nudge",
            "reason": "late-night in-play betting after losses",
        },
    )
    assert r.status_code == 201, r.text
    mail = (
        await session.execute(
            select(OutboxEmail).where(OutboxEmail.to_address == "nudge-member@example.com")
        )
    ).scalar_one()
    assert CLAUDE_NUDGE in mail.text
    assert r.json()["effects"] == {"email_id": mail.id, "email": "queued", "written_by": "claude"}
    assert player.player_id not in json.dumps(f.requests[-1])


async def test_a_nudge_intervention_emails_the_template_when_claude_names_a_diagnosis(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings, fake, population
) -> None:
    f, _ = fake
    f.reply_when = {NUDGE_PHRASE: "You seem addicted to betting at night."}
    analyst = await headers_for(session, settings, "nudge-analyst2@example.com")
    _, _, player = await _member(session, settings, "nudge-member2@example.com", tier="free")
    await _bets(client, analyst, player.player_id)
    top = (await _analyze(client, analyst, player_id=player.player_id))["top_features"]
    r = await client.post(
        "/api/interventions",
        headers=analyst,
        json={
            "player_id": player.player_id,
            "intervention_type": "nudge",
            "reason": "late-night in-play betting after losses",
        },
    )
    assert r.status_code == 201, r.text
    mail = (
        await session.execute(
            select(OutboxEmail).where(OutboxEmail.to_address == "nudge-member2@example.com")
        )
    ).scalar_one()
    assert "addicted" not in mail.text
    assert explain.nudge(top_features=top) in mail.text
    assert r.json()["effects"]["written_by"] == "template"
