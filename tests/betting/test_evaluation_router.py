"""The evaluation endpoints: paid only, served from the stored report (never computed in a
request), the contract keys, the PNG, 404s, 422s and 503 before the first report; a stale
report served while the job computes the new one."""

from __future__ import annotations

import io
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from PIL import Image
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from edgelab.accounts.service import create_user
from edgelab.app import create_app
from edgelab.betting.evaluation import jobs, report, walkforward
from edgelab.betting.evaluation.models import EvaluationReport
from edgelab.betting.odds.models import Game
from edgelab.core import migrations
from edgelab.core.auth import issue_access_token
from edgelab.core.db import create_engine
from edgelab.core.settings import Settings
from tests.betting.evaluation_data import lagging_database
from tests.betting.factories import add_book_quotes, import_synthetic, synthetic_seasons
from tests.fixtures.app import resources
from tests.fixtures.database import BACKENDS, fresh_database, make_settings

pytestmark = pytest.mark.asyncio(loop_scope="session")
CONTRACT = {"n", "brier", "log_loss", "ece"}
RULES = ["a>=50", "a>=70", "b>=50", "b>=70", "ev>=1%", "ev>=2%", "ev>=3%", "default"]


@pytest.fixture(scope="session", params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    return lagging_database(request, tmp_path_factory)


@pytest.fixture(scope="session")
async def engine(db_url: str) -> Any:
    eng = create_engine(make_settings(db_url))
    yield eng
    await eng.dispose()


async def _token(session: AsyncSession, settings: Settings, tier: str) -> dict[str, str]:
    user = await create_user(session, f"{tier}-{uuid.uuid4().hex[:8]}@example.com", tier=tier)
    return {"Authorization": f"Bearer {issue_access_token(settings, user.id)}"}


@pytest.fixture
async def paid(session: AsyncSession, settings: Settings) -> dict[str, str]:
    """A paid user, and the report of the data as it is (as the job would have stored it)."""
    await jobs.compute_and_store(session, settings, n_boot=200)
    headers = await _token(session, settings, "paid")
    await session.commit()
    return headers


async def test_compare_gives_every_forecast_rule_and_baseline(client: httpx.AsyncClient, paid):
    r = await client.get("/evaluation/compare?season=2033", headers=paid)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["season"] == 2033 and body["seasons"] == [2033] and not body["single_book"]
    assert set(body["markets"]) == {"moneyline", "spread", "total", "prop", "spread+total"}
    for mtype in ("moneyline", "spread", "total"):
        m = body["markets"][mtype]
        for forecast in ("p_true", "consensus", "close"):
            assert set(m[forecast]) >= CONTRACT and m[forecast]["n"] > 200, (mtype, forecast)
        assert m["blend"][0]["season"] == 2033 and m["blend"][0]["weight"] == 0.0
    assert [r["name"] for r in body["rules"]] == RULES
    lines = body["markets"]["spread+total"]
    assert list(lines["bets"]) == RULES and lines["clv_unit"] == "points"
    assert set(lines["baselines"]) == {"kaunitz_0", "kaunitz_0.02", "kaunitz_0.05", "line_shopping"}
    assert body["markets"]["moneyline"]["clv_unit"] == "probability"
    assert body["summary"][0].startswith("2032-33, spreads and totals at the default rule")
    assert body["in_sample"] is False and body["in_sample_seasons"] == []  # not the shipped 2022
    assert body["report"]["stale"] is False and body["report"]["recompute"] is None
    assert body["data_fingerprint"] == body["report"]["current_fingerprint"]


async def test_compare_of_one_market_type_and_every_season(client: httpx.AsyncClient, paid):
    one = (await client.get("/evaluation/compare?market_type=spread", headers=paid)).json()
    assert one["season"] is None and one["seasons"] == [2031, 2032, 2033]
    assert set(one["markets"]) == {"spread"}
    rows = {row["season"]: row for row in one["season_rows"]}
    assert rows[2031]["single_book"] and not rows[2033]["single_book"]
    assert rows[2031]["default_bets"]["spread+total"]["n"] == 0
    assert rows[2033]["default_bets"]["spread+total"]["n"] > 100
    pooled = one["markets"]["spread"]["bets"]["default"]["n"]
    per_season = [
        (await client.get(f"/evaluation/compare?season={s}", headers=paid)).json()["markets"][
            "spread"
        ]["bets"]["default"]["n"]
        for s in (2031, 2032, 2033)
    ]
    assert pooled == sum(per_season)


async def test_the_default_answer_pools_only_seasons_the_value_model_was_not_tuned_on(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings, monkeypatch
):
    monkeypatch.setattr(report, "TUNED_ON", (2032,))
    await jobs.compute_and_store(session, settings, n_boot=100)
    paid = await _token(session, settings, "paid")
    await session.commit()
    pooled = (await client.get("/evaluation/compare", headers=paid)).json()
    assert pooled["seasons"] == [2031, 2033] and pooled["in_sample_seasons"] == [2032]
    assert not pooled["in_sample"]
    assert "2031-32, which the value model was tuned on" in pooled["summary"][0]
    rows = {r["season"]: r["in_sample"] for r in pooled["season_rows"]}
    assert rows == {2031: False, 2032: True, 2033: False}
    tuned = (await client.get("/evaluation/compare?season=2032", headers=paid)).json()
    assert tuned["in_sample"] and tuned["seasons"] == [2032]
    assert tuned["summary"][0].startswith("2031-32 is in sample")
    spread = "/evaluation/calibration?market_type=spread"
    n = {
        s: (await client.get(f"{spread}&season={s}", headers=paid)).json()["model"]["n"]
        for s in (2031, 2032, 2033)
    }
    curve = (await client.get(spread, headers=paid)).json()
    assert curve["model"]["n"] == n[2031] + n[2033] and n[2032] > 0
    assert any("2031-32" in note for note in curve["notes"])


async def test_calibration_plots_p_true_beside_the_close_or_the_consensus(
    client: httpx.AsyncClient, paid
):
    close = (
        await client.get("/evaluation/calibration?season=2033&market_type=moneyline", headers=paid)
    ).json()
    assert close["probability"] == "p_true" and close["market_forecast"] == "close"
    for curve in (close["model"], close["market"]):
        assert sum(b["count"] for b in curve["bins"]) == curve["n"] == 8 * 30
        assert {"bin", "mean_predicted", "observed_rate", "count"} <= set(curve["bins"][0])
    opening = (
        await client.get("/evaluation/calibration?line=open&algorithm=b&bins=5", headers=paid)
    ).json()
    assert opening["market_forecast"] == "consensus" and len(opening["model"]["bins"]) <= 5
    assert opening["report"]["stale"] is False
    # one book, closing lines only: p_true is that book's de-vigged close
    single = (
        await client.get("/evaluation/calibration?season=2031&market_type=moneyline", headers=paid)
    ).json()
    assert single["model"] == single["market"]


async def test_calibration_as_a_png_is_a_real_picture(client: httpx.AsyncClient, paid):
    r = await client.get("/evaluation/calibration?season=2033&format=png", headers=paid)
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    image = Image.open(io.BytesIO(r.content))
    image.load()
    assert image.size[0] > 300 and image.size[1] > 300


async def test_answers_come_from_the_stored_report(client: httpx.AsyncClient, paid, monkeypatch):
    def never(*_args: Any, **_kw: Any) -> None:
        raise AssertionError("a request must not compute the evaluation")

    monkeypatch.setattr(walkforward, "evaluate", never)
    for path in (
        "/evaluation/compare",
        "/evaluation/compare?season=2032&market_type=total",
        "/evaluation/calibration?market_type=spread&bins=20",
    ):
        r = await client.get(path, headers=paid)
        assert r.status_code == 200, r.text


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
        ("/evaluation/compare?season=2030", 404, "season_not_found"),
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
    if code == "season_not_found":
        assert r.json()["error"]["details"]["seasons"] == [2031, 2032, 2033]


# ---- with the job: an app on a database of its own (the job commits in its own sessions) -----


class Env:
    def __init__(self, app: Any, client: httpx.AsyncClient, settings: Settings) -> None:
        self.app, self.client, self.settings = app, client, settings
        self.sessions: async_sessionmaker[AsyncSession] = resources(app).sessionmaker

    async def settle(self) -> None:
        await resources(self.app).jobs.drain(timeout=120)

    async def paid(self) -> dict[str, str]:
        async with self.sessions() as s:
            headers = await _token(s, self.settings, "paid")
            await s.commit()
        return headers

    async def count(self, status: str) -> int:
        async with self.sessions() as s:
            stmt = select(func.count()).where(EvaluationReport.status == status)
            return int(await s.scalar(stmt) or 0)


@pytest.fixture(params=BACKENDS)
def job_db(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """An empty database of its own (migrated here: the test's event loop is not running)."""
    url = fresh_database(request, request.param, tmp_path_factory.mktemp("evjob"), "evjob")
    migrations.upgrade(make_settings(url))
    return url


@pytest.fixture
async def env(job_db: str) -> AsyncIterator[Env]:
    settings = make_settings(job_db, rate_limits_enabled=False)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            e = Env(app, client, settings)
            yield e
            await e.settle()


async def test_the_first_report_is_pending_until_the_job_has_computed_it(env: Env):
    paid = await env.paid()
    none = await env.client.get("/evaluation/compare", headers=paid)
    assert none.status_code == 404 and none.json()["error"]["code"] == "no_evaluation_data"
    data = synthetic_seasons(seasons=2, days_per_season=10)
    async with env.sessions() as s:
        await import_synthetic(s, env.settings, data)
        await add_book_quotes(s, env.settings, data, props=False)
        await s.commit()
    pending = await env.client.get("/evaluation/compare", headers=paid)
    assert pending.status_code == 503, pending.text
    assert pending.json()["error"]["code"] == "evaluation_pending"
    assert int(pending.headers["Retry-After"]) > 0
    again = await env.client.get("/evaluation/calibration", headers=paid)
    assert again.status_code == 503
    await env.settle()
    assert await env.count("ready") == 1  # two requests, one job
    ready = await env.client.get("/evaluation/compare", headers=paid)
    assert ready.status_code == 200 and ready.json()["seasons"] == [2031, 2032]
    assert ready.json()["report"]["stale"] is False


async def test_after_new_data_the_last_report_is_served_stale_while_the_job_recomputes(env: Env):
    async with env.sessions() as s:
        await import_synthetic(s, env.settings, synthetic_seasons(seasons=2, days_per_season=10))
        await jobs.compute_and_store(s, env.settings, n_boot=100)
        await s.commit()
    paid = await env.paid()
    first = (await env.client.get("/evaluation/compare?season=2032", headers=paid)).json()
    assert first["report"]["stale"] is False
    async with env.sessions() as s:  # an import corrects 2031-32's results
        await s.execute(
            update(Game)
            .where(Game.season == 2032)
            .values(home_score=Game.away_score, away_score=Game.home_score)
        )
        await s.commit()
    stale = (await env.client.get("/evaluation/compare?season=2032", headers=paid)).json()
    assert stale["report"]["stale"] is True and stale["report"]["recompute"] == "queued"
    again = await env.client.get("/evaluation/calibration?season=2032", headers=paid)
    assert again.status_code == 200 and again.json()["report"]["stale"] is True
    assert stale["data_fingerprint"] == first["data_fingerprint"]
    assert stale["markets"] == first["markets"]  # the last complete figures meanwhile
    await env.settle()
    fresh = (await env.client.get("/evaluation/compare?season=2032", headers=paid)).json()
    assert fresh["report"]["stale"] is False
    assert fresh["data_fingerprint"] == stale["report"]["current_fingerprint"]
    ml = fresh["markets"]["moneyline"]["p_true"]["brier"]
    assert ml != first["markets"]["moneyline"]["p_true"]["brier"]
    assert await env.count("ready") == 2 and await env.count("failed") == 0  # one recompute
