"""Situational trends: the statistics on constructed data (planted edges are found, coin flips
are not after Benjamini-Hochberg, Wilson intervals, pushes, rest days) and `GET /trends`."""

from __future__ import annotations

import datetime as dt
import math

import httpx
import numpy as np
import pytest
from scipy import stats
from sqlalchemy.ext.asyncio import AsyncSession

from edgelab.accounts.service import create_user
from edgelab.betting.odds.teams import DIVISIONS, TEAM_CODES, division_of
from edgelab.betting.trends.games import TrendGames, rest_days, season_terciles
from edgelab.betting.trends.report import compute_trends
from edgelab.betting.trends.stats import (
    benjamini_hochberg,
    rate_p_value,
    trend_stats,
    wilson_interval,
)
from edgelab.core.auth import issue_access_token
from edgelab.core.settings import Settings
from tests.betting.factories import import_synthetic, synthetic_seasons
from tests.fixtures.database import make_settings

MINUS_110 = 1.0 + 100.0 / 110.0
TEAMS = sorted(TEAM_CODES)

# ---- statistics ------------------------------------------------------------------------------


def test_wilson_interval_matches_the_published_examples():
    # Newcombe (1998), Statistics in Medicine 17:857, table I: 81/263 and 0/10, method 3
    lo, hi = wilson_interval(81, 263)
    assert (lo, hi) == pytest.approx((0.2553, 0.3662), abs=1e-4)
    lo, hi = wilson_interval(0, 10)
    assert lo == 0.0 and hi == pytest.approx(0.2775, abs=1e-4)
    ci = stats.binomtest(37, 61).proportion_ci(confidence_level=0.95, method="wilson")
    assert wilson_interval(37, 61) == pytest.approx((ci.low, ci.high), abs=1e-4)
    assert wilson_interval(0, 0) is None


def test_pushes_are_counted_but_left_out_of_the_rate():
    won = np.array([1.0, 0.0, np.nan, 1.0, np.nan])
    s = trend_stats(won, np.full(5, MINUS_110), np.full(5, 0.5))
    assert (s.n, s.wins, s.losses, s.pushes) == (5, 2, 1, 2)
    assert s.rate == pytest.approx(2 / 3)
    assert s.rate_ci == pytest.approx(wilson_interval(2, 3))
    # two wins at -110 minus one loss, over five stakes (pushes return the stake)
    assert s.roi == pytest.approx((2 * (MINUS_110 - 1) - 1) / 5)
    assert s.p_value == pytest.approx(stats.binomtest(2, 3, 0.5).pvalue)
    assert s.null_rate == 0.5 and s.break_even_rate == pytest.approx(1 / MINUS_110)


def test_poisson_binomial_p_value_agrees_with_the_exact_distribution():
    rng = np.random.default_rng(3)
    fair = rng.uniform(0.15, 0.85, 400)
    won = (rng.random(400) < fair + 0.02).astype(np.float64)  # a small real edge
    # exact Poisson-binomial pmf by convolution, two-sided by distance from the mean
    pmf = np.array([1.0])
    for p in fair:
        pmf = np.convolve(pmf, [1 - p, p])
    k = np.arange(pmf.size)
    dist = abs(won.sum() - fair.sum())
    exact = pmf[np.abs(k - fair.sum()) >= dist - 1e-9].sum()
    assert 0.001 < exact < 0.1  # the example is not trivially 0 or 1
    assert rate_p_value(won, fair) == pytest.approx(exact, rel=0.2)


def test_roi_interval_matches_a_bootstrap_on_long_shot_prices():
    rng = np.random.default_rng(11)
    odds = rng.choice([1.3, 2.0, 4.5, 9.0], size=200)
    won = (rng.random(200) < 0.9 / odds).astype(np.float64)
    s = trend_stats(won, odds, 1.0 / odds)
    profit = np.where(won == 1, odds - 1, -1.0)
    boot = rng.choice(profit, size=(4000, profit.size)).mean(axis=1)
    lo, hi = np.percentile(boot, [2.5, 97.5])
    assert s.roi_ci is not None
    assert s.roi_ci[0] == pytest.approx(lo, abs=0.03) and s.roi_ci[1] == pytest.approx(hi, abs=0.03)


