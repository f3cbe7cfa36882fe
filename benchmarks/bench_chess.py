"""Chess analyzer benchmarks: pattern analysis of 500 Chess.com games (uncached and cached,
through the real service path: client, cache, parse, analyse), 1,000 games from a PGN file,
and the engine review's nodes/s beside `stockfish bench` on the same machine.

Games: the team's Carlsen export (`../shared/data/chess/`) when present, else the test fixture
(300 games, repeated). The Chess.com API is an in-process httpx transport serving those games as
monthly archives (no network). Run: `.venv/bin/python benchmarks/bench_chess.py`.
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx

from edgelab.chess.chesscom import ChesscomClient
from edgelab.chess.games import parse_pgn
from edgelab.chess.openings import index
from edgelab.chess.patterns import analyze
from edgelab.chess.review import analyse_game, engine_path
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


def engine(pgns: list[str], depth: int = 12) -> None:
    path = engine_path(None)
    if path is None:
        print("engine: Stockfish not installed (apt-get install stockfish): skipped")
        return
    nodes = 0
    seconds = 0.0
    for pgn in pgns[-2:]:
        data = analyse_game(pgn, path, depth)
        nodes += data["nodes"]
        seconds += data["seconds"]
    ours = nodes / seconds
    bench = subprocess.run([path, "bench"], capture_output=True, text=True, check=True)
    found = re.search(r"Nodes/second\s*:\s*(\d+)", bench.stdout + bench.stderr)
    theirs = int(found.group(1)) if found else 0
    share = f"{100 * ours / theirs:.0f}%" if theirs else "n/a"
    print(
        f"engine review (depth {depth}, 1 thread, 2 games): {ours / 1000:.0f} k nodes/s; "
        f"`stockfish bench`: {theirs / 1000:.0f} k nodes/s; ratio {share}"
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
