"""The live loop on a replay of the 2022-23 season's last month, in-process, at 1,440x.

1. Database (SQLite; built in a temporary folder, or kept at `--db` and reused: the month is
   replayed on a copy): migrated, the shipped results and lines
   of every game before the replay starts (so the rating model and the evaluation have their
   history) and the shipped Odds API snapshots taken before it. Nothing of the replayed month.
2. The replay (`edgelab replay odds-api`'s app) of the shipped 2022-23 snapshots with the
   shipped Kaggle finals, on a loopback port, and the app (its own jobs, in-process, the live
   loop's schedules) pointed at it, both on one `ScaledClock` from 2023-05-12T11:00Z at
   `--speed` (1,440: a simulated day a real minute). A paid bettor with an alert rule matching
   everything places a tracked bet (home moneyline at the best current price) on every game once
   it is scored; `/markets?limit=50` is sampled every `--sample-ms` real milliseconds.
3. After the last game's final: games scored before their tip / all, tracked bets settled within
   one scores poll of their game's end, duplicate alerts and settlements, credits used per
   simulated day and what the default plan costs on a real 20,000-credit month.
4. `/markets` p50 without the loop: the same app without a key (nothing scheduled), on the final
   database, the clock set to each instant sampled in 2, as many requests.

Prints figures; never fails on a target. Usage:
`.venv/bin/python benchmarks/bench_live_loop.py [--days 31.7] [--speed 1440] [--db PATH]`.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import gzip
import logging
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select

from edgelab.accounts.service import create_user
from edgelab.app import create_app
from edgelab.betting.alerts.models import AlertDelivery
from edgelab.betting.bets.models import UserBet
from edgelab.betting.commands import import_nba, import_odds
from edgelab.betting.live.closes import freeze_closes, games_to_freeze
from edgelab.betting.live.models import LoopRun
from edgelab.betting.markets.models import ValueScore
from edgelab.betting.odds.models import Game, Market, Outcome
from edgelab.betting.odds.replay.recording import Recording
from edgelab.betting.odds.replay.results import FinalScores
from edgelab.betting.odds.replay.server import ReplayConfig, create_replay_app
from edgelab.core import migrations
from edgelab.core.auth import issue_access_token
from edgelab.core.clock import ManualClock, ScaledClock, use_clock
from edgelab.core.db import create_engine, create_sessionmaker
from edgelab.core.email.models import OutboxEmail
from edgelab.core.settings import Settings, data_dir
from edgelab.sentinel.models import SentinelBet

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.loopback import serve  # the loopback server the tests use

START = dt.datetime(2023, 5, 12, 11, 0, tzinfo=dt.UTC)
LAST_FINAL = dt.datetime(2023, 6, 13, 2, 45, tzinfo=dt.UTC)  # the Finals' last game, over
NBA = data_dir() / "nba"
ODDS_2022 = NBA / "odds_api" / "nba_odds_2022-23.jsonl.gz"
ODDS_2021 = NBA / "odds_api" / "nba_odds_2021-22.jsonl.gz"
RESULTS_OLD = NBA / "kaggle" / "nba_2008-2019.csv"
RESULTS_NEW = NBA / "kaggle" / "nba_2020-2023.csv"
GAME_LENGTH = dt.timedelta(minutes=135)
MONTH_CREDITS = 20_000
SCORES_POLL_MINUTES = Settings.model_fields["scores_poll_seconds"].default // 60


def settings_for(db: Path, **overrides: Any) -> Settings:
    base: dict[str, Any] = {
        "database_url": f"sqlite+aiosqlite:///{db}",
        "env": "development",
        "log_level": "WARNING",
        "rate_limits_enabled": False,
        "markets_cache_ttl_seconds": 0,  # each sample is the query, as with the cache cold
        "polymarket_ingest_minutes": 0,
        "redis_url": None,
        "demo_date": None,
    }
    base.update(overrides)
    return Settings(_env_file=None, **base)  # type: ignore[call-arg]


def build(db: Path) -> None:
    """History before `START` only: results, closing lines and Odds API snapshots."""
    settings = settings_for(db)
    migrations.upgrade(settings)
    folder = db.parent
    rows = RESULTS_NEW.read_text().splitlines()
    before = [rows[0], *(r for r in rows[1:] if r.split(",")[1] < START.date().isoformat())]
    recent = folder / "nba_2020-2023_before.csv"
    recent.write_text("\n".join(before) + "\n")
    import_nba(settings, [RESULTS_OLD, recent], None)
    snapshots = folder / "nba_odds_2022-23_before.jsonl.gz"
    stamp = START.strftime("%Y-%m-%dT%H:%M:%SZ")
    with gzip.open(ODDS_2022, "rt") as src, gzip.open(snapshots, "wt") as out:
        for line in src:
            if line[len('{"timestamp":"') :][: len(stamp)] < stamp:
                out.write(line)
    import_odds(settings, [ODDS_2021, snapshots])
    asyncio.run(_closes_before(settings))


async def _closes_before(settings: Settings) -> None:
    """The closes a running loop would have kept of the imported games that started before
    `START` (else its first run catches up on them, scoring their dates first)."""
    engine = create_engine(settings)
    try:
        async with create_sessionmaker(engine)() as session:
            await freeze_closes(session, await games_to_freeze(session, START))
            await session.commit()
    finally:
        await engine.dispose()


class Sampler:
    """`/markets?limit=50`, one request every `every` real seconds: (simulated time, ms)."""

    def __init__(self, client: httpx.AsyncClient, every: float) -> None:
        self.client, self.every = client, every
        self.samples: list[tuple[dt.datetime, float]] = []
        self.errors = 0

    async def run(self, clock: Any) -> None:
        while True:
            at = clock.now()
            t = time.perf_counter()
            r = await self.client.get("/markets", params={"limit": 50})
            if r.status_code == 200:
                self.samples.append((at, (time.perf_counter() - t) * 1000))
            else:
                self.errors += 1
            await asyncio.sleep(self.every)


async def bettor(
    client: httpx.AsyncClient,
    sessions: Any,
    auth: Callable[[], dict[str, str]],
    clock: Any,
    scored: dict[str, dt.datetime],
) -> None:
    """A tracked bet on every scored game before its tip: home moneyline, best current price.
    `scored` gets each game's first (simulated) time seen scored from live prices before tip:
    the value rows themselves are replaced at each rescoring, the close's included."""
    done: set[str] = set()
    while True:
        try:
            await _bet_on_scored_games(client, sessions, auth, clock, scored, done)
        except Exception as exc:  # a refused write (SQLite busy) is retried on the next round
            print(f"  bettor: {type(exc).__name__}: {str(exc)[:200]}", flush=True)
        await asyncio.sleep(0.5)


