"""Prediction markets: ingest 10,000 Polymarket markets with 1,000,000 price points from the
local fake, then `GET /predictions/markets?limit=50` and a 10,000-point history under load.

    .venv/bin/python benchmarks/bench_predictions.py                 # about 2-3 min
    .venv/bin/python benchmarks/bench_predictions.py --markets 1000 --points 100000 --duration 5

* The fake (tests/predictions/fake_polymarket.py, served in this process on a loopback port)
  lists the markets (the recorded Gamma row, JSON-string fields intact) by keyset pages of 500,
  and answers `POST /batch-prices-history` with `points / (2 x markets)` points per token.
* `edgelab ingest polymarket --history` runs as its own process, as an operator runs it: the
  wall time and its peak RSS (getrusage of the child) are reported.
* Then one outcome gets a 10,000-point history (one a minute, ending now) and `edgelab serve`
  (one worker, rate limits off, SQLite WAL) is loaded by closed-loop keep-alive connections
  (asyncio streams, as `loadgen.asyncio_load`, with the paid user's bearer token the history
  route needs). Figures are printed, nothing passes or fails.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import re
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

from tests.loopback import serve  # noqa: E402
from tests.predictions.fake_polymarket import FakePolymarket, make_market, token_for  # noqa: E402

from bench_api import HOST, edgelab_cmd, free_port, server, wait_ready  # noqa: E402
from loadgen import Load  # noqa: E402


class GeneratedHistories:
    """`fake.histories` stand-in: a deterministic price path per token, made on request."""

    def __init__(self, per_token: int) -> None:
        self.per_token = per_token
        self.start = int(time.time()) - 30 * 86_400

    def get(self, token: str) -> list[dict[str, Any]]:
        seed = int(token) % 997
        return [
            {"t": self.start + 600 * k, "p": round(0.5 + 0.4 * math.sin((k + seed) / 25), 4)}
            for k in range(self.per_token)
        ]


def env_for(db: Path, fake_url: str, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDGELAB_")}
    env.update(
        EDGELAB_DATABASE_URL=f"sqlite+aiosqlite:///{db.resolve()}",
        EDGELAB_LOG_LEVEL="WARNING",
        EDGELAB_HOST=HOST,
        EDGELAB_PORT=str(port),
        EDGELAB_POLYMARKET_GAMMA_URL=fake_url,
        EDGELAB_POLYMARKET_CLOB_URL=fake_url,
        EDGELAB_POLYMARKET_PAGE_SIZE="500",
        EDGELAB_POLYMARKET_INGEST_MINUTES="0",
        EDGELAB_POLYMARKET_CACHE_TTL_SECONDS="3600",
        EDGELAB_RATE_LIMITS_ENABLED="false",
    )
    return env


def run(cmd: list[str], env: dict[str, str], cwd: Path) -> str:
    proc = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=3600)
    if proc.returncode != 0:
        sys.exit(f"`{' '.join(cmd[1:])}` failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return proc.stdout


async def load(url: str, seconds: float, connections: int, headers: dict[str, str]) -> Load:
    """Closed-loop HTTP/1.1 keep-alive load on asyncio streams (as `loadgen.asyncio_load`)."""
    u = urlsplit(url)
    target = u.path + (f"?{u.query}" if u.query else "")
    extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    request = f"GET {target} HTTP/1.1\r\nHost: {u.netloc}\r\n{extra}\r\n".encode()
    latencies: list[float] = []
    errors = 0
    start = time.perf_counter()
    deadline = start + seconds

    async def connection() -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection(u.hostname, u.port)
        try:
            while (t0 := time.perf_counter()) < deadline:
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                length = re.search(rb"(?im)^content-length:[ \t]*(\d+)", head)
                if length is None:
                    raise ValueError("response without Content-Length")
                await reader.readexactly(int(length[1]))
                if head.split(b" ", 2)[1] == b"200":
                    latencies.append(time.perf_counter() - t0)
                else:
                    errors += 1
        finally:
            writer.close()

    tasks = asyncio.gather(*(connection() for _ in range(connections)), return_exceptions=True)
    outcome = await asyncio.wait_for(tasks, seconds + 30)
    errors += sum(isinstance(r, Exception) for r in outcome)
    elapsed = time.perf_counter() - start
    cuts = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [float("nan")] * 99
    n = len(latencies)
    return Load("asyncio", n, n / elapsed, cuts[49] * 1e3, cuts[98] * 1e3, errors)


def seed_long_history(db: Path, token: str, points: int) -> None:
    now = int(time.time()) // 60 * 60
    rows = [
        (token, now - 60 * (points - 1 - k), round(0.5 + 0.3 * math.sin(k / 50), 4), "clob")
        for k in range(points)
    ]
    with sqlite3.connect(db) as conn:
        conn.execute("DELETE FROM prediction_price_snapshots WHERE token_id = ?", (token,))
        conn.executemany("INSERT INTO prediction_price_snapshots VALUES (?, ?, ?, ?)", rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--markets", type=int, default=10_000)
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--history-points", type=int, default=10_000)
    parser.add_argument("--duration", type=float, default=15.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    per_token = max(1, args.points // (2 * args.markets))

    fake = FakePolymarket()
    fake.markets = [make_market(i) for i in range(args.markets)]
    fake.histories = GeneratedHistories(per_token)  # type: ignore[assignment]
    with tempfile.TemporaryDirectory(prefix="edgelab-bench-pm-") as tmp, serve(fake.app) as url:
        work = Path(tmp)
        db = work / "bench.db"
        port = free_port()
        env = env_for(db, url, port)
        run(edgelab_cmd("db", "upgrade"), env, work)
        print(f"ingest: {args.markets:,} markets, {2 * args.markets * per_token:,} price points")
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        t0 = time.perf_counter()
        run(
            edgelab_cmd(
                "ingest",
                "polymarket",
                "--limit",
                str(args.markets),
                "--history",
                "--history-interval",
                "max",
                "--fidelity",
                "10",
            ),
            env,
            work,
        )
        seconds = time.perf_counter() - t0
        peak_mb = max(before, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024
        with sqlite3.connect(db) as conn:
            markets = conn.execute("SELECT count(*) FROM prediction_markets").fetchone()[0]
            points = conn.execute("SELECT count(*) FROM prediction_price_snapshots").fetchone()[0]
            ok = conn.execute("SELECT ok FROM prediction_ingest_runs").fetchone()[0]
        print(f"  wall time            {seconds:8.1f} s  (markets {markets:,}, points {points:,})")
        print(f"  peak RSS (process)   {peak_mb:8.0f} MB  run ok: {bool(ok)}")

        token = token_for(str(2_000_000), 0)
        seed_long_history(db, token, args.history_points)
        run(edgelab_cmd("users", "create", "bench@predictions.test", "--tier", "paid"), env, work)
        bearer = run(edgelab_cmd("users", "token", "bench@predictions.test"), env, work).strip()
        base = f"http://{HOST}:{port}"
        with server(edgelab_cmd("serve"), env, work / "serve.log") as (proc, started):
            wait_ready(proc, f"{base}/health", started, work / "serve.log")
            auth = {"Authorization": f"Bearer {bearer}"}
            targets = [
                ("GET /predictions/markets?limit=50", "/predictions/markets?limit=50", {}),
                (
                    f"GET history, {args.history_points:,} points",
                    "/predictions/markets/2000000/history?interval=max&fidelity=1",
                    auth,
                ),
            ]
            for label, path, headers in targets:
                first = httpx.get(base + path, headers=headers, timeout=30)
                check = f"HTTP {first.status_code}, {len(first.content):,}"
                if args.warmup > 0:
                    asyncio.run(load(base + path, args.warmup, args.connections, headers))
                r = asyncio.run(load(base + path, args.duration, args.connections, headers))
                print(
                    f"{label}  [{check} bytes]  {args.connections} connections, {args.duration:g} s"
                )
                print(
                    f"  {r.rps:8.0f} req/s  p50 {r.p50_ms:7.1f} ms  p99 {r.p99_ms:7.1f} ms  "
                    f"errors {r.errors}"
                )


if __name__ == "__main__":
    main()
