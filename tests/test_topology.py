"""The production topology as real OS processes (issue 15), against the replay.

`edgelab serve --workers 2`, two `edgelab jobs worker` and two `edgelab jobs scheduler`
processes on a fresh PostgreSQL database and a Redis of the test's own (a `redis-server` it
starts, so it can restart it), with the live loop polling `edgelab replay odds-api` (the shipped
2022-23 snapshots and finals) on its simulated clock, which every process follows
(`EDGELAB_CLOCK_URL`). The replay starts on 2023-04-09 a few minutes after that day's snapshot,
at 720x real time (12 simulated minutes a second): the loop's first fetch is scored a few
seconds after start-up, eight games tip off at 17:10 and have their finals at 19:25, so the
whole story takes about a minute of real time. The schedules run on simulated time too
(`EDGELAB_ODDS_POLL_NEAR_TIP_SECONDS=600` fires the odds job every 0.83 s), and a job a killed
worker took goes to another after 4 real seconds (`EDGELAB_JOBS_REDELIVER_AFTER_SECONDS`).

The fixture makes a paid user with an alert rule matching every market (in the database, before
any process starts, so the first scoring's alerts include it), starts everything, and once the
first fetch is scored places a tracked bet on each game of the next tip-off (the 17:10 games, or
the next ones on a slow start). The tests then run in order, as one story: a job the API
enqueues runs on a worker; two schedulers send each firing once; a worker killed (SIGKILL) in
the middle of a loop run leaves its jobs to the others, which run them to completion; Redis
restarted (losing everything: no persistence) and every PostgreSQL connection dropped
(`pg_terminate_backend`) are survived without restarting a process; and at the end every
tracked bet settled once, every alert went out once, and no run was left unfinished: not even the
killed one, which the job's second delivery closes as abandoned before it does the round.

Needs EDGELAB_TEST_DATABASE_URL and EDGELAB_TEST_REDIS_URL (skipped without, like the rest of
the suite). Without `redis-server` on PATH the processes share the test Redis (a queue of their
own) and the Redis restart is skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from redis.asyncio import Redis
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.pool import NullPool

from edgelab.accounts.billing.paddle import sign
from edgelab.accounts.service import create_user
from edgelab.app import register_all_jobs
from edgelab.betting.alerts.models import AlertDelivery
from edgelab.betting.alerts.schemas import AlertRuleCreate
from edgelab.betting.alerts.service import create_rule
from edgelab.betting.bets.models import UserBet
from edgelab.betting.live.models import LoopRun
from edgelab.betting.live.runs import ABANDONED, ODDS_JOB, SCORES_JOB
from edgelab.betting.markets.models import ValueScore
from edgelab.betting.odds.models import Game, Market, Outcome
from edgelab.core.auth import issue_access_token
from edgelab.core.email.models import OutboxEmail
from edgelab.core.jobs import Jobs
from edgelab.core.settings import data_dir
from edgelab.core.webhooks import WebhookEvent
from edgelab.sentinel.models import SentinelBet
from tests.fixtures.database import PG_ENV, REDIS_ENV, asyncpg_url, make_settings
from tests.loopback import serve

pytestmark = [
    pytest.mark.skipif(
        not os.environ.get(PG_ENV), reason=f"topology test skipped: {PG_ENV} is not set"
    ),
    pytest.mark.skipif(
        not os.environ.get(REDIS_ENV), reason=f"topology test skipped: {REDIS_ENV} is not set"
    ),
    pytest.mark.asyncio(loop_scope="session"),
]

T = TypeVar("T")
NBA = data_dir() / "nba"
ODDS = NBA / "odds_api" / "nba_odds_2022-23.jsonl.gz"
RESULTS = NBA / "kaggle" / "nba_2020-2023.csv"
REPLAY_START = dt.datetime(2023, 4, 9, 11, 56, tzinfo=dt.UTC)  # that day's snapshot: 11:55:39
SPEED = 720.0
HOUR = dt.timedelta(hours=1)
SECRET = "pdl_ntfset_topology_test_secret_0123"
JWT_SECRET = "topology-test-jwt-secret-0123456789abcdef"
REDELIVER_AFTER_SECONDS = 4  # real seconds: a killed worker's jobs go to another after this
LOOP = {  # simulated seconds: the odds job fires every 600, the results job every 1800
    "EDGELAB_ODDS_POLL_SECONDS": "1800",
    "EDGELAB_ODDS_POLL_NEAR_TIP_SECONDS": "600",
    "EDGELAB_SCORES_POLL_SECONDS": "1800",
}
PADDLE_EVENT_JOB = "accounts.process_paddle_event"
PY = sys.executable


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class OddsGate:
    """A pass-through proxy to the replay for one worker: while closed, its `/odds` calls wait
    (the run that made one stays in the middle of its work) until opened again."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self._open = threading.Event()
        self._open.set()
        self.held = threading.Event()

    def close(self) -> None:
        self.held.clear()
        self._open.clear()

    def open(self) -> None:
        self._open.set()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        path, query = scope["path"], scope["query_string"].decode()
        if path.endswith("/odds") and not self._open.is_set():
            self.held.set()
            await asyncio.to_thread(self._open.wait)  # set from the test's thread
        async with httpx.AsyncClient(timeout=30) as client:
            r = await client.get(f"{self.upstream}{path}?{query}")
        skip = {"content-length", "content-encoding", "transfer-encoding", "connection"}
        headers = [(k.encode(), v.encode()) for k, v in r.headers.items() if k.lower() not in skip]
        headers.append((b"content-length", str(len(r.content)).encode()))
        await send({"type": "http.response.start", "status": r.status_code, "headers": headers})
        await send({"type": "http.response.body", "body": r.content})