async def _bet_on_scored_games(
    client: httpx.AsyncClient,
    sessions: Any,
    auth: Callable[[], dict[str, str]],
    clock: Any,
    scored: dict[str, dt.datetime],
    done: set[str],
) -> None:
    now = clock.now()
    async with sessions() as s:
        rows = await s.execute(
            select(Game.id, ValueScore.odds_decimal)
            .join(Market, Market.game_id == Game.id)
            .join(Outcome, Outcome.market_id == Market.id)
            .join(ValueScore, ValueScore.outcome_id == Outcome.id)
            .where(
                Game.tip_time > now,
                Game.tip_time_estimated.is_(False),
                Market.market_type == "moneyline",
                Outcome.side == "home",
                ValueScore.is_current.is_(True),
                ValueScore.odds_kind == "live",
            )
        )
        found = {gid: odds for gid, odds in rows.all() if gid not in done}
    for gid in found:
        scored.setdefault(gid, now)
    for gid, odds in found.items():
        body = {
            "market_id": f"{gid}-ml-home",
            "odds_decimal": round(odds, 4),
            "stake_minor": 10_000,
            "external_id": f"bench-{gid}",
        }
        r = await client.post("/me/bets", json=body, headers=auth())
        if r.status_code in (200, 201):
            done.add(gid)
        else:
            print(f"  bet on {gid} refused: {r.status_code} {r.text[:200]}", flush=True)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(int(q * len(ordered)), len(ordered) - 1)] if ordered else float("nan")


