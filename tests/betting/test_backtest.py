"""`edgelab backtest`: the value model's walk-forward evaluation over synthetic seasons where one
season has a single book and two have seven, one of them lagging (`evaluation_data`); and the
rating model's own walk-forward, which the model update calibrates on."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from typer.testing import CliRunner

from edgelab.betting.evaluation import backtest, jobs, report
from edgelab.betting.evaluation.models import EvaluationReport
from edgelab.betting.evaluation.walkforward import LISTED_RULES
from edgelab.betting.markets import ratings
from edgelab.betting.odds.models import Game, Market, OddsSnapshot, Outcome
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
        assert ml["n"] > 30 and ml["clv"] > 0.02 and ml["clv_ci_low"] > 0  # probability points
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
    pairs = list(zip(doc["bets"], doc["bet_outcomes"], strict=True))
    for rule in LISTED_RULES:
        flagged = [o["market_id"] for b, o in pairs if rule in b["flagged_by"]]
        assert len(flagged) == len(set(flagged)), rule  # the better side only
    spread, outcome = next(
        (b, o) for b, o in pairs if b["market_type"] == "spread" and b["bookmaker"] == "mybookieag"
    )
    # the lagging book gives the home side 2 points: home -4.5 where the market says -6.5
    assert spread["side"] == outcome["side"] == "home" and spread["line"] < 0
    assert outcome["clv"] > 1.5 and outcome["clv_unit"] == "points"
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
    assert len(doc["bet_outcomes"]) == len(doc["bets"])
    for b in doc["bets"]:
        assert set(b) == BET_FIELDS  # exactly the fields: what became of it is beside
        assert b["side"] in sides[b["market_type"]]
        assert set(b["flagged_by"]) <= set(LISTED_RULES) and b["flagged_by"]
        assert (b["line"] is None) == (b["market_type"] == "moneyline")
        assert len(b["home"]) == 3 and b["home"].isupper() and b["game_date"][4] == "-"
    totals = [b for b in doc["bets"] if b["market_type"] == "total"]
    assert all(200 < b["line"] < 230 for b in totals)
    pairs = zip(doc["bets"], doc["bet_outcomes"], strict=True)
    props = [o for b, o in pairs if b["market_type"] == "prop"]
    assert props and all(o["result"] is None for o in props)  # no player stats to settle on
    results = {o["result"] for o in doc["bet_outcomes"]}
    assert {"won", "lost"} <= results <= {"won", "lost", "push", None}


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
    assert after_bets == before_bets  # ... not the bets or their probabilities
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


async def test_live_quotes_of_unplayed_games_leave_the_report_fresh(session, settings):
    """Live polling writes quotes of upcoming games all day long: neither a new unplayed game
    nor its quotes nor re-quotes of a game without its final score mark the report stale; the
    final score arriving does (the game and its quotes are evaluated from then on)."""
    fp = await jobs.current_fingerprint(session, settings)
    last = (await session.execute(select(Game).order_by(Game.game_date.desc()))).scalars().first()
    assert last is not None
    tip = dt.datetime.combine(last.game_date + dt.timedelta(days=2), dt.time(23), dt.UTC)
    upcoming = Game(
        id="nba-2033-upcoming-bos-lal",
        season=2033,
        game_date=tip.date(),
        tip_time=tip,
        home_team="BOS",
        away_team="LAL",
    )
    market = Market(id=f"{upcoming.id}-ml", game_id=upcoming.id, market_type="moneyline")
    home = Outcome(id=f"{market.id}-home", market_id=market.id, side="home", label="BOS")
    session.add_all([upcoming, market, home])
    await session.flush()
    quote = OddsSnapshot(
        outcome_id=home.id,
        bookmaker="fanduel",
        kind="live",
        captured_at=tip - dt.timedelta(hours=5),
        odds_decimal=1.9,
        source="live poll",
    )
    session.add(quote)
    await session.flush()
    assert await jobs.current_fingerprint(session, settings) == fp
    quote.odds_decimal = 1.8  # the next poll moves the price
    session.add(
        OddsSnapshot(
            outcome_id=home.id,
            bookmaker="draftkings",
            kind="live",
            captured_at=tip - dt.timedelta(hours=1),
            odds_decimal=1.85,
            source="live poll",
        )
    )
    await session.flush()
    assert await jobs.current_fingerprint(session, settings) == fp

    upcoming.home_score, upcoming.away_score = 110, 101  # the final score
    await session.flush()
    settled = await jobs.current_fingerprint(session, settings)
    assert settled.digest != fp.digest
    quote.odds_decimal = 1.75  # a settled game's quote is evaluated: it counts
    await session.flush()
    assert (await jobs.current_fingerprint(session, settings)).digest != settled.digest


async def test_the_season_the_value_model_was_tuned_on_is_reported_alone_not_pooled(
    session, settings, monkeypatch
):
    """`report.TUNED_ON` (2021-22 on the shipped data; 2031-32 here): that season is answered on
    its own, marked in sample, and left out of the pooled answer and its summary."""
    monkeypatch.setattr(report, "TUNED_ON", (2032,))
    doc = await _evaluate(session, settings)
    assert doc["tuned_on"] == [2032] and doc["in_sample_seasons"] == [2032]
    assert doc["by_season"]["2032"]["in_sample"] and not doc["by_season"]["2033"]["in_sample"]
    assert "2031-32 is in sample" in doc["by_season"]["2032"]["summary"][0]
    pooled = doc["by_season"]["all"]
    assert pooled["seasons"] == [2031, 2033] and pooled["left_out"] == [2032]
    assert not pooled["in_sample"] and "2031-32" in pooled["summary"][0]
    for key in ("spread+total", "moneyline"):
        n = [doc["by_season"][str(s)]["markets"][key]["bets"]["default"]["n"] for s in (2031, 2033)]
        assert pooled["markets"][key]["bets"]["default"]["n"] == sum(n), key
    f = "p_true"
    pooled_n = pooled["markets"]["moneyline"][f]["n"]
    assert pooled_n == sum(
        doc["by_season"][str(s)]["markets"]["moneyline"][f]["n"] for s in (2031, 2033)
    )
    rows = {r["season"]: r["in_sample"] for r in doc["season_rows"]}
    assert rows == {2031: False, 2032: True, 2033: False}  # every season still has its row
    assert report.TUNED_ON == (2032,)


def test_the_shipped_value_model_was_tuned_on_2021_22():
    assert report.TUNED_ON == (2022,)  # every parameter in betting/pricing/params.py


async def test_moneyline_brier_compares_the_close_only_on_the_games_it_shares(session, settings):
    """p_true, the morning consensus and the close are compared on the same games; where the
    close exists on too few of the games p_true is scored on (the shipped 2022-23: closing
    moneylines stop in mid-January, the books' mornings start late in January), the summary
    says the close cannot be compared rather than set two different sets of games side by side."""
    doc = await _evaluate(session, settings, seasons=[2033])
    ml = _markets(doc, 2033)["moneyline"]
    same = ml["same_games"]
    assert same["n"] >= 50
    line = next(x for x in doc["by_season"]["2033"]["summary"] if "moneyline Brier" in x)
    assert f"on the {same['n']} of them with a closing price" in line
    assert f"the close {same['close']['brier']:.4f}" in line

    # closing moneylines only up to the first days of 2032-33, mornings only after them
    days = sorted(
        {d for (d,) in (await session.execute(select(Game.game_date).where(Game.season == 2033)))}
    )
    cut = days[3]
    ml_outcomes = (
        select(Outcome.id)
        .join(Market, Market.id == Outcome.market_id)
        .join(Game, Game.id == Market.game_id)
        .where(Market.market_type == "moneyline", Game.season == 2033)
    )
    early = ml_outcomes.where(Game.game_date < cut)
    late = ml_outcomes.where(Game.game_date >= cut)
    await session.execute(
        delete(OddsSnapshot).where(OddsSnapshot.outcome_id.in_(late), OddsSnapshot.kind == "close")
    )
    await session.execute(
        delete(OddsSnapshot).where(OddsSnapshot.outcome_id.in_(early), OddsSnapshot.kind != "close")
    )
    split = await _evaluate(session, settings, seasons=[2033])
    ml = _markets(split, 2033)["moneyline"]
    assert ml["same_games"]["n"] == 0 and ml["close"]["n"] > 0
    assert ml["p_true"]["n"] == ml["consensus"]["n"] > 100
    line = next(x for x in split["by_season"]["2033"]["summary"] if "moneyline Brier" in x)
    assert f"on the same {ml['p_true']['n']} games" in line
    assert "the close cannot be compared: only 0 of these games have a closing price" in line
    assert f"{ml['close']['brier']:.4f}" not in line


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


FORECAST_KEYS = {"n", "brier", "log_loss", "ece"}
LEGACY_BETS = {
    "n",
    "n_at_open",
    "wins",
    "hit_rate",
    "mean_odds",
    "roi",
    "roi_ci_low",
    "roi_ci_high",
    "mean_clv",
    "mean_clv_at_open",
    "positive_clv_share",
}


def _check_legacy_keys(report: dict[str, Any], seasons: list[int], algorithms: set[str]) -> None:
    """The keys `edgelab backtest --json` wrote before the value model, in their old shapes."""
    assert report["algorithms"] == sorted(algorithms)
    assert [f["season"] for f in report["fits"]] == seasons
    for fit in report["fits"]:
        assert {"season", "history_games", "params", "reliability"} <= set(fit)
        assert (fit["history_games"] > 0) == (fit["season"] > 2031)  # the first has no past
        assert "consensus of the books" in fit["model"]
        assert set(fit["reliability"]) == {"moneyline", "spread", "total", "prop"}
        assert fit["params"]["spread_sigma"] > 0
    assert [row["season"] for row in report["table"]] == [*seasons, "all"]
    for row in report["table"]:
        for col in ("moneyline_close", "spread_close", "spread_open", "total_close", "total_open"):
            cell = row[col]
            assert set(cell) == {
                "n",
                "p_true_brier",
                "market_brier",
                "p_true_log_loss",
                "market_log_loss",
            }
            assert cell["n"] > 0 and 0 < cell["market_brier"] < 0.3, (row["season"], col)
        keys = {f"bets_{a}{t}" for a in algorithms for t in (50, 70)}
        assert {k for k in row if k.startswith("bets_")} == keys
        for key in keys:
            assert set(row[key]) == {"n", "hit_rate", "roi", "mean_clv"}
    assert set(report["by_season"]) == {*map(str, seasons), "all"}
    for by_type in report["by_season"].values():
        assert set(by_type) == {"all", "moneyline", "spread", "total"}
        top = by_type["all"]
        for key in ("p_true", "market_close", "market_open"):
            assert set(top[key]) == FORECAST_KEYS and top[key]["n"] > 0, key
        assert set(top["algorithms"]) == algorithms
        for algo in top["algorithms"].values():
            assert algo["probability"] == "p_true" and set(algo["bets"]) == {"50", "70"}
            assert all(set(b) == LEGACY_BETS for b in algo["bets"].values())
        diff = top["p_true_minus_market_close"]["brier"]
        assert {"a", "b", "difference", "ci_low", "ci_high", "p_value", "significant"} <= set(diff)
        assert bool(top["a_vs_b"]) == (len(algorithms) == 2) and top["summary"]


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
    assert report["bets"] and all(set(b) == BET_FIELDS for b in report["bets"])
    assert len(report["bet_outcomes"]) == len(report["bets"])
    assert {b["season"] for b in report["bets"]} == {2032, 2033}
    _check_legacy_keys(report, [2032, 2033], {"a", "b"})
    # the legacy bets are the value model's flagged bets (props have no result), pushes left out
    decided = [
        o
        for b, o in zip(report["bets"], report["bet_outcomes"], strict=True)
        if b["season"] == 2033 and "a>=50" in b["flagged_by"] and o["result"] in ("won", "lost")
    ]
    legacy = report["by_season"]["2033"]["all"]["algorithms"]["a"]["bets"]["50"]
    assert legacy["n"] == len(decided) > 0
    assert legacy["wins"] == sum(o["result"] == "won" for o in decided)
    assert "Brier score" in r.output and "2032-33, spreads and totals" in r.output
    assert asyncio.run(_stored(url)) == []  # some seasons only: not the served report

    whole = runner.invoke(
        app, ["backtest", "--bootstrap", "100", "--algorithms", "a", "--json", str(out)], env=env
    )
    assert whole.exit_code == 0, whole.output
    assert asyncio.run(_stored(url)) == [("ready", [2031, 2032, 2033])]
    _check_legacy_keys(json.loads(out.read_text()), [2031, 2032, 2033], {"a"})

    bad = runner.invoke(app, ["backtest", "--seasons", "2040"], env=env)
    assert bad.exit_code == 1 and "cannot be evaluated" in bad.output
    assert runner.invoke(app, ["backtest", "--seasons", "twenty"], env=env).exit_code == 2
    assert runner.invoke(app, ["backtest", "--algorithms", "c"], env=env).exit_code == 2


def test_cli_backtest_pools_only_the_seasons_the_value_model_was_not_tuned_on(
    tmp_path: Path, monkeypatch
):
    from edgelab.cli import app

    monkeypatch.setattr(report, "TUNED_ON", (2032,))
    url = _cli_database(tmp_path)
    out = tmp_path / "bt.json"
    env = {"EDGELAB_DATABASE_URL": url, "EDGELAB_LOG_LEVEL": "WARNING", "COLUMNS": "220"}
    args = ["backtest", "--seasons", "2032,2033", "--json", str(out), "--bootstrap", "100"]
    r = CliRunner().invoke(app, args, env=env)
    assert r.exit_code == 0, r.output
    data = json.loads(out.read_text())
    assert data["tuned_on"] == [2032]
    assert data["seasons"]["2032"]["in_sample"] and not data["seasons"]["2033"]["in_sample"]
    assert data["all_seasons"]["seasons"] == [2033] and data["all_seasons"]["left_out"] == [2032]
    assert data["all_seasons"]["spread"] == data["seasons"]["2033"]["spread"]
    assert data["by_season"]["all"]["all"]["seasons"] == [2033]
    assert data["by_season"]["2032"]["all"]["in_sample"]
    table = {row["season"]: row for row in data["table"]}
    assert table[2032]["in_sample"] and table["all"]["spread_close"] == table[2033]["spread_close"]
    assert "2032 (in sample)" in r.output  # the tables
    assert "Out-of-sample seasons only (2032-33): 2031-32, which the value model" in r.output


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
