"""Benchmark of the model update (`POST /model/update`'s job) on every shipped season.

Builds a SQLite database with the shipped real data (or reuses ``--db``), records a job and runs
it inline, exactly as the background job does (`recalibration.run_job`):

1. load: games and open/close odds into arrays;
2. walk_forward: the backtest engine's out-of-sample p_true, season by season;
3. calibration: isotonic and Platt maps per market type, chosen on the second-latest season,
   measured on the latest (fitted on the seasons before it), refitted on all;
4. refit_and_score: ratings and reliability refitted, the slate re-scored with the new map.

Then prints the seconds per stage, the method chosen per market type with every candidate's
held-out log loss, and the current vs the new model's Brier score, log loss and ECE on the
held-out season's closing lines, overall and per market type. Run it twice on the same ``--db``
to see a second job's "before" be the first job's map.

Run: ``.venv/bin/python benchmarks/bench_recalibration.py [--db PATH] [--method auto]``. It
prints figures; it never fails on a missed target. The process is pinned to one CPU.
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
from edgelab.betting.model.jobs import create_job  # noqa: E402
from edgelab.betting.model.recalibration import run_job  # noqa: E402
from edgelab.betting.odds.ingest import import_parsed  # noqa: E402
from edgelab.betting.odds.nba_csv import parse_nba_csv  # noqa: E402
from edgelab.core import migrations  # noqa: E402
from edgelab.core.db import create_engine, create_sessionmaker  # noqa: E402
from edgelab.core.settings import Settings  # noqa: E402


def settings_for(db: Path, method: str) -> Settings:
    return Settings(  # type: ignore[call-arg]
        _env_file=None,
        database_url=f"sqlite+aiosqlite:///{db}",
        log_level="WARNING",
        calibration_method=method,
    )


async def build(settings: Settings) -> None:
    engine = create_engine(settings)
    try:
        async with create_sessionmaker(engine)() as session, session.begin():
            for path in shipped_nba_files():
                await import_parsed(session, parse_nba_csv(path), settings)
    finally:
        await engine.dispose()


async def update(settings: Settings) -> dict[str, Any]:
    engine = create_engine(settings)
    sessions = create_sessionmaker(engine)
    started = time.perf_counter()

    def hook(stage: str, done: float) -> None:
        print(f"  {time.perf_counter() - started:6.1f} s  {done:4.0%}  {stage}")

    try:
        async with sessions() as session:
            job = await create_job(session, "bench", send=False)
            await session.commit()
        return await run_job(sessions, settings, job.id, hook=hook)
    finally:
        await engine.dispose()


def cell(x: float | None) -> str:
    return "   -  " if x is None else f"{x:.4f}"


def print_metrics(before: dict[str, Any], after: dict[str, Any]) -> None:
    print(
        f"\nheld-out seasons {after['seasons']}, closing lines: current model -> new "
        "(lower is better)"
    )
    print(f"{'':<12}{'n':>6}{'brier':>20}{'log loss':>20}{'ECE':>20}")
    rows = [("all", before, after)] + [
        (t, before["by_type"][t], after["by_type"][t]) for t in ("moneyline", "spread", "total")
    ]
    for name, b, a in rows:
        cells = [f"{cell(b[k])} -> {cell(a[k])}" for k in ("brier", "log_loss", "ece")]
        print(f"{name:<12}{a['n']:>6}" + "".join(f"{c:>20}" for c in cells))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", type=Path, help="SQLite file to reuse (built first if missing)")
    ap.add_argument("--method", default="auto", choices=("auto", "isotonic", "platt", "none"))
    args = ap.parse_args()
    tmp = None
    if args.db is None:
        tmp = tempfile.TemporaryDirectory(prefix="edgelab-bench-recal-")
        db = Path(tmp.name) / "bench.db"
    else:
        db = args.db
    settings = settings_for(db, args.method)
    print(
        f"edgelab model update benchmark: python {platform.python_version()}, numpy "
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
        t0 = time.perf_counter()
        result = asyncio.run(update(settings))
        total = time.perf_counter() - t0
        print(f"\njob {result['job_id']}: {result['status']} in {total:.1f} s")
        for stage, seconds in result["timings"].items():
            print(f"  {stage:<16}{seconds:8.2f} s")
        print(f"model version {result['model_version']}, slate {result['slate_date']}")
        cal = result["calibration"]
        print(
            f"\ncalibration ({cal['setting']}), {cal['out_of_sample_markets']} out-of-sample "
            f"closing markets of seasons {cal['fitted_on_seasons'][0]}.."
            f"{cal['fitted_on_seasons'][-1]}"
        )
        for name, entry in cal["by_type"].items():
            scores = entry.get("candidates", {})
            logs = ", ".join(f"{k} {v['log_loss']:.4f}" for k, v in scores.items())
            print(f"  {name:<10} {entry['method']:<9} (held-out log loss: {logs or '-'})")
        if result["metrics_before"] and result["metrics_after"]:
            print_metrics(result["metrics_before"], result["metrics_after"])
    finally:
        if tmp is not None:
            tmp.cleanup()


if __name__ == "__main__":
    main()
