"""Importing NBA files into the database: idempotent, merging, all-or-nothing."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from typer.testing import CliRunner

from edgelab.betting.odds.ingest import STANDARD_PRICE, import_parsed
from edgelab.betting.odds.models import Game, IngestRun, OddsSnapshot
from edgelab.betting.odds.nba_csv import parse_nba_text
from edgelab.cli import app as cli_app
from edgelab.core import migrations
from edgelab.core.settings import Settings
from tests.betting.factories import import_synthetic, synthetic_seasons
from tests.fixtures.database import make_settings

KAGGLE = (
    "season,date,regular,playoffs,away,home,score_away,score_home,q1_away,q2_away,q3_away,"
    "q4_away,ot_away,q1_home,q2_home,q3_home,q4_home,ot_home,whos_favored,spread,total,"
    "moneyline_away,moneyline_home,h2_spread,h2_total,id_spread,id_total\n"
    "2041,2040-11-02,True,False,gs,sa,97,106,26,23,28,20,0,29,30,22,25,0,home,13.0,189.5,900,-1400,5,95.0,0,1\n"
)
SBR_GAMES = (
    "season,date,neutral_site,away_team,home_team,away_rot,home_rot,away_score,home_score,"
    "away_q1,away_q2,away_q3,away_q4,home_q1,home_q2,home_q3,home_q4,home_spread_open,"
    "home_spread_close,total_open,total_close,away_ml,home_ml,home_spread_2h,total_2h,"
    "flag_ml_spread_disagree\n"
    "2040-41,2040-11-02,False,GSW,SAS,501,502,97,106,26,23,28,20,29,30,22,25,-12.0,-13.0,"
    "191.0,189.5,900.0,-1400.0,-5.0,95.0,0\n"
)


async def _count(session: AsyncSession, model: type) -> int:
    return int((await session.execute(select(func.count()).select_from(model))).scalar_one())


async def test_importing_the_same_file_twice_changes_nothing(
    session: AsyncSession, settings: Settings
):
    data = synthetic_seasons(seasons=1, days_per_season=5)
    first = await import_synthetic(session, settings, data)
    games, snaps = await _count(session, Game), await _count(session, OddsSnapshot)
    second = await import_synthetic(session, settings, data)
    assert first.games_new == 40 and first.snapshots_new == 40 * 10
    assert second.games_new == 0 and second.snapshots_new == 0 and second.snapshots_updated == 0
    assert second.games_unchanged == 40 and second.snapshots_unchanged == 400
    assert (await _count(session, Game), await _count(session, OddsSnapshot)) == (games, snaps)


async def test_overlapping_files_in_two_layouts_merge_into_one_game(
    session: AsyncSession, settings: Settings
):
    k = await import_parsed(session, parse_nba_text(KAGGLE, name="k.csv"), settings)
    s = await import_parsed(session, parse_nba_text(SBR_GAMES, name="s.csv"), settings)
    assert k.games_new == 1 and s.games_new == 0 and s.games_updated == 1  # neutral flag filled
    game = await session.get(Game, "nba-2040-11-02-sas-gsw")
    assert game is not None and (game.home_score, game.away_score) == (106, 97)
    rows = (
        await session.execute(
            select(
                OddsSnapshot.outcome_id,
                OddsSnapshot.kind,
                OddsSnapshot.odds_decimal,
                OddsSnapshot.line,
            ).where(OddsSnapshot.outcome_id.like("nba-2040-11-02-sas-gsw-%"))
        )
    ).all()
    by_key = {
        (oid.rsplit("-", 2)[-2] + "-" + oid.rsplit("-", 1)[-1], kind): (odds, line)
        for oid, kind, odds, line in rows
    }
    assert by_key[("ml-home", "close")][0] == pytest.approx(1 + 100 / 1400)
    assert by_key[("ml-away", "close")][0] == pytest.approx(10.0)
    assert by_key[("spread-home", "close")] == (pytest.approx(STANDARD_PRICE), -13.0)
    assert by_key[("spread-away", "open")] == (pytest.approx(STANDARD_PRICE), 12.0)
    assert by_key[("total-over", "open")][1] == 191.0
    assert len(rows) == 10  # closing lines agree between the files: merged, not duplicated


async def test_a_changed_price_in_a_later_file_is_updated_and_counted(
    session: AsyncSession, settings: Settings
):
    await import_parsed(session, parse_nba_text(KAGGLE, name="k.csv"), settings)
    changed = KAGGLE.replace("900,-1400", "800,-1300")
    stats = await import_parsed(session, parse_nba_text(changed, name="k2.csv"), settings)
    assert stats.snapshots_updated == 2
    snap = (
        await session.execute(
            select(OddsSnapshot).where(OddsSnapshot.outcome_id == "nba-2040-11-02-sas-gsw-ml-away")
        )
    ).scalar_one()
    assert snap.odds_decimal == pytest.approx(9.0)


async def test_each_import_is_recorded_with_its_counts(session: AsyncSession, settings: Settings):
    await import_parsed(session, parse_nba_text(KAGGLE, name="k.csv"), settings)
    run = (await session.execute(select(IngestRun).where(IngestRun.source == "k.csv"))).scalar_one()
    assert run.kind == "nba_csv" and run.stats["games_new"] == 1 and run.finished_at is not None


def test_cli_rejects_a_malformed_file_naming_the_line_and_writes_nothing(
    tmp_path: Path, monkeypatch
):
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    migrations.upgrade(make_settings(url))
    monkeypatch.setenv("EDGELAB_DATABASE_URL", url)
    good = tmp_path / "good.csv"
    good.write_text(KAGGLE)
    bad = tmp_path / "bad.csv"
    bad.write_text(KAGGLE + KAGGLE.splitlines()[1].replace(",97,", ",ninety,") + "\n")
    result = CliRunner().invoke(cli_app, ["import", "nba-csv", str(good), str(bad)])
    assert result.exit_code == 1
    assert "bad.csv, line 3" in result.output and "Nothing was written" in result.output
    result = CliRunner().invoke(cli_app, ["import", "nba-csv", str(good)])
    assert result.exit_code == 0, result.output
    assert "good.csv" in result.output
    again = CliRunner().invoke(cli_app, ["import", "nba-csv", str(good)])
    assert again.exit_code == 0
    import sqlite3

    with sqlite3.connect(tmp_path / "cli.db") as db:
        assert db.execute("select count(*) from games").fetchone()[0] == 1
        assert db.execute("select count(*) from odds_snapshots").fetchone()[0] == 6
        assert db.execute("select count(*) from ingest_runs").fetchone()[0] == 2


async def test_changing_the_estimated_tip_time_moves_times_instead_of_duplicating(
    session: AsyncSession, settings: Settings
):
    await import_parsed(session, parse_nba_text(KAGGLE, name="k.csv"), settings)
    before = await _count(session, OddsSnapshot)
    later = settings.model_copy(update={"default_tip_time": dt.time(21, 0)})
    stats = await import_parsed(session, parse_nba_text(KAGGLE, name="k.csv"), later)
    assert stats.snapshots_new == 0 and stats.snapshots_updated == 6
    assert await _count(session, OddsSnapshot) == before
    game = await session.get(Game, "nba-2040-11-02-sas-gsw")
    assert game is not None and game.tip_time == dt.datetime(
        2040, 11, 3, 1, 0, tzinfo=dt.UTC
    )  # 21:00 EDT
    snap = (
        await session.execute(
            select(OddsSnapshot).where(OddsSnapshot.outcome_id == "nba-2040-11-02-sas-gsw-ml-home")
        )
    ).scalar_one()
    assert snap.captured_at == dt.datetime(2040, 11, 3, 0, 55, tzinfo=dt.UTC)  # 5 min before tip


def test_a_cli_import_clears_the_shared_redis_cache(tmp_path: Path, monkeypatch, redis_url: str):
    import asyncio

    from edgelab.core.cache import RedisCache

    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    migrations.upgrade(make_settings(url))
    monkeypatch.setenv("EDGELAB_DATABASE_URL", url)
    monkeypatch.setenv("EDGELAB_REDIS_URL", redis_url)
    good = tmp_path / "good.csv"
    good.write_text(KAGGLE)

    async def put_then_get(put: bool) -> bytes | None:
        cache = RedisCache.from_url(redis_url)
        try:
            if put:
                await cache.set("markets:a|x", b"old ranking", 60)
            return await cache.get("markets:a|x")
        finally:
            await cache.close()

    assert asyncio.run(put_then_get(True)) == b"old ranking"
    result = CliRunner().invoke(cli_app, ["import", "nba-csv", str(good)])
    assert result.exit_code == 0, result.output
    assert asyncio.run(put_then_get(False)) is None
