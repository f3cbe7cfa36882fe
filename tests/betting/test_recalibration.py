"""Model recalibration: `POST /model/update` as a background job, admin only, one at a time;
the calibration map it fits; and what a finished job changes (value scores, the evaluation).

The job tests run a real app on a database of their own (jobs commit in their own sessions, so
the suite's rolled-back session cannot hold them), over synthetic seasons.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import numpy as np
import pytest
from scipy.special import expit, logit
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from edgelab.accounts.service import create_user
from edgelab.app import create_app
from edgelab.betting.markets.models import ValueScore
from edgelab.betting.model import calibration
from edgelab.betting.model.jobs import ModelJob
from edgelab.betting.model.models import ModelFit
from edgelab.betting.odds.models import Game
from edgelab.core import migrations
from edgelab.core.auth import issue_access_token
from edgelab.core.settings import Settings
from tests.betting.factories import import_synthetic, synthetic_seasons
from tests.fixtures.app import resources
from tests.fixtures.database import BACKENDS, fresh_database, make_settings

pytestmark = pytest.mark.asyncio(loop_scope="session")
TOKEN = "recalibration-tests-admin-token-0123456789abcdef"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}
SEASONS = {"seasons": 3, "days_per_season": 40}


class Env:
    def __init__(self, app: Any, client: httpx.AsyncClient, settings: Settings) -> None:
        self.app = app
        self.client = client
        self.settings = settings
        self.sessions: async_sessionmaker[AsyncSession] = resources(app).sessionmaker

    async def settle(self) -> None:
        await resources(self.app).jobs.drain(timeout=180)

    async def user(self, role: str = "user", tier: str = "free") -> tuple[str, dict[str, str]]:
        async with self.sessions() as s:
            user = await create_user(
                s, f"{uuid.uuid4().hex[:12]}@example.com", role=role, tier=tier
            )
            await s.commit()
        return user.id, {"Authorization": f"Bearer {issue_access_token(self.settings, user.id)}"}

    async def scalar(self, stmt: Any) -> Any:
        async with self.sessions() as s:
            return (await s.execute(stmt)).scalar_one_or_none()

    async def import_seasons(self, **kwargs: Any) -> None:
        async with self.sessions() as s:
            await import_synthetic(s, self.settings, synthetic_seasons(**kwargs))
            await s.commit()

    async def update_and_wait(self, headers: dict[str, str] = ADMIN) -> dict[str, Any]:
        r = await self.client.post("/model/update", headers=headers)
        assert r.status_code == 202, r.text
        await self.settle()
        job = await self.client.get(r.json()["status_url"], headers=ADMIN)
        assert job.status_code == 200, job.text
        body: dict[str, Any] = job.json()
        return body


async def _env(url: str) -> AsyncIterator[Env]:
    settings = make_settings(url, admin_token=TOKEN, rate_limits_enabled=False)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            env = Env(app, client, settings)
            yield env
            await env.settle()
            async with env.sessions() as s:  # free the slot for the next test
                await s.execute(
                    update(ModelJob)
                    .where(ModelJob.active.is_not(None))
                    .values(status="failed", active=None, error="test teardown")
                )
                await s.commit()


@pytest.fixture(scope="module", params=BACKENDS)
def recal_db(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    url = fresh_database(request, request.param, tmp_path_factory.mktemp("recal"), "recal")
    migrations.upgrade(make_settings(url))
    return url


@pytest.fixture
async def env(recal_db: str) -> AsyncIterator[Env]:
    async for e in _env(recal_db):
        if not await e.scalar(select(func.count()).select_from(Game)):
            await e.import_seasons(**SEASONS)
        yield e


@pytest.fixture(params=BACKENDS)
def fresh_db(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """An empty database of its own, for a test that changes the data."""
    url = fresh_database(request, request.param, tmp_path_factory.mktemp("recal2"), "recal2")
    migrations.upgrade(make_settings(url))
    return url


@pytest.fixture
async def fresh_env(fresh_db: str) -> AsyncIterator[Env]:
    async for e in _env(fresh_db):
        yield e


# ---- who may call it -------------------------------------------------------------------------


async def test_without_credentials_both_routes_answer_401(env: Env):
    for method, path in (("POST", "/model/update"), ("GET", "/model/jobs/x")):
        r = await env.client.request(method, path)
        assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
        assert r.headers["www-authenticate"] == "Bearer"


async def test_a_wrong_admin_token_is_401(env: Env):
    r = await env.client.post("/model/update", headers={"Authorization": f"Bearer {TOKEN}x"})
    assert r.status_code == 401, r.text
    assert await env.scalar(select(ModelJob).where(ModelJob.active.is_not(None))) is None


async def test_signed_in_users_without_the_admin_role_get_403(env: Env):
    for role in ("user", "analyst"):
        _uid, headers = await env.user(role, tier="paid")
        for method, path in (("POST", "/model/update"), ("GET", "/model/jobs/x")):
            r = await env.client.request(method, path, headers=headers)
            assert r.status_code == 403, (role, r.text)
            assert r.json()["error"]["code"] == "role_required"


async def test_an_unknown_job_is_404_in_the_envelope(env: Env):
    r = await env.client.get("/model/jobs/no-such-job", headers=ADMIN)
    assert r.status_code == 404 and r.json()["error"]["code"] == "model_job_not_found"


async def test_a_short_admin_token_is_refused_outside_development():
    with pytest.raises(ValueError, match="EDGELAB_ADMIN_TOKEN"):
        make_settings("sqlite+aiosqlite:///x.db", admin_token="short")
    dev = make_settings("sqlite+aiosqlite:///x.db", admin_token="short", env="development")
    assert dev.admin_token is not None


# ---- the job ---------------------------------------------------------------------------------


async def test_the_admin_token_runs_a_job_to_the_end_and_new_scores_use_its_version(env: Env):
    r = await env.client.post("/model/update", headers=ADMIN)
    assert r.status_code == 202, r.text
    body = r.json()
    assert body["status"] == "queued" and body["status_url"] == f"/model/jobs/{body['job_id']}"
    assert r.headers["location"] == body["status_url"]
    await env.settle()
    job = (await env.client.get(body["status_url"], headers=ADMIN)).json()
    assert job["status"] == "succeeded", job
    assert job["progress"] == 1.0 and job["stage"] == "done" and job["error"] is None
    assert job["requested_by"] == "admin-token"
    assert set(job["timings"]) == {"load", "walk_forward", "calibration", "refit_and_score"}
    assert job["started_at"] >= job["created_at"] and job["finished_at"] >= job["started_at"]
    for key in ("metrics_before", "metrics_after"):
        m = job[key]
        assert m["seasons"] == [2033] and m["n"] > 500
        assert 0 < m["brier"] < 0.3 and m["log_loss"] > 0 and 0 <= m["ece"] <= 1
        assert set(m["by_type"]) == {"moneyline", "spread", "total"}
    assert set(job["calibration"]["by_type"]) == {"moneyline", "spread", "total"}

    version = job["model_version"]
    fit = await env.scalar(select(ModelFit).where(ModelFit.version == version))
    assert fit is not None and set(fit.params["calibration"]) == {"moneyline", "spread", "total"}
    for name, entry in job["calibration"]["by_type"].items():
        assert fit.params["calibration"][name]["method"] == entry["method"]
    async with env.sessions() as s:
        current = (
            await s.execute(select(ValueScore.model_version).where(ValueScore.is_current))
        ).scalars()
        assert set(current) == {version}

    # a later scoring of the slate passes p_true through the same map: the same model
    from edgelab.betting.markets.slate import score_slate

    async with env.sessions() as s:
        again = await score_slate(s, env.settings)
        await s.rollback()
    assert again.model_version == version


async def test_an_admin_user_may_update_too(env: Env):
    uid, headers = await env.user("admin")
    job = await env.update_and_wait(headers)
    assert job["status"] == "succeeded" and job["requested_by"] == uid
    r = await env.client.get(f"/model/jobs/{job['job_id']}", headers=headers)
    assert r.status_code == 200 and r.json()["model_version"] == job["model_version"]


async def test_an_update_while_one_is_queued_or_running_is_409_naming_it(env: Env):
    for status in ("queued", "running"):
        held = ModelJob(
            id=uuid.uuid4().hex, status=status, active=1, requested_by="someone", timings={}
        )
        async with env.sessions() as s:
            s.add(held)
            await s.commit()
        r = await env.client.post("/model/update", headers=ADMIN)
        assert r.status_code == 409, r.text
        err = r.json()["error"]
        assert err["code"] == "model_update_running"
        assert err["details"]["job_id"] == held.id and err["details"]["status"] == status
        async with env.sessions() as s:
            await s.execute(
                update(ModelJob).where(ModelJob.id == held.id).values(status="failed", active=None)
            )
            await s.commit()
    assert (await env.client.post("/model/update", headers=ADMIN)).status_code == 202


async def test_two_concurrent_updates_start_one_job(env: Env):
    a, b = await asyncio.gather(
        env.client.post("/model/update", headers=ADMIN),
        env.client.post("/model/update", headers=ADMIN),
    )
    assert sorted([a.status_code, b.status_code]) == [202, 409], (a.text, b.text)
    won, lost = (a, b) if a.status_code == 202 else (b, a)
    assert lost.json()["error"]["details"]["job_id"] == won.json()["job_id"]
    await env.settle()


async def test_a_job_lost_for_hours_no_longer_holds_the_slot(env: Env):
    old = dt.datetime.now(dt.UTC) - dt.timedelta(hours=3)
    lost = ModelJob(
        id=uuid.uuid4().hex,
        status="running",
        active=1,
        requested_by="x",
        created_at=old,
        timings={},
    )
    async with env.sessions() as s:
        s.add(lost)
        await s.commit()
    r = await env.client.post("/model/update", headers=ADMIN)
    assert r.status_code == 202, r.text
    await env.settle()
    async with env.sessions() as s:
        row = await s.get(ModelJob, lost.id)
        assert row is not None and row.status == "failed" and row.active is None
        assert "abandoned" in (row.error or "")


async def test_a_failing_job_is_recorded_leaves_no_scores_and_frees_the_slot(
    env: Env, monkeypatch: pytest.MonkeyPatch
):
    from edgelab.betting.markets import slate

    real = slate.score_slate

    async def score_then_fail(*args: Any, **kwargs: Any) -> Any:
        await real(*args, **kwargs)  # writes a model fit and scores, then the job fails
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(slate, "score_slate", score_then_fail)
    fits = await env.scalar(select(func.count()).select_from(ModelFit))
    scores = await env.scalar(select(func.count()).select_from(ValueScore))
    job = await env.update_and_wait()
    assert job["status"] == "failed", job
    assert "RuntimeError: disk on fire" in job["error"] and job["finished_at"] is not None
    assert job["model_version"] is None and job["metrics_after"] is None
    assert {"load", "walk_forward", "calibration"} <= set(job["timings"])
    assert await env.scalar(select(func.count()).select_from(ModelFit)) == fits
    assert await env.scalar(select(func.count()).select_from(ValueScore)) == scores
    assert await env.scalar(select(ModelJob).where(ModelJob.active.is_not(None))) is None

    monkeypatch.setattr(slate, "score_slate", real)
    assert (await env.update_and_wait())["status"] == "succeeded"


async def _evaluation(env: Env, path: str, headers: dict[str, str]) -> dict[str, Any]:
    """The evaluation's answer once its report is computed (the first request enqueues it)."""
    r = await env.client.get(path, headers=headers)
    if r.status_code == 503:
        await env.settle()
        r = await env.client.get(path, headers=headers)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def test_the_evaluation_is_recomputed_after_a_model_update(env: Env):
    _uid, paid = await env.user(tier="paid")
    first = await _evaluation(env, "/evaluation/compare?season=2033", paid)
    job = await env.update_and_wait()  # the job asks for a new report: it is computed too
    second = await _evaluation(env, "/evaluation/compare?season=2033", paid)
    assert second["data_fingerprint"] != first["data_fingerprint"]
    assert second["data_fingerprint"].endswith(f"-m{job['job_id'][:8]}")
    assert second["report"]["stale"] is False


