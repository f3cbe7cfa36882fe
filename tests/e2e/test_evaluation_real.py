"""The evaluation on the real shipped seasons: the contract operators rely on, real figures."""

from __future__ import annotations

import time

import httpx
import pytest

from edgelab.accounts.service import create_user
from edgelab.core.auth import issue_access_token
from edgelab.core.db import create_engine, create_sessionmaker
from edgelab.core.settings import Settings

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def _paid_headers(settings: Settings) -> dict[str, str]:
    engine = create_engine(settings)
    try:
        async with create_sessionmaker(engine)() as session, session.begin():
            user = await create_user(session, f"analyst-{time.time_ns()}@example.com", tier="paid")
            return {"Authorization": f"Bearer {issue_access_token(settings, user.id)}"}
    finally:
        await engine.dispose()


async def test_compare_on_the_real_data_carries_the_contract(
    real_client: httpx.AsyncClient, real_settings: Settings
):
    headers = await _paid_headers(real_settings)
    started = time.perf_counter()
    r = await real_client.get("/evaluation/compare?season=2019", headers=headers)
    first = time.perf_counter() - started
    assert r.status_code == 200, r.text
    body = r.json()
    for key in ("p_true", "market_close"):
        assert {"n", "brier", "log_loss", "ece"} <= set(body[key]) and body[key]["n"] > 3500
    assert first < 60  # the whole backtest, on the first call

    started = time.perf_counter()
    ml = (
        await real_client.get(
            "/evaluation/compare?season=2019&market_type=moneyline", headers=headers
        )
    ).json()
    assert time.perf_counter() - started < 5  # the backtest is not run again
    # 1,312 games of 2018-19 with closing moneylines: the de-vigged close beats the model
    assert ml["p_true"]["n"] == ml["market_close"]["n"] == 1312
    assert ml["market_close"]["brier"] == pytest.approx(0.2044, abs=5e-4)
    assert ml["market_close"]["brier"] < ml["p_true"]["brier"] < 0.22
    assert ml["p_true_open"] is None  # SBR has no opening moneylines


async def test_first_season_is_not_evaluated(real_client: httpx.AsyncClient, real_settings):
    headers = await _paid_headers(real_settings)
    r = await real_client.get("/evaluation/compare?season=2008", headers=headers)
    assert r.status_code == 404 and r.json()["error"]["code"] == "season_not_found"
    assert r.json()["error"]["details"]["seasons"][0] == 2009
