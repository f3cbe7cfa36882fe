"""Dashboard page latency beside the API answer it renders, on the real shipped data (SQLite).

Each page calls the API in-process (`web/api.py`) and renders a Jinja2 template; this prints,
per page, the median and p95 of the page and of the bare API call it makes, one request at a
time through httpx's ASGI transport (no socket, so the figures are the app's own work), and
the difference: what the dashboard adds. The database is built in a temporary folder (migrate,
import the shipped NBA data, score the demo slate: about 30-40 s). Prints figures; no targets.
Run: `.venv/bin/python benchmarks/bench_web.py [--requests N]`.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from edgelab.accounts.service import create_user
from edgelab.app import create_app
from edgelab.betting.commands import shipped_nba_files
from edgelab.betting.markets.slate import score_slate
from edgelab.betting.odds.ingest import import_parsed
from edgelab.betting.odds.nba_csv import parse_nba_csv
from edgelab.core import migrations
from edgelab.core.auth import issue_access_token
from edgelab.core.db import create_engine, create_sessionmaker
from edgelab.core.settings import Settings

ASSETS = Path(__file__).resolve().parents[1] / "node_modules"


async def build(settings: Settings) -> str:
    """Import and score the shipped data; returns a paid user's id."""
    engine = create_engine(settings)
    try:
        async with create_sessionmaker(engine)() as session, session.begin():
            for path in shipped_nba_files():
                await import_parsed(session, parse_nba_csv(path), settings)
            await score_slate(session, settings)
            user = await create_user(session, "bench.paid@example.com", tier="paid")
            return user.id
    finally:
        await engine.dispose()


async def timed(
    client: httpx.AsyncClient, path: str, headers: dict[str, str], n: int
) -> list[float]:
    out = []
    for _ in range(n):
        t = time.perf_counter()
        r = await client.get(path, headers=headers)
        out.append((time.perf_counter() - t) * 1000)
        assert r.status_code == 200, (path, r.status_code, r.text[:200])
    return out


def line(name: str, ms: list[float]) -> str:
    ms = sorted(ms)
    p95 = ms[int(0.95 * (len(ms) - 1))]
    return f"{name:<44} p50 {statistics.median(ms):7.2f} ms   p95 {p95:7.2f} ms"


def main(requests: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            database_url=f"sqlite+aiosqlite:///{Path(tmp) / 'web.db'}",
            log_level="WARNING",
            rate_limit_anonymous="1000000/second",
            rate_limit_paid="1000000/second",
            web_assets_dir=ASSETS,
        )
        t = time.perf_counter()
        migrations.upgrade(settings)  # alembic runs its own event loop: before ours
        paid = asyncio.run(build(settings))
        built = time.perf_counter() - t
        print(f"database: migrate, import and score the shipped data in {built:.0f} s")
        asyncio.run(measure(settings, paid, requests))


async def measure(settings: Settings, paid: str, requests: int) -> None:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as c:
            token = issue_access_token(settings, paid)
            bearer = {"authorization": f"Bearer {token}"}
            cookie = {"cookie": f"edgelab_access={token}"}
            first = (await c.get("/markets?limit=1", headers=bearer)).json()["items"][0]
            bet = f"/bet/{first['market_id']}"
            pairs = [
                ("anonymous: /app/bets", "/app/bets", {}, "/markets", {}),
                ("paid: /app/bets", "/app/bets", cookie, "/markets", bearer),
                (
                    "paid: /app/bets/table (htmx refresh)",
                    "/app/bets/table",
                    cookie,
                    "/markets",
                    bearer,
                ),
                (
                    "paid: /app/bets/{id} (detail + history)",
                    f"/app{bet.replace('/bet', '/bets')}",
                    cookie,
                    bet,
                    bearer,
                ),
            ]
            for name, page, page_headers, api, api_headers in pairs:
                await timed(c, page, page_headers, 5)  # warm the caches
                api_ms = await timed(c, api, api_headers, requests)
                page_ms = await timed(c, page, page_headers, requests)
                print(line(name, page_ms))
                print(line(f"  its API call {api}", api_ms))
                added = statistics.median(page_ms) - statistics.median(api_ms)
                print(f"  the page adds {added:.2f} ms (session via /me, the call, the template)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=200)
    main(parser.parse_args().requests)
