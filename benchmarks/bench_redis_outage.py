"""Redis outage under load (issue 18): `edgelab serve` with EDGELAB_REDIS_URL, Redis killed.

1. Database: the shipped data in SQLite (``--db PATH`` reused when it exists, else built as
   ``bench_api.py`` builds it).
2. A private ``redis-server`` on a free port (never the shared one) and the app on it, served
   by uvicorn with ``edgelab serve``'s options: cache, rate limits and jobs (in-process worker)
   on Redis. The app is ``create_app()`` unchanged plus two benchmark routes (``make_app``
   below): ``POST /_bench/jobs/{n}``, a write whose unit of work enqueues job ``bench.count``
   (as a webhook or an upload does), and ``GET /_bench/jobs``, how many times each ``n`` ran.
3. Load: ``--connections`` closed-loop connections on ``GET /markets?limit=50`` for
   ``--before`` seconds, then Redis is SIGKILLed for ``--outage`` seconds and started again
   (empty: no persistence), then ``--after`` seconds more. Meanwhile ``--jobs-per-second``
   writes that enqueue a job.
4. Figures: requests and answers by status per phase, 500s, the share of 200 during the outage,
   p50/p99 latency per phase; jobs enqueued per phase and how many times each ran (after waiting
   up to ``--drain`` seconds for them); the app's ``edgelab_degraded_total`` counters.

Targets (issue 18): 0 answers 500; >= 99 % of ``/markets`` answered 200 during the outage; every
job enqueued during the outage runs once after it. Prints figures; never fails on a target.
Usage: ``.venv/bin/python benchmarks/bench_redis_outage.py --db /tmp/edgelab-bench.db``
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from fastapi import FastAPI  # noqa: E402
from sqlalchemy.ext.asyncio import AsyncSession  # noqa: E402

from bench_api import (  # noqa: E402  (benchmarks/ is not a package)
    HOST,
    MARKETS,
    SERVE_OPTIONS,
    app_env,
    build_db,
    free_port,
    server,
    wait_ready,
)
from edgelab.core.db import SessionDep  # noqa: E402
from edgelab.core.jobs import enqueue  # noqa: E402

JOB = "bench.count"
TARGET_OK_SHARE, TARGET_500 = 0.99, 0


@dataclass
class Phases:
    """Monotonic times at which the outage started and ended (None until it did)."""

    down_at: float | None = None
    up_at: float | None = None

    def of(self, t: float) -> str:
        if self.down_at is None or t < self.down_at:
            return "before"
        if self.up_at is None or t < self.up_at:
            return "outage"
        return "after"


@dataclass
class Record:
    records: list[tuple[str, int, float]] = field(default_factory=list)  # phase, status, s
    connection_errors: Counter[str] = field(default_factory=Counter)


def make_app() -> FastAPI:
    """`create_app()` unchanged, plus the two benchmark routes and job `bench.count`, which
    counts its runs in this process (the in-process worker runs it here)."""
    from contextlib import asynccontextmanager

    from edgelab.app import create_app

    app = create_app()
    runs: Counter[int] = Counter()

    async def count(session: AsyncSession, n: int) -> None:
        runs[n] += 1

    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(started: FastAPI):  # type: ignore[no-untyped-def]
        async with inner(started) as state:
            started.state.resources.jobs.task(JOB)(count)
            yield state

    app.router.lifespan_context = lifespan

    @app.post("/_bench/jobs/{n}", include_in_schema=False)
    async def add_job(n: int, session: SessionDep) -> dict[str, int]:
        enqueue(JOB, n=n)
        return {"n": n}

    @app.get("/_bench/jobs", include_in_schema=False)
    async def job_runs() -> dict[int, int]:
        return dict(runs)

    return app


class PrivateRedis:
    def __init__(self) -> None:
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        cmd = ["redis-server", "--port", str(self.port), "--bind", HOST, "--save", ""]
        cmd += ["--appendonly", "no"]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection((HOST, self.port), timeout=0.2) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                time.sleep(0.02)
        sys.exit(f"redis-server did not start on port {self.port}")

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(timeout=10)
            self.proc = None


async def markets_load(
    base: str, connections: int, phases: Phases, out: Record, stop: asyncio.Event
) -> None:
    """Closed-loop keep-alive HTTP/1.1 on bare asyncio streams (as `loadgen.asyncio_load`),
    recording every answer's status and latency; a dropped connection is reopened."""
    port = int(base.rsplit(":", 1)[1])
    request = f"GET {MARKETS} HTTP/1.1\r\nHost: {HOST}:{port}\r\n\r\n".encode()

    async def connection() -> None:
        while not stop.is_set():
            try:
                reader, writer = await asyncio.open_connection(HOST, port)
            except OSError as exc:
                out.connection_errors[type(exc).__name__] += 1
                await asyncio.sleep(0.05)
                continue
            try:
                while not stop.is_set():
                    t0 = time.monotonic()
                    writer.write(request)
                    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
                    length = re.search(rb"(?im)^content-length:[ \t]*(\d+)", head)
                    await reader.readexactly(int(length[1]) if length else 0)
                    status = int(head.split(b" ", 2)[1])
                    out.records.append((phases.of(t0), status, time.monotonic() - t0))
            except (OSError, asyncio.IncompleteReadError, TimeoutError) as exc:
                out.connection_errors[type(exc).__name__] += 1
            finally:
                writer.close()

    await asyncio.gather(*(connection() for _ in range(connections)))


