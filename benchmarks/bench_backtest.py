"""Benchmark of the value model's walk-forward evaluation on the shipped data, one core: the time
to compute a report (what the `betting.evaluate` job does after an import) and the time to serve
it (what `GET /evaluation/compare` and `/evaluation/calibration` then cost).

Builds a SQLite database with the shipped real data (Kaggle/SBR results and closing lines of
2007-08 .. 2022-23, The Odds API snapshots of 2021-22 and 2022-23) or reuses ``--db``, then
times:

1. computing the report: reading every season's quotes, pricing every market across books,
   the walk-forward blend, forecasts, flagged bets and baselines, the bootstrap intervals;
2. storing it, and serving it through the app over ASGI: the first answer of a process (the
   report loaded and parsed once), then warm answers (the fingerprint read, the cached body).

Targets: serving well under a second (the previous evaluation computed in the first request:
27 s for `/evaluation/calibration`, 21 s for `/evaluation/compare` on the demo). The process is
pinned to one CPU and BLAS to one thread before NumPy loads. It prints the 2022-23 figures the
project's value-model report measured. Run: ``.venv/bin/python benchmarks/bench_backtest.py
[--db PATH]``. It prints figures; it never fails on a missed target.
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
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import httpx  # noqa: E402
import numpy as np  # noqa: E402

from edgelab.accounts.service import create_user  # noqa: E402
from edgelab.app import create_app  # noqa: E402
from edgelab.betting.commands import shipped_nba_files, shipped_odds_api_files  # noqa: E402
from edgelab.betting.evaluation import jobs  # noqa: E402
from edgelab.betting.odds.ingest import import_parsed  # noqa: E402
from edgelab.betting.odds.nba_csv import parse_nba_csv  # noqa: E402
from edgelab.betting.odds.oddsapi_import import import_odds_files, parse_odds_file  # noqa: E402
from edgelab.core import migrations  # noqa: E402
from edgelab.core.auth import issue_access_token  # noqa: E402
from edgelab.core.db import create_engine, create_sessionmaker  # noqa: E402
from edgelab.core.settings import Settings  # noqa: E402

SERVE_TARGET_S = 1.0
WARM_REQUESTS = 20


def settings_for(db: Path) -> Settings:
    return Settings(  # type: ignore[call-arg]
        _env_file=None,
        database_url=f"sqlite+aiosqlite:///{db}",
        log_level="WARNING",
        rate_limits_enabled=False,
    )


async def build(settings: Settings) -> None:
    files = [parse_odds_file(p, sport=settings.odds_api_sport) for p in shipped_odds_api_files()]
    engine = create_engine(settings)
    try:
        async with create_sessionmaker(engine)() as session, session.begin():
            for path in shipped_nba_files():
                await import_parsed(session, parse_nba_csv(path), settings)
            await import_odds_files(session, files, settings)
    finally:
        await engine.dispose()


async def compute(settings: Settings) -> tuple[float, float, dict[str, Any]]:
    """(seconds to compute, seconds to store, the document)."""
    engine = create_engine(settings)
    try:
        async with create_sessionmaker(engine)() as session:
            t0 = time.perf_counter()
            fp = await jobs.current_fingerprint(session, settings)
            done = await jobs.compute(session, settings)
            t_compute = time.perf_counter() - t0
            t0 = time.perf_counter()
            await jobs.store(session, fp, done, t_compute)
            await session.commit()
            return t_compute, time.perf_counter() - t0, done.document
    finally:
        await engine.dispose()


async def serve(settings: Settings) -> dict[str, tuple[float, float]]:
    """Per path: (first answer of the process, median warm answer), seconds."""
    engine = create_engine(settings)
    try:
        async with create_sessionmaker(engine)() as session, session.begin():
            user = await create_user(session, f"bench-{time.time_ns()}@example.com", tier="paid")
    finally:
        await engine.dispose()
    headers = {"Authorization": f"Bearer {issue_access_token(settings, user.id)}"}
    out: dict[str, tuple[float, float]] = {}
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            for path in (
                "/evaluation/compare",
                "/evaluation/compare?season=2023&market_type=spread",
                "/evaluation/calibration",
                "/evaluation/calibration?season=2023&market_type=total&bins=20",
            ):
                times = []
                for _ in range(WARM_REQUESTS + 1):
                    t0 = time.perf_counter()
                    r = await client.get(path, headers=headers)
                    times.append(time.perf_counter() - t0)
                    assert r.status_code == 200, r.text
                out[path] = (times[0], statistics.median(times[1:]))
    return out


def show(b: dict[str, Any], unit: str = "pts") -> str:
    if not b["n"]:
        return "0 bets"
    if b["clv"] is None:
        return f"{b['n']} bets, CLV n/a (no close), ROI {b['roi']:+.1%}"
    scale = 100.0 if unit == "%" else 1.0
    lo, hi = b["clv_ci_low"] * scale, b["clv_ci_high"] * scale
    return (
        f"{b['n']} bets, CLV {b['clv'] * scale:+.2f}{unit} [{lo:+.2f}, {hi:+.2f}], beat the "
        f"close {b['beat_close']:.0%}, ROI {b['roi']:+.1%}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", type=Path, help="SQLite file to reuse (built first if missing)")
    args = ap.parse_args()
    tmp = None
    if args.db is None:
        tmp = tempfile.TemporaryDirectory(prefix="edgelab-bench-eval-")
        db = Path(tmp.name) / "bench.db"
    else:
        db = args.db
    settings = settings_for(db)
    print(
        f"edgelab evaluation benchmark: python {platform.python_version()}, numpy "
        f"{np.__version__}, {platform.machine()}, pinned to 1 of {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.2f}"
    )
    try:
        if not db.exists():
            t0 = time.perf_counter()
            migrations.upgrade(settings)
            asyncio.run(build(settings))
            print(f"database built in {time.perf_counter() - t0:.1f} s (not timed): {db}")
        else:
            migrations.upgrade(settings)
        t_compute, t_store, doc = asyncio.run(compute(settings))
        served = asyncio.run(serve(settings))
    finally:
        if tmp is not None:
            tmp.cleanup()

    print(f"\nreport of {len(doc['seasons'])} seasons ({doc['seasons'][0]}..{doc['seasons'][-1]}):")
    print(f"  compute (read, price, walk forward, bootstrap)  {t_compute:6.2f} s")
    print(f"  store                                           {t_store:6.2f} s")
    print(f"serve (first answer of a process / median of the next {WARM_REQUESTS}):")
    worst = 0.0
    for path, (first, warm) in served.items():
        worst = max(worst, first)
        print(f"  {path:<62} {first * 1000:7.1f} ms / {warm * 1000:6.1f} ms")
    verdict = "MET" if worst < SERVE_TARGET_S else "NOT MET"
    print(f"target: every answer under {SERVE_TARGET_S:.0f} s, the first included: {verdict}")

    season = doc["by_season"]["2023"]["markets"]
    print("\n2022-23 (out of sample for every fitted number):")
    lines = season["spread+total"]
    print(f"  spreads + totals, default rule:   {show(lines['bets']['default'])}")
    for key in ("spread", "total"):
        m = season[key]
        print(f"  {key + 's, default rule:':<34}{show(m['bets']['default'])}")
        print(f"  {key + 's, line shopping:':<34}{show(m['baselines']['line_shopping'])}")
        print(f"  {key + 's, Kaunitz alpha 0.02:':<34}{show(m['baselines']['kaunitz_0.02'])}")
    ml = season["moneyline"]
    print(
        f"  moneyline Brier: p_true {ml['p_true']['brier']:.4f}, morning consensus "
        f"{ml['consensus']['brier']:.4f} (n={ml['p_true']['n']}); close "
        f"{ml['close']['brier']:.4f} (n={ml['close']['n']}, other games)"
    )
    print(f"  moneylines, default rule:         {show(ml['bets']['default'], '%')}")


if __name__ == "__main__":
    main()