def test_benjamini_hochberg_is_the_step_up_procedure():
    p = np.array([0.01, 0.04, 0.03, 0.005, 0.20, 0.5])
    m = p.size
    order = np.argsort(p)
    expected = np.empty(m)
    running = 1.0
    for rank in range(m, 0, -1):  # the textbook step-up, written out
        i = order[rank - 1]
        running = min(running, p[i] * m / rank)
        expected[i] = running
    assert benjamini_hochberg(p) == pytest.approx(expected)
    assert benjamini_hochberg(np.array([])).size == 0


def test_coin_flips_look_notable_alone_but_do_not_survive_correction():
    rng = np.random.default_rng(2024)
    p_values = []
    for _ in range(300):
        won = (rng.random(500) < 0.5).astype(np.float64)
        p_values.append(trend_stats(won, np.full(500, MINUS_110), np.full(500, 0.5)).p_value)
    p = np.array(p_values)
    assert (p <= 0.05).sum() >= 5  # about 15 by chance before correction
    assert (benjamini_hochberg(p) <= 0.05).sum() == 0


# ---- games and situations --------------------------------------------------------------------


def _games(n_days: int, *, p_home_cover: float, seed: int, pushes_every: int = 0) -> TrendGames:
    """Games between the 30 real teams; home covers -3.5 with `p_home_cover`, overs are coin
    flips at 210.5, moneylines fair (home wins when it covers). 10 games a day, teams rotate."""
    rng = np.random.default_rng(seed)
    rows: list[tuple[int, int, str, str]] = []
    start = dt.date(2030, 11, 1).toordinal()
    for d in range(n_days):
        order = rng.permutation(30)
        for k in range(0, 20, 2):
            rows.append((start + d, 2031, TEAMS[order[k]], TEAMS[order[k + 1]]))
    n = len(rows)
    cover = rng.random(n) < p_home_cover
    margin = np.where(cover, 10.0, -10.0)
    total = np.where(rng.random(n) < 0.5, 220.0, 200.0)
    if pushes_every:
        total[::pushes_every] = 210.0
    home_score = (total + margin) / 2
    q = p_home_cover  # the home team wins exactly when it covers: the moneyline is fair
    odds_ml = np.tile([1 / q / 1.02, 1 / (1 - q) / 1.02], (n, 1))
    return TrendGames(
        day=np.array([r[0] for r in rows], dtype=np.int64),
        season=np.array([r[1] for r in rows], dtype=np.int64),
        home=np.array([r[2] for r in rows]),
        away=np.array([r[3] for r in rows]),
        neutral=np.zeros(n, dtype=bool),
        home_score=home_score,
        away_score=total - home_score,
        ml_odds=odds_ml,
        spread_line=np.full(n, -3.5),
        spread_odds=np.full((n, 2), MINUS_110),
        spread_open=np.full(n, np.nan),
        total_line=np.full(n, 210.0 if pushes_every else 210.5),
        total_odds=np.full((n, 2), MINUS_110),
        total_open=np.full(n, np.nan),
        price_assumed={"moneyline": False, "spread": True, "total": True},
    )


def test_a_planted_edge_is_flagged_and_the_coin_flips_beside_it_are_not():
    g = _games(300, p_home_cover=0.6, seed=1)
    doc = compute_trends(g, min_n=30)
    by_id = {t["id"]: t for t in doc["trends"]}
    home = by_id["venue-home-spread"]
    assert home["n"] == 3000 and home["significant"] and home["q_value"] < 1e-6
    assert home["verdict"].startswith("survives correction")
    assert home["rate_ci"][0] > 0.55 and home["roi"] > 0.05
    assert doc["trends"][0]["significant"]  # sorted by q-value
    for t in doc["trends"]:
        if t["market_type"] in ("total", "moneyline"):
            assert not t["significant"], t["id"]  # overs are coin flips, moneylines fair
            assert t["verdict"].startswith("noise")