async def test_after_a_new_season_and_a_job_the_evaluation_covers_it(fresh_env: Env):
    env = fresh_env
    await env.import_seasons(**SEASONS)
    _uid, paid = await env.user(tier="paid")
    before = await _evaluation(env, "/evaluation/compare", paid)
    assert before["seasons"] == [2031, 2032, 2033]
    await env.import_seasons(**{**SEASONS, "seasons": 4})  # the same three, and one more
    job = await env.update_and_wait()
    assert job["status"] == "succeeded" and job["metrics_after"]["seasons"] == [2034]
    assert job["calibration"]["fitted_on_seasons"] == [2032, 2033, 2034]
    assert not job["calibration"]["chosen_on_held_out"]  # chosen on 2033, measured on 2034
    after = await _evaluation(env, "/evaluation/compare", paid)
    assert after["seasons"] == [2031, 2032, 2033, 2034] and not after["report"]["stale"]
    one = await _evaluation(env, "/evaluation/compare?season=2034", paid)
    assert one["markets"]["moneyline"]["p_true"]["n"] > 0


# ---- the calibration map (pure) --------------------------------------------------------------


def _bernoulli(rng: np.random.Generator, q: np.ndarray) -> np.ndarray:
    return (rng.random(q.size) < q).astype(float)