class Topology:
    """Every process of the deployment, the test's handles on them, and what the story needs
    to remember from one test to the next."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.exit = contextlib.ExitStack()
        self.queue = f"topology-{uuid.uuid4().hex[:8]}"
        base = make_url(os.environ[PG_ENV])
        self.admin_db = base
        self.db_name = f"{base.database}_topology"
        self.db_url = asyncpg_url(base.set(database=self.db_name).render_as_string(False))
        self.redis_server = shutil.which("redis-server")
        self.redis_port = free_port() if self.redis_server else None
        self.redis_url = (
            f"redis://127.0.0.1:{self.redis_port}/0" if self.redis_port else os.environ[REDIS_ENV]
        )
        self.replay_url = f"http://127.0.0.1:{free_port()}"
        self.api_url = f"http://127.0.0.1:{free_port()}"
        self.engine: AsyncEngine | None = None
        self.redis: Redis | None = None
        self.api: httpx.AsyncClient | None = None
        self.gate: OddsGate | None = None
        self.auth: dict[str, str] = {}
        self.bets: list[str] = []  # tracked bet ids
        self.worker_1_consumer = b""
        self.killed_runs: list[int] = []  # loop_runs rows of the run killed with its worker
        self.killed_jobs: list[dict[str, Any]] = []  # its odds job's results, once run again
        self.stopped: set[str] = set()  # processes the story ended itself

    # processes ---------------------------------------------------------------------------

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("EDGELAB_")}
        env.update(
            EDGELAB_ENV="development",
            EDGELAB_LOG_LEVEL="WARNING",
            EDGELAB_JWT_SECRET=JWT_SECRET,
            EDGELAB_DATABASE_URL=self.db_url,
            EDGELAB_REDIS_URL=self.redis_url,
            EDGELAB_JOBS_QUEUE=self.queue,
            EDGELAB_JOBS_WORKER_IN_PROCESS="false",
            EDGELAB_JOBS_SCHEDULES_IN_PROCESS="false",
            EDGELAB_JOBS_REDELIVER_AFTER_SECONDS=str(REDELIVER_AFTER_SECONDS),
            EDGELAB_ODDS_API_URL=self.replay_url,
            EDGELAB_ODDS_API_KEY="replay",
            EDGELAB_CLOCK_URL=f"{self.replay_url}/replay/clock",
            EDGELAB_PADDLE_WEBHOOK_SECRET=SECRET,
            EDGELAB_POLYMARKET_INGEST_MINUTES="0",
            EDGELAB_UPLOAD_DIR=str(self.folder / "uploads"),
            **LOOP,
        )
        env.update(extra)
        return env

    def start(self, name: str, args: list[str], env: dict[str, str] | None = None) -> None:
        log = (self.folder / f"{name}.log").open("ab")
        self.procs[name] = subprocess.Popen(
            args,
            env=env or self.env(),
            cwd=self.folder,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: killed with its children
        )
        log.close()

    def start_edgelab(self, name: str, *args: str, **env: str) -> None:
        self.start(name, [PY, "-m", "edgelab.cli", *args], self.env(**env))

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.procs[name].pid, sig)

    def log_of(self, name: str) -> str:
        path = self.folder / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def dead(self) -> dict[str, int]:
        return {
            n: code
            for n, p in self.procs.items()
            if (code := p.poll()) is not None and n not in self.stopped
        }

    def diagnostics(self) -> str:
        parts = [f"exited: {self.dead()}"]
        for name in self.procs:
            tail = self.log_of(name)[-1500:]
            parts.append(f"--- {name}.log (tail)\n{tail}")
        return "\n".join(parts)

    def assert_alive(self) -> None:
        assert not self.dead(), self.diagnostics()

    def start_redis(self) -> None:
        assert self.redis_server is not None
        args = [self.redis_server, "--port", str(self.redis_port), "--bind", "127.0.0.1"]
        self.start("redis", [*args, "--save", "", "--appendonly", "no", "--dir", str(self.folder)])

    async def wait_redis(self) -> None:
        assert self.redis is not None
        redis = self.redis

        async def ping() -> bool | None:
            try:
                return bool(await redis.ping())
            except Exception:
                return None

        await self.eventually(ping, 20, "Redis answering")

    # the story's means ----------------------------------------------------------------------

    async def eventually(
        self, check: Callable[[], Awaitable[T | None]], seconds: float, what: str
    ) -> T:
        """Poll `check` until it returns something truthy; fail with every log after `seconds`
        (or at once if a process died)."""
        deadline = time.monotonic() + seconds
        while True:
            found = await check()
            if found:
                return found
            if time.monotonic() > deadline:
                raise AssertionError(f"not within {seconds} s: {what}\n{self.diagnostics()}")
            self.assert_alive()
            await asyncio.sleep(0.2)

    def sessions(self) -> async_sessionmaker[Any]:
        assert self.engine is not None
        return async_sessionmaker(self.engine, expire_on_commit=False)

    async def clock(self) -> tuple[float, dt.datetime]:
        """(real epoch seconds, the replay's simulated now at that moment)."""
        async with httpx.AsyncClient(timeout=10) as client:
            before = time.time()
            body = (await client.get(f"{self.replay_url}/replay/clock")).json()
            after = time.time()
        return (before + after) / 2, dt.datetime.fromisoformat(body["now"].replace("Z", "+00:00"))

    async def sim_now(self) -> dt.datetime:
        return (await self.clock())[1]

    async def runs(self) -> list[LoopRun]:
        async with self.sessions()() as s:
            return list((await s.execute(select(LoopRun).order_by(LoopRun.id))).scalars())

    async def ok_run_since(self, since: dt.datetime, job: str | None = None) -> LoopRun | None:
        """A loop run started after `since` (simulated) that finished without error."""
        for run in await self.runs():
            if (
                run.started_at > since
                and run.finished_at is not None
                and run.error_code is None
                and (job is None or run.job == job)
            ):
                return run
        return None

    async def consumers(self) -> list[bytes] | None:
        """The names of the queue's consumers (a worker's, from its first read)."""
        redis: Any = self.redis
        try:
            found = await redis.xinfo_consumers(self.queue, self.queue)
        except Exception:  # no stream or group yet
            return None
        return [c["name"] for c in found] or None

    async def post_webhook(self) -> str:
        """A signed Paddle notification through the API; returns its event id."""
        assert self.api is not None
        event_id = f"evt_{uuid.uuid4().hex}"
        body = json.dumps(
            {
                "event_id": event_id,
                "event_type": "address.created",
                "occurred_at": "2026-01-01T00:00:00Z",
                "notification_id": f"ntf_{uuid.uuid4().hex[:8]}",
                "data": {"id": "add_1"},
            }
        ).encode()
        r = await self.api.post(
            "/webhooks/paddle",
            content=body,
            headers={"Paddle-Signature": sign(body, SECRET, int(time.time()))},
        )
        assert r.status_code == 200 and r.json()["status"] == "accepted", r.text
        return event_id

    async def queued(self, task_name: str) -> list[dict[str, Any]]:
        """The jobs named `task_name` on the queue's stream, oldest first."""
        redis: Any = self.redis
        entries = await redis.xrange(self.queue, "-", "+")
        messages = [json.loads(fields[b"data"]) for _, fields in entries]
        return [m for m in messages if m["task_name"] == task_name]

    async def api_jobs_run_on_workers(self, count: int) -> None:
        """`count` Paddle notifications through the API: each one's job is on the queue when
        the API answers (sent with the request's unit of work, not by the sweep that re-sends a
        forgotten one a simulated minute later), and a worker runs that very job."""
        redis: Any = self.redis
        jobs: dict[str, str] = {}  # event id -> the task id the API sent
        for _ in range(count):
            event_id = await self.post_webhook()
            async with self.sessions()() as s:
                row = await s.execute(
                    select(WebhookEvent.id).where(WebhookEvent.external_id == event_id)
                )
                kwargs = {"webhook_event_id": row.scalar_one()}
            sent = [m for m in await self.queued(PADDLE_EVENT_JOB) if m["kwargs"] == kwargs]
            assert sent, f"the API answered before queueing the job of {event_id}"
            jobs[event_id] = sent[0]["task_id"]

        async def ran() -> list[dict[str, Any]] | None:
            found = [await redis.get(f"{self.queue}:result:{t}") for t in jobs.values()]
            return [json.loads(r) for r in found] if all(found) else None

        results = await self.eventually(ran, 60, "the API's jobs run by a worker")
        assert not [r for r in results if r["is_err"]], results
        async with self.sessions()() as s:
            events = (
                await s.execute(select(WebhookEvent).where(WebhookEvent.external_id.in_(jobs)))
            ).scalars()
            assert {e.status for e in events} == {"ignored"}  # address.created: nothing to do

    # start and stop -------------------------------------------------------------------------

    async def open(self) -> None:
        if self.redis_server:
            self.start_redis()
        replay_port = self.replay_url.rsplit(":", 1)[1]
        self.start_edgelab(
            "replay", "replay", "odds-api", str(ODDS), "--results", str(RESULTS),
            "--start", REPLAY_START.strftime("%Y-%m-%dT%H:%M:%SZ"), "--speed", f"{SPEED:g}",
            "--port", replay_port,
        )  # fmt: skip
        await self._create_database()
        upgrade = await asyncio.create_subprocess_exec(
            PY, "-m", "edgelab.cli", "db", "upgrade", env=self.env(), cwd=self.folder,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        out, _ = await asyncio.wait_for(upgrade.communicate(), 120)
        assert upgrade.returncode == 0, out.decode()
        self.engine = create_async_engine(self.db_url, poolclass=NullPool)
        # a paid bettor whose rule matches every market, there before the first scoring
        async with self.sessions()() as s:
            user = await create_user(s, "topology.bettor@example.com", tier="paid")
            rule = AlertRuleCreate(name="everything", min_value_score=0, algorithm="a")
            await create_rule(s, user.id, rule.model_dump())
            await s.commit()
        settings = make_settings(self.db_url, jwt_secret=JWT_SECRET)
        self.auth = {"Authorization": f"Bearer {issue_access_token(settings, user.id)}"}
        self.redis = Redis.from_url(self.redis_url)
        await self.wait_redis()

        async def replay_up() -> bool | None:
            with contextlib.suppress(httpx.HTTPError):
                return (await self.sim_now()) >= REPLAY_START
            return None

        await self.eventually(replay_up, 60, "the replay serving")

        # worker-1 reaches the replay through a gate the kill test closes
        self.gate = OddsGate(self.replay_url)
        gate_url = self.exit.enter_context(serve(self.gate, name="odds gate"))
        api_port = self.api_url.rsplit(":", 1)[1]
        self.start_edgelab("serve", "serve", "--port", api_port, "--workers", "2")
        self.start_edgelab("worker-1", "jobs", "worker", EDGELAB_ODDS_API_URL=gate_url)
        self.start_edgelab("scheduler-1", "jobs", "scheduler")
        self.start_edgelab("scheduler-2", "jobs", "scheduler")
        self.api = httpx.AsyncClient(base_url=self.api_url, timeout=30)
        api = self.api
        # worker-2 once worker-1 reads the queue: the group's one consumer is then worker-1's
        self.worker_1_consumer = (await self.eventually(self.consumers, 90, "worker-1 up"))[0]
        self.start_edgelab("worker-2", "jobs", "worker")

        async def up() -> bool | None:
            logs = [self.log_of(name) for name in ("scheduler-1", "scheduler-2")]
            if not all("job scheduler up" in log for log in logs):
                return None
            if len(await self.consumers() or []) < 2:
                return None
            with contextlib.suppress(httpx.HTTPError):
                return (await api.get("/health")).status_code == 200 or None
            return None

        await self.eventually(up, 90, "serve answering /health, both workers and schedulers up")
        await self._place_bets()

    async def _place_bets(self) -> None:
        """Once the first fetch is scored: a tracked bet on the home moneyline of each game of
        the next tip-off (within the hour of the first one at least 20 minutes off), at its best
        current price."""
        assert self.api is not None

        async def scored() -> list[tuple[str, float]] | None:
            now = await self.sim_now()
            async with self.sessions()() as s:
                rows = await s.execute(
                    select(Game.id, Game.tip_time, ValueScore.odds_decimal)
                    .join(Market, Market.game_id == Game.id)
                    .join(Outcome, Outcome.market_id == Market.id)
                    .join(ValueScore, ValueScore.outcome_id == Outcome.id)
                    .where(
                        Game.tip_time > now + dt.timedelta(minutes=20),
                        Game.tip_time_estimated.is_(False),
                        Market.market_type == "moneyline",
                        Outcome.side == "home",
                        ValueScore.is_current.is_(True),
                        ValueScore.odds_kind == "live",
                    )
                )
                found = rows.all()
            if not found:
                return None
            first = min(tip for _, tip, _ in found)
            return sorted((g, odds) for g, tip, odds in found if tip <= first + HOUR)

        found = await self.eventually(scored, 60, "the first fetch scored")
        for game_id, odds in found:
            body = {
                "market_id": f"{game_id}-ml-home",
                "odds_decimal": round(odds, 4),
                "stake_minor": 10_000,
                "external_id": f"topology-{game_id}",
            }
            r = await self.api.post("/me/bets", json=body, headers=self.auth)
            assert r.status_code == 201, r.text
            self.bets.append(r.json()["id"])

    async def close(self) -> None:
        for name in self.procs:
            self.kill(name)
        for p in self.procs.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(timeout=10)
        if self.gate is not None:
            self.gate.open()
        self.exit.close()
        if self.api is not None:
            await self.api.aclose()
        if self.redis is not None:
            if not self.redis_server:  # the shared test Redis: the queue, results and claims
                with contextlib.suppress(Exception):
                    keys = [k async for k in self.redis.scan_iter(match=f"{self.queue}*")]
                    if keys:
                        await self.redis.delete(*keys)
            await self.redis.aclose()
        if self.engine is not None:
            await self.engine.dispose()
        await self._drop_database()

    async def _admin(self, statement: str) -> None:
        import asyncpg

        conn = await asyncpg.connect(
            user=self.admin_db.username or "postgres",
            password=self.admin_db.password,
            host=self.admin_db.host,
            port=self.admin_db.port or 5432,
            database=self.admin_db.database,
        )
        try:
            await conn.execute(statement)
        finally:
            await conn.close()

    async def _create_database(self) -> None:
        await self._drop_database()
        await self._admin(f'CREATE DATABASE "{self.db_name}"')

    async def _drop_database(self) -> None:
        await self._admin(f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)')


async def message_of(redis: Any, queue: str, message_id: bytes) -> dict[str, Any]:
    """The taskiq message of one entry of the queue's stream (task_id, task_name, kwargs)."""
    found = await redis.xrange(queue, message_id, message_id)
    assert found, message_id
    message: dict[str, Any] = json.loads(found[0][1][b"data"])
    return message


@pytest.fixture(scope="module")
async def topology(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Topology]:
    topo = Topology(tmp_path_factory.mktemp("topology"))
    try:
        await topo.open()
        yield topo
    finally:
        await topo.close()


# the story ----------------------------------------------------------------------------------


async def test_a_job_the_api_enqueues_runs_on_a_worker_process(topology: Topology) -> None:
    # no app process runs jobs (EDGELAB_JOBS_WORKER_IN_PROCESS=false): a worker must take them
    await topology.api_jobs_run_on_workers(4)  # spread over both API processes
    topology.assert_alive()


async def test_two_schedulers_send_each_firing_once(topology: Topology) -> None:
    """Every job a schedule sends is an entry of the queue's stream: mapped to its slot on the
    simulated clock, no slot of any schedule has two."""
    assert topology.redis is not None
    settings = make_settings(
        topology.db_url,
        redis_url=topology.redis_url,
        odds_api_key="replay",
        paddle_webhook_secret=SECRET,
        polymarket_ingest_minutes=0,
        odds_poll_seconds=int(LOOP["EDGELAB_ODDS_POLL_SECONDS"]),
        odds_poll_near_tip_seconds=int(LOOP["EDGELAB_ODDS_POLL_NEAR_TIP_SECONDS"]),
        scores_poll_seconds=int(LOOP["EDGELAB_SCORES_POLL_SECONDS"]),
    )
    registry = Jobs(None, session_factory=topology.sessions(), run_schedules=False)
    async with contextlib.AsyncExitStack() as stack:
        register_all_jobs(registry, settings, stack)  # what the schedulers run
    schedules = {s.name: s for s in registry._schedules}
    assert {ODDS_JOB, SCORES_JOB} <= set(schedules)
    # slots at least 0.8 real seconds apart: an entry sent up to 0.4 s late maps to its slot
    checked = {n: s for n, s in schedules.items() if s.every_seconds / SPEED >= 0.8}

    async def fired() -> bool | None:
        return len(await topology.queued(ODDS_JOB)) >= 3 or None

    await topology.eventually(fired, 30, "three firings of the odds job")
    real, sim = await topology.clock()
    redis: Any = topology.redis
    slots: dict[str, dict[int, int]] = {name: {} for name in checked}
    for entry_id, fields in await redis.xrange(topology.queue, "-", "+"):
        message = json.loads(fields[b"data"])
        schedule = checked.get(message["task_name"])
        if schedule is None or message.get("kwargs") != schedule.payload:
            continue
        sent = int(entry_id.split(b"-")[0]) / 1000  # Redis stamps entries in real ms
        at = sim.timestamp() + (sent - real) * SPEED
        slot = round((at - schedule.offset_seconds) / schedule.every_seconds)
        slots[schedule.name][slot] = slots[schedule.name].get(slot, 0) + 1
    assert len(slots[ODDS_JOB]) >= 3, slots  # the odds job fired all along
    twice = {name: {k: n for k, n in by.items() if n > 1} for name, by in slots.items()}
    assert not any(twice.values()), f"slots sent more than once: {twice}"
    topology.assert_alive()


async def test_a_worker_killed_mid_run_leaves_its_jobs_to_another_that_completes_them(
    topology: Topology,
) -> None:
    assert topology.gate is not None
    redis: Any = topology.redis
    gate, queue = topology.gate, topology.queue
    gate.close()  # worker-1's next fetch stays in the middle of its run

    async def held() -> bool | None:
        return gate.held.is_set() or None

    await topology.eventually(held, 60, "worker-1 fetching odds")
    running = [r.id for r in await topology.runs() if r.finished_at is None and r.job == ODDS_JOB]
    assert running, "worker-1's odds run is not recorded as running"
    # what worker-1 holds: every entry delivered to it and not acknowledged
    pending = await redis.xpending_range(queue, queue, min="-", max="+", count=1000)
    mine = {
        p["message_id"]: await message_of(redis, queue, p["message_id"])
        for p in pending
        if p["consumer"] == topology.worker_1_consumer
    }
    held_odds = [m["task_id"] for m in mine.values() if m["task_name"] == ODDS_JOB]
    assert held_odds, pending  # the odds job it is in the middle of

    topology.kill("worker-1")
    topology.procs["worker-1"].wait(timeout=10)
    topology.stopped.add("worker-1")
    gate.open()
    killed_at = await topology.sim_now()
    topology.killed_runs = running
    topology.start_edgelab("worker-3", "jobs", "worker")  # the restarted worker

    async def completed() -> bool | None:
        left = await redis.xpending_range(queue, queue, min="-", max="+", count=1000)
        if {p["message_id"] for p in left} & set(mine):
            return None
        for message in mine.values():
            if not await redis.exists(f"{queue}:result:{message['task_id']}"):
                return None
        return True

    await topology.eventually(
        completed, 60, f"worker-1's {len(mine)} jobs redelivered and run to completion"
    )
    results = {
        m["task_id"]: json.loads(await redis.get(f"{queue}:result:{m['task_id']}"))
        for m in mine.values()
    }
    assert not [r for r in results.values() if r["is_err"]], results
    topology.killed_jobs = [results[task_id] for task_id in held_odds]
    # the loop goes on: the killed run holds its job off only until it counts as dead
    await topology.eventually(
        lambda: topology.ok_run_since(killed_at, ODDS_JOB), 60, "an odds run after the kill"
    )
    topology.assert_alive()


async def test_the_job_of_the_killed_run_does_the_round_when_run_again(
    topology: Topology,
) -> None:
    if not topology.killed_jobs:
        pytest.skip("needs the kill test before it")
    returned = [job["return_value"] for job in topology.killed_jobs]
    assert all(r.get("status") != "skipped" for r in returned), returned
    # the dead run's row was closed by its job's second delivery, which started its own
    closed = {r.id: r for r in await topology.runs() if r.id in topology.killed_runs}
    assert closed and all(r.finished_at is not None for r in closed.values()), closed
    assert all(r.error == ABANDONED for r in closed.values())


async def test_the_processes_survive_a_redis_restart(topology: Topology) -> None:
    if not topology.redis_server:
        pytest.skip("no redis-server on PATH: the processes share the test Redis, not restarted")
    topology.kill("redis")
    topology.procs["redis"].wait(timeout=10)
    await asyncio.sleep(1.0)  # down long enough for every process to notice
    topology.start_redis()  # empty: no persistence, the queue and its group are gone
    await topology.wait_redis()
    back = await topology.sim_now()

    # the schedulers fire into the new Redis and the workers take the jobs again
    await topology.eventually(
        lambda: topology.ok_run_since(back, ODDS_JOB), 60, "an odds run after the restart"
    )
    # and the API's jobs get through too
    await topology.api_jobs_run_on_workers(2)
    topology.assert_alive()


async def test_the_processes_survive_postgres_dropping_their_connections(
    topology: Topology,
) -> None:
    assert topology.api is not None
    async with topology.sessions()() as s:
        dropped = (
            await s.execute(
                text(
                    "SELECT count(*) FROM ("
                    " SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = :db AND pid <> pg_backend_pid()) AS t"
                ),
                {"db": topology.db_name},
            )
        ).scalar_one()
    assert dropped >= 1  # the API's and the workers' pooled connections at least
    after = await topology.sim_now()
    await topology.eventually(
        lambda: topology.ok_run_since(after), 60, "a loop run after the connections dropped"
    )
    for _ in range(4):  # both API processes read the database again
        r = await topology.api.get("/me/bets", headers=topology.auth)
        assert r.status_code == 200, r.text
    topology.assert_alive()


async def test_every_bet_settles_once_every_alert_goes_out_once_nothing_half_done(
    topology: Topology,
) -> None:
    assert topology.bets
    sessions = topology.sessions()

    async def settled() -> list[UserBet] | None:
        async with sessions() as s:
            bets = list((await s.execute(select(UserBet))).scalars())
        return bets if bets and all(b.status != "open" for b in bets) else None

    bets = await topology.eventually(settled, 90, "every tracked bet settled")
    assert sorted(b.id for b in bets) == sorted(topology.bets)

    # quiet: the schedulers stop, then the workers finish what is queued and stop (SIGTERM)
    for name in ("scheduler-1", "scheduler-2"):
        topology.stopped.add(name)
        topology.kill(name, signal.SIGTERM)
    for name in ("scheduler-1", "scheduler-2"):
        assert topology.procs[name].wait(timeout=30) == 0, topology.log_of(name)
    redis: Any = topology.redis
    queue = topology.queue

    async def drained() -> bool | None:
        stream = await redis.xinfo_stream(queue)
        group = next(g for g in await redis.xinfo_groups(queue) if g["name"] == queue.encode())
        last = stream["last-generated-id"]
        return (group["pending"] == 0 and group["last-delivered-id"] == last) or None

    await topology.eventually(drained, 60, "the queue drained")
    workers = [n for n in ("worker-2", "worker-3") if n in topology.procs]
    for name in workers:
        topology.stopped.add(name)
        topology.kill(name, signal.SIGTERM)
    for name in workers:
        assert topology.procs[name].wait(timeout=30) == 0, topology.log_of(name)
        assert "job worker stopped" in topology.log_of(name)

    async with sessions() as s:
        runs = list((await s.execute(select(LoopRun))).scalars())
        deliveries = list((await s.execute(select(AlertDelivery))).scalars())
        alert_mails = (
            await s.execute(
                select(func.count()).select_from(OutboxEmail).where(OutboxEmail.template == "alert")
            )
        ).scalar_one()
        copies = list(
            (await s.execute(select(SentinelBet).where(SentinelBet.source == "tracker"))).scalars()
        )
    # each bet settled by exactly one results run, and Sentinel's copy of it once
    settlements = sum(int((r.details or {}).get("settled", 0)) for r in runs if r.job == SCORES_JOB)
    assert settlements == len(bets), [(r.id, r.details) for r in runs if r.job == SCORES_JOB]
    assert all(b.payout_minor is not None and b.settled_at is not None for b in bets)
    assert len(copies) == len(bets) and len({c.external_id for c in copies}) == len(bets)
    assert {c.status for c in copies} <= {"won", "lost", "void"}, [c.status for c in copies]
    # alerts went out, each market once, each in exactly one e-mail
    assert deliveries, "no alert went out"
    assert len({(d.user_id, d.outcome_id) for d in deliveries}) == len(deliveries)
    assert all(d.email_id is not None for d in deliveries)
    assert alert_mails == len({d.email_id for d in deliveries})
    # nothing half-done: every run finished (ok or failed), the one killed with its worker too
    # (closed as abandoned when its job was delivered again)
    assert not [r.id for r in runs if r.finished_at is None], [
        (r.id, r.job, r.started_at) for r in runs if r.finished_at is None
    ]