async def replay_month(db: Path, speed: float, days: float, sample_ms: float) -> dict[str, Any]:
    recording = Recording.load([ODDS_2022], sport="basketball_nba")
    finals = FinalScores.load(RESULTS_NEW)
    end = min(START + dt.timedelta(days=days), LAST_FINAL + dt.timedelta(minutes=45))
    clock = ScaledClock(START, speed)
    replay = create_replay_app(recording, clock, results=finals, config=ReplayConfig())
    with use_clock(clock), serve(replay, name="replay") as url:
        settings = settings_for(db, odds_api_url=url, odds_api_key="replay")
        app = create_app(settings)
        engine = create_engine(settings)
        sessions = create_sessionmaker(engine)
        async with sessions() as s:
            user = await create_user(s, "bench.bettor@example.com", tier="paid")
            await s.commit()

        def auth() -> dict[str, str]:  # tokens expire on the real clock: a fresh one each time
            return {"Authorization": f"Bearer {issue_access_token(settings, user.id)}"}

        async with app.router.lifespan_context(app):
            # a 500 (a write SQLite refused as busy) is an answer, not an exception here
            transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
            async with httpx.AsyncClient(transport=transport, base_url="http://b") as client:
                rule = {"name": "everything", "min_value_score": 0, "algorithm": "a"}
                r = await client.post("/alerts/rules", json=rule, headers=auth())
                assert r.status_code == 201, r.text
                sampler = Sampler(client, sample_ms / 1000)
                scored: dict[str, dt.datetime] = {}
                tasks = [
                    asyncio.create_task(sampler.run(clock)),
                    asyncio.create_task(bettor(client, sessions, auth, clock, scored)),
                ]
                started = time.perf_counter()
                last_day = -1
                while clock.now() < end:
                    day = int((clock.now() - START).total_seconds() // 86_400)
                    if day != last_day:
                        print(f"  simulated {clock.now():%Y-%m-%d %H:%M} "
                              f"({time.perf_counter() - started:.0f} s)", flush=True)  # fmt: skip
                        last_day = day
                    await asyncio.sleep(0.5)
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                await app.state.resources.jobs.drain(120)
                wall = time.perf_counter() - started
        figures = await measure(sessions, settings, end, scored)
        await engine.dispose()
    figures.update(
        wall_seconds=wall,
        simulated_days=(end - START).total_seconds() / 86_400,
        replay_credits_used=replay.state.replay.credits.used,
        samples=sampler.samples,
        markets_errors=sampler.errors,
    )
    return figures


async def measure(
    sessions: Any, settings: Settings, end: dt.datetime, scored: dict[str, dt.datetime]
) -> dict[str, Any]:
    async with sessions() as s:
        games = (
            await s.execute(
                select(Game.id, Game.tip_time).where(
                    Game.tip_time >= START, Game.tip_time <= end, Game.tip_time_estimated.is_(False)
                )
            )
        ).all()
        tips = dict(games)
        bets = (await s.execute(select(UserBet))).scalars().all()
        runs = (await s.execute(select(LoopRun).order_by(LoopRun.id))).scalars().all()
        dup_alerts = (
            await s.execute(
                select(func.count()).select_from(
                    select(AlertDelivery.user_id, AlertDelivery.outcome_id)
                    .group_by(AlertDelivery.user_id, AlertDelivery.outcome_id)
                    .having(func.count() > 1)
                    .subquery()
                )
            )
        ).scalar_one()
        alerts = (await s.execute(select(func.count()).select_from(AlertDelivery))).scalar_one()
        emails = (
            await s.execute(
                select(func.count()).select_from(OutboxEmail).where(OutboxEmail.template == "alert")
            )
        ).scalar_one()
        dup_copies = (
            await s.execute(
                select(func.count()).select_from(
                    select(SentinelBet.external_id)
                    .where(SentinelBet.source == "tracker")
                    .group_by(SentinelBet.external_id)
                    .having(func.count() > 1)
                    .subquery()
                )
            )
        ).scalar_one()
        copies_settled = (
            await s.execute(
                select(func.count())
                .select_from(SentinelBet)
                .where(SentinelBet.source == "tracker", SentinelBet.status != "open")
            )
        ).scalar_one()
    settled = [b for b in bets if b.status != "open"]
    within = [
        b
        for b in settled
        if b.settled_at is not None
        and b.game_id in tips
        and (b.settled_at - (tips[b.game_id] + GAME_LENGTH)).total_seconds()
        <= settings.scores_poll_seconds
    ]
    lag = [
        (b.settled_at - (tips[b.game_id] + GAME_LENGTH)).total_seconds() / 60
        for b in settled
        if b.settled_at is not None and b.game_id in tips
    ]
    settlements_counted = sum(int(r.details.get("settled", 0)) for r in runs)
    by_job: dict[str, list[LoopRun]] = {}
    for r in runs:
        by_job.setdefault(r.job, []).append(r)
    return {
        "games": len(games),
        "scored_before_tip": len([g for g, tip in games if g in scored and scored[g] < tip]),
        "lead_hours": [(tip - scored[g]).total_seconds() / 3600 for g, tip in games if g in scored],
        "bets": len(bets),
        "settled": len(settled),
        "settled_within_poll": len(within),
        "settle_lag_minutes": lag,
        "duplicate_settlements": settlements_counted - len(settled),
        "duplicate_sentinel_copies": dup_copies,
        "sentinel_copies_settled": copies_settled,
        "duplicate_alerts": dup_alerts,
        "alerts": alerts,
        "alert_emails": emails,
        "credits_used": sum(r.credits_used for r in runs),
        "runs": {job: len(rs) for job, rs in by_job.items()},
        "failed_runs": sum(1 for r in runs if r.error_code),
        "calls": {job: sum(r.calls for r in rs) for job, rs in by_job.items()},
        "credits_by_job": {job: sum(r.credits_used for r in rs) for job, rs in by_job.items()},
    }


async def markets_without_loop(db: Path, instants: list[dt.datetime]) -> list[float]:
    """The same app without a key (nothing scheduled), the clock at each sampled instant."""
    clock = ManualClock(instants[0])
    out: list[float] = []
    with use_clock(clock):
        app = create_app(settings_for(db))
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://b") as client:
                for at in instants:
                    clock.set(max(at, clock.now()))
                    t = time.perf_counter()
                    r = await client.get("/markets", params={"limit": 50})
                    out.append((time.perf_counter() - t) * 1000)
                    assert r.status_code == 200, r.text[:300]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--speed", type=float, default=1440.0)
    parser.add_argument("--days", type=float, default=32.0, help="simulated days from the start")
    parser.add_argument(
        "--db", type=Path, help="the history database, built here if missing, else reused"
    )
    parser.add_argument("--sample-ms", type=float, default=200.0)
    parser.add_argument("--keep", type=Path, help="copy the final database here")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    tmp = tempfile.TemporaryDirectory(prefix="edgelab-live-")
    db = Path(tmp.name) / "live.db"
    history = args.db.resolve() if args.db is not None else db
    if not history.exists():
        t0 = time.perf_counter()
        print("building the database (history before 2023-05-12)...", flush=True)
        history.parent.mkdir(parents=True, exist_ok=True)
        build(history)
        print(f"built in {time.perf_counter() - t0:.0f} s", flush=True)
    else:
        print(f"history from {history}", flush=True)
    if history != db:  # the replayed month is written to a copy: the history file stays clean
        shutil.copyfile(history, db)

    print(f"replaying from {START:%Y-%m-%d %H:%M}Z at {args.speed:g}x ...", flush=True)
    f = asyncio.run(replay_month(db, args.speed, args.days, args.sample_ms))
    samples = f.pop("samples")
    with_loop = [ms for _, ms in samples]
    step = max(len(samples) // 2000, 1)
    instants = sorted(at for at, _ in samples[::step])
    without = asyncio.run(markets_without_loop(db, instants))

    days = f["simulated_days"]
    per_day = f["credits_used"] / days
    print()
    print(f"simulated {days:.1f} days in {f['wall_seconds']:.0f} s real ({args.speed:g}x)")
    lead = f["lead_hours"]
    lead_text = ""
    if lead:
        lead_text = f" (first seen scored a median {statistics.median(lead):.1f} h before tip)"
    print(f"games scored before their tip: {f['scored_before_tip']} / {f['games']}{lead_text}")
    lag = f["settle_lag_minutes"]
    lag_text = (
        f" (lag after the final: median {statistics.median(lag):.0f} min, max {max(lag):.0f})"
        if lag
        else ""
    )
    print(
        f"tracked bets settled within one scores poll ({SCORES_POLL_MINUTES} min) "
        f"of completion: {f['settled_within_poll']} / {f['bets']} placed ({f['settled']} settled)"
        + lag_text
    )
    print(
        f"duplicates: alerts {f['duplicate_alerts']}, settlements {f['duplicate_settlements']}, "
        f"Sentinel copies {f['duplicate_sentinel_copies']} "
        f"(alerts {f['alerts']} in {f['alert_emails']} e-mails; Sentinel copies settled "
        f"{f['sentinel_copies_settled']})"
    )
    print(
        f"runs {f['runs']}, failed {f['failed_runs']}, calls {f['calls']}, "
        f"credits {f['credits_by_job']}"
    )
    print(
        f"credits used: {f['credits_used']} ({f['replay_credits_used']} by the replay's count), "
        f"{per_day:.0f} per simulated day -> {per_day * 30:.0f} per 30-day month "
        f"({per_day * 30 / MONTH_CREDITS:.0%} of a {MONTH_CREDITS:,}-credit plan)"
    )
    p50_with, p50_without = statistics.median(with_loop), statistics.median(without)
    print(
        f"/markets?limit=50 p50: {p50_with:.2f} ms with the loop running ({len(with_loop)} "
        f"samples, p95 {pct(with_loop, 0.95):.1f} ms), {p50_without:.2f} ms without "
        f"({len(without)} samples, p95 {pct(without, 0.95):.1f} ms): "
        f"{(p50_with / p50_without - 1):+.0%}; {f['markets_errors']} non-200 answers while looping"
    )
    if args.keep is not None:
        shutil.copyfile(db, args.keep)
    tmp.cleanup()


if __name__ == "__main__":
    main()