async def test_platt_wins_when_the_model_is_overconfident_on_the_logit_scale():
    rng = np.random.default_rng(1)
    q = expit(rng.normal(0, 0.8, 1400))  # the truth
    p = expit(2.0 * logit(q))  # a model twice as confident
    y = _bernoulli(rng, q)
    method, scores = calibration.choose_method(p[:400], y[:400], p[400:], y[400:], "auto")
    assert method == "platt", scores
    assert scores["platt"]["log_loss"] < scores["none"]["log_loss"]
    m = calibration.fit_platt(p, y)
    assert 0.4 < m.a < 0.6  # recovers the halving of the logit


async def test_isotonic_wins_when_the_truth_is_a_step_no_logistic_curve_fits():
    rng = np.random.default_rng(2)
    p = rng.random(6000)
    q = np.where(p < 0.5, 0.3, 0.7)  # flat on each half: a step at 0.5
    y = _bernoulli(rng, q)
    method, scores = calibration.choose_method(p[:4000], y[:4000], p[4000:], y[4000:], "auto")
    assert method == "isotonic", scores
    assert scores["isotonic"]["brier"] < scores["platt"]["brier"]


async def test_a_fixed_method_setting_is_used_as_given():
    rng = np.random.default_rng(3)
    p = rng.random(1000)
    y = _bernoulli(rng, p)
    for setting in ("isotonic", "platt", "none"):
        method, scores = calibration.choose_method(p[:600], y[:600], p[600:], y[600:], setting)
        assert method == setting and set(scores) == {"none", setting}


