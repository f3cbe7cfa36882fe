"""The evaluation endpoints over synthetic seasons: paid only, the contract keys, the PNG, 404s
and 422s, and one backtest per data fingerprint."""

from __future__ import annotations

import io

import httpx
import pytest
from PIL import Image
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from edgelab.accounts.service import create_user
from edgelab.betting.evaluation import backtest
from edgelab.betting.odds.models import Game
from edgelab.core.auth import issue_access_token
from edgelab.core.settings import Settings
from tests.betting.factories import import_synthetic, synthetic_seasons

pytestmark = pytest.mark.asyncio(loop_scope="session")
CONTRACT = {"n", "brier", "log_loss", "ece"}


async def _token(session: AsyncSession, settings: Settings, tier: str) -> dict[str, str]:
    user = await create_user(session, f"{tier}-evaluator@example.com", tier=tier)
    return {"Authorization": f"Bearer {issue_access_token(settings, user.id)}"}


@pytest.fixture
async def paid(session: AsyncSession, settings: Settings) -> dict[str, str]:
    await import_synthetic(session, settings, synthetic_seasons(seasons=3, days_per_season=30))
    headers = await _token(session, settings, "paid")
    await session.commit()
    return headers


async def test_compare_gives_paid_users_the_contract_keys(client: httpx.AsyncClient, paid):
    r = await client.get("/evaluation/compare?season=2033", headers=paid)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["season"] == 2033 and body["seasons"] == [2033]
    for key in ("p_true", "market_close"):
        # every closing market of 240 games but the pushes of spreads and totals
        assert set(body[key]) >= CONTRACT and 0.9 * 720 < body[key]["n"] <= 720
        assert body[key]["n"] == body["p_true"]["n"]  # the same markets, side by side
        assert 0 < body[key]["brier"] < 0.3 and body[key]["log_loss"] > 0
    assert body["p_true_open"]["n"] > 0 and body["market_open"]["n"] > 0
    assert set(body["market_close_by_method"]) >= {"multiplicative", "shin", "power"}
    metrics = [row["metric"] for row in body["a_vs_b"]]
    assert metrics[:3] == ["mean_clv", "mean_clv", "brier"]  # CLV and Brier lead
    assert any("ROI alone cannot settle" in note for note in body["notes"])
    assert body["summary"][0].startswith("Mean CLV")
    for algo in ("a", "b"):
        bets = body["algorithms"][algo]["bets"]
        assert set(bets) == {"50", "70"} and bets["70"]["n"] <= bets["50"]["n"]
    assert body["algorithms"]["a"]["forecast"] == body["p_true"]


async def test_compare_of_one_market_type_and_of_all_seasons(client: httpx.AsyncClient, paid):
    one = (await client.get("/evaluation/compare?market_type=moneyline", headers=paid)).json()
    assert one["season"] is None and one["seasons"] == [2032, 2033]
    assert one["p_true"]["n"] == 2 * 8 * 30 and one["p_true_open"] is None  # no opening ML
    assert one["market_type"] == "moneyline"


async def test_calibration_is_the_reliability_curve_of_each_algorithm(
    client: httpx.AsyncClient, paid
):
    a = (
        await client.get("/evaluation/calibration?season=2032&market_type=moneyline", headers=paid)
    ).json()
    assert a["probability"] == "p_true" and a["line"] == "close"
    for curve in (a["model"], a["market"]):
        assert sum(b["count"] for b in curve["bins"]) == curve["n"] == 8 * 30
        assert {"bin", "mean_predicted", "observed_rate", "count"} <= set(curve["bins"][0])
    b = (await client.get("/evaluation/calibration?algorithm=b&bins=5", headers=paid)).json()
    assert b["probability"] == "p_shrunk" and len(b["model"]["bins"]) <= 5
    opening_ml = await client.get(
        "/evaluation/calibration?market_type=moneyline&line=open", headers=paid
    )
    assert opening_ml.status_code == 200 and opening_ml.json()["model"]["n"] == 0


async def test_calibration_as_a_png_is_a_real_picture(client: httpx.AsyncClient, paid):
    r = await client.get("/evaluation/calibration?season=2033&format=png", headers=paid)
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    assert r.content[:8] == b"\x89PNG\r\n\x1a\n"
    image = Image.open(io.BytesIO(r.content))
    image.load()
    assert image.size[0] > 300 and image.size[1] > 300


async def test_free_users_are_refused_and_anonymous_callers_asked_to_sign_in(
    client: httpx.AsyncClient, session, settings
):
    free = await _token(session, settings, "free")
    await session.commit()
    for path in ("/evaluation/compare", "/evaluation/calibration?format=png"):
        r = await client.get(path, headers=free)
        assert r.status_code == 403 and r.json()["error"]["code"] == "paid_subscription_required"
        r = await client.get(path)
        assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        ("/evaluation/compare?season=2031", 404, "season_not_found"),  # only trains
        ("/evaluation/compare?season=2019", 404, "season_not_found"),
        ("/evaluation/calibration?season=2040", 404, "season_not_found"),
        ("/evaluation/compare?season=last", 422, "validation_error"),
        ("/evaluation/compare?market_type=parlay", 422, "validation_error"),
        ("/evaluation/calibration?algorithm=c", 422, "validation_error"),
        ("/evaluation/calibration?bins=1", 422, "validation_error"),
        ("/evaluation/calibration?format=svg", 422, "validation_error"),
        ("/evaluation/calibration?line=live", 422, "validation_error"),
    ],
)
async def test_bad_requests_get_the_error_envelope(
    client: httpx.AsyncClient, paid, path, status, code
):
    r = await client.get(path, headers=paid)
    assert r.status_code == status, r.text
    assert r.json()["error"]["code"] == code


async def test_without_data_there_is_nothing_to_evaluate(
    client: httpx.AsyncClient, session, settings
):
    headers = await _token(session, settings, "paid")
    await session.commit()
    r = await client.get("/evaluation/compare", headers=headers)
    assert r.status_code == 404 and r.json()["error"]["code"] == "no_evaluation_data"


async def test_one_backtest_serves_every_request_until_the_data_changes(
    client: httpx.AsyncClient, paid, session, monkeypatch
):
    runs = []
    real = backtest.run_backtest

    def counted(*args, **kwargs):
        runs.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(backtest, "run_backtest", counted)
    for path in (
        "/evaluation/compare?season=2032",
        "/evaluation/compare?season=2033",
        "/evaluation/calibration?algorithm=b",
        "/evaluation/compare?season=2032",
    ):
        assert (await client.get(path, headers=paid)).status_code == 200
    assert len(runs) == 1
    first = (await client.get("/evaluation/compare?season=2033", headers=paid)).json()
    await session.execute(
        update(Game)
        .where(Game.season == 2033)
        .values(home_score=Game.away_score, away_score=Game.home_score)
    )
    await session.commit()
    second = (await client.get("/evaluation/compare?season=2033", headers=paid)).json()
    assert len(runs) == 2
    assert second["data_fingerprint"] != first["data_fingerprint"]
    assert second["p_true"]["brier"] != first["p_true"]["brier"]
