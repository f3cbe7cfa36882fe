"""PGN analysis benchmark (issue 17): `POST /api/analyze/pgn`'s work on 1,000 games: decode,
parse (python-chess), name openings, analyse; and the whole route over ASGI (multipart upload,
body cap, JSON answer). Prints seconds; the budget is "1,000 games well under 2 s".

Games: the first 1,000 of the team's Carlsen export (`../shared/data/chess/`), else the test
fixture (300 games, repeated). The opening tables are loaded once before timing (a server does
it on its first analysis). Run: `.venv/bin/python benchmarks/bench_chess_pgn.py`.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from edgelab.app import create_app
from edgelab.chess.openings import index
from edgelab.chess.service import analyze_pgn_file
from edgelab.core import migrations
from edgelab.core.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data" / "chess" / "magnus_carlsen_chesscom_2014-2023.pgn"
FIXTURE = ROOT / "tests" / "chess" / "fixtures" / "carlsen_2023_last300.pgn"
GAMES = 1000
RUNS = 5


def thousand_games() -> bytes:
    path = SHARED if SHARED.exists() else FIXTURE
    games = path.read_bytes().split(b"\n[Event ")
    while len(games) < GAMES:
        games = games + games
    return b"\n[Event ".join(games[:GAMES])


async def over_asgi(data: bytes) -> list[float]:
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(  # type: ignore[call-arg]
            _env_file=None,
            env="test",
            jwt_secret=secrets.token_urlsafe(48),
            database_url=f"sqlite+aiosqlite:///{tmp}/bench.db",
            redis_url=None,
            rate_limits_enabled=False,
            jobs_schedules_in_process=False,  # no background work beside the timing
            polymarket_ingest_minutes=0,
            max_body_bytes=4 * 1024 * 1024,  # the app-wide cap (1 MiB by default) applies first
            chess_pgn_max_bytes=4 * 1024 * 1024,
        )
        await asyncio.to_thread(migrations.upgrade, settings)  # the app's jobs expect tables
        app = create_app(settings)
        times = []
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
                for _ in range(RUNS):
                    started = time.perf_counter()
                    r = await client.post(
                        "/api/analyze/pgn", files={"file": ("games.pgn", data, "text/plain")}
                    )
                    times.append(time.perf_counter() - started)
                    assert r.status_code == 200, r.text
                    assert r.json()["games_analyzed"] == GAMES
        return times


def main() -> None:
    data = thousand_games()
    index()  # the opening tables, built once per process
    times = []
    for _ in range(RUNS):
        started = time.perf_counter()
        result = analyze_pgn_file(data, player=None, tz="Europe/Oslo", max_games=GAMES)
        times.append(time.perf_counter() - started)
    assert result["games_analyzed"] == GAMES
    print(
        f"PGN analysis, {GAMES} games ({len(data) / 1e6:.2f} MB): "
        f"median {statistics.median(times):.2f} s, best {min(times):.2f} s over {RUNS} runs "
        f"(parse + openings + analysis, one core)"
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)
    route = asyncio.run(over_asgi(data))
    print(
        f"POST /api/analyze/pgn over ASGI, {GAMES} games: median {statistics.median(route):.2f} s,"
        f" best {min(route):.2f} s over {RUNS} runs (upload, cap, parse, analyse, JSON)"
    )


if __name__ == "__main__":
    main()
