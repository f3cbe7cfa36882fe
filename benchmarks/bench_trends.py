"""Benchmark of the situational trends (`GET /trends`) over every shipped season, on one core.

Builds a SQLite database with the shipped real data (or reuses ``--db``), then times:

1. loading games and open/close lines into arrays (`trends_service.load_trend_games`: the
   backtest's loader plus one aggregate query), done once per data fingerprint by the API;
2. computing every trend over all seasons (`report.compute_trends`): rest days, situations,
   settlement, Wilson intervals, ROI intervals, p-values, Benjamini-Hochberg; best of ``--repeat``.

Target: (2) under 1 s on one core. Then it prints how many trends there are, how many have a raw
p-value <= 0.05 and how many survive the correction, and the five with the lowest q-values.

Run: ``.venv/bin/python benchmarks/bench_trends.py [--db PATH]``. It prints figures; it never
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

import numpy as np  # noqa: E402

from edgelab.betting.commands import shipped_nba_files  # noqa: E402
from edgelab.betting.odds.ingest import import_parsed  # noqa: E402
from edgelab.betting.odds.nba_csv import parse_nba_csv  # noqa: E402
from edgelab.betting.trends import service as trends_service  # noqa: E402
from edgelab.betting.trends.games import TrendGames  # noqa: E402
from edgelab.betting.trends.report import compute_trends  # noqa: E402
from edgelab.core import migrations  # noqa: E402
from edgelab.core.db import create_engine, create_sessionmaker  # noqa: E402
from edgelab.core.settings import Settings  # noqa: E402

TARGET_S = 1.0


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


async def load(settings: Settings) -> TrendGames:
    engine = create_engine(settings)
    try:
        async with create_sessionmaker(engine)() as session:
            return await trends_service.load_trend_games(session)
    finally:
        await engine.dispose()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", type=Path, help="SQLite file to reuse (built first if missing)")
    ap.add_argument("--repeat", type=int, default=5, help="computations timed (best is kept)")
    args = ap.parse_args()
    tmp = None
    if args.db is None:
        tmp = tempfile.TemporaryDirectory(prefix="edgelab-bench-trends-")
        db = Path(tmp.name) / "bench.db"
    else:
        db = args.db
    settings = settings_for(db)
    print(
        f"edgelab trends benchmark: python {platform.python_version()}, numpy "
        f"{np.__version__}, {platform.machine()}, pinned to 1 of {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.2f}"
    )
    try:
        if not db.exists():
            t0 = time.perf_counter()
            migrations.upgrade(settings)
            asyncio.run(build(settings))
            print(f"database built in {time.perf_counter() - t0:.1f} s (not timed): {db}")
        t0 = time.perf_counter()
        games = asyncio.run(load(settings))
        t_load = time.perf_counter() - t0
    finally:
        if tmp is not None:
            tmp.cleanup()

    times = []
    for _ in range(max(1, args.repeat)):
        t0 = time.perf_counter()
        doc = compute_trends(games, devig_method=settings.devig_method)
        times.append(time.perf_counter() - t0)
    best = min(times)
    seasons = doc["seasons"]
    print(f"\n{games.size:,} games, seasons {seasons[0]}..{seasons[1]}")
    print(f"  load from the database      {t_load:6.2f} s (once per data fingerprint)")
    print(f"  compute every trend         {best:6.3f} s (best of {len(times)})")
    verdict = "MET" if best <= TARGET_S else "NOT MET"
    print(f"target: compute {best:.3f} s <= {TARGET_S:.0f} s on one core: {verdict}")

    raw = sum(t["p_value"] <= doc["alpha"] for t in doc["trends"])
    print(
        f"\n{doc['n_trends']} trends (n >= {doc['min_n']}): {raw} with a raw p-value <= "
        f"{doc['alpha']}, {doc['n_significant']} survive Benjamini-Hochberg at q <= {doc['alpha']}"
    )
    print(f"{'trend':<34}{'n':>7}{'rate':>8}{'null':>8}{'ROI':>8}{'p':>9}{'q':>8}")
    for t in doc["trends"][:5]:
        print(
            f"{t['id']:<34}{t['n']:>7}{t['rate']:>8.3f}{t['null_rate']:>8.3f}{t['roi']:>+8.3f}"
            f"{t['p_value']:>9.4f}{t['q_value']:>8.3f}"
        )


if __name__ == "__main__":
    main()