def test_pure_coin_flips_across_every_trend_are_all_noise():
    g = _games(300, p_home_cover=0.5, seed=5)
    doc = compute_trends(g, min_n=30)
    assert doc["n_trends"] >= 15
    assert doc["n_significant"] == 0
    assert all(t["verdict"].startswith("noise") for t in doc["trends"])
    assert any("expected to be noise" in note for note in doc["notes"])


def test_q_values_correct_over_exactly_the_trends_shown():
    g = _games(120, p_home_cover=0.55, seed=9)
    full = compute_trends(g, min_n=30)
    spread = compute_trends(g, min_n=30, market_type="spread")
    assert {t["market_type"] for t in spread["trends"]} == {"spread"}
    assert spread["n_trends"] < full["n_trends"]
    p = np.array([t["p_value"] for t in spread["trends"]])
    assert [t["q_value"] for t in spread["trends"]] == pytest.approx(benjamini_hochberg(p))
    keys = [(t["q_value"], -t["n"], t["id"]) for t in spread["trends"]]
    assert keys == sorted(keys)


def test_pushes_in_a_trend_are_counted_and_left_out_of_the_over_rate():
    g = _games(60, p_home_cover=0.5, seed=4, pushes_every=7)
    doc = compute_trends(g, min_n=1, group="division")
    over = next(t for t in doc["trends"] if t["id"] == "division-over-total")
    assert over["pushes"] > 0 and over["n"] == over["wins"] + over["losses"] + over["pushes"]
    assert over["rate"] == pytest.approx(over["wins"] / (over["wins"] + over["losses"]))


def test_rest_days_follow_each_teams_schedule_within_a_season():
    day = np.array([1, 2, 2, 5, 6, 400, 401])
    season = np.array([1, 1, 1, 1, 1, 2, 2])
    home = np.array(["BOS", "BOS", "NYK", "MIA", "NYK", "BOS", "NYK"])
    away = np.array(["NYK", "MIA", "ATL", "BOS", "MIA", "NYK", "BOS"])
    rest_home, rest_away = rest_days(day, season, home, away)
    nan = math.nan
    # BOS: 1, 2 (b2b), 5 (3 days), season 2 day 400 (first), 401 (b2b); MIA: 2, 5, 6
    assert rest_home == pytest.approx([nan, 1, 1, 3, 4, nan, 1], nan_ok=True)
    assert rest_away == pytest.approx([nan, nan, nan, 3, 1, nan, 1], nan_ok=True)


def test_rest_trends_bet_the_team_in_the_situation_when_the_opponent_is_not():
    # CHI v DET day 1, BOS v NYK day 5 (first games: no rest known), then
    # day 6 CHI (5 days) v NYK (b2b); day 7 DET (6 days) v BOS (2 days), NYK v CHI (both b2b)
    day = np.array([1, 5, 6, 7, 7])
    n = day.size
    g = TrendGames(
        day=day,
        season=np.full(n, 2031),
        home=np.array(["CHI", "BOS", "CHI", "DET", "NYK"]),
        away=np.array(["DET", "NYK", "NYK", "BOS", "CHI"]),
        neutral=np.zeros(n, dtype=bool),
        home_score=np.array([100.0, 100.0, 100.0, 90.0, 100.0]),
        away_score=np.array([90.0, 90.0, 90.0, 100.0, 90.0]),
        ml_odds=np.tile([1.8, 2.1], (n, 1)),
        spread_line=np.full(n, -2.5),
        spread_odds=np.full((n, 2), MINUS_110),
        spread_open=np.full(n, np.nan),
        total_line=np.full(n, 200.5),
        total_odds=np.full((n, 2), MINUS_110),
        total_open=np.full(n, np.nan),
        price_assumed={},
    )
    doc = compute_trends(g, min_n=1, group="rest")
    by_id = {t["id"]: t for t in doc["trends"]}
    b2b = by_id["rest-back-to-back-spread"]  # day 6 only: NYK (away) bet, CHI covered
    assert (b2b["n"], b2b["wins"]) == (1, 0)
    rested = by_id["rest-3plus-spread"]  # CHI on day 6 (covered), DET on day 7 (lost)
    assert (rested["n"], rested["wins"]) == (2, 1)
    assert by_id["rest-back-to-back-total"]["n"] == 2  # day 6, and day 7's NYK v CHI


