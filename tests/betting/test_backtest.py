"""The walk-forward backtest on synthetic seasons imported through the real importer and
database: settlement, no look-ahead, the same scores as the live slate, CLV, re-runs, the CLI."""

from __future__ import annotations

import asyncio
import json
import math
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from typer.testing import CliRunner

from edgelab.betting.evaluation import backtest
from edgelab.betting.evaluation.backtest import BacktestResult
from edgelab.betting.markets import forecast
from edgelab.betting.markets.models import ValueScore
from edgelab.betting.markets.slate import score_slate
from edgelab.betting.odds import ids
from edgelab.betting.odds.ingest import import_parsed
from edgelab.betting.odds.models import Game, OddsSnapshot
from edgelab.betting.odds.nba_csv import parse_nba_text
from edgelab.core import migrations
from edgelab.core.db import create_engine, create_sessionmaker
from edgelab.core.settings import Settings
from tests.betting.factories import SyntheticSeasons, import_synthetic, synthetic_seasons
from tests.fixtures.database import make_settings

DAYS = 30  # per season; 8 games a day


async def _run(session: AsyncSession, **kwargs: object) -> BacktestResult:
    data = await backtest.load_backtest_data(session)
    return backtest.run_backtest(data, **kwargs)  # type: ignore[arg-type]


@pytest.fixture
async def three(session: AsyncSession, settings: Settings) -> SyntheticSeasons:
    data = synthetic_seasons(seasons=3, days_per_season=DAYS)
    await import_synthetic(session, settings, data)
    return data


async def test_every_season_after_the_first_is_scored_at_open_and_close(session, three):
    result = await _run(session)
    assert result.seasons == [2032, 2033]  # 2030-31 only trains
    games = 8 * DAYS
    for season in result.seasons:
        rows = result.season == season
        kinds = {
            (t, k): int(np.sum(rows & (result.market_type == t) & (result.kind == k)))
            for t in ("moneyline", "spread", "total")
            for k in ("open", "close")
        }
        assert kinds == {
            ("moneyline", "open"): 0,  # the data has no opening moneylines
            ("moneyline", "close"): games,
            ("spread", "open"): games,
            ("spread", "close"): games,
            ("total", "open"): games,
            ("total", "close"): games,
        }
    # bets are taken at the open for spreads and totals, at the close for moneylines
    entry = {
        (t, k) for t, k, e in zip(result.market_type, result.kind, result.entry, strict=True) if e
    }
    assert entry == {("moneyline", "close"), ("spread", "open"), ("total", "open")}
    assert np.all((result.score_a >= 0) & (result.score_a <= 100))
    assert np.all((result.score_b >= 0) & (result.score_b <= 100))


async def test_markets_are_settled_against_the_final_score(session, three):
    data = await backtest.load_backtest_data(session)
    result = backtest.run_backtest(data)
    scores = {
        g.id: (g.home_score, g.away_score) for g in (await session.execute(select(Game))).scalars()
    }
    checked = 0
    for i in range(result.game.size):
        home, away = scores[str(data.game_id[result.game[i]])]
        mtype, line, y = result.market_type[i], result.line[i], result.outcome[i]
        if mtype == "moneyline":
            expected = 1.0 if home > away else 0.0
        elif mtype == "spread":
            expected = math.nan if home - away + line == 0 else float(home - away + line > 0)
        else:
            expected = math.nan if home + away == line else float(home + away > line)
        assert (math.isnan(expected) and math.isnan(y)) or expected == y, (mtype, line, home, away)
        checked += 1
    assert checked == result.game.size


def test_settlement_of_pushes_and_missing_results():
    y = forecast.settle_first_side(
        np.array(["spread", "spread", "total", "total", "moneyline", "spread"]),
        np.array([-5.0, -4.5, 210.0, 209.5, np.nan, np.nan]),
        np.array([110.0, 110.0, 105.0, 105.0, np.nan, 100.0]),
        np.array([105.0, 105.0, 105.0, 105.0, np.nan, 90.0]),
    )
    # home by 5: push on -5, covers -4.5; total lands on 210 (push); over 209.5; unplayed; no line
    np.testing.assert_array_equal(y, [np.nan, 1.0, np.nan, 1.0, np.nan, np.nan])