async def writes(
    base: str, per_second: float, phases: Phases, sent: dict[str, list[int]], stop: asyncio.Event
) -> None:
    """`per_second` writes that each enqueue job `n` (n = 1, 2, ...); `sent[phase]` gets the
    `n` of every write answered 200 (committed, its job enqueued), `refused` the others."""
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        n = 0
        while not stop.is_set():
            n += 1
            phase = phases.of(time.monotonic())
            response = await client.post(f"/_bench/jobs/{n}")
            key = phase if response.status_code == 200 else f"{phase}: {response.status_code}"
            sent.setdefault(key, []).append(n)
            await asyncio.sleep(1 / per_second)


def percentile(values: list[float], q: int) -> float:
    if len(values) < 2:
        return float("nan")
    return statistics.quantiles(values, n=100)[q - 1] * 1e3


async def run(args: argparse.Namespace, base: str, redis: PrivateRedis) -> None:
    phases, out, stop = Phases(), Record(), asyncio.Event()
    sent: dict[str, list[int]] = {}
    load = asyncio.create_task(markets_load(base, args.connections, phases, out, stop))
    jobs = asyncio.create_task(writes(base, args.jobs_per_second, phases, sent, stop))
    await asyncio.sleep(args.before)
    redis.kill()
    phases.down_at = time.monotonic()
    print(f"  redis-server killed (SIGKILL) at +{args.before:g} s")
    await asyncio.sleep(args.outage)
    redis.start()
    phases.up_at = time.monotonic()
    print(f"  redis-server started again (empty) after {phases.up_at - phases.down_at:.1f} s")
    await asyncio.sleep(args.after)
    stop.set()
    await asyncio.gather(load, jobs)

    enqueued = [n for phase in ("before", "outage", "after") for n in sent.get(phase, [])]
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:

        async def job_runs() -> Counter[int]:
            answer = (await client.get("/_bench/jobs")).json()
            return Counter({int(k): v for k, v in answer.items()})

        deadline = time.monotonic() + args.drain
        runs = await job_runs()
        while time.monotonic() < deadline and not all(runs[n] for n in enqueued):
            await asyncio.sleep(0.2)
            runs = await job_runs()
        await asyncio.sleep(2)  # a duplicate sent late would show now
        runs = await job_runs()
        metrics = (await client.get("/metrics")).text
        health = (await client.get("/health")).json()
    report(out, sent, runs, metrics, health)