@pytest.mark.parametrize("fit", [calibration.fit_isotonic, calibration.fit_platt])
async def test_maps_are_monotone_and_stay_inside_zero_one(fit):
    rng = np.random.default_rng(4)
    p = rng.random(3000)
    y = _bernoulli(rng, 0.2 + 0.6 * p**2)
    m = fit(p, y)
    grid = np.linspace(-0.5, 1.5, 2001)  # beyond [0, 1] too: clipped, never extrapolated
    out = m.apply(grid)
    assert np.all(np.diff(out) >= -1e-12)
    assert out.min() >= calibration.EPS and out.max() <= 1 - calibration.EPS
    back = calibration.TypeMap.from_dict(m.to_dict())
    np.testing.assert_allclose(back.apply(grid), out)


async def test_the_stored_isotonic_map_predicts_what_scikit_learn_predicts():
    from sklearn.isotonic import IsotonicRegression

    rng = np.random.default_rng(5)
    p = rng.random(2000)
    y = _bernoulli(rng, p**1.5)
    iso = IsotonicRegression(
        y_min=calibration.EPS, y_max=1 - calibration.EPS, out_of_bounds="clip"
    ).fit(p, y)
    grid = np.linspace(0, 1, 501)
    np.testing.assert_allclose(
        calibration.fit_isotonic(p, y).apply(grid), iso.predict(grid), atol=1e-6
    )


async def test_the_two_sides_of_a_market_still_sum_to_one():
    cal = calibration.CalibrationMap({"spread": calibration.TypeMap("platt", a=0.5, b=0.1)})
    p_home = np.array([0.7, 0.2])
    home = cal.sides(np.array(["spread", "spread"]), np.array(["home", "home"]), p_home)
    away = cal.sides(np.array(["spread", "spread"]), np.array(["away", "away"]), 1 - p_home)
    np.testing.assert_allclose(home + away, 1.0)
    assert home[0] < 0.7 and home[1] > 0.2  # shrunk toward 0.5
    untouched = cal.sides(np.array(["moneyline"]), np.array(["home"]), np.array([0.8]))
    assert untouched[0] == 0.8  # no map for the type: the identity
    assert calibration.CalibrationMap.from_dict(cal.to_dict()) == cal


async def test_calibrate_fits_on_the_past_and_measures_on_the_latest_season():
    rng = np.random.default_rng(6)
    n_season = 900
    seasons = np.repeat([2010, 2011, 2012], n_season)
    q = expit(rng.normal(0, 0.7, seasons.size))
    p = expit(1.8 * logit(q))
    oos = calibration.OutOfSample(
        market_type=np.array(["moneyline"] * seasons.size),
        season=seasons.astype(np.int64),
        day=np.arange(seasons.size, dtype=np.int64),
        p=p,
        y=_bernoulli(rng, q),
    )
    cal = calibration.calibrate(oos, "auto")
    assert cal.metrics_after is not None and cal.metrics_before is not None
    assert cal.metrics_after["seasons"] == [2012] and cal.metrics_after["n"] == n_season
    assert cal.metrics_after["log_loss"] < cal.metrics_before["log_loss"]
    assert cal.metrics_after["ece"] < cal.metrics_before["ece"]
    assert cal.report["by_type"]["moneyline"]["method"] in ("platt", "isotonic")
    assert cal.report["by_type"]["spread"]["method"] == "none"  # no data for it
    assert not cal.report["chosen_on_held_out"]
    none = calibration.calibrate(oos, "none")
    assert not none.map.active
    assert none.metrics_after is not None
    assert none.metrics_after["log_loss"] == pytest.approx(none.metrics_before["log_loss"])