async def test_a_season_is_predicted_only_from_earlier_days(session, three):
    """Changing results from mid-season S on changes no prediction of S up to that day, does
    change S's later days (ratings move game by game) and season S+1 (fitted on S)."""
    before = await _run(session)
    mid = three.dates[DAYS + DAYS // 2]  # a day in the middle of 2031-32
    await session.execute(
        update(Game)
        .where(Game.season == 2032, Game.game_date >= mid)
        .values(home_score=Game.away_score, away_score=Game.home_score)
    )
    after = await _run(session)
    data = await backtest.load_backtest_data(session)
    days = data.day[after.game]
    np.testing.assert_array_equal(before.game, after.game)
    s = after.season == 2032
    upto = s & (days <= mid.toordinal())
    later = s & (days > mid.toordinal())
    np.testing.assert_array_equal(before.p_true[upto], after.p_true[upto])
    np.testing.assert_array_equal(before.score_a[upto], after.score_a[upto])
    np.testing.assert_array_equal(before.score_b[upto], after.score_b[upto])
    assert before.fits[0] == after.fits[0]  # 2032's fit saw nothing of 2032
    assert not np.array_equal(before.p_true[later], after.p_true[later])
    nxt = after.season == 2033
    assert not np.array_equal(before.p_true[nxt], after.p_true[nxt])
    assert before.fits[1] != after.fits[1]


async def test_first_day_of_a_season_scores_exactly_as_the_live_slate(session, settings, three):
    """On a season's first day the slate and the backtest fit on the same past: same numbers."""
    day = three.dates[DAYS]  # first day of 2031-32
    await score_slate(session, settings, day)
    live = {
        (r.outcome_id, r.odds_kind): r
        for r in (
            await session.execute(select(ValueScore).where(ValueScore.slate_date == day))
        ).scalars()
    }
    data = await backtest.load_backtest_data(session)
    result = backtest.run_backtest(data, seasons=[2032])
    on_day = np.flatnonzero(data.day[result.game] == day.toordinal())
    assert on_day.size == 8 * 5
    for i in on_day:
        gid = str(data.game_id[result.game[i]])
        mtype = str(result.market_type[i])
        for side_index, side in enumerate(ids.SIDES[mtype]):
            row = live[(ids.outcome_id(gid, mtype, side), str(result.kind[i]))]
            p = result.p_true[i] if side_index == 0 else 1 - result.p_true[i]
            p_mkt = result.p_market[i, result.method_index]
            assert row.p_true == pytest.approx(p, abs=1e-12)
            assert row.p_market == pytest.approx(p_mkt if side_index == 0 else 1 - p_mkt)
            assert row.algo_a_value_score == pytest.approx(result.score_a[i, side_index])
            assert row.algo_b_value_score == pytest.approx(result.score_b[i, side_index])
    assert result.fits[0].reliability == pytest.approx(_reliability_of(live))


def _reliability_of(live: dict[tuple[str, str], ValueScore]) -> dict[str, float]:
    out = {"prop": 0.0}
    for (oid, _kind), row in live.items():
        mtype = "moneyline" if "-ml-" in oid else ("spread" if "-spread-" in oid else "total")
        out[mtype] = row.algo_b_components["reliability"]
    return out


async def test_closing_line_value_is_the_fair_close_at_the_taken_line_minus_one_over_odds(
    session, three
):
    data = await backtest.load_backtest_data(session)
    result = backtest.run_backtest(data)
    assert result.clv.shape == (result.game.size, 2)
    opens = np.flatnonzero((result.kind == "open") & (result.market_type == "spread"))
    moved = 0
    for i in opens[:200]:
        j = np.flatnonzero(
            (result.game == result.game[i])
            & (result.market_type == "spread")
            & (result.kind == "close")
        )[0]
        sd = next(f for f in result.fits if f.season == result.season[i]).params["sd_margin"]
        # both lines at -110/-110 (fair 50/50): home taken at L_o, market closes at L_c, so
        # home's fair closing chance at L_o is Phi((L_o - L_c) / sd); the bettor paid 1/odds
        assert tuple(result.odds[i]) == pytest.approx((1 + 100 / 110, 1 + 100 / 110))
        p_home = 0.5 * (1 + math.erf((result.line[i] - result.line[j]) / sd / math.sqrt(2)))
        assert result.clv[i, 0] == pytest.approx(p_home - 1 / result.odds[i, 0], abs=1e-9)
        assert result.clv[i, 1] == pytest.approx((1 - p_home) - 1 / result.odds[i, 1], abs=1e-9)
        moved += result.line[i] != result.line[j]
    assert moved > 50
    # a bet at the closing price beats nothing and paid the margin: fair p minus 1/odds < 0
    close = np.flatnonzero(result.kind == "close")
    fair = result.p_market[close, result.method_index]
    assert result.clv[close, 0] == pytest.approx(fair - 1 / result.odds[close, 0])
    assert result.clv[close, 1] == pytest.approx((1 - fair) - 1 / result.odds[close, 1])
    assert np.all(result.clv[close] < 0)


async def test_an_unknown_season_is_refused(session, three):
    with pytest.raises(LookupError, match="2031"):
        await _run(session, seasons=[2031])  # the first season only trains
    with pytest.raises(LookupError, match="2040"):
        await _run(session, seasons=[2040])


async def test_a_later_season_imported_afterwards_is_picked_up(session, settings):
    data = synthetic_seasons(seasons=3, days_per_season=DAYS)
    header, *rows = data.csv_text.splitlines()
    early = [r for r in rows if not r.startswith("2032-33")]
    late = [r for r in rows if r.startswith("2032-33")]
    parse = parse_nba_text
    await import_parsed(session, parse("\n".join([header, *early]) + "\n", name="a.csv"), settings)
    fp1 = await backtest.data_fingerprint(session)
    first = await _run(session)
    assert first.seasons == [2032] and fp1.seasons == (2032,)
    await import_parsed(session, parse("\n".join([header, *late]) + "\n", name="b.csv"), settings)
    fp2 = await backtest.data_fingerprint(session)
    second = await _run(session)
    assert second.seasons == [2032, 2033] and fp2.seasons == (2032, 2033)
    assert fp1.digest != fp2.digest
    s = second.season == 2032
    np.testing.assert_array_equal(first.p_true, second.p_true[s])  # the past did not move


async def test_the_fingerprint_changes_with_a_result_or_a_price_and_only_then(session, three):
    fp = await backtest.data_fingerprint(session)
    assert await backtest.data_fingerprint(session) == fp
    gid = (await session.execute(select(Game.id).limit(1))).scalar_one()
    await session.execute(update(Game).where(Game.id == gid).values(home_score=Game.home_score + 1))
    fp2 = await backtest.data_fingerprint(session)
    assert fp2.digest != fp.digest
    sid = (await session.execute(select(OddsSnapshot.id).limit(1))).scalar_one()
    await session.execute(
        update(OddsSnapshot).where(OddsSnapshot.id == sid).values(odds_decimal=1.95)
    )
    assert (await backtest.data_fingerprint(session)).digest != fp2.digest


def _cli_database(tmp_path: Path) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    settings = make_settings(url)
    migrations.upgrade(settings)

    async def load() -> None:
        engine = create_engine(settings)
        try:
            async with create_sessionmaker(engine)() as session, session.begin():
                await import_synthetic(
                    session, settings, synthetic_seasons(seasons=3, days_per_season=DAYS)
                )
        finally:
            await engine.dispose()

    asyncio.run(load())
    return url


def test_cli_backtest_prints_tables_and_writes_json(tmp_path: Path):
    from edgelab.cli import app

    url = _cli_database(tmp_path)
    out = tmp_path / "report" / "bt.json"
    env = {"EDGELAB_DATABASE_URL": url, "EDGELAB_LOG_LEVEL": "WARNING", "COLUMNS": "200"}
    runner = CliRunner()
    r = runner.invoke(
        app,
        ["backtest", "--seasons", "2032-2033", "--json", str(out), "--bootstrap", "200"],
        env=env,
    )
    assert r.exit_code == 0, r.output
    report = json.loads(out.read_text())
    assert report["seasons"] == [2032, 2033] and report["algorithms"] == ["a", "b"]
    top = report["by_season"]["2033"]["all"]
    for key in ("p_true", "market_close"):
        assert {"n", "brier", "log_loss", "ece"} <= set(top[key]) and top[key]["n"] > 0
    assert [row["season"] for row in report["table"]] == [2032, 2033, "all"]
    assert "Brier score" in r.output and "2033" in r.output

    only_a = runner.invoke(
        app, ["backtest", "--algorithms", "a", "--json", str(out), "--bootstrap", "100"], env=env
    )
    assert only_a.exit_code == 0, only_a.output
    report = json.loads(out.read_text())
    assert set(report["by_season"]["all"]["all"]["algorithms"]) == {"a"}

    bad = runner.invoke(app, ["backtest", "--seasons", "2031"], env=env)
    assert bad.exit_code == 1 and "cannot be evaluated" in bad.output
    assert runner.invoke(app, ["backtest", "--seasons", "twenty"], env=env).exit_code == 2
    assert runner.invoke(app, ["backtest", "--algorithms", "c"], env=env).exit_code == 2


def test_season_ranges_are_parsed():
    from edgelab.betting.commands import parse_seasons as _parse_seasons

    assert _parse_seasons("2009-2011,2015") == [2009, 2010, 2011, 2015]
    assert _parse_seasons(None) is None
