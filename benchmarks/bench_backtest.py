"""Benchmark of the walk-forward backtest over every shipped season, both algorithms, one core.

Builds a SQLite database with the shipped real data (or reuses ``--db``), then times:

1. loading games and open/close odds from the database into arrays (`load_backtest_data`);
2. the backtest itself (`run_backtest`): per season, fit on everything before it, rate game by
   game, score every market at the open and the close with algorithms A and B, settle;
3. the metrics: the per-season table and the pooled A-vs-B comparison (bootstrap included).

Target: (1) + (2) under 30 s on one core. The process is pinned to one CPU and BLAS to one
thread before NumPy loads. Then it prints p_true's Brier score and log loss beside the
de-vigged closing and opening lines, per season, and the bets of both algorithms.

Run: ``.venv/bin/python benchmarks/bench_backtest.py [--db PATH]``. It prints figures; it never
fails on a missed target.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"
if hasattr(os, "sched_setaffinity"):
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})

import argparse  # noqa: E402
import asyncio  # noqa: E402
import platform  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

from edgelab.betting.commands import shipped_nba_files  # noqa: E402
from edgelab.betting.evaluation import backtest  # noqa: E402
from edgelab.betting.evaluation import report as evaluation_report  # noqa: E402
from edgelab.betting.odds.ingest import import_parsed  # noqa: E402
from edgelab.betting.odds.nba_csv import parse_nba_csv  # noqa: E402
from edgelab.core import migrations  # noqa: E402
from edgelab.core.db import create_engine, create_sessionmaker  # noqa: E402
from edgelab.core.settings import Settings  # noqa: E402

TARGET_S = 30.0
COLUMNS = (
    ("moneyline", "close"),
    ("spread", "close"),
    ("spread", "open"),
    ("total", "close"),
    ("total", "open"),
)


def settings_for(db: Path) -> Settings:
    return Settings(_env_file=None, database_url=f"sqlite+aiosqlite:///{db}", log_level="WARNING")  # type: ignore[call-arg]


async def build(settings: Settings) -> None:
    engine = create_engine(settings)
    try:
        async with create_sessionmaker(engine)() as session, session.begin():
            for path in shipped_nba_files():
                await import_parsed(session, parse_nba_csv(path), settings)
    finally:
        await engine.dispose()


async def load(settings: Settings) -> backtest.BacktestData:
    engine = create_engine(settings)
    try:
        async with create_sessionmaker(engine)() as session:
            data = await backtest.load_backtest_data(session)
            data.fingerprint = (await backtest.data_fingerprint(session)).digest
            return data
    finally:
        await engine.dispose()


def cell(x: float | None) -> str:
    return "   -  " if x is None else f"{x:.4f}"


def print_forecasts(rows: list[dict[str, Any]], metric: str) -> None:
    print(f"\n{metric.replace('_', ' ')}: p_true / de-vigged market (lower is better)")
    head = "".join(f"{f'{t} {k}':>19}" for t, k in COLUMNS)
    print(f"{'season':<8}{head}")
    for row in rows:
        cells = []
        for t, k in COLUMNS:
            c = row[f"{t}_{k}"]
            cells.append(f"{cell(c[f'p_true_{metric}'])} / {cell(c[f'market_{metric}'])}")
        print(f"{row['season']!s:<8}" + "".join(f"{c:>19}" for c in cells))


def print_bets(rows: list[dict[str, Any]]) -> None:
    print("\nbets at the price taken (open where the data has one): n, hit rate, ROI, mean CLV")
    keys = ("a50", "a70", "b50", "b70")
    print(f"{'season':<8}" + "".join(f"{k.upper()[0] + ' >= ' + k[1:]:>30}" for k in keys))
    for row in rows:
        out = []
        for k in keys:
            b = row[f"bets_{k}"]
            if not b["n"]:
                out.append("0")
                continue
            clv = "n/a" if b["mean_clv"] is None else f"{b['mean_clv'] * 100:+.2f} pts"
            out.append(f"{b['n']} {b['hit_rate']:.1%} {b['roi']:+.1%} {clv}")
        print(f"{row['season']!s:<8}" + "".join(f"{c:>30}" for c in out))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", type=Path, help="SQLite file to reuse (built first if missing)")
    args = ap.parse_args()
    tmp = None
    if args.db is None:
        tmp = tempfile.TemporaryDirectory(prefix="edgelab-bench-bt-")
        db = Path(tmp.name) / "bench.db"
    else:
        db = args.db
    settings = settings_for(db)
    print(
        f"edgelab backtest benchmark: python {platform.python_version()}, numpy "
        f"{np.__version__}, {platform.machine()}, pinned to 1 of {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.2f}"
    )
    if not db.exists():
        t0 = time.perf_counter()
        migrations.upgrade(settings)
        asyncio.run(build(settings))
        print(f"database built in {time.perf_counter() - t0:.1f} s (not timed): {db}")
    try:
        t0 = time.perf_counter()
        data = asyncio.run(load(settings))
        t_load = time.perf_counter() - t0
        t0 = time.perf_counter()
        result = backtest.run_backtest(data, devig_method=settings.devig_method)
        t_run = time.perf_counter() - t0
        t0 = time.perf_counter()
        rows = evaluation_report.season_rows(result)
        pooled = evaluation_report.compare(result)
        t_metrics = time.perf_counter() - t0
    finally:
        if tmp is not None:
            tmp.cleanup()

    print(
        f"\n{len(data.day):,} games, {len(data.line):,} two-way markets (open and close); "
        f"seasons evaluated {result.seasons[0]}..{result.seasons[-1]} ({len(result.seasons)}), "
        f"the first season in the data only trains"
    )
    print(f"  load from the database     {t_load:6.2f} s")
    print(f"  backtest, both algorithms  {t_run:6.2f} s")
    print(f"  metrics (table + compare)  {t_metrics:6.2f} s")
    total = t_load + t_run
    verdict = "MET" if total <= TARGET_S else "NOT MET"
    print(f"target: load + backtest {total:.2f} s <= {TARGET_S:.0f} s on one core: {verdict}")

    print_forecasts(rows, "brier")
    print_forecasts(rows, "log_loss")
    print_bets(rows)
    print("\npooled over every evaluated season and market type:")
    for line in pooled["summary"]:
        print(f"  {line}")


if __name__ == "__main__":
    main()
