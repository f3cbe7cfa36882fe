"""HTTP benchmark of ``edgelab serve`` on the real shipped data (SQLite).

1. Database: reuse ``--db PATH`` if that file exists, otherwise build it (``edgelab db upgrade``,
   ``edgelab import nba-shipped``, ``edgelab score``); without ``--db`` it is built in a
   temporary folder under /tmp and deleted at the end.
2. Cold start: spawn ``edgelab serve`` on a free loopback port and time spawn -> first 200 from
   ``/health`` (``--cold-starts`` spawns; the median is compared with the target).
3. Load: ``GET /markets?limit=50``, ``--connections`` connections for ``--duration`` seconds,
   then the server's RSS (``/proc/PID/status`` VmRSS).
4. Ceiling: the same load on ``GET /_bench/static`` of ``ceiling_app.py`` (the same app plus a
   route returning the captured body from memory), uvicorn options as ``edgelab serve``.

Load generator (``loadgen.py``): ``wrk --latency`` when on PATH, else a bare asyncio HTTP/1.1
client (slower than wrk and sharing the CPU with the server: its figures are a lower bound).
Every ``EDGELAB_*`` variable of the caller is dropped so the app runs on its defaults (cache
TTL, in-memory cache), with ``EDGELAB_LOG_LEVEL=WARNING``, except one: all the load comes from
one anonymous IP, which the default per-IP limit (60/minute) would answer with 429s, so the
anonymous limit is raised (``BENCH_ANONYMOUS_LIMIT``, per second so the limiter's moving window
holds about one second of hits, as a real per-IP window holds at most 60). The limiter still
checks every request; a 429 would count as an error. Only 127.0.0.1 is used. Prints figures;
never fails on a target.
Usage: ``.venv/bin/python benchmarks/bench_api.py --help`` (see benchmarks/README.md).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from subprocess import Popen

import httpx

from loadgen import Load, asyncio_load, run_wrk

HERE = Path(__file__).resolve().parent
HOST, MARKETS = "127.0.0.1", "/markets?limit=50"
STATIC = "/_bench/static"  # ceiling_app.STATIC_PATH
BODY_ENV = "EDGELAB_BENCH_STATIC_BODY"  # ceiling_app.BODY_ENV
# the uvicorn.run() options of `edgelab serve` (cli.serve), for the ceiling server
SERVE_OPTIONS = "--workers 1 --no-access-log --no-proxy-headers --loop auto --http auto"
TARGET_COLD_START_S, TARGET_RATIO, TARGET_P99_MS, TARGET_RSS_MB = 2.0, 0.50, 50.0, 512.0
BENCH_ANONYMOUS_LIMIT = "1000000/second"  # EDGELAB_RATE_LIMIT_ANONYMOUS for the runs


def edgelab_cmd(*args: str) -> list[str]:
    script = Path(sys.executable).with_name("edgelab")
    return [str(script), *args] if script.exists() else [sys.executable, "-m", "edgelab.cli", *args]


def app_env(db: Path, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDGELAB_")}
    env.update(
        EDGELAB_DATABASE_URL=f"sqlite+aiosqlite:///{db.resolve()}",
        EDGELAB_LOG_LEVEL="WARNING",
        EDGELAB_HOST=HOST,
        EDGELAB_PORT=str(port),
        EDGELAB_RATE_LIMIT_ANONYMOUS=BENCH_ANONYMOUS_LIMIT,
    )
    return env


def build_db(db: Path) -> None:
    for step in (("db", "upgrade"), ("import", "nba-shipped"), ("score",)):
        t0 = time.perf_counter()
        proc = subprocess.run(
            edgelab_cmd(*step),
            env=app_env(db, 8000),
            cwd=db.parent,
            capture_output=True,
            text=True,
            timeout=1800,
        )
        if proc.returncode != 0:
            sys.exit(
                f"`edgelab {' '.join(step)}` failed ({proc.returncode}):\n{proc.stderr[-3000:]}"
            )
        print(f"  edgelab {' '.join(step):<20} {time.perf_counter() - t0:6.1f} s")


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def proc_status_mb(pid: int, field: str) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


@contextlib.contextmanager
def server(cmd: list[str], env: dict[str, str], log: Path) -> Iterator[tuple[Popen, float]]:
    """Spawn a server in its own session (Ctrl-C reaches only us); always stop it on exit."""
    with log.open("ab") as out:
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            cmd, env=env, cwd=log.parent, stdout=out, stderr=out, start_new_session=True
        )
    try:
        yield proc, t0
    finally:
        if proc.poll() is None:
            proc.terminate()  # uvicorn shuts down gracefully on SIGTERM
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


def wait_ready(proc: Popen, url: str, t0: float, log: Path, limit: float = 60.0) -> float:
    """Seconds from spawn (t0) to the first 200 from ``url``; polls every 10 ms, bounded."""
    with httpx.Client(timeout=2.0) as client:
        while (elapsed := time.perf_counter() - t0) < limit:
            if proc.poll() is not None:
                sys.exit(f"server exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
            with contextlib.suppress(httpx.TransportError):
                if client.get(url).status_code == 200:
                    return time.perf_counter() - t0
            time.sleep(0.01)
    sys.exit(f"server not ready after {elapsed:.0f} s:\n{log.read_text()[-3000:]}")


def measure(url: str, seconds: float, args: argparse.Namespace) -> Load:
    if args.tool == "wrk":
        return run_wrk(url, seconds, args.connections, args.threads)
    return asyncio.run(asyncio_load(url, seconds, args.connections))


def load(url: str, args: argparse.Namespace) -> Load:
    """Warm up (not reported), then measure for ``args.duration`` seconds."""
    if args.warmup > 0:
        measure(url, args.warmup, args)
    return measure(url, args.duration, args)


def line(label: str, value: str, target: str = "", met: bool | None = None) -> None:
    verdict = "" if met is None else ("MET" if met else "NOT MET")
    print(f"  {label:<44} {value:>12}   {target:<16} {verdict}")


def show(name: str, r: Load) -> None:
    line(f"{name} requests/s ({r.tool})", f"{r.rps:,.0f}")
    line(f"{name} p50 / p99", f"{r.p50_ms:.1f} / {r.p99_ms:.1f} ms")
    line(f"{name} requests (errors)", f"{r.requests:,} ({r.errors})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", type=Path, help="SQLite file to reuse (built there if missing)")
    ap.add_argument("--duration", type=float, default=30.0, help="seconds per load run")
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument(
        "--threads",
        type=int,
        default=max(1, min(4, (os.cpu_count() or 2) // 2)),
        help="wrk threads (default: half the CPUs, at most 4)",
    )
    ap.add_argument("--warmup", type=float, default=2.0, help="unreported seconds before each run")
    ap.add_argument("--cold-starts", type=int, default=3, help="spawns timed for the cold start")
    ap.add_argument("--tool", choices=("auto", "wrk", "asyncio"), default="auto")
    args = ap.parse_args()
    if args.duration <= 0 or args.cold_starts < 1 or args.connections < 1:
        ap.error("--duration, --cold-starts and --connections must be positive")
    if args.tool == "auto":
        args.tool = "wrk" if shutil.which("wrk") else "asyncio"
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the cleanup on SIGTERM too

    work = Path(tempfile.mkdtemp(prefix="edgelab-bench-", dir="/tmp"))
    try:
        bench(args, work)
    except KeyboardInterrupt:
        sys.exit("interrupted; servers stopped")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def bench(args: argparse.Namespace, work: Path) -> None:
    print(
        f"edgelab API benchmark: {os.cpu_count()} CPUs (load generator and server share them), "
        f"load tool {args.tool}, {args.connections} connections, {args.duration:g} s per run"
    )
    load1, load5, load15 = os.getloadavg()
    print(f"load average before: {load1:.2f} {load5:.2f} {load15:.2f} (other work skews figures)")
    print(
        f"rate limits on, anonymous limit raised to {BENCH_ANONYMOUS_LIMIT} (the load is one "
        "anonymous IP; the default 60/minute would refuse it): any 429 counts as an error"
    )
    db = (args.db or work / "edgelab.db").resolve()
    if db.exists():
        print(f"reusing database {db}")
    else:
        print(f"building database {db} from the shipped data:")
        db.parent.mkdir(parents=True, exist_ok=True)
        build_db(db)

    port, log = free_port(), work / "serve.log"
    base = f"http://{HOST}:{port}"
    serve_cmd = edgelab_cmd("serve", "--host", HOST, "--port", str(port))
    starts = []
    for _ in range(args.cold_starts - 1):  # spawn, time, stop
        with server(serve_cmd, app_env(db, port), log) as (proc, t0):
            starts.append(wait_ready(proc, f"{base}/health", t0, log))
    with server(serve_cmd, app_env(db, port), log) as (proc, t0):  # the last one is load-tested
        starts.append(wait_ready(proc, f"{base}/health", t0, log))
        body = httpx.get(base + MARKETS, timeout=30).raise_for_status().content
        (work / "markets.json").write_bytes(body)
        print(f"captured {MARKETS} ({len(body):,} bytes); load test, edgelab serve pid {proc.pid}")
        markets = load(base + MARKETS, args)
        rss, hwm = proc_status_mb(proc.pid, "VmRSS"), proc_status_mb(proc.pid, "VmHWM")

    base = f"http://{HOST}:{(port := free_port())}"
    app_args = ["ceiling_app:create_app", "--factory", "--app-dir", str(HERE)]
    where = ["--host", HOST, "--port", str(port), "--log-level", "warning"]
    ceiling_cmd = [sys.executable, "-m", "uvicorn", *app_args, *where, *SERVE_OPTIONS.split()]
    env = app_env(db, port) | {BODY_ENV: str(work / "markets.json")}
    with server(ceiling_cmd, env, work / "ceiling.log") as (proc, t0):
        wait_ready(proc, f"{base}/health", t0, work / "ceiling.log")
        if httpx.get(base + STATIC, timeout=30).content != body:
            sys.exit("ceiling route does not return the captured bytes")
        print(f"load test of the ceiling route {STATIC} (pid {proc.pid})")
        ceiling = load(base + STATIC, args)

    print("\nresults")
    for i, s in enumerate(starts, 1):
        line(f"cold start {i}: spawn -> first 200 /health", f"{s:.2f} s")
    cold = statistics.median(starts)
    line(
        f"cold start, median of {len(starts)}",
        f"{cold:.2f} s",
        f"<= {TARGET_COLD_START_S:g} s",
        cold <= TARGET_COLD_START_S,
    )
    show("GET /markets?limit=50", markets)
    show(f"GET {STATIC} (ceiling)", ceiling)
    ratio = markets.rps / ceiling.rps
    line(
        "/markets requests/s as a share of the ceiling",
        f"{ratio:.0%}",
        f">= {TARGET_RATIO:.0%}",
        ratio >= TARGET_RATIO,
    )
    line(
        "/markets p99 latency",
        f"{markets.p99_ms:.1f} ms",
        f"<= {TARGET_P99_MS:g} ms",
        markets.p99_ms <= TARGET_P99_MS,
    )
    line(
        "server RSS after the /markets load (VmRSS)",
        f"{rss:.0f} MB",
        f"<= {TARGET_RSS_MB:g} MB",
        rss <= TARGET_RSS_MB,
    )
    line("server peak RSS (VmHWM)", f"{hwm:.0f} MB")
    load1, load5, load15 = os.getloadavg()
    print(f"load average after: {load1:.2f} {load5:.2f} {load15:.2f}")


if __name__ == "__main__":
    main()
