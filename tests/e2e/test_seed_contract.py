"""The value-betting seed contract on the real shipped data (the demo a new user sees)."""

from __future__ import annotations

import datetime as dt

import httpx
import pytest

from edgelab.accounts.service import create_user, user_by_email
from edgelab.core.auth import issue_access_token
from edgelab.core.db import create_engine, create_sessionmaker
from edgelab.core.settings import Settings
from tests.betting.factories import SEED_FIELDS


@pytest.mark.parametrize("algorithm", ["a", "b"])
async def test_the_real_demo_slate_is_ranked_with_every_seed_field(
    real_client: httpx.AsyncClient, algorithm
):
    r = await real_client.get(f"/markets?algorithm={algorithm}&limit=200")
    assert r.status_code == 200
    body = r.json()
    rows = body["items"]
    assert body["slate_date"] == "2019-04-10"  # the last full slate in the shipped data
    assert len(rows) == body["total"] >= 8 * 6
    key = f"algo_{algorithm}_value_score"
    scores = [row[key] for row in rows]
    assert scores == sorted(scores, reverse=True) and all(0 <= s <= 100 for s in scores)
    assert all(field in rows[0] for field in SEED_FIELDS)
    assert all(0 <= row["p_true"] <= 1 and 0 <= row["p_market"] <= 1 for row in rows)
    assert {row["market_type"] for row in rows} == {"moneyline", "spread", "total"}
    # spreads and totals at the opening line, moneylines at the only line SBR has: closing
    kinds = {(row["market_type"], row["odds_kind"]) for row in rows}
    assert kinds == {("moneyline", "close"), ("spread", "open"), ("total", "open")}


async def test_the_model_was_fitted_only_on_games_before_the_slate(real_client: httpx.AsyncClient):
    top = (await real_client.get("/markets?limit=1")).json()["items"][0]
    bet = (await real_client.get(f"/bet/{top['market_id']}")).json()
    # the last date with games before the slate (7 games on 2019-04-09 in the shipped data)
    assert dt.date.fromisoformat(bet["model"]["trained_through"]) == dt.date(2019, 4, 9)
    assert bet["model"]["n_games"] > 10_000


async def _paid_user_headers(settings: Settings) -> dict[str, str]:
    """A paid user in the real database (created once), as request headers."""
    engine = create_engine(settings)
    try:
        async with create_sessionmaker(engine)() as session, session.begin():
            email = "paid@e2e.test"
            user = await user_by_email(session, email) or await create_user(
                session, email, tier="paid"
            )
            return {"Authorization": f"Bearer {issue_access_token(settings, user.id)}"}
    finally:
        await engine.dispose()


async def test_a_real_spread_has_a_history_from_open_to_close(
    real_client: httpx.AsyncClient, real_settings: Settings
):
    rows = (await real_client.get("/markets?market_type=spread&limit=200")).json()["items"]
    path = f"/bet/{rows[0]['market_id']}/history"
    history = (await real_client.get(path, headers=await _paid_user_headers(real_settings))).json()
    assert [p["odds_kind"] for p in history["points"]] == ["open", "close"]
    anonymous = await real_client.get(path)  # history is paid: 200, points withheld
    assert anonymous.status_code == 200 and anonymous.json()["points"] is None


async def test_health_reports_the_real_data(real_client: httpx.AsyncClient):
    body = (await real_client.get("/health")).json()
    assert body["status"] == "ok" and body["data"]["games"] >= 15_521
    assert body["data"]["latest_result_date"] == "2019-06-13"


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/bet/no-such-market", 404),
        ("/markets?algorithm=c", 422),
        ("/markets?limit=500", 422),
        ("/no/such/path", 404),
    ],
)
async def test_errors_on_the_real_app_use_the_envelope(
    real_client: httpx.AsyncClient, path, status
):
    r = await real_client.get(path)
    assert r.status_code == status and isinstance(r.json()["error"]["code"], str)