def test_line_moves_bet_the_side_the_line_moved_toward():
    g = _games(100, p_home_cover=0.5, seed=8)
    g.spread_open = np.where(np.arange(g.size) % 2 == 0, -2.0, np.nan)  # to -3.5: 1.5 toward home
    g.total_open = np.where(np.arange(g.size) % 4 == 0, 211.5, np.nan)  # to 210.5: 1 point down
    doc = compute_trends(g, min_n=1, group="line_move")
    by_id = {t["id"]: t for t in doc["trends"]}
    assert set(by_id) == {"line-move-home-large-spread", "line-move-down-small-total"}
    home = by_id["line-move-home-large-spread"]
    assert home["n"] == g.size // 2
    venue = compute_trends(g, min_n=1, group="venue", market_type="spread")
    home_all = next(t for t in venue["trends"] if t["id"] == "venue-home-spread")
    assert 0 < home["wins"] < home_all["wins"]
    under = by_id["line-move-down-small-total"]
    over_wins = int(np.sum((g.home_score + g.away_score)[::4] > 210.5))
    assert under["wins"] == g.size // 4 - over_wins  # the under was bet


def test_season_terciles_are_within_each_season():
    season = np.array([1] * 6 + [2] * 3)
    total = np.array([200, 201, 202, 203, 204, 205, 230, 231, 232], dtype=np.float64)
    assert season_terciles(season, total).tolist() == [0, 0, 1, 1, 2, 2, 0, 1, 2]


def test_divisions_cover_the_thirty_teams_five_each():
    assert sorted(c for codes in DIVISIONS.values() for c in codes) == sorted(TEAM_CODES)
    assert all(len(codes) == 5 for codes in DIVISIONS.values())
    assert division_of("OKC") == "Northwest" and division_of("BKN") == "Atlantic"
    assert division_of("XXX") is None


def test_bad_arguments_are_refused():
    g = _games(5, p_home_cover=0.5, seed=2)
    with pytest.raises(ValueError):
        compute_trends(g, season_from=2032, season_to=2031)
    with pytest.raises(ValueError):
        compute_trends(g, market_type="parlay")
    with pytest.raises(ValueError):
        compute_trends(g, alpha=0.0)


# ---- the API ---------------------------------------------------------------------------------

TREND_KEYS = {
    "id",
    "label",
    "group",
    "market_type",
    "side",
    "n",
    "wins",
    "pushes",
    "rate",
    "rate_ci",
    "roi",
    "roi_ci",
    "p_value",
    "q_value",
    "significant",
    "verdict",
    "price_assumed",
}


@pytest.fixture
async def settings(db_url: str, request: pytest.FixtureRequest) -> Settings:
    """The suite's settings; a test may change some with `indirect` parametrisation."""
    return make_settings(db_url, **getattr(request, "param", {}))


async def _token(session: AsyncSession, settings: Settings, tier: str) -> dict[str, str]:
    user = await create_user(session, f"{tier}-trends@example.com", tier=tier)
    return {"Authorization": f"Bearer {issue_access_token(settings, user.id)}"}


@pytest.fixture
async def paid(session: AsyncSession, settings: Settings) -> dict[str, str]:
    await import_synthetic(session, settings, synthetic_seasons(seasons=3, days_per_season=30))
    headers = await _token(session, settings, "paid")
    await session.commit()
    return headers


