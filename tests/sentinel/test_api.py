"""Sentinel over HTTP: who may call, players and time zones, the analyze-player seed contract,
the ranked list and the score history."""

from __future__ import annotations

from zoneinfo import available_timezones

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from edgelab.core.settings import Settings
from edgelab.sentinel.rescore import run_rescore
from tests.sentinel.factories import bet_row, headers_for, simulated_population

pytestmark = pytest.mark.asyncio(loop_scope="session")

SEED_KEYS = {
    "composite_risk_score",
    "risk_category",
    "component_scores",
    "ai_explanation",
    "recommended_action",
    "generated_at",
}
COMPONENT_KEYS = {"loss_chase", "bet_escalation", "market_drift", "temporal_risk", "gamalyze"}
CATEGORIES = ("CRITICAL", "HIGH", "MEDIUM", "LOW")


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/sentinel/players", None),
        ("POST", "/sentinel/bets", {"bets": [bet_row("auth1")]}),
        ("POST", "/api/analytics/analyze-player", {"player_id": "PLR_1001_NJ"}),
    ],
)
async def test_only_analysts_and_admins_may_call_sentinel(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings, method, path, body
) -> None:
    free = await headers_for(session, settings, "free@example.com", role="user")
    analyst = await headers_for(session, settings, "analyst@example.com")
    admin = await headers_for(session, settings, "admin@example.com", role="admin")
    anonymous = await client.request(method, path, json=body)
    assert anonymous.status_code == 401 and anonymous.json()["error"]["code"] == "unauthorized"
    refused = await client.request(method, path, json=body, headers=free)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "role_required"
    for h in (analyst, admin):
        r = await client.request(method, path, json=body, headers=h)
        assert r.status_code in (200, 404), r.text  # 404: the player of analyze has no data
        assert r.status_code == 200 or path.endswith("analyze-player")


