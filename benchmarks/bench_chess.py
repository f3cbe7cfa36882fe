"""Chess analyzer benchmarks: pattern analysis of 500 Chess.com games (uncached and cached,
through the real service path: client, cache, parse, analyse), 1,000 games from a PGN file,
the engine review's nodes/s beside `stockfish bench` on the same machine, and peak RSS while
reviewing (pool workers + their engines + this process, from /proc).

Games: the team's Carlsen export (`../shared/data/chess/`) when present, else the test fixture
(300 games, repeated). The Chess.com API is an in-process httpx transport serving those games as
monthly archives (no network). Run: `.venv/bin/python benchmarks/bench_chess.py`.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import re
import statistics
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from edgelab.chess.chesscom import ChesscomClient
from edgelab.chess.games import parse_pgn
from edgelab.chess.openings import index
from edgelab.chess.patterns import analyze
from edgelab.chess.review import engine_path, pool_size, review_games
from edgelab.chess.service import analyze_player
from edgelab.core.cache import MemoryCache
from edgelab.core.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data" / "chess" / "magnus_carlsen_chesscom_2014-2023.pgn"
FIXTURE = ROOT / "tests" / "chess" / "fixtures" / "carlsen_2023_last300.pgn"


def pgn_games() -> list[str]:
    path = SHARED if SHARED.exists() else FIXTURE
    text = path.read_text(encoding="utf-8-sig")
    games = ["[Event " + g if not g.startswith("[Event ") else g for g in text.split("\n[Event ")]
    while len(games) < 1000:
        games = games + games
    return games


def archive_objects(pgns: list[str]) -> list[dict[str, Any]]:
    out = []
    for i, pgn in enumerate(pgns):
        white = re.search(r'\[White "([^"]*)"\]', pgn)
        black = re.search(r'\[Black "([^"]*)"\]', pgn)
        out.append(
            {
                "pgn": pgn,
                "end_time": 1_700_000_000 + i * 600,
                "rules": "chess",
                "white": {"username": white.group(1) if white else "?"},
                "black": {"username": black.group(1) if black else "?"},
            }
        )
    return out


def fake_transport(games: list[dict[str, Any]]) -> httpx.MockTransport:
    months = {f"2023/{m:02d}": games[(m - 1) * 100 : m * 100] for m in range(1, 6)}

    def handler(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path.endswith("/archives"):
            urls = [f"https://api.chess.com/pub/player/magnuscarlsen/games/{m}" for m in months]
            return httpx.Response(200, json={"archives": urls}, headers={"ETag": '"a1"'})
        key = "/".join(path.split("/")[-2:])
        return httpx.Response(200, json={"games": months[key]}, headers={"ETag": f'"{key}"'})

    return httpx.MockTransport(handler)


async def service_path(games: list[dict[str, Any]]) -> None:
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    cache = MemoryCache()
    client = ChesscomClient(settings, cache, transport=fake_transport(games))
    try:
        t = time.perf_counter()
        body, cached = await analyze_player(client, cache, "MagnusCarlsen", 500, "Europe/Oslo")
        cold = time.perf_counter() - t
        assert not cached and json.loads(body)["games_analyzed"] == 500
        runs = []
        for _ in range(20):
            t = time.perf_counter()
            _, cached = await analyze_player(client, cache, "MagnusCarlsen", 500, "Europe/Oslo")
            runs.append(time.perf_counter() - t)
            assert cached
        runs.sort()
        print(f"500 games via the service, uncached (fetch+parse+analyse): {cold * 1000:.0f} ms")
        print(
            f"500 games via the service, cached: p50 {runs[10] * 1000:.1f} ms, "
            f"max {runs[-1] * 1000:.1f} ms ({client.requests} HTTP requests in all)"
        )
    finally:
        await client.aclose()


def pgn_path(pgns: list[str]) -> None:
    text = "\n\n".join(pgns[:1000])
    t = time.perf_counter()
    games, bad = parse_pgn(text)
    parsed = time.perf_counter() - t
    t = time.perf_counter()
    out = analyze(games, None, tz="Europe/Oslo")
    analysed = time.perf_counter() - t
    print(
        f"1,000 games from PGN: parse {parsed:.2f} s + analyse {analysed:.2f} s "
        f"({out['games_analyzed']} analysed, {bad} unreadable)"
    )


BENCH_FIELDS = {
    "ms": re.compile(r"Total time \(ms\)\s*:\s*(\d+)"),
    "nodes": re.compile(r"Nodes searched\s*:\s*(\d+)"),
}


def concurrent_benches(path: str, count: int) -> float:
    """Mean nodes/s of `count` NNUE benches run at once: what `count` engines side by side get
    from this machine (shared caches and memory bandwidth, and whatever else is running)."""
    args = [path, "bench", "16", "1", "13", "default", "depth", "NNUE"]
    procs = [
        subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        for _ in range(count)
    ]
    rates = []
    for proc in procs:
        _, err = proc.communicate()
        found = re.search(r"Nodes/second\s*:\s*(\d+)", err)
        rates.append(int(found.group(1)) if found else 0)
    return statistics.mean(rates)


def stockfish_bench(path: str, evaluation: str, fens: str = "default", depth: int = 13) -> float:
    """nodes/s of `stockfish bench 16 1 <depth> <fens> depth <evaluation>`: Hash 16, 1 thread.
    With no arguments bench runs `16 1 13 default depth mixed`, and 15.1's "mixed" switches
    `Use NNUE` off for every other position: half its nodes use the classical evaluation, about
    twice as cheap per node as NNUE on this SSE2 build. "NNUE" is the evaluation the review uses."""
    args = [path, "bench", "16", "1", str(depth), fens, "depth", evaluation]
    out = subprocess.run(args, capture_output=True, text=True, check=True)
    text = out.stdout + out.stderr
    found = {k: rx.search(text) for k, rx in BENCH_FIELDS.items()}
    if not all(found.values()):
        raise RuntimeError(f"unexpected `stockfish bench` output: {text[-300:]}")
    ms, nodes = (int(m.group(1)) for m in found.values() if m)
    return nodes / max(ms, 1) * 1000


def engine_identity(path: str) -> str:
    out = subprocess.run([path], input="uci\ncompiler\nquit\n", capture_output=True, text=True)
    name = re.search(r"^id name (.+)$", out.stdout, re.M)
    build = re.search(r"Compilation settings include:\s*(.+)$", out.stdout, re.M)
    return f"{name.group(1) if name else path} ({build.group(1).strip() if build else '?'})"


def positions_file(pgns: list[str], folder: str) -> str:
    """The FENs the review sends to the engine (every position not already over)."""
    import chess.pgn

    fens = []
    for pgn in pgns:
        game = chess.pgn.read_game(io.StringIO(pgn))
        assert game is not None
        board = game.board()
        for move in [None, *game.mainline_moves()]:
            if move is not None:
                board.push(move)
            if not board.is_game_over():
                fens.append(board.fen())
    path = Path(folder) / "review_positions.fen"
    path.write_text("\n".join(fens) + "\n")
    return str(path)


class PeakRss:
    """Samples, every `interval` s, the RSS (and PSS) of this process and all its descendants
    (pool workers, their Stockfish engines) from /proc; keeps the sample with the largest total.
    RSS counts shared pages (libraries, Python's) once per process, so the sum overstates a
    little; PSS shares them out."""

    def __init__(self, interval: float = 0.05) -> None:
        self.interval = interval
        self.peak: dict[str, Any] = {"total": 0}
        self.cpu = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def _kb(path: str, field: str) -> int:
        try:
            with open(path) as f:
                for line in f:
                    if line.startswith(field):
                        return int(line.split()[1])
        except OSError:
            pass
        return 0

    def sample(self) -> dict[str, Any]:
        root = os.getpid()
        children: dict[int, list[int]] = {}
        names: dict[int, str] = {}
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            name = stat[stat.index("(") + 1 : stat.rindex(")")]
            ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
            children.setdefault(ppid, []).append(int(entry))
            names[int(entry)] = name
        todo, pids = [root], []
        while todo:
            pid = todo.pop()
            pids.append(pid)
            todo.extend(children.get(pid, []))
        out: dict[str, Any] = {"total": 0, "pss": 0, "parent": 0, "other": 0, "stockfish": 0}
        counts = {"other": 0, "stockfish": 0}
        for pid in pids:
            rss = self._kb(f"/proc/{pid}/status", "VmRSS:")
            out["total"] += rss
            out["pss"] += self._kb(f"/proc/{pid}/smaps_rollup", "Pss:")
            role = "parent" if pid == root else names.get(pid, "")
            role = role if role in ("parent", "stockfish") else "other"
            out[role] += rss
            if role != "parent":
                counts[role] += 1
        out["counts"] = counts
        return out

    def _run(self) -> None:
        while not self._stop.is_set():
            now = self.sample()
            if now["total"] > self.peak["total"]:
                self.peak = now
            self.cpu = time.thread_time()  # this sampler's own CPU, not the review's
            self._stop.wait(self.interval)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


async def reviewed(
    pgns: list[str], path: str, depth: int, engines: int
) -> tuple[list[dict[str, Any]], float, float]:
    """`review_games`, and the longest the event loop was held meanwhile (s): the review runs
    in the app's (or job worker's) loop, so this is what other requests could wait. Two
    figures: the longest late wake-up of a 5 ms sleep (wall: includes time the process was not
    scheduled, on a busy machine), and the most CPU the loop's thread used in one such gap (the
    part that is our code holding the loop)."""
    lag = held = 0.0
    tick = 0.005

    async def watch() -> None:
        nonlocal lag, held
        while True:
            t, c = time.perf_counter(), time.thread_time()
            await asyncio.sleep(tick)
            lag = max(lag, time.perf_counter() - t - tick)
            held = max(held, time.thread_time() - c)

    watcher = asyncio.ensure_future(watch())
    try:
        games = await review_games(pgns, path, depth, engines=engines)
    finally:
        watcher.cancel()
    return games, lag, held


def review_run(pgns: list[str], path: str, depth: int, engines: int) -> dict[str, float]:
    """One review the way the job runs it (`review_games`), timed end to end: engine start-up
    and NNUE load, the games, the engines' quit."""
    t = time.perf_counter()
    cpu = time.process_time()
    games, lag, held = asyncio.run(reviewed(pgns, path, depth, engines))
    wall = time.perf_counter() - t
    cpu = time.process_time() - cpu
    timing = {k: sum(g["timing"][k] for g in games) for k in ("startup", "search", "calls")}
    busy = sum(g["seconds"] for g in games)
    return {
        "wall": wall,
        "nodes": sum(g["nodes"] for g in games),
        "searches": sum(g["timing"]["searches"] for g in games),
        "busy": busy,
        "startup": timing["startup"],
        "search": timing["search"],
        "uci": timing["calls"] - timing["search"],
        "python": busy - timing["calls"] - timing["startup"],
        "other": wall * engines - busy,  # event loop start, engines' quit, idle engines
        "cpu": cpu,  # this process (UCI, python-chess, PGN): competes with the engines
        "lag": lag,
        "held": held,
    }


