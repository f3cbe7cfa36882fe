"""`edgelab backtest`: the value model's walk-forward evaluation over synthetic seasons where one
season has a single book and two have seven, one of them lagging (`evaluation_data`); and the
rating model's own walk-forward, which the model update calibrates on."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from typer.testing import CliRunner

from edgelab.betting.evaluation import backtest, jobs
from edgelab.betting.evaluation.models import EvaluationReport
from edgelab.betting.evaluation.walkforward import LISTED_RULES
from edgelab.betting.markets import ratings
from edgelab.betting.odds.models import Game, OddsSnapshot
from edgelab.betting.pricing import blend as B
from edgelab.core import migrations
from edgelab.core.db import create_engine
from edgelab.core.settings import Settings
from tests.betting.evaluation_data import fill, lagging_database
from tests.fixtures.database import BACKENDS, make_settings

BET_FIELDS = {
    "season",
    "game_date",
    "home",
    "away",
    "market_type",
    "side",
    "line",
    "odds",
    "bookmaker",
    "value_score_a",
    "value_score_b",
    "ev",
    "p_true",
    "flagged_by",
}


@pytest.fixture(scope="session", params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    return lagging_database(request, tmp_path_factory)


@pytest.fixture(scope="session")
async def engine(db_url: str) -> Any:
    eng = create_engine(make_settings(db_url))
    yield eng
    await eng.dispose()


async def _evaluate(session: AsyncSession, settings: Settings, **kw: Any) -> dict[str, Any]:
    return (await jobs.compute(session, settings, n_boot=200, **kw)).document


@pytest.fixture
async def doc(session: AsyncSession, settings: Settings) -> dict[str, Any]:
    return await _evaluate(session, settings)


def _markets(doc: dict[str, Any], season: int) -> dict[str, Any]:
    markets: dict[str, Any] = doc["by_season"][str(season)]["markets"]
    return markets


# ---- the value model's evaluation ------------------------------------------------------------


async def test_the_lagging_books_numbers_are_flagged_and_beat_the_close(doc):
    for season in (2032, 2033):
        lines = _markets(doc, season)["spread+total"]["bets"]["default"]
        # a third of the spreads lag 2 points and a third of the totals 3: ~160 chances a season
        assert 100 <= lines["n"] <= 400, lines
        assert lines["clv"] > 1.0 and lines["clv_ci_low"] > 0.5  # points, price included
        assert lines["beat_close"] > 0.9 and lines["n_clv"] == lines["n"]
        ml = _markets(doc, season)["moneyline"]["bets"]["default"]
        assert ml["n"] > 30 and ml["clv"] > 0.05 and ml["clv_ci_low"] > 0  # probability
    books = Counter(b["bookmaker"] for b in doc["bets"] if b["market_type"] == "moneyline")
    assert set(books) == {"mybookieag"}  # the one book whose price lags


async def test_a_single_book_season_flags_nothing_but_is_forecast(doc):
    one = doc["by_season"]["2031"]
    assert one["single_book"] and one["books_max"] == 1
    assert "no bet has value against it" in one["summary"][0]
    for key, m in one["markets"].items():
        assert all(b["n"] == 0 for b in m["bets"].values()), key
        assert all(b["n"] == 0 for b in m["baselines"].values()), key
    ml = one["markets"]["moneyline"]
    # no quote before tip-off: the consensus is the close, and p_true with it
    assert ml["p_true"]["n"] == ml["close"]["n"] == 8 * 30
    assert ml["consensus"]["brier"] == pytest.approx(ml["close"]["brier"])
    spread = one["markets"]["spread"]
    assert spread["p_true"]["n"] > 200 and spread["pre_tip"] == 240  # the one book's open line
    assert not any(b["season"] == 2031 for b in doc["bets"])


async def test_each_rule_takes_one_side_per_market_at_the_best_price(doc):
    for rule in LISTED_RULES:
        flagged = [b["market_id"] for b in doc["bets"] if rule in b["flagged_by"]]
        assert len(flagged) == len(set(flagged)), rule  # the better side only
    spread = next(
        b for b in doc["bets"] if b["market_type"] == "spread" and b["bookmaker"] == "mybookieag"
    )
    # the lagging book gives the home side 2 points: home -4.5 where the market says -6.5
    assert spread["side"] == "home" and spread["line"] < 0 and spread["clv"] > 1.5
    for b in doc["bets"]:
        assert b["ev"] > 0 and b["odds"] > 1


async def test_every_flagged_bet_carries_the_contract(doc):
    assert doc["bets"], "no bet flagged"
    sides = {
        "moneyline": {"home", "away"},
        "spread": {"home", "away"},
        "total": {"over", "under"},
        "prop": {"over", "under"},
    }
    for b in doc["bets"]:
        assert set(b) >= BET_FIELDS
        assert b["side"] in sides[b["market_type"]]
        assert set(b["flagged_by"]) <= set(LISTED_RULES) and b["flagged_by"]
        assert (b["line"] is None) == (b["market_type"] == "moneyline")
        assert len(b["home"]) == 3 and b["home"].isupper() and b["game_date"][4] == "-"
    totals = [b for b in doc["bets"] if b["market_type"] == "total"]
    assert all(200 < b["line"] < 230 for b in totals)
    props = [b for b in doc["bets"] if b["market_type"] == "prop"]
    assert props and all(b["result"] is None for b in props)  # no player stats to settle on


async def test_the_baselines_are_taken_on_the_same_moments(doc):
    m = _markets(doc, 2033)
    shop = m["spread"]["baselines"]["line_shopping"]
    assert shop["n"] > 50 and shop["clv"] > 1.0  # the stale 2 points are a plain shop too
    assert m["moneyline"]["baselines"]["kaunitz_0"]["n"] > m["moneyline"]["bets"]["default"]["n"]
    assert "line_shopping" not in m["moneyline"]["baselines"]


async def test_no_fitted_number_of_a_season_uses_its_own_results(session, settings, doc):
    """Turning 2032-33's results around changes none of 2033's fitted numbers (the blend
    weights, p_true) and nothing of 2032; turning 2031-32's around changes 2033's blend."""
    flip = {"home_score": Game.away_score, "away_score": Game.home_score}
    await session.execute(update(Game).where(Game.season == 2033).values(**flip))
    after = await _evaluate(session, settings)
    for mtype in ("moneyline", "spread", "total"):
        assert _markets(after, 2033)[mtype]["blend"] == _markets(doc, 2033)[mtype]["blend"]
    assert (
        _markets(after, 2033)["moneyline"]["p_true"] != _markets(doc, 2033)["moneyline"]["p_true"]
    )  # the results moved the score ...
    before_bets = [b for b in doc["bets"] if b["season"] == 2033]
    after_bets = [b for b in after["bets"] if b["season"] == 2033]
    strip = ("result", "clv")  # ... not the bets or their probabilities
    assert [{k: v for k, v in b.items() if k not in strip} for b in after_bets] == [
        {k: v for k, v in b.items() if k not in strip} for b in before_bets
    ]
    assert after["by_season"]["2032"] == doc["by_season"]["2032"]

    await session.execute(update(Game).where(Game.season == 2032).values(**flip))
    again = await _evaluate(session, settings)
    fitted = [_markets(again, 2033)[t]["blend"][0]["fitted"] for t in ("moneyline", "spread")]
    assert fitted != [_markets(doc, 2033)[t]["blend"][0]["fitted"] for t in ("moneyline", "spread")]


async def test_an_earned_weight_moves_p_true_to_the_rating_model(session, settings, monkeypatch):
    """Where the rating model has earned a say (forced here: weight 1 in 2032-33), p_true is the
    model's, fitted before the season and rated game by game, and the bets' EV follows it."""

    def forced(kind: str, history: B.History, season: int) -> B.Earned:
        return B.Earned(1.0 if season == 2033 else 0.0, 1.0, "forced")

    monkeypatch.setattr(B, "earned_weight", forced)
    e = (await jobs.compute(session, settings, n_boot=100)).evaluation
    games = (await session.execute(select(Game).order_by(Game.game_date, Game.id))).scalars().all()
    rows = [
        ratings.GameRow(
            g.game_date.toordinal(),
            g.season,
            g.home_team,
            g.away_team,
            bool(g.neutral_site),
            g.home_score,
            g.away_score,
        )
        for g in games
    ]
    first = next(i for i, g in enumerate(games) if g.season == 2033)
    fit = ratings.fit_model(rows[:first])
    res = ratings.rating_pass(rows, fit.params)
    p_model = ratings.p_home_win(res.mu_margin, fit.params.sd_margin)
    pm, f = e.markets, e.forecasts
    at = np.flatnonzero(np.isin(pm.market_type, ["moneyline", "spread", "total"]))
    ml = (f.season == 2033) & (f.market_type == "moneyline")
    np.testing.assert_allclose(f.p_true[ml], p_model[pm.game[at[ml]]], rtol=1e-6)
    assert not np.allclose(f.p_true[ml], f.consensus[ml])
    earlier = (f.season == 2032) & (f.market_type == "moneyline")
    np.testing.assert_array_equal(f.p_true[earlier], f.consensus[earlier])
    b = e.bets
    chosen = b.masks["default"] & (pm.season[b.market] == 2033)
    chosen &= pm.market_type[b.market] == "moneyline"
    assert chosen.any()
    np.testing.assert_allclose(b.ev[chosen], b.p_win[chosen] * b.odds[chosen] - 1.0)
    home = chosen & (b.side == 0)
    np.testing.assert_allclose(b.p_win[home], p_model[pm.game[b.market[home]]], rtol=1e-6)


async def test_seasons_asked_for_are_evaluated_from_their_past(session, settings, doc):
    only = await _evaluate(session, settings, seasons=[2033])
    assert only["seasons"] == [2033] and set(only["by_season"]) == {"2033", "all"}
    assert only["by_season"]["2033"] == doc["by_season"]["2033"]  # the past was still read


async def test_the_fingerprint_changes_with_a_result_a_quote_or_the_sharp_books(session, settings):
    fp = await jobs.current_fingerprint(session, settings)
    assert await jobs.current_fingerprint(session, settings) == fp
    assert fp.seasons == (2031, 2032, 2033)
    gid = (await session.execute(select(Game.id).limit(1))).scalar_one()
    await session.execute(update(Game).where(Game.id == gid).values(home_score=Game.home_score + 1))
    fp2 = await jobs.current_fingerprint(session, settings)
    assert fp2.digest != fp.digest
    sid = (
        await session.execute(select(OddsSnapshot.id).where(OddsSnapshot.kind == "live").limit(1))
    ).scalar_one()
    await session.execute(
        update(OddsSnapshot).where(OddsSnapshot.id == sid).values(odds_decimal=1.95)
    )
    fp3 = await jobs.current_fingerprint(session, settings)
    assert fp3.digest != fp2.digest
    other = settings.model_copy(update={"sharp_books": ["pinnacle"]})
    assert (await jobs.current_fingerprint(session, other)).digest != fp3.digest


# ---- the rating model's walk-forward (the model update calibrates on it) ---------------------


async def test_the_rating_model_predicts_a_season_only_from_earlier_days(session):
    before = backtest.run_backtest(await backtest.load_backtest_data(session))
    days = sorted({d for (d,) in (await session.execute(select(Game.game_date))).all()})
    mid = [d for d in days if d.year == 2031][10]  # a day in the middle of 2031-32
    await session.execute(
        update(Game)
        .where(Game.season == 2032, Game.game_date >= mid)
        .values(home_score=Game.away_score, away_score=Game.home_score)
    )
    data = await backtest.load_backtest_data(session)
    after = backtest.run_backtest(data)
    on = data.day[after.game]
    upto = (after.season == 2032) & (on <= mid.toordinal())
    np.testing.assert_array_equal(before.p_true[upto], after.p_true[upto])
    later = (after.season == 2032) & (on > mid.toordinal())
    assert not np.array_equal(before.p_true[later], after.p_true[later])
    assert before.fits[0] == after.fits[0]  # 2032's fit saw nothing of 2032
    with pytest.raises(LookupError, match="2031"):
        backtest.run_backtest(data, seasons=[2031])  # its first season only trains


# ---- the command -----------------------------------------------------------------------------


def _cli_database(tmp_path: Path) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    migrations.upgrade(make_settings(url))
    asyncio.run(fill(url, days_per_season=8))
    return url


async def _stored(url: str) -> list[tuple[str, list[int]]]:
    engine: AsyncEngine = create_engine(make_settings(url))
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                select(EvaluationReport.status, EvaluationReport.seasons).where(
                    EvaluationReport.status == "ready"
                )
            )
            return [(s, list(x)) for s, x in rows.all()]
    finally:
        await engine.dispose()


def test_cli_backtest_writes_the_report_operators_read(tmp_path: Path):
    from edgelab.cli import app

    url = _cli_database(tmp_path)
    out = tmp_path / "report" / "bt.json"
    env = {"EDGELAB_DATABASE_URL": url, "EDGELAB_LOG_LEVEL": "WARNING", "COLUMNS": "220"}
    runner = CliRunner()
    args = ["backtest", "--seasons", "2032-2033", "--json", str(out), "--bootstrap", "200"]
    r = runner.invoke(app, args, env=env)
    assert r.exit_code == 0, r.output
    report = json.loads(out.read_text())
    assert set(report["seasons"]) == {"2032", "2033"}
    for year in ("2032", "2033"):
        for mtype in ("moneyline", "spread", "total"):
            for forecast in ("p_true", "consensus"):
                scores = report["seasons"][year][mtype][forecast]
                assert scores["n"] > 0 and 0 < scores["brier"] < 0.3 and scores["log_loss"] > 0
    assert report["bets"] and all(set(b) >= BET_FIELDS for b in report["bets"])
    assert {b["season"] for b in report["bets"]} == {2032, 2033}
    assert "Brier score" in r.output and "2032-33, spreads and totals" in r.output
    assert asyncio.run(_stored(url)) == []  # some seasons only: not the served report

    whole = runner.invoke(app, ["backtest", "--bootstrap", "100"], env=env)
    assert whole.exit_code == 0, whole.output
    assert asyncio.run(_stored(url)) == [("ready", [2031, 2032, 2033])]

    bad = runner.invoke(app, ["backtest", "--seasons", "2040"], env=env)
    assert bad.exit_code == 1 and "cannot be evaluated" in bad.output
    assert runner.invoke(app, ["backtest", "--seasons", "twenty"], env=env).exit_code == 2
    assert runner.invoke(app, ["backtest", "--algorithms", "c"], env=env).exit_code == 2


def test_season_ranges_are_parsed():
    from edgelab.betting.commands import parse_seasons

    assert parse_seasons("2009-2011,2015") == [2009, 2010, 2011, 2015]
    assert parse_seasons(None) is None


async def test_stored_reports_are_kept_three_deep(session, settings):
    for _ in range(4):
        await jobs.compute_and_store(session, settings)
        await session.execute(
            update(Game)
            .where(Game.id == (await session.execute(select(Game.id).limit(1))).scalar_one())
            .values(home_score=Game.home_score + 1)
        )
    n = await session.scalar(select(func.count()).select_from(EvaluationReport))
    assert n == jobs.KEEP_REPORTS