def report(
    out: Record,
    sent: dict[str, list[int]],
    runs: Counter[int],
    metrics: str,
    health: dict[str, object],
) -> None:
    print(
        f"\n{'phase':<8} {'requests':>9} {'200':>8} {'500':>5} {'other':>6} {'p50 ms':>8} "
        f"{'p99 ms':>8}"
    )
    total_500 = 0
    for phase in ("before", "outage", "after"):
        rows = [(s, lat) for p, s, lat in out.records if p == phase]
        statuses = Counter(s for s, _ in rows)
        latencies = [lat for _, lat in rows]
        total_500 += statuses[500]
        other = sum(n for s, n in statuses.items() if s not in (200, 500))
        print(
            f"{phase:<8} {len(rows):>9,} {statuses[200]:>8,} {statuses[500]:>5} {other:>6} "
            f"{percentile(latencies, 50):>8.1f} {percentile(latencies, 99):>8.1f}"
        )
    outage = [s for p, s, _ in out.records if p == "outage"]
    share = sum(s == 200 for s in outage) / len(outage) if outage else float("nan")
    all_statuses = Counter(s for _, s, _ in out.records)
    print(f"\nanswers by status, whole run: {dict(sorted(all_statuses.items()))}")
    print(f"connection errors: {dict(out.connection_errors) or 0}")
    print(f"500 answers (target {TARGET_500}): {total_500}")
    print(f"/markets 200 during the outage (target >= {TARGET_OK_SHARE:.0%}): {share:.2%}")
    outage_lat = [lat for p, _, lat in out.records if p == "outage"]
    print(f"/markets p99 during the outage: {percentile(outage_lat, 99):.1f} ms")

    print("\njobs (one per committed write; runs counted by the job itself):")
    for phase in ("before", "outage", "after"):
        numbers = sent.get(phase, [])
        times = Counter(runs[n] for n in numbers)
        print(
            f"  {phase:<7} enqueued {len(numbers):>3}; ran once {times[1]:>3}, "
            f"never {times[0]:>3}, more than once {sum(c for k, c in times.items() if k > 1):>3}"
        )
    refused = {k: len(v) for k, v in sent.items() if ":" in k}
    print(f"  writes not answered 200: {refused or 0}")
    print("\nedgelab_degraded_total:")
    for line in metrics.splitlines():
        if line.startswith("edgelab_degraded_total{"):
            print(f"  {line}")
    print(f"/health backends after the run: {health.get('backends')}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", type=Path, help="SQLite file to reuse (built there if missing)")
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--before", type=float, default=5.0, help="seconds of load before the kill")
    ap.add_argument("--outage", type=float, default=10.0, help="seconds Redis stays down")
    ap.add_argument("--after", type=float, default=10.0, help="seconds of load after")
    ap.add_argument("--jobs-per-second", type=float, default=1.0)
    ap.add_argument("--drain", type=float, default=60.0, help="seconds to wait for the jobs")
    ap.add_argument("--keep-log", type=Path, help="copy the server's log there")
    args = ap.parse_args()
    if shutil.which("redis-server") is None:
        sys.exit("redis-server is not installed")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    work = Path(tempfile.mkdtemp(prefix="edgelab-bench-outage-", dir="/tmp"))
    redis = PrivateRedis()
    try:
        db = args.db or work / "edgelab.db"
        if not db.exists():
            print(f"building the database at {db}")
            build_db(db)
        redis.start()
        port = free_port()
        env = app_env(db, port)
        env.update(
            EDGELAB_REDIS_URL=f"redis://{HOST}:{redis.port}/0",
            PYTHONPATH=os.pathsep.join(filter(None, [str(HERE), env.get("PYTHONPATH")])),
        )
        log = work / "server.log"
        base = f"http://{HOST}:{port}"
        print(
            f"redis outage benchmark: {os.cpu_count()} CPUs, {args.connections} connections "
            f"on {MARKETS}, Redis down {args.outage:g} s (load average "
            f"{os.getloadavg()[0]:.2f})"
        )
        app_args = ["bench_redis_outage:make_app", "--factory", "--app-dir", str(HERE)]
        where = ["--host", HOST, "--port", str(port), "--log-level", "warning"]
        cmd = [sys.executable, "-m", "uvicorn", *app_args, *where, *SERVE_OPTIONS.split()]
        with server(cmd, env, log) as (proc, t0):
            wait_ready(proc, base + "/health", t0, log)
            asyncio.run(run(args, base, redis))
        errors = [ln for ln in log.read_text().splitlines() if " ERROR " in ln]
        print(f"server log: {len(errors)} ERROR lines")
        for text in sorted({ln.split("] ", 1)[-1][:140] for ln in errors})[:8]:
            print(f"  {text}")
        if args.keep_log:
            shutil.copy(log, args.keep_log)
    except KeyboardInterrupt:
        sys.exit("interrupted; servers stopped")
    finally:
        redis.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
