"""`GET /trends` on the real shipped seasons: structural facts, not hard-coded results."""

from __future__ import annotations

import time
from unittest import mock

import httpx
import pytest

from edgelab.accounts.service import create_user
from edgelab.betting.trends import report
from edgelab.core.auth import issue_access_token
from edgelab.core.db import create_engine, create_sessionmaker
from edgelab.core.settings import Settings

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def _paid_headers(settings: Settings) -> dict[str, str]:
    engine = create_engine(settings)
    try:
        async with create_sessionmaker(engine)() as session, session.begin():
            user = await create_user(session, f"trends-{time.time_ns()}@example.com", tier="paid")
            return {"Authorization": f"Bearer {issue_access_token(settings, user.id)}"}
    finally:
        await engine.dispose()


async def test_trends_over_every_real_season_are_mostly_noise(
    real_client: httpx.AsyncClient, real_settings: Settings
):
    headers = await _paid_headers(real_settings)
    r = await real_client.get("/trends", headers=headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["seasons"] == [2008, 2019]
    by_id = {t["id"]: t for t in body["trends"]}
    # every game of twelve seasons has a home side (a handful were at neutral sites)
    assert by_id["venue-home-moneyline"]["n"] > 15_000
    assert by_id["venue-home-spread"]["n"] > 15_000 and by_id["venue-home-spread"]["pushes"] > 0
    assert by_id["rest-back-to-back-spread"]["n"] > 2_000  # schedules have many back-to-backs
    assert {t["group"] for t in body["trends"]} == {
        "rest",
        "venue",
        "favourite",
        "line_move",
        "totals_month",
        "totals_pace",
        "division",
    }
    assert body["n_trends"] >= 30
    # a liquid closing market leaves few situational edges: most trends must read as noise
    assert body["n_significant"] <= max(2, body["n_trends"] // 10)
    noise = [t for t in body["trends"] if t["verdict"].startswith("noise")]
    assert len(noise) == body["n_trends"] - body["n_significant"]

    with mock.patch.object(report, "compute_trends", side_effect=AssertionError("recomputed")):
        again = await real_client.get("/trends", headers=headers)
    assert again.json() == body  # from the cache


async def test_line_movement_exists_only_where_the_data_has_opening_lines(
    real_client: httpx.AsyncClient, real_settings: Settings
):
    headers = await _paid_headers(real_settings)
    early = await real_client.get(
        "/trends?group=line_move&season_from=2008&season_to=2014&min_n=1", headers=headers
    )
    assert early.status_code == 200 and early.json()["n_trends"] == 0
    late = (
        await real_client.get(
            "/trends?group=line_move&season_from=2015&season_to=2019", headers=headers
        )
    ).json()
    assert late["n_trends"] >= 4 and late["seasons"] == [2015, 2019]
    assert {t["market_type"] for t in late["trends"]} == {"spread", "total"}
    # a season range is a different family: the q-values are the correction over these only
    assert all(t["q_value"] >= t["p_value"] for t in late["trends"])
