"""The A/B test of algorithms A and B: arms, `/markets` in the caller's arm, the exposure log,
attribution of tracked bets, the online block of `/evaluation/compare`, account deletion."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from edgelab.accounts.service import create_user
from edgelab.betting.ab import assignment, exposures
from edgelab.betting.ab import service as ab
from edgelab.betting.ab.models import AbExposure
from edgelab.betting.bets.models import UserBet
from edgelab.betting.evaluation import jobs as evaluation_jobs
from edgelab.betting.odds.models import Market, Outcome
from edgelab.core.auth import issue_access_token
from edgelab.core.db import create_engine
from edgelab.core.settings import Settings
from tests.betting.factories import (
    SEED_FIELDS,
    SyntheticSeasons,
    import_synthetic,
    synthetic_seasons,
)
from tests.fixtures.app import app_in_session, resources
from tests.fixtures.database import make_settings
from tests.fixtures.slate import shared_slate

pytestmark = pytest.mark.asyncio(loop_scope="session")
EXPERIMENT = "value-score-ab-1"
NOW = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
async def settings(db_url: str, request: pytest.FixtureRequest) -> Settings:
    """Real-time free view (the synthetic odds are dated in the future) unless a test asks
    for other settings through `indirect` parametrisation."""
    base: dict[str, Any] = {"free_odds_delay_minutes": 0, "ab_experiment": EXPERIMENT}
    return make_settings(db_url, **(base | getattr(request, "param", {})))


@dataclass
class App:
    client: httpx.AsyncClient
    app: FastAPI
    sessions: async_sessionmaker[AsyncSession]

    @property
    def buffer(self) -> exposures.ExposureBuffer:
        return resources(self.app).get(exposures.ExposureBuffer)


@pytest.fixture
async def api(settings: Settings, session: AsyncSession) -> AsyncIterator[App]:
    """The real app over ASGI in the test's rolled-back session (as conftest's `client`), with
    the app at hand for its exposure buffer."""
    async with app_in_session(settings, session) as (app, c):
        yield App(c, app, resources(app).sessionmaker)


db_url, engine, _seasons = shared_slate(seasons=1, days_per_season=12, seed=5)


@pytest.fixture
def slate(_seasons: SyntheticSeasons) -> str:
    return _seasons.last_date.isoformat()


async def _signed_in(session: AsyncSession, settings: Settings, email: str, tier: str = "paid"):
    user = await create_user(session, email, tier=tier)
    await session.commit()
    return user, {"Authorization": f"Bearer {issue_access_token(settings, user.id)}"}


def _client_in(arm: str, split_b: float = 0.5, experiment: str = EXPERIMENT) -> str:
    """A valid client id whose hash puts it in `arm`."""
    for i in range(1000):
        cid = f"client-{i:04d}"
        if assignment.arm_of(experiment, f"c:{cid}", split_b) == arm:
            return cid
    raise AssertionError("no client id found")


async def _exposures(session: AsyncSession) -> list[AbExposure]:
    rows = await session.execute(select(AbExposure).order_by(AbExposure.id))
    return list(rows.scalars())


# --- assignment ------------------------------------------------------------------------------


@pytest.mark.parametrize("split_b", [0.5, 0.2, 0.9])
async def test_assignment_is_deterministic_and_respects_the_split(split_b: float) -> None:
    n = 10_000
    arms = [assignment.arm_of(EXPERIMENT, f"c:subject-{i}", split_b) for i in range(n)]
    assert arms == [assignment.arm_of(EXPERIMENT, f"c:subject-{i}", split_b) for i in range(n)]
    sigma = math.sqrt(n * split_b * (1 - split_b))
    assert abs(arms.count("b") - n * split_b) < 3 * sigma


async def test_the_arm_is_the_first_8_bytes_of_the_salted_sha256_below_the_split() -> None:
    import hashlib

    u = int(hashlib.sha256(b"exp-x:u:user-1").hexdigest()[:16], 16) / 2**64
    assert assignment.arm_of("exp-x", "u:user-1", u + 1e-9) == "b"
    assert assignment.arm_of("exp-x", "u:user-1", u - 1e-9) == "a"
    assert {assignment.arm_of("exp-x", f"c:{i}", 0.0) for i in range(200)} == {"a"}
    assert {assignment.arm_of("exp-x", f"c:{i}", 1.0) for i in range(200)} == {"b"}


async def test_a_new_experiment_reshuffles_the_arms() -> None:
    subjects = [f"c:subject-{i}" for i in range(2000)]
    first = [assignment.arm_of("exp-1", s, 0.5) for s in subjects]
    second = [assignment.arm_of("exp-2", s, 0.5) for s in subjects]
    changed = sum(a != b for a, b in zip(first, second, strict=True))
    assert 800 < changed < 1200  # independent hashes: about half change arm


# --- /markets in the caller's arm ----------------------------------------------------------


@pytest.mark.parametrize("arm", ["a", "b"])
async def test_markets_ranks_by_the_callers_arm_and_says_so(api: App, slate: str, arm) -> None:
    cid = _client_in(arm)
    r = await api.client.get(f"/markets?limit=200&date={slate}", headers={"X-Client-ID": cid})
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["arm"], body["algorithm"], body["experiment"]) == (arm, arm, EXPERIMENT)
    scores = [row[f"algo_{arm}_value_score"] for row in body["items"]]
    assert body["items"] and scores == sorted(scores, reverse=True)
    assert [row["value_score"] for row in body["items"]] == scores
    assert set(body["items"][0]) >= SEED_FIELDS
    assert set(body) >= {"items", "total", "limit", "offset", "view", "gated", "notes"}


async def test_an_explicit_algorithm_is_honoured_and_logged_as_forced(
    api: App, slate: str, session: AsyncSession
) -> None:
    cid = _client_in("b")
    r = await api.client.get(
        f"/markets?algorithm=a&limit=5&date={slate}", headers={"X-Client-ID": cid}
    )
    body = r.json()
    assert (body["arm"], body["algorithm"]) == ("b", "a")
    scores = [row["algo_a_value_score"] for row in body["items"]]
    assert scores == sorted(scores, reverse=True)
    await api.buffer.flush()
    rows = await _exposures(session)
    assert len(rows) == 5 and all((e.arm, e.algorithm, e.forced) == ("b", "a", True) for e in rows)


async def test_an_anonymous_browser_gets_a_cookie_and_keeps_its_arm(api: App, slate: str) -> None:
    first = await api.client.get(f"/markets?date={slate}")
    cookie = first.headers["set-cookie"]
    assert cookie.startswith(f"{assignment.CLIENT_ID_COOKIE}=")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Max-Age=31536000" in cookie
    assert "Path=/" in cookie
    assert "Secure" not in cookie  # the base URL is http
    cid = api.client.cookies[assignment.CLIENT_ID_COOKIE]
    expected = assignment.arm_of(EXPERIMENT, f"c:{cid}", 0.5)
    assert first.json()["arm"] == expected
    for _ in range(3):  # httpx sends the cookie back, as a browser does
        again = await api.client.get(f"/markets?date={slate}")
        assert again.json()["arm"] == expected and "set-cookie" not in again.headers


@pytest.mark.parametrize("settings", [{"app_base_url": "https://edgelab.example"}], indirect=True)
async def test_the_cookie_is_secure_behind_https(api: App, slate: str) -> None:
    r = await api.client.get(f"/markets?date={slate}")
    assert "Secure" in r.headers["set-cookie"]


async def test_the_client_id_header_is_sticky_across_requests(api: App, slate: str) -> None:
    arms = set()
    for cid in (_client_in("a"), _client_in("b")):
        got = {
            (await api.client.get(f"/markets?date={slate}", headers={"X-Client-ID": cid})).json()[
                "arm"
            ]
            for _ in range(3)
        }
        assert got == {assignment.arm_of(EXPERIMENT, f"c:{cid}", 0.5)}
        arms |= got
    assert arms == {"a", "b"}


@pytest.mark.parametrize("bad", ["short", "x" * 65, "has space!", "semi;colon1"])
async def test_a_malformed_client_id_is_a_422(api: App, slate: str, bad: str) -> None:
    r = await api.client.get(f"/markets?date={slate}", headers={"X-Client-ID": bad})
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "validation_error"
    assert ["header", "X-Client-ID"] in [d["loc"] for d in r.json()["error"]["details"]]


async def test_a_signed_in_users_arm_comes_from_the_user_id(
    api: App, slate: str, session: AsyncSession, settings: Settings
) -> None:
    for i in range(6):
        user, auth = await _signed_in(session, settings, f"arm{i}@ab.test")
        other_cid = _client_in(
            "a" if assignment.arm_of(EXPERIMENT, f"u:{user.id}", 0.5) == "b" else "b"
        )
        r = await api.client.get(
            f"/markets?date={slate}", headers={**auth, "X-Client-ID": other_cid}
        )
        assert r.json()["arm"] == assignment.arm_of(EXPERIMENT, f"u:{user.id}", 0.5)


@pytest.mark.parametrize("settings", [{"ab_force_arm": "b", "ab_split_b": 0.0}], indirect=True)
async def test_a_forced_arm_applies_to_everyone(api: App, slate: str) -> None:
    for i in range(5):
        r = await api.client.get(f"/markets?date={slate}", headers={"X-Client-ID": f"forced-{i}"})
        assert (r.json()["arm"], r.json()["algorithm"]) == ("b", "b")


# --- exposures --------------------------------------------------------------------------------


@pytest.mark.parametrize("settings", [{"markets_cache_ttl_seconds": 60.0}], indirect=True)
async def test_exposures_are_buffered_then_written_with_ranks_on_cache_hits_too(
    api: App, slate: str, session: AsyncSession, settings: Settings
) -> None:
    user, auth = await _signed_in(session, settings, "seen@ab.test")
    arm = assignment.arm_of(EXPERIMENT, f"u:{user.id}", 0.5)
    url = f"/markets?limit=5&offset=3&date={slate}"
    before = dt.datetime.now(dt.UTC)
    first, second = await api.client.get(url, headers=auth), await api.client.get(url, headers=auth)
    after = dt.datetime.now(dt.UTC)
    assert first.content == second.content  # the second is the cached answer
    assert await _exposures(session) == [] and len(api.buffer) == 10  # not written yet
    assert await api.buffer.flush() == 10
    rows = await _exposures(session)
    shown = [row["market_id"] for row in first.json()["items"]]
    for response, logged in ((first, rows[:5]), (second, rows[5:])):
        assert [e.outcome_id for e in logged] == shown
        assert [e.rank for e in logged] == [4, 5, 6, 7, 8]
        assert {e.request_id for e in logged} == {response.headers["x-request-id"]}
    assert {(e.user_id, e.arm, e.algorithm, e.forced) for e in rows} == {(user.id, arm, arm, False)}
    assert {e.slate_date for e in rows} == {dt.date.fromisoformat(slate)}
    assert {e.subject for e in rows} == {assignment.subject_digest(f"u:{user.id}")}
    assert {e.experiment for e in rows} == {EXPERIMENT}
    assert all(before <= e.shown_at <= after for e in rows)
    # a flushed exposure attributes a later bet (its stored time compares with placed_at)
    bet = await _bet(session, user.id, shown[0], after + dt.timedelta(seconds=1))
    found = await ab.attribute_bets(session, EXPERIMENT, 7.0, UserBet.id == bet.id)
    assert (found[bet.id].arm, found[bet.id].rank) == (arm, 4)
    assert found[bet.id].shown_at == rows[5].shown_at  # the latest of the two views


async def test_at_most_the_first_50_rows_of_a_page_are_logged() -> None:
    ids = [f"market-{i}" for i in range(60)]
    packed = assignment.pack_markets_body(dt.date(2030, 1, 2), ids, b'{"items":[]}')
    body, line = assignment.finish_markets_body(packed, "b", EXPERIMENT)
    assert body == b'{"items":[],"arm":"b","experiment":"value-score-ab-1"}'
    shown = (line, 100, EXPERIMENT, "s", None, "b", "b", False, NOW, None)
    rows = [
        dict(zip(exposures.EXPOSURE_COLUMNS, r, strict=True))
        for r in exposures.exposure_rows(shown)
    ]
    assert [r["outcome_id"] for r in rows] == ids[:50]
    assert [r["rank"] for r in rows] == list(range(101, 151))
    assert {r["slate_date"] for r in rows} == {dt.date(2030, 1, 2)}


async def test_a_first_cookieless_request_is_not_logged_the_next_one_is(
    api: App, slate: str, session: AsyncSession
) -> None:
    await api.client.get(f"/markets?limit=200&date={slate}")  # no identity yet: not logged
    assert len(api.buffer) == 0
    r = await api.client.get(f"/markets?limit=200&date={slate}")  # the cookie came back
    items = r.json()["items"]
    assert await api.buffer.flush() == len(items) > 0
    rows = await _exposures(session)
    assert [e.rank for e in rows] == list(range(1, len(items) + 1))
    assert [e.outcome_id for e in rows] == [row["market_id"] for row in items]
    assert rows[0].user_id is None
    cid = api.client.cookies[assignment.CLIENT_ID_COOKIE]
    assert rows[0].subject == assignment.subject_digest(f"c:{cid}") and cid not in rows[0].subject


@pytest.mark.parametrize("settings", [{"ab_exposure_buffer_max_rows": 7}], indirect=True)
async def test_a_failing_database_never_blocks_markets_and_the_oldest_rows_are_dropped(
    api: App, slate: str, session: AsyncSession, settings: Settings, tmp_path
) -> None:
    broken = create_engine(settings, url=f"sqlite+aiosqlite:///{tmp_path}/missing/dir/x.db")
    down = async_sessionmaker(bind=broken)
    try:
        headers = {"X-Client-ID": "db-down-client"}
        first = await api.client.get(f"/markets?limit=5&date={slate}", headers=headers)
        assert first.status_code == 200
        assert await api.buffer.flush(down) == 0  # the write fails: rows kept for a retry
        assert len(api.buffer) == 5 and api.buffer.dropped == 0
        second = await api.client.get(f"/markets?limit=4&offset=5&date={slate}", headers=headers)
        assert second.status_code == 200  # the buffer is over its cap: the oldest go
        assert len(api.buffer) == 4 and api.buffer.dropped == 5
        metrics = (await api.client.get("/metrics")).text
        assert "edgelab_ab_exposures_dropped_total 5.0" in metrics
    finally:
        await broken.dispose()
    assert await api.buffer.flush() == 4  # the database is back
    assert [e.rank for e in await _exposures(session)] == [6, 7, 8, 9]


# --- attribution ------------------------------------------------------------------------------


async def _market_ids(session: AsyncSession, n: int) -> list[str]:
    rows = await session.execute(select(Outcome.id).order_by(Outcome.id).limit(n))
    return list(rows.scalars())


async def _bet(
    session: AsyncSession,
    user_id: str,
    outcome_id: str,
    placed_at: dt.datetime,
    status: str = "open",
    stake: int = 1000,
    payout: int | None = None,
    clv: float | None = None,
) -> UserBet:
    game_id = (
        await session.execute(select(Market.game_id).join(Outcome).where(Outcome.id == outcome_id))
    ).scalar_one()
    bet = UserBet(
        id=f"bet_{user_id[-6:]}_{int(placed_at.timestamp())}_{outcome_id[-12:]}_{stake}",
        user_id=user_id,
        outcome_id=outcome_id,
        game_id=game_id,
        market_type="moneyline",
        side="home",
        odds_decimal=2.0,
        stake_minor=stake,
        currency="USD",
        placed_at=placed_at,
        status=status,
        payout_minor=payout,
        clv=clv,
        created_at=placed_at,
    )
    session.add(bet)
    await session.flush()
    return bet


def _exposure(
    user_id: str | None,
    outcome_id: str,
    shown_at: dt.datetime,
    *,
    arm: str = "a",
    rank: int = 1,
    forced: bool = False,
    subject: str | None = None,
    experiment: str = EXPERIMENT,
) -> AbExposure:
    return AbExposure(
        experiment=experiment,
        subject=assignment.subject_digest(subject or f"u:{user_id}"),
        user_id=user_id,
        arm=arm,
        algorithm=arm,
        forced=forced,
        outcome_id=outcome_id,
        rank=rank,
        slate_date=None,
        shown_at=shown_at,
        request_id=None,
    )


@pytest.fixture
async def history(session: AsyncSession, settings: Settings) -> None:
    await import_synthetic(session, settings, synthetic_seasons(seasons=1, days_per_season=3))


async def test_a_bet_is_attributed_to_the_latest_earlier_exposure_of_its_user(
    api: App, history, session: AsyncSession, settings: Settings
) -> None:
    me, auth = await _signed_in(session, settings, "me@ab.test")
    other, _ = await _signed_in(session, settings, "other@ab.test")
    m, elsewhere = await _market_ids(session, 2)
    h = dt.timedelta(hours=1)
    session.add_all(
        [
            _exposure(me.id, m, NOW - 50 * h, arm="a", rank=9),
            _exposure(me.id, m, NOW - 2 * h, arm="b", rank=3),  # the one
            _exposure(me.id, m, NOW - h, arm="a", rank=1, forced=True),  # chose it: ignored
            _exposure(me.id, m, NOW - 2 * h, arm="a", rank=2, experiment="old-one"),
            _exposure(me.id, elsewhere, NOW - 0.5 * h, arm="a", rank=4),  # another market
            _exposure(other.id, m, NOW - 0.2 * h, arm="a", rank=5),  # another user
            _exposure(me.id, m, NOW + h, arm="a", rank=6),  # after the bet
        ]
    )
    bet = await _bet(session, me.id, m, NOW)
    stale = await _bet(session, me.id, elsewhere, NOW + 8 * 24 * h)  # > 7 days after
    await session.commit()
    found = await ab.attribute_bets(session, EXPERIMENT, 7.0)
    assert (found[bet.id].arm, found[bet.id].rank) == ("b", 3)
    assert found[bet.id].shown_at == NOW - 2 * h
    assert stale.id not in found
    r = await api.client.get(f"/me/bets/{bet.id}", headers=auth)
    assert r.status_code == 200, r.text
    assert r.json()["attribution"] == {
        "arm": "b",
        "rank": 3,
        "shown_at": (NOW - 2 * h).isoformat().replace("+00:00", "Z"),
    }
    assert (await api.client.get(f"/me/bets/{stale.id}", headers=auth)).json()[
        "attribution"
    ] is None


async def test_online_figures_match_a_hand_computation(
    history, session: AsyncSession, settings: Settings
) -> None:
    u1, _ = await _signed_in(session, settings, "u1@ab.test")
    u2, _ = await _signed_in(session, settings, "u2@ab.test")
    u3, _ = await _signed_in(session, settings, "u3@ab.test")
    m = await _market_ids(session, 8)
    h = dt.timedelta(hours=1)
    session.add_all(
        [
            *(_exposure(u1.id, m[i], NOW - h, arm="a", rank=i + 1) for i in range(4)),
            _exposure(None, m[0], NOW - h, arm="a", subject="c:anonymous-1"),
            _exposure(u2.id, m[4], NOW - h, arm="b"),
            _exposure(u3.id, m[5], NOW - h, arm="b"),
            _exposure(u2.id, m[6], NOW - h, arm="a", forced=True),  # counts nowhere
        ]
    )
    await _bet(session, u1.id, m[0], NOW, "won", 1000, 2000, 0.02)
    await _bet(session, u1.id, m[1], NOW, "lost", 1000, 0, -0.01)
    await _bet(session, u1.id, m[2], NOW, "push", 500, 500, None)
    await _bet(session, u1.id, m[3], NOW, "open")
    await _bet(session, u1.id, m[7], NOW, "won", 1000, 3000, 0.5)  # never shown: not attributed
    await _bet(session, u2.id, m[4], NOW, "won", 1000, 2500, 0.05)
    await _bet(session, u3.id, m[5], NOW, "lost", 2000, 0, 0.01)
    await _bet(session, u2.id, m[6], NOW, "won", 1000, 2000, 0.3)  # forced exposure only
    await session.commit()

    report = await ab.online_report(
        session, experiment=EXPERIMENT, days=7.0, split_b=0.5, force_arm=None
    )
    a, b = report["arms"]["a"], report["arms"]["b"]
    assert (a["users"], a["exposures"], a["attributed_bets"], a["settled_bets"]) == (2, 5, 4, 3)
    assert (b["users"], b["exposures"], b["attributed_bets"], b["settled_bets"]) == (2, 2, 2, 2)
    assert a["mean_clv"] == pytest.approx((0.02 - 0.01) / 2)
    assert a["roi"] == pytest.approx((1000 - 1000 + 0) / 2500)
    assert a["hit_rate"] == pytest.approx(1 / 2)
    assert b["mean_clv"] == pytest.approx((0.05 + 0.01) / 2)
    assert b["roi"] == pytest.approx((1500 - 2000) / 3000)
    assert b["hit_rate"] == pytest.approx(1 / 2)
    # arm A is one user: every resample is that user; arm B's two users bound its interval
    assert a["mean_clv_ci"] == pytest.approx([0.005, 0.005])
    assert 0.01 <= b["mean_clv_ci"][0] < b["mean_clv_ci"][1] <= 0.05
    assert -1.0 <= b["roi_ci"][0] < b["roi_ci"][1] <= 1.5
    diff = {d["metric"]: d for d in report["b_minus_a"]}
    assert diff["mean_clv"]["difference"] == pytest.approx(0.03 - 0.005)
    assert diff["roi"]["difference"] == pytest.approx(-1 / 6)
    assert diff["mean_clv"]["ci_low"] == pytest.approx(0.01 - 0.005)
    assert diff["mean_clv"]["ci_high"] == pytest.approx(0.05 - 0.005)
    assert any("small" in note for note in report["notes"])


async def test_compare_reports_the_online_arms(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    await import_synthetic(session, settings, synthetic_seasons(seasons=2, days_per_season=12))
    user, auth = await _signed_in(session, settings, "compare@ab.test")
    (m,) = await _market_ids(session, 1)
    session.add(_exposure(user.id, m, NOW - dt.timedelta(hours=1), arm="b"))
    await _bet(session, user.id, m, NOW, "won", 1000, 1800, 0.04)
    await session.commit()
    await evaluation_jobs.compute_and_store(session, settings, n_boot=100)  # the stored report
    await session.commit()
    r = await client.get("/evaluation/compare", headers=auth)
    assert r.status_code == 200, r.text
    online = r.json()["online"]
    assert online["experiment"] == EXPERIMENT and online["bootstrap"]["unit"] == "user"
    assert online["arms"]["b"]["attributed_bets"] == 1
    assert online["arms"]["b"]["mean_clv"] == pytest.approx(0.04)
    assert online["arms"]["b"]["roi"] == pytest.approx(0.8)
    assert online["arms"]["a"]["attributed_bets"] == 0 and online["arms"]["a"]["roi"] is None
    assert r.json()["markets"]  # the backtest's report is still there


async def test_deleting_the_account_removes_its_exposures(
    api: App, slate: str, session: AsyncSession, settings: Settings
) -> None:
    me, auth = await _signed_in(session, settings, "leaving@ab.test")
    stay, stay_auth = await _signed_in(session, settings, "staying@ab.test")
    await api.client.get(f"/markets?limit=3&date={slate}", headers=auth)
    await api.client.get(f"/markets?limit=3&date={slate}", headers=stay_auth)
    await api.buffer.flush()
    await api.client.get(f"/markets?limit=2&date={slate}", headers=auth)  # still buffered
    assert {e.user_id for e in await _exposures(session)} == {me.id, stay.id}
    r = await api.client.delete("/me", headers=auth)
    assert r.status_code == 204, r.text
    await api.buffer.flush()
    assert {e.user_id for e in await _exposures(session)} == {stay.id}
