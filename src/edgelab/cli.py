"""`edgelab` command line: assembles each product's commands (`<product>/commands.py`) and
runs the composition-level ones: `serve`, `demo`, `jobs worker`, `jobs scheduler`."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
from contextlib import AsyncExitStack
from typing import Annotated, Any

import typer
from rich.markup import escape

from edgelab.accounts import commands as accounts
from edgelab.betting import commands as betting
from edgelab.betting.odds.replay.commands import replay_odds_api, replay_prepare
from edgelab.chess.commands import chess_app
from edgelab.core.commands import console, db_app, load_settings
from edgelab.core.db import create_engine, create_sessionmaker
from edgelab.core.settings import Settings, development_secret_refusal
from edgelab.predictions import commands as predictions
from edgelab.sentinel import commands as sentinel
from edgelab.sentinel.commands import sentinel_app

app = typer.Typer(help="edgelab: betting and game analytics.", no_args_is_help=True)
import_app = typer.Typer(help="Import data files.", no_args_is_help=True)
ingest_app = typer.Typer(help="Fetch data from external services.", no_args_is_help=True)
users_app = typer.Typer(help="Accounts (for operators and scripts).", no_args_is_help=True)
email_app = typer.Typer(help="E-mail.", no_args_is_help=True)
jobs_app = typer.Typer(help="Background jobs.", no_args_is_help=True)
model_app = typer.Typer(help="The value-betting model.", no_args_is_help=True)
replay_app = typer.Typer(
    help="Local stand-ins of external services, replaying recordings.", no_args_is_help=True
)
for name, group in (
    ("db", db_app),
    ("import", import_app),
    ("ingest", ingest_app),
    ("users", users_app),
    ("email", email_app),
    ("jobs", jobs_app),
    ("sentinel", sentinel_app),
    ("chess", chess_app),
    ("model", model_app),
    ("replay", replay_app),
):
    app.add_typer(group, name=name)

import_app.command("nba-csv")(betting.import_nba_csv)
import_app.command("nba-shipped")(betting.import_nba_shipped)
import_app.command("odds-api")(betting.import_odds_api)
ingest_app.command("odds")(betting.ingest_odds)
ingest_app.command("polymarket")(predictions.ingest_polymarket)
import_app.command("polymarket-recording")(predictions.import_polymarket_recording)
app.command("score")(betting.score)
app.command("backtest")(betting.backtest)
model_app.command("update")(betting.model_update)
replay_app.command("odds-api")(replay_odds_api)
replay_app.command("prepare")(replay_prepare)
users_app.command("create")(accounts.users_create)
users_app.command("token")(accounts.users_token)
email_app.command("outbox")(accounts.email_outbox)


def refuse_development_secret(settings: Settings, host: str | None = None) -> None:
    """Exit (2) with one line saying what to set when this process would be reachable from
    other machines with the development JWT secret (see `development_secret_refusal`)."""
    from edgelab.core.email.backend import email_backend_refusal

    reason = development_secret_refusal(settings, host) or email_backend_refusal(settings)
    if reason is not None:
        console.print(f"[red]{escape(reason)}[/red]", highlight=False)
        raise typer.Exit(2)


async def follow_clock(settings: Settings) -> None:
    """Run this process on EDGELAB_CLOCK_URL's time (a replay's), as the app does: the jobs a
    worker runs and the slots a scheduler fires must be on the app's time."""
    if settings.clock_url:
        from edgelab.core.clock.followed import follow

        await follow(settings.clock_url)


SHUTDOWN_SECONDS = 20.0  # a SIGTERM'd process exits within this, whatever hangs


async def close_within(seconds: float, *steps: tuple[str, Any]) -> None:
    """Await each shutdown step (name, awaitable) in order within `seconds` in all; a step
    still waiting at the deadline is given up, with a warning naming it and every task still
    running (their stacks), so a stop signal always ends the process."""
    import logging
    import time

    log = logging.getLogger("edgelab.jobs")
    deadline = time.monotonic() + seconds
    for name, step in steps:
        remaining = deadline - time.monotonic()
        task = asyncio.ensure_future(step)
        done, _ = await asyncio.wait({task}, timeout=max(0.0, remaining))
        if task in done:
            if not task.cancelled() and (exc := task.exception()) is not None:
                log.warning("shutdown step %s failed: %r", name, exc)
            continue
        stacks = [
            f"{t.get_name()}: {t.get_stack(limit=3)}"
            for t in asyncio.all_tasks()
            if t is not asyncio.current_task() and not t.done()
        ]
        log.warning(
            "shutdown step %s still waiting after %.0f s; giving up. Tasks: %s",
            name,
            seconds,
            "; ".join(stacks),
        )
        task.cancel()
        return