async def test_a_players_time_zone_is_set_validated_and_reset(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    h = await headers_for(session, settings, "tz@example.com")
    r = await client.put(
        "/sentinel/players/PLR_3001_CA", headers=h, json={"time_zone": "America/Los_Angeles"}
    )
    assert r.status_code == 200, r.text
    assert r.json()["time_zone"] == "America/Los_Angeles"
    assert r.json()["time_zone_is_default"] is False
    bad = await client.put(
        "/sentinel/players/PLR_3001_CA", headers=h, json={"time_zone": "Mars/Olympus"}
    )
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "validation_error"
    r = await client.put("/sentinel/players/PLR_3001_CA", headers=h, json={"gamalyze_score": 0.7})
    assert r.json()["time_zone"] == "America/Los_Angeles"  # left out: unchanged
    assert r.json()["gamalyze_score"] == 0.7
    r = await client.put("/sentinel/players/PLR_3001_CA", headers=h, json={"time_zone": None})
    assert r.json()["time_zone"] == settings.sentinel_default_tz == "America/New_York"
    assert r.json()["time_zone_is_default"] is True
    over = await client.put("/sentinel/players/PLR_3001_CA", headers=h, json={"gamalyze_score": 2})
    assert over.status_code == 422
    flag = await client.put(
        "/sentinel/players/PLR_3001_CA", headers=h, json={"gamalyze_score": True}
    )
    assert flag.status_code == 422  # a boolean is not a score of 1.0


async def test_a_players_time_zone_is_one_the_schema_lists(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    """The schema named no zones, so a client could send any string and meet a 422."""
    schema = (await client.get("/openapi.json")).json()["components"]["schemas"]["PlayerUpdate"]
    zone = next(o for o in schema["properties"]["time_zone"]["anyOf"] if "enum" in o)
    assert set(zone["enum"]) == available_timezones()
    h = await headers_for(session, settings, "tz-schema@example.com")
    for name in (zone["enum"][0], zone["enum"][-1], "Asia/Kathmandu"):
        r = await client.put("/sentinel/players/PLR_3002_CA", headers=h, json={"time_zone": name})
        assert r.status_code == 200 and r.json()["time_zone"] == name, r.text


async def test_analyze_player_answers_the_seed_risk_assessment(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    h = await headers_for(session, settings, "seed@example.com")
    sim = await simulated_population(session, players=60)
    player = sim.players[0].player_id
    r = await client.post(
        "/api/analytics/analyze-player",
        headers=h,
        json={"player_id": player, "include_history": True, "generate_nudge": True},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) >= SEED_KEYS
    assert set(body["component_scores"]) == COMPONENT_KEYS
    assert 0 <= body["composite_risk_score"] <= 1
    assert body["risk_category"] in CATEGORIES
    for name, value in body["component_scores"].items():
        assert value is None or 0 <= value <= 1, name
    assert body["explanation_source"] == "template"
    assert body["risk_category"] in body["ai_explanation"]
    assert body["recommended_action"] in ("none", "nudge", "watchlist", "timeout")
    assert body["history"] and all(0 <= p["composite_risk_score"] <= 1 for p in body["history"])
    assert isinstance(body["nudge"], str) and body["nudge_source"] == "template"
    assert sum(body["weights"].values()) == pytest.approx(1.0, abs=1e-3)
    if body["component_scores"]["gamalyze"] is None:
        assert body["reweighted"] and "gamalyze" in body["absent_components"]
        assert "gamalyze" not in body["weights"]
    plain = await client.post(
        "/api/analytics/analyze-player", headers=h, json={"player_id": player}
    )
    assert plain.json()["history"] is None and plain.json()["nudge"] is None
    assert plain.json()["composite_risk_score"] == body["composite_risk_score"]


@pytest.mark.parametrize(
    ("player_id", "status"),
    [("PLR_9999_ZZ", 404), ("PLR_12_NJ", 422), ("plr_1234_nj", 422), ("PLR_1234567_NJ", 422)],
)
async def test_analyze_player_refuses_unknown_players_and_bad_ids(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings, player_id, status
) -> None:
    h = await headers_for(session, settings, "seed404@example.com")
    r = await client.post("/api/analytics/analyze-player", headers=h, json={"player_id": player_id})
    assert r.status_code == status
    code = r.json()["error"]["code"]
    assert code == ("player_not_found" if status == 404 else "validation_error")


@pytest.mark.parametrize("flag", ["include_history", "generate_nudge"])
async def test_analyze_player_refuses_a_flag_that_is_not_a_json_boolean(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings, flag: str
) -> None:
    """`1` or `"true"` is not `true`: the documented type is a boolean."""
    h = await headers_for(session, settings, "seedflags@example.com")
    for value in (1, "true"):
        r = await client.post(
            "/api/analytics/analyze-player",
            headers=h,
            json={"player_id": "PLR_1234_NJ", flag: value},
        )
        assert r.status_code == 422, r.text
        assert r.json()["error"]["details"][0]["loc"] == ["body", flag]


async def test_players_are_ranked_by_score_and_filtered_by_category(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    h = await headers_for(session, settings, "rank@example.com")
    await simulated_population(session, players=80, seed=4)
    await run_rescore(session, settings, mode="full", trigger="cli")
    await session.commit()
    r = await client.get("/sentinel/players?limit=200", headers=h)
    assert r.status_code == 200
    items = r.json()["items"]
    scores = [p["score"]["composite_risk_score"] for p in items]
    assert len(items) == r.json()["total"] >= 70
    assert scores == sorted(scores, reverse=True)
    categories = {p["score"]["risk_category"] for p in items}
    for category in categories:
        r = await client.get(f"/sentinel/players?category={category}", headers=h)
        got = r.json()["items"]
        assert got and {p["score"]["risk_category"] for p in got} == {category}
        assert r.json()["total"] == sum(1 for p in items if p["score"]["risk_category"] == category)
    page = await client.get("/sentinel/players?limit=5&offset=5", headers=h)
    assert [p["player_id"] for p in page.json()["items"]] == [p["player_id"] for p in items[5:10]]
    bad = await client.get("/sentinel/players?category=SEVERE", headers=h)
    assert bad.status_code == 422


async def test_a_players_score_history_and_detail(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    h = await headers_for(session, settings, "history@example.com")
    sim = await simulated_population(session, players=40, seed=5)
    await run_rescore(session, settings, mode="full", trigger="cli")
    await run_rescore(session, settings, mode="full", trigger="cli")
    await session.commit()
    pid = sim.players[1].player_id
    r = await client.get(f"/sentinel/players/{pid}/scores", headers=h)
    assert r.status_code == 200
    items = r.json()["items"]
    assert len(items) == 2 and items[0]["scored_at"] <= items[1]["scored_at"]
    detail = await client.get(f"/sentinel/players/{pid}", headers=h)
    assert detail.json()["score"] == items[-1] and detail.json()["needs_rescore"] is False
    missing = await client.get("/sentinel/players/PLR_0000_XX/scores", headers=h)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "player_not_found"
    runs = await client.get("/sentinel/runs", headers=h)
    assert [run["status"] for run in runs.json()[:2]] == ["ok", "ok"]