def engine(pgns: list[str], depth: int = 12, rounds: int = 3, games: int = 3) -> None:
    """Ours beside `stockfish bench`, interleaved: B0 R1 B1 R2 B2 R3 B3, where B is the bench
    (default "mixed", then NNUE only, then NNUE on our own positions at our depth) and R a review
    of the same `games` games by one engine (1 thread, like the bench); each round's ratio
    is against the mean of the benches right before and right after it, and the figures
    printed are medians over the rounds (the machine has 2 cores, and others may be busy)."""
    path = engine_path(None)
    if path is None:
        print("engine: Stockfish not installed (apt-get install stockfish): skipped")
        return
    chosen = pgns[-games:]
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as folder:
        fens = positions_file(chosen, folder)

        def benches() -> dict[str, float]:
            return {
                "mixed": stockfish_bench(path, "mixed"),
                "nnue": stockfish_bench(path, "NNUE"),
                "ours_alone": stockfish_bench(path, "NNUE", fens, depth),
            }

        marks = [benches()]
        runs = []
        for _ in range(rounds):
            runs.append(review_run(chosen, path, depth, engines=1))
            marks.append(benches())
    med = statistics.median
    ours = [r["nodes"] / r["wall"] for r in runs]
    per_engine = [r["nodes"] / r["busy"] for r in runs]
    around = {
        key: [(marks[i][key] + marks[i + 1][key]) / 2 for i in range(rounds)] for key in marks[0]
    }
    ratio = {k: med(o / b for o, b in zip(ours, vals, strict=True)) for k, vals in around.items()}
    mid = sorted(range(rounds), key=lambda i: ours[i])[rounds // 2]
    r = runs[mid]
    parts = [
        ("searches (engine-timed)", r["search"]),
        ("UCI + python-chess round trips", r["uci"]),
        ("PGN, SAN and phases", r["python"]),
        ("engine start + NNUE load", r["startup"]),
        ("event loop start, engine quit", r["other"]),
    ]
    kn = 1000.0
    print(
        f"engine review: {engine_identity(path)}, depth {depth}, Hash 16 MB, 1 thread, "
        f"{games} games ({runs[0]['searches']} searches), {rounds} rounds, medians "
        f"(load average {load:.2f} before, {os.getloadavg()[0]:.2f} after):"
    )
    print(
        f"  ours end to end (one engine): {med(ours) / kn:.0f} k nodes/s "
        f"({med(per_engine) / kn:.0f} k while busy with games; Python CPU "
        f"{1000 * med(x['cpu'] / x['searches'] for x in runs):.1f} ms per search)"
    )
    for key, label in (
        ("mixed", "`stockfish bench` (defaults: depth 13, half NNUE, half classical)"),
        ("nnue", "`stockfish bench 16 1 13 default depth NNUE` (the review's evaluation)"),
        ("ours_alone", f"`stockfish bench` on our {runs[0]['searches']} positions, depth {depth}"),
    ):
        before = med(m[key] for m in marks[:-1])
        after = med(m[key] for m in marks[1:])
        print(
            f"  {label}: {before / kn:.0f} k before / {after / kn:.0f} k after"
            f" -> ours = {100 * ratio[key]:.0f}%"
        )
    print(
        f"  where the time went (median round, {r['wall']:.2f} s): "
        + ", ".join(f"{name} {100 * sec / r['wall']:.1f}%" for name, sec in parts)
    )
    print(
        "  per round, ours / bench mixed / bench NNUE (k nodes/s): "
        + "; ".join(
            f"{o / kn:.0f} / {m / kn:.0f} / {n / kn:.0f}"
            for o, m, n in zip(ours, around["mixed"], around["nnue"], strict=True)
        )
    )
    pool_and_memory(pgns, path, depth)


def pool_and_memory(pgns: list[str], path: str, depth: int, games: int = 8) -> None:
    """The job's own set-up, an engine per core, with peak RSS while reviewing."""
    engines = pool_size(games)
    side_by_side = [concurrent_benches(path, engines)]
    with PeakRss() as rss:
        before = rss.sample()
        run = review_run(pgns[-games:], path, depth, engines=engines)
    side_by_side.append(concurrent_benches(path, engines))
    peak = rss.peak
    mb = 1024.0
    per_engine = run["nodes"] / run["busy"]
    alongside = statistics.mean(side_by_side)
    print(
        f"review with {engines} engines ({games} games, depth {depth}): {run['wall']:.2f} s, "
        f"{run['nodes'] / run['wall'] / 1000:.0f} k nodes/s in all, "
        f"{per_engine / 1000:.0f} k per busy engine = {100 * per_engine / alongside:.0f}% of "
        f"{engines} NNUE benches run side by side ({side_by_side[0] / 1000:.0f} k before, "
        f"{side_by_side[1] / 1000:.0f} k after, each)"
    )
    print(
        f"  this process used {100 * (run['cpu'] - rss.cpu) / run['wall']:.0f}% of a core "
        f"(UCI, python-chess, PGN; {1000 * (run['cpu'] - rss.cpu) / run['searches']:.1f} ms "
        f"per search); its event loop woke at most {1000 * run['lag']:.0f} ms late, of which "
        f"at most {1000 * run['held']:.0f} ms CPU in the loop; load average "
        f"{os.getloadavg()[0]:.2f}"
    )
    print(
        f"  peak RSS while reviewing: {peak['total'] / mb:.0f} MB (PSS {peak['pss'] / mb:.0f} MB; "
        f"budget 512 MB) = this process {peak['parent'] / mb:.0f} MB "
        f"(before the review: {before['parent'] / mb:.0f} MB, it holds the benchmark's games) "
        f"+ {peak['counts']['stockfish']} stockfish {peak['stockfish'] / mb:.0f} MB"
        + (
            f" + {peak['counts']['other']} other children {peak['other'] / mb:.0f} MB"
            if peak["counts"]["other"]
            else ""
        )
    )


def main() -> None:
    t = time.perf_counter()
    index()
    print(f"opening index (3,807 rows, built once): {time.perf_counter() - t:.2f} s")
    pgns = pgn_games()
    asyncio.run(service_path(archive_objects(pgns[-500:])))
    pgn_path(pgns)
    engine(pgns)


if __name__ == "__main__":
    main()