async def test_paid_callers_get_every_trend_with_its_statistics(client: httpx.AsyncClient, paid):
    r = await client.get("/trends?min_n=1", headers=paid)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["seasons"] == [2031, 2033] and body["correction"] == "benjamini-hochberg"
    assert body["alpha"] == 0.05 and body["n_trends"] == len(body["trends"]) > 10
    assert any("expected to be noise" in note for note in body["notes"])
    for t in body["trends"]:
        assert set(t) >= TREND_KEYS
        assert t["significant"] == (t["q_value"] <= 0.05)
    by_id = {t["id"]: t for t in body["trends"]}
    home = by_id["venue-home-moneyline"]
    assert home["n"] == 3 * 30 * 8 and home["pushes"] == 0 and not home["price_assumed"]
    assert by_id["venue-home-spread"]["price_assumed"]
    assert "X-RateLimit-Limit" in r.headers


async def test_filters_narrow_the_trends_and_the_seasons(client: httpx.AsyncClient, paid):
    body = (
        await client.get(
            "/trends?market_type=total&season_from=2032&season_to=2033&min_n=1&alpha=0.1",
            headers=paid,
        )
    ).json()
    assert body["seasons"] == [2032, 2033] and body["alpha"] == 0.1
    assert body["trends"] and {t["market_type"] for t in body["trends"]} == {"total"}
    pace = sum(t["n"] for t in body["trends"] if t["group"] == "totals_pace")
    assert pace == 2 * 30 * 8  # each game of two seasons in exactly one third
    months = (await client.get("/trends?group=totals_month&min_n=1", headers=paid)).json()
    assert {t["group"] for t in months["trends"]} == {"totals_month"}
    assert sum(t["n"] for t in months["trends"]) == 3 * 30 * 8
    big = (await client.get("/trends?min_n=100000", headers=paid)).json()
    assert big["n_trends"] == 0 and big["trends"] == []


async def test_free_users_are_refused_and_anonymous_callers_asked_to_sign_in(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
):
    free = await _token(session, settings, "free")
    await session.commit()
    r = await client.get("/trends", headers=free)
    assert r.status_code == 403 and r.json()["error"]["code"] == "paid_subscription_required"
    r = await client.get("/trends")
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"


@pytest.mark.parametrize(
    ("query", "status", "code"),
    [
        ("season_from=2033&season_to=2031", 422, "validation_error"),
        ("season_from=1800", 422, "validation_error"),
        ("season_to=last", 422, "validation_error"),
        ("market_type=parlay", 422, "validation_error"),
        ("group=weather", 422, "validation_error"),
        ("alpha=0", 422, "validation_error"),
        ("alpha=0.9", 422, "validation_error"),
        ("min_n=0", 422, "validation_error"),
        ("season_from=2040&season_to=2041", 404, "season_not_found"),
    ],
)
async def test_bad_queries_get_the_error_envelope(
    client: httpx.AsyncClient, paid, query: str, status: int, code: str
):
    r = await client.get(f"/trends?{query}", headers=paid)
    assert r.status_code == status, r.text
    body = r.json()
    assert body["error"]["code"] == code and body["request_id"]
    if status == 422:
        assert body["error"]["details"][0]["loc"][0] == "query"


async def test_trends_without_games_are_a_404(client: httpx.AsyncClient, session, settings):
    headers = await _token(session, settings, "paid")
    await session.commit()
    r = await client.get("/trends", headers=headers)
    assert r.status_code == 404 and r.json()["error"]["code"] == "no_trend_data"


@pytest.mark.parametrize("settings", [{"rate_limit_paid": "2/minute"}], indirect=True)
async def test_trends_are_rate_limited_by_tier(client: httpx.AsyncClient, paid) -> None:
    statuses = [(await client.get("/trends", headers=paid)).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