@jobs_app.command("worker")
def jobs_worker(
    concurrency: Annotated[int, typer.Option(min=1, max=100, help="Jobs run at once.")] = 10,
) -> None:
    """Run background jobs from the Redis queue until SIGINT/SIGTERM (for deployments with
    EDGELAB_JOBS_WORKER_IN_PROCESS=false). Running jobs finish before it exits."""
    import signal

    from edgelab.app import register_all_jobs
    from edgelab.core.jobs import Jobs
    from edgelab.core.observability import configure_logging

    settings = load_settings()
    refuse_development_secret(settings)
    if not settings.redis_url:
        console.print(
            "[red]No EDGELAB_REDIS_URL: without Redis, jobs run inside the app process and "
            "there is no queue for a worker.[/red]"
        )
        raise typer.Exit(2)
    configure_logging(settings.log_level)

    async def main() -> None:
        await follow_clock(settings)
        engine = create_engine(settings)
        jobs = Jobs(
            settings.redis_url,
            queue_name=settings.jobs_queue,
            session_factory=create_sessionmaker(engine),
            run_schedules=settings.jobs_schedules_in_process,
            redeliver_after_seconds=settings.jobs_redeliver_after_seconds,
        )
        stack = AsyncExitStack()
        register_all_jobs(jobs, settings, stack)
        await jobs.startup()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, jobs.stop_worker)
        console.print(f"job worker up: queue {jobs.queue_name}, concurrency {concurrency}")
        try:
            await jobs.run_worker(concurrency=concurrency)
        finally:
            await jobs.shutdown()
            await stack.aclose()
            await engine.dispose()
        console.print("job worker stopped")

    asyncio.run(main())


@jobs_app.command("scheduler")
def jobs_scheduler() -> None:
    """Fire the interval schedules (the live loop, Sentinel's rescoring, retries...) into the
    Redis queue until SIGINT/SIGTERM; `edgelab jobs worker` runs the jobs. Run it beside app
    processes started with EDGELAB_JOBS_SCHEDULES_IN_PROCESS=false; two schedulers still send
    each firing once (each slot is claimed in Redis)."""
    import signal

    from edgelab.app import register_all_jobs
    from edgelab.core.jobs import Jobs
    from edgelab.core.observability import configure_logging

    settings = load_settings()
    refuse_development_secret(settings)
    if not settings.redis_url:
        console.print(
            "[red]No EDGELAB_REDIS_URL: without Redis the app process fires its schedules "
            "itself and there is no queue to send them to.[/red]"
        )
        raise typer.Exit(2)
    configure_logging(settings.log_level)

    async def main() -> None:
        await follow_clock(settings)
        engine = create_engine(settings)  # tasks are registered with sessions; none opened here
        jobs = Jobs(
            settings.redis_url,
            queue_name=settings.jobs_queue,
            session_factory=create_sessionmaker(engine),
            run_schedules=True,
        )
        stack = AsyncExitStack()
        register_all_jobs(jobs, settings, stack)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await jobs.startup()
        console.print(f"job scheduler up: queue {jobs.queue_name}, {jobs.schedule_count} schedules")
        try:
            await stop.wait()
        finally:
            await close_within(
                SHUTDOWN_SECONDS,
                ("jobs", jobs.shutdown()),
                ("resources", stack.aclose()),
                ("database", engine.dispose()),
            )
        console.print("job scheduler stopped")

    asyncio.run(main())


@app.command("serve")
def serve(
    host: Annotated[str | None, typer.Option(help="Default EDGELAB_HOST.")] = None,
    port: Annotated[int | None, typer.Option(help="Default EDGELAB_PORT.")] = None,
    workers: Annotated[int, typer.Option(help="Worker processes.")] = 1,
) -> None:
    """Serve the API (OpenAPI UI at /docs)."""
    import uvicorn

    settings = load_settings()
    bind = host or settings.host
    refuse_development_secret(settings, bind)
    # the app each worker process builds reads its settings again: it must see this bind
    # address too (its lifespan refuses the development secret off loopback as well)
    os.environ["EDGELAB_HOST"] = bind
    uvicorn.run(
        "edgelab.app:create_app",
        factory=True,
        host=bind,
        port=port or settings.port,
        workers=workers,
        log_level=settings.log_level.lower(),
        access_log=False,
        proxy_headers=False,
    )


@app.command("demo")
def demo(
    serve_after: Annotated[bool, typer.Option("--serve/--no-serve")] = True,
) -> None:
    """Migrate, import the shipped real data, fit and score the demo slate, load and score
    Sentinel's real payments, then serve."""
    from edgelab.core import migrations

    settings = load_settings()
    console.rule("1/5 migrate")
    migrations.upgrade(settings)
    console.rule("2/5 import the shipped NBA data: results and lines, then many books' odds")
    betting.import_nba(settings, betting.shipped_nba_files(), None)
    betting.import_odds(settings, betting.shipped_odds_api_files())
    console.rule("3/5 fit the model and score the demo slate")
    result = betting.score_slate_now(settings, None)
    console.print(
        f"slate {result['slate_date']}: {result['scored_rows']} scores, "
        f"model {result['model_version']}"
    )
    alerts = betting.send_alerts_now(settings, dt.date.fromisoformat(result["slate_date"]))
    console.print(f"alerts: {alerts['alerts']} markets in {alerts['emails']} e-mails")
    from edgelab.betting.evaluation.jobs import compute_and_store
    from edgelab.core.commands import run_in_session

    with console.status("the walk-forward evaluation of every season (stored for the API)"):
        report = run_in_session(settings, lambda session: compute_and_store(session, settings))
    console.print(f"evaluation: {len(report.seasons)} seasons in {report.seconds:.1f} s")
    console.rule("4/5 Sentinel: load the shipped real payments and score their players")
    sentinel.import_payments(None)  # idempotent: a second demo adds nothing
    sentinel.rescore(all_players=True)
    console.rule("prediction markets: live from Polymarket, or offline its shipped recording")
    predictions.demo_markets(settings)
    if serve_after:
        console.rule(f"5/5 serve on http://{settings.host}:{settings.port} (docs at /docs)")
        serve(None, None, 1)


if __name__ == "__main__":  # pragma: no cover - `python -m edgelab.cli`
    app()
