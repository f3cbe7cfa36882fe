"""Load generators for ``bench_api.py``: ``wrk --latency`` and a bare asyncio fallback.

Both are closed-loop: each connection sends its next request when the previous response has
arrived, so at a fixed number of connections latency and throughput are tied (Little's law:
mean latency = connections / requests per second).
"""

from __future__ import annotations

import asyncio
import re
import statistics
import subprocess
import time
from dataclasses import dataclass
from urllib.parse import urlsplit


@dataclass
class Load:
    tool: str
    requests: int
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int


def _ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if m is None:
        raise ValueError(f"unexpected wrk latency {text!r}")
    return float(m[1]) * {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}[m[2]]


def parse_wrk(out: str) -> Load:
    def find(pattern: str) -> re.Match[str]:
        m = re.search(pattern, out, re.MULTILINE)
        if m is None:
            raise ValueError(f"no {pattern!r} in wrk output:\n{out}")
        return m

    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return Load(
        tool="wrk",
        requests=int(find(r"(\d+) requests in")[1]),
        rps=float(find(r"Requests/sec:\s+([\d.]+)")[1]),
        p50_ms=_ms(find(r"^\s+50%\s+(\S+)")[1]),
        p99_ms=_ms(find(r"^\s+99%\s+(\S+)")[1]),
        errors=(int(errors[1]) if errors else 0) + (sum(map(int, sock.groups())) if sock else 0),
    )


def run_wrk(url: str, seconds: float, connections: int, threads: int) -> Load:
    cmd = [
        "wrk",
        f"-t{min(threads, connections)}",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "5s",
        "--latency",
        url,
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60)
    if proc.returncode != 0:
        raise RuntimeError(f"wrk failed ({proc.returncode}): {proc.stderr}")
    return parse_wrk(proc.stdout)


async def asyncio_load(url: str, seconds: float, connections: int) -> Load:
    """Closed-loop HTTP/1.1 keep-alive load on bare asyncio streams, one task per connection.

    Not httpx: its shared pool collapses to tens of requests/s at 64 connections here
    (encode/httpx#3215). Responses must carry Content-Length (every edgelab route does).
    """
    u = urlsplit(url)
    target = u.path + (f"?{u.query}" if u.query else "")
    request = f"GET {target} HTTP/1.1\r\nHost: {u.netloc}\r\n\r\n".encode()
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
    outcome = await asyncio.wait_for(tasks, seconds + 15)  # a stuck read cannot hang the run
    errors += sum(isinstance(r, Exception) for r in outcome)  # each ends its connection
    elapsed = time.perf_counter() - start
    cuts = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [float("nan")] * 99
    n = len(latencies)
    return Load("asyncio", n, n / elapsed, cuts[49] * 1e3, cuts[98] * 1e3, errors)
