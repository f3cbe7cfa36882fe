"""The evaluation on the real shipped data: Kaggle/SBR results and closing lines (one book,
2007-08 .. 2022-23) plus The Odds API's snapshots of many books (2021-22 and 2022-23), the
report computed as the job computes it, served by the API. The figures are those of the
project's value-model report (walk-forward, 2022-23 out of sample)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from unittest import mock

import httpx
import pytest

from edgelab.accounts.service import create_user
from edgelab.app import create_app
from edgelab.betting.commands import shipped_nba_files, shipped_odds_api_files
from edgelab.betting.evaluation import walkforward
from edgelab.betting.evaluation.jobs import compute_and_store
from edgelab.betting.odds.ingest import import_parsed
from edgelab.betting.odds.nba_csv import parse_nba_csv
from edgelab.betting.odds.oddsapi_import import import_odds_files, parse_odds_file
from edgelab.core.auth import issue_access_token
from edgelab.core.db import create_engine, create_sessionmaker
from edgelab.core.settings import Settings
from tests.fixtures.database import make_settings
from tests.fixtures.real_data import copy_of

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def _with_books_and_report(settings: Settings) -> None:
    """The later Kaggle seasons and the books' snapshots on top of the shared real data (which
    stops at 2018-19), then the report."""
    later = [p for p in shipped_nba_files() if p.name == "nba_2020-2023.csv"]
    files = [parse_odds_file(p, sport=settings.odds_api_sport) for p in shipped_odds_api_files()]
    engine = create_engine(settings)
    try:
        async with create_sessionmaker(engine)() as session, session.begin():
            for path in later:
                await import_parsed(session, parse_nba_csv(path), settings)
            await import_odds_files(session, files, settings)
        async with create_sessionmaker(engine)() as session, session.begin():
            await compute_and_store(session, settings)
    finally:
        await engine.dispose()


@pytest.fixture(scope="module")
def evaluated_settings(
    real_sqlite_file: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Settings]:
    settings = make_settings(copy_of(real_sqlite_file, tmp_path_factory.mktemp("evalreal")))
    asyncio.run(_with_books_and_report(settings))  # timed in benchmarks/bench_backtest.py
    yield settings


@pytest.fixture(scope="module")
async def evaluated(evaluated_settings: Settings) -> AsyncIterator[tuple[httpx.AsyncClient, dict]]:
    settings = evaluated_settings
    engine = create_engine(settings)
    try:
        async with create_sessionmaker(engine)() as session, session.begin():
            user = await create_user(session, f"analyst-{time.time_ns()}@example.com", tier="paid")
            headers = {"Authorization": f"Bearer {issue_access_token(settings, user.id)}"}
    finally:
        await engine.dispose()
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            yield c, headers


async def _get(evaluated: tuple[httpx.AsyncClient, dict], path: str) -> dict:
    client, headers = evaluated
    with mock.patch.object(walkforward, "evaluate", side_effect=AssertionError("recomputed")):
        r = await client.get(path, headers=headers)  # served from the stored report
    assert r.status_code == 200, r.text
    body: dict = r.json()
    return body


async def test_2022_23_flagged_spreads_and_totals_beat_the_close(evaluated):
    body = await _get(evaluated, "/evaluation/compare?season=2023")
    assert body["report"]["stale"] is False and not body["single_book"]
    lines = body["markets"]["spread+total"]["bets"]["default"]
    # the value-model report: 206 bets, +1.68 points incl. price [+1.32, +2.04], 73% beat it
    assert 170 <= lines["n"] <= 250
    assert lines["clv"] == pytest.approx(1.68, abs=0.25) and lines["clv_ci_low"] > 1.0
    assert 0.65 <= lines["beat_close"] <= 0.8
    shop = body["markets"]["spread"]["baselines"]["line_shopping"]
    assert shop["n"] == pytest.approx(113, abs=5) and shop["clv"] == pytest.approx(0.80, abs=0.1)
    ml = body["markets"]["moneyline"]
    # p_true is the consensus (the rating model has earned no say): 0.2149 on 665 games
    assert ml["p_true"]["n"] == ml["consensus"]["n"] == 665
    assert ml["p_true"]["brier"] == pytest.approx(0.2149, abs=5e-4)
    assert ml["blend"][0]["weight"] == 0.0 and "not" in ml["blend"][0]["evidence"]
    # closing moneylines stop on 2023-01-16, the books' mornings start late in January: the
    # close is scored on other games and the summary does not set it beside p_true
    assert ml["same_games"]["n"] < 50 and ml["close"]["n"] > 600
    brier = next(line for line in body["summary"] if "moneyline Brier" in line)
    assert "the close cannot be compared" in brier


async def test_the_season_the_value_model_was_tuned_on_is_left_out_of_the_headline(evaluated):
    pooled = await _get(evaluated, "/evaluation/compare")
    assert pooled["in_sample_seasons"] == [2022] and 2022 not in pooled["seasons"]
    assert 2023 in pooled["seasons"] and not pooled["in_sample"]
    lines = pooled["markets"]["spread+total"]["bets"]["default"]
    assert (
        lines["n"]
        == (await _get(evaluated, "/evaluation/compare?season=2023"))["markets"]["spread+total"][
            "bets"
        ]["default"]["n"]
    )  # the only out-of-sample multi-book season
    tuned = await _get(evaluated, "/evaluation/compare?season=2022")
    assert tuned["in_sample"] and tuned["summary"][0].startswith("2021-22 is in sample")
    # moneyline CLV in points of probability (p_close - 1/odds), not a return
    ml = tuned["markets"]["moneyline"]["bets"]["default"]
    assert ml["n"] > 50 and 0 < ml["clv"] < 0.03


async def test_a_single_book_season_is_forecast_and_flags_nothing(evaluated):
    body = await _get(evaluated, "/evaluation/compare?season=2019")
    assert body["single_book"] and all(
        b["n"] == 0 for m in body["markets"].values() for b in m["bets"].values()
    )
    ml = body["markets"]["moneyline"]
    assert ml["close"]["n"] == 1312 and ml["close"]["brier"] == pytest.approx(0.2046, abs=5e-4)
    assert ml["p_true"]["brier"] == ml["close"]["brier"]  # one book: the consensus is its close
    first = await _get(evaluated, "/evaluation/compare?season=2008&market_type=moneyline")
    assert first["markets"]["moneyline"]["p_true"]["n"] > 1000  # nothing to fit: evaluated too


async def test_the_calibration_of_p_true_is_served_from_the_report(evaluated):
    body = await _get(evaluated, "/evaluation/calibration?season=2023&market_type=total")
    assert body["model"]["n"] == body["market"]["n"] > 600  # the games the books quoted
    assert sum(b["count"] for b in body["model"]["bins"]) == body["model"]["n"]
