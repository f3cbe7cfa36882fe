"""Sentinel scoring runs at scale: a full rescore of 10,000 players with about 1,000,000 bets,
then an incremental run after 1 % of the players have new activity.

Targets: full rescore <= 10 s on SQLite and on PostgreSQL; the incremental run's cost
proportional to the new activity (compare its rows read and time with the full run's).

    .venv/bin/python benchmarks/bench_sentinel.py                       # SQLite in /tmp
    .venv/bin/python benchmarks/bench_sentinel.py --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/bench

The database is migrated; give a disposable one. When it already holds the simulated players
(a previous run with the same --players and --seed) the data is reused and only the runs are
timed. Setup (simulation and bulk ingest through the same validation as the API) is timed
apart and is not part of the target. Prints figures; never fails on a missed target.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import func, select

from edgelab.core import migrations
from edgelab.core.db import create_engine, create_sessionmaker
from edgelab.core.settings import Settings
from edgelab.sentinel.betlog.ingest import ingest_bets
from edgelab.sentinel.commands import store_simulation
from edgelab.sentinel.models import SentinelBet, SentinelPlayer
from edgelab.sentinel.rescore import run_rescore
from edgelab.sentinel.schemas import BetRow
from edgelab.sentinel.simulate import simulate

TARGET_FULL_SECONDS = 10.0
END = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)


def _settings(url: str) -> Settings:
    return Settings(_env_file=None, database_url=url, env="development")  # type: ignore[call-arg]


async def _count(settings: Settings) -> tuple[int, int]:
    engine = create_engine(settings)
    try:
        async with create_sessionmaker(engine)() as s:
            players = (
                await s.execute(select(func.count()).select_from(SentinelPlayer))
            ).scalar_one()
            bets = (await s.execute(select(func.count()).select_from(SentinelBet))).scalar_one()
            return int(players), int(bets)
    finally:
        await engine.dispose()


async def _setup(settings: Settings, players: int, seed: int) -> None:
    t0 = time.perf_counter()
    sim = simulate(players, seed, end=END)
    t1 = time.perf_counter()
    print(
        f"  simulated {players:,} players, {len(sim.placed):,} bets, {len(sim.tx_at):,} "
        f"transactions in {t1 - t0:.1f} s"
    )
    engine = create_engine(settings)
    try:
        async with create_sessionmaker(engine)() as s, s.begin():
            await store_simulation(s, sim, seed)
    finally:
        await engine.dispose()
    t2 = time.perf_counter()
    rows = len(sim.placed) + len(sim.tx_at)
    print(
        f"  stored through the bulk ingest path in {t2 - t1:.1f} s ({rows / (t2 - t1):,.0f} rows/s)"
    )


async def _run(settings: Settings, mode: str) -> dict[str, object]:
    engine = create_engine(settings)
    try:
        async with create_sessionmaker(engine)() as s, s.begin():
            t0 = time.perf_counter()
            summary = await run_rescore(s, settings, mode=mode, trigger="bench")  # type: ignore[arg-type]
            t1 = time.perf_counter()
        t2 = time.perf_counter()
    finally:
        await engine.dispose()
    out = summary.as_dict()
    out["seconds"] = t1 - t0
    out["seconds_with_commit"] = t2 - t0
    return out


async def _new_activity(settings: Settings, share: float, seed: int) -> int:
    """New bets for `share` of the players (the next day's play of a fresh simulation)."""
    engine = create_engine(settings)
    try:
        async with create_sessionmaker(engine)() as s, s.begin():
            ids = list(
                (
                    await s.execute(select(SentinelPlayer.player_id).order_by(SentinelPlayer.pk))
                ).scalars()
            )
            step = max(1, round(1 / share))
            chosen = ids[::step]
            now = END + dt.timedelta(hours=1)
            rows = []
            for k, pid in enumerate(chosen):
                for j in range(5):
                    placed = now - dt.timedelta(minutes=5 * (5 - j))
                    rows.append(
                        BetRow.model_validate(
                            {
                                "external_id": f"bench-new-{seed}-{k}-{j}",
                                "player_id": pid,
                                "placed_at": placed,
                                "settled_at": placed + dt.timedelta(minutes=3),
                                "sport": "basketball",
                                "market_type": "moneyline",
                                "is_live": True,
                                "stake_minor": 2000,
                                "payout_minor": 0,
                                "currency": "USD",
                                "odds_decimal": 1.9,
                                "status": "lost",
                            }
                        )
                    )
            for start in range(0, len(rows), 10_000):
                await ingest_bets(s, rows[start : start + 10_000], source="bench")
            return len(chosen)
    finally:
        await engine.dispose()


def _line(label: str, r: dict[str, object]) -> str:
    t = r["timings"]
    assert isinstance(t, dict)
    parts = ", ".join(f"{k} {v:.2f}" for k, v in t.items())
    return (
        f"  {label:<26} {r['seconds']:6.2f} s  players {r['players_scored']:>6,}  bets read "
        f"{r['bets_read']:>9,}  tx read {r['transactions_read']:>7,}  ({parts})"
    )


async def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--database-url", default=None, help="default: a fresh SQLite file in /tmp")
    ap.add_argument("--players", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--runs", type=int, default=3, help="full rescores timed (median reported)")
    args = ap.parse_args()
    tmp = None
    url = args.database_url
    if url is None:
        tmp = tempfile.mkdtemp(prefix="edgelab-sentinel-bench-")
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
    settings = _settings(url)
    print(
        f"Sentinel rescore benchmark on {settings.database_url.split('://')[0]} "
        f"(load {os.getloadavg()[0]:.2f}, {os.cpu_count()} CPUs)"
    )
    await asyncio.to_thread(migrations.upgrade, settings)
    players, bets = await _count(settings)
    if players < args.players:
        print("setup:")
        await _setup(settings, args.players, args.seed)
        players, bets = await _count(settings)
    else:
        print(f"setup: reusing {players:,} players and {bets:,} bets")
    print(f"data: {players:,} players, {bets:,} bets")
    full = [await _run(settings, "full") for _ in range(args.runs)]
    med = statistics.median(float(r["seconds"]) for r in full)  # type: ignore[arg-type]
    for i, r in enumerate(full, 1):
        print(_line(f"full rescore #{i}", r))
    verdict = "met" if med <= TARGET_FULL_SECONDS else "MISSED"
    print(f"full rescore median {med:.2f} s (target <= {TARGET_FULL_SECONDS:.0f} s: {verdict})")
    idle = await _run(settings, "incremental")
    print(_line("incremental, nothing new", idle))
    touched = await _new_activity(settings, 0.01, int(time.time()))
    inc = await _run(settings, "incremental")
    print(_line(f"incremental, {touched} players new", inc))
    ratio = float(inc["seconds"]) / med  # type: ignore[arg-type]
    print(
        f"incremental after 1 % new activity: {inc['seconds']:.3f} s = {ratio:.1%} of a full "
        f"rescore, {inc['bets_read']:,} of {bets:,} bets read "
        f"({float(inc['bets_read']) / max(bets, 1):.1%})"
    )  # type: ignore[arg-type]
    if tmp is not None:
        await asyncio.to_thread(shutil.rmtree, tmp, True)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
