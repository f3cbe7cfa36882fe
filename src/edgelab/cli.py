"""`edgelab` command line: serve, demo, db, import, score, ingest."""

from __future__ import annotations

import asyncio
import datetime as dt
import glob
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncSession

from edgelab.chess.commands import chess_app
from edgelab.core.cache import make_cache
from edgelab.core.db import create_engine, create_sessionmaker
from edgelab.core.settings import Settings, data_dir
from edgelab.sentinel.commands import sentinel_app

app = typer.Typer(help="edgelab: betting and game analytics.", no_args_is_help=True)
db_app = typer.Typer(help="Database migrations.", no_args_is_help=True)
import_app = typer.Typer(help="Import data files.", no_args_is_help=True)
ingest_app = typer.Typer(help="Fetch data from external services.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(import_app, name="import")
app.add_typer(ingest_app, name="ingest")
users_app = typer.Typer(help="Accounts (for operators and scripts).", no_args_is_help=True)
email_app = typer.Typer(help="E-mail.", no_args_is_help=True)
app.add_typer(users_app, name="users")
app.add_typer(email_app, name="email")
jobs_app = typer.Typer(help="Background jobs.", no_args_is_help=True)
app.add_typer(jobs_app, name="jobs")
app.add_typer(sentinel_app, name="sentinel")
app.add_typer(chess_app, name="chess")
model_app = typer.Typer(help="The value-betting model.", no_args_is_help=True)
app.add_typer(model_app, name="model")
console = Console(stderr=True, soft_wrap=True)
T = TypeVar("T")


def _settings() -> Settings:
    return Settings()


def _progress() -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )


def _run_in_session(settings: Settings, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """One unit of work: commit if `work` returns, roll back if it raises."""

    async def main() -> T:
        engine = create_engine(settings)
        try:
            async with create_sessionmaker(engine)() as session, session.begin():
                return await work(session)
        finally:
            await engine.dispose()

    return asyncio.run(main())


def _invalidate_shared_cache(settings: Settings) -> None:
    """After a write, drop cached answers a server shares with us through Redis.

    An in-process cache lives in the server's memory and expires by its TTL instead.
    """
    if not settings.redis_url:
        return

    async def main() -> None:
        cache = make_cache(settings.redis_url)
        try:
            for prefix in ("markets:", "health:"):
                await cache.delete_prefix(prefix)
        finally:
            await cache.close()

    asyncio.run(main())


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument()] = "head") -> None:
    """Apply migrations up to REVISION (default: head)."""
    from edgelab.core import migrations

    settings = _settings()
    migrations.upgrade(settings, revision)
    console.print(f"[green]database at {revision}[/] ({settings.database_url})")


@db_app.command("downgrade")
def db_downgrade(revision: Annotated[str, typer.Argument()] = "-1") -> None:
    """Revert migrations down to REVISION (default: one step; `base` for all)."""
    from edgelab.core import migrations

    migrations.downgrade(_settings(), revision)
    console.print(f"[yellow]database downgraded to {revision}[/]")


@db_app.command("current")
def db_current() -> None:
    """Show the database's current revision."""
    from edgelab.core import migrations

    migrations.current(_settings())


def shipped_nba_files() -> list[Path]:
    base = data_dir() / "nba"
    return sorted((base / "kaggle").glob("*.csv")) + sorted((base / "sbr_raw").glob("*.csv"))


def _import_nba(settings: Settings, paths: list[Path], season: int | None) -> None:
    from edgelab.betting.ingest import import_parsed
    from edgelab.betting.nba_csv import MalformedFileError, parse_nba_csv

    parsed = []
    with _progress() as progress:
        task = progress.add_task("parsing", total=len(paths))
        for path in paths:
            try:
                parsed.append(parse_nba_csv(path, season=season))
            except MalformedFileError as exc:
                console.print(f"[red]rejected:[/] {exc}. Nothing was written.")
                raise typer.Exit(1) from exc
            except OSError as exc:
                console.print(f"[red]cannot read {path}:[/] {exc.strerror}. Nothing was written.")
                raise typer.Exit(1) from exc
            progress.advance(task)

    table = Table(title="NBA import")
    table.add_column("file", min_width=28, overflow="fold")
    for col in ("layout", "read", "new", "updated", "same", "odds new", "odds upd", "skipped"):
        table.add_column(col)
    skipped_all: dict[str, int] = {}

    async def work(session: AsyncSession) -> None:
        with _progress() as progress:
            task = progress.add_task("importing", total=len(parsed))
            for p in parsed:
                stats = await import_parsed(session, p, settings)
                table.add_row(
                    Path(p.path).name,
                    p.layout,
                    str(stats.rows_read),
                    str(stats.games_new),
                    str(stats.games_updated),
                    str(stats.games_unchanged),
                    str(stats.snapshots_new),
                    str(stats.snapshots_updated),
                    str(sum(stats.skipped.values())),
                )
                for reason, n in stats.skipped.items():
                    skipped_all[reason] = skipped_all.get(reason, 0) + n
                progress.advance(task)
        from edgelab.betting.bets import settle_open_bets

        settled = await settle_open_bets(session, settings)  # results may have arrived
        if settled:
            console.print(f"settled {settled} tracked bets")

    _run_in_session(settings, work)
    _invalidate_shared_cache(settings)
    console.print(table)
    for reason, n in sorted(skipped_all.items(), key=lambda kv: -kv[1]):
        console.print(f"  skipped {n} x {reason}")


@import_app.command("nba-csv")
def import_nba_csv(
    paths: Annotated[list[str], typer.Argument(help="CSV files (globs allowed), any layout.")],
    season: Annotated[
        int | None,
        typer.Option(help="Season by ending year, for SBR files whose name does not say it."),
    ] = None,
) -> None:
    """Import NBA results and lines (Kaggle, SBR raw or SBR one-row layout; inferred)."""
    files: list[Path] = []
    for raw in paths:
        matches = sorted(glob.glob(raw)) or [raw]
        files.extend(Path(m) for m in matches)
    _import_nba(_settings(), files, season)


@import_app.command("nba-shipped")
def import_nba_shipped() -> None:
    """Import the real NBA data shipped with edgelab (see src/edgelab/data/nba/README.md)."""
    _import_nba(_settings(), shipped_nba_files(), None)


def _score(settings: Settings, date: dt.date | None) -> dict[str, Any]:
    from edgelab.betting.slate import score_slate

    with _progress() as progress:
        task = progress.add_task("scoring", total=None)

        async def work(session: AsyncSession) -> dict[str, Any]:
            res = await score_slate(
                session, settings, date, progress=lambda msg: progress.update(task, description=msg)
            )
            return {
                "slate_date": res.slate_date.isoformat(),
                "model_version": res.model_version,
                "games": res.games,
                "scored_rows": res.scored,
                "fit": res.fit,
            }

        try:
            result = _run_in_session(settings, work)
        except LookupError as exc:
            console.print(f"[red]{exc}[/]")
            raise typer.Exit(1) from exc
    _invalidate_shared_cache(settings)
    return result


def _send_alerts(settings: Settings, slate_date: dt.date) -> dict[str, Any]:
    """The alerts step after a scoring run, in its own unit of work (the scores are committed).

    The e-mails it queues go out after its commit: through Resend from this process (waited for
    before exit), or with Redis by the job workers; without a Resend key they stay in the outbox.
    """
    from edgelab.app import _register_jobs
    from edgelab.betting.alerts import send_alerts_after_scoring
    from edgelab.core.jobs import Jobs, session_unit_of_work

    async def main() -> dict[str, Any]:
        engine = create_engine(settings)
        sessions = create_sessionmaker(engine)
        jobs = Jobs(
            settings.redis_url,
            queue_name=settings.jobs_queue,
            session_factory=sessions,
            run_schedules=False,
        )
        resend = _register_jobs(jobs, settings)
        await jobs.startup()
        try:
            async with session_unit_of_work(jobs, sessions) as session:
                return await send_alerts_after_scoring(session, settings, slate_date)
        finally:
            await jobs.shutdown()
            if resend is not None:
                await resend.aclose()
            await engine.dispose()

    return asyncio.run(main())


@app.command("score")
def score(
    date: Annotated[
        dt.datetime | None,
        typer.Option(
            formats=["%Y-%m-%d"],
            help="Slate date (default EDGELAB_DEMO_DATE or the latest full slate).",
        ),
    ] = None,
) -> None:
    """Fit the model on everything before the slate and score every snapshot of it, then
    e-mail paid users' alerts for the slate's new matches."""
    settings = _settings()
    result = _score(settings, date.date() if date else None)
    result["alerts"] = _send_alerts(settings, dt.date.fromisoformat(result["slate_date"]))
    console.print_json(json.dumps(result))


@ingest_app.command("odds")
def ingest_odds(
    sport: Annotated[
        str | None, typer.Option(help="Sport key (default EDGELAB_ODDS_API_SPORT).")
    ] = None,
    markets: Annotated[
        str | None, typer.Option(help="Comma list, e.g. h2h,spreads,totals.")
    ] = None,
    regions: Annotated[str | None, typer.Option(help="Comma list, e.g. us,uk.")] = None,
    props: Annotated[
        str | None, typer.Option(help="Player-prop markets, e.g. player_points (a call per event).")
    ] = None,
) -> None:
    """Fetch live odds from The Odds API v4 and store them as snapshots."""
    from edgelab.betting.live_odds import ingest_live_odds
    from edgelab.core.errors import AppError

    settings = _settings()

    async def work(session: AsyncSession) -> dict[str, Any]:
        return await ingest_live_odds(
            session, settings, sport=sport, markets=markets, regions=regions, props=props
        )

    try:
        result = _run_in_session(settings, work)
    except AppError as exc:
        console.print(f"[red]{exc.code}:[/] {exc.message}")
        raise typer.Exit(2) from exc
    _invalidate_shared_cache(settings)
    console.print_json(json.dumps(result))


@ingest_app.command("polymarket")
def ingest_polymarket(
    limit: Annotated[
        int | None,
        typer.Option(min=1, help="Most markets (default EDGELAB_POLYMARKET_INGEST_MAX_MARKETS)."),
    ] = None,
    history: Annotated[
        bool, typer.Option(help="Also backfill each outcome's CLOB price history.")
    ] = False,
    history_interval: Annotated[str, typer.Option(help="1h, 6h, 1d, 1w, 1m or max.")] = "1w",
    fidelity: Annotated[int, typer.Option(min=1, help="History resolution, minutes.")] = 60,
) -> None:
    """Fetch active Polymarket markets (outcomes, prices, volume, liquidity) and store them."""
    from edgelab.predictions.ingest import ingest_polymarket as run_ingest

    settings = _settings()

    async def work(session: AsyncSession) -> dict[str, Any]:
        return await run_ingest(
            session,
            settings,
            limit=limit,
            history=history,
            history_interval=history_interval,
            history_fidelity=fidelity,
        )

    result = _run_in_session(settings, work)
    if settings.redis_url:  # answers a server shares with us through Redis are now old

        async def clear() -> None:
            cache = make_cache(settings.redis_url)
            try:
                await cache.delete_prefix("predictions:markets:")
            finally:
                await cache.close()

        asyncio.run(clear())
    console.print_json(json.dumps(result, default=str))
    if not result["ok"]:
        raise typer.Exit(2)


@users_app.command("create")
def users_create(
    address: Annotated[str, typer.Argument(metavar="EMAIL")],
    role: Annotated[str, typer.Option(help="user, analyst or admin.")] = "user",
    tier: Annotated[str, typer.Option(help="free or paid.")] = "free",
) -> None:
    """Create a user (prints its id)."""
    from edgelab.accounts.models import ROLES, TIERS
    from edgelab.accounts.service import create_user
    from edgelab.core.errors import AppError

    if role not in ROLES or tier not in TIERS:
        console.print(f"[red]role must be one of {ROLES} and tier one of {TIERS}[/]")
        raise typer.Exit(2)

    async def work(session: AsyncSession) -> str:
        return (await create_user(session, address, role=role, tier=tier)).id

    try:
        typer.echo(_run_in_session(_settings(), work))
    except AppError as exc:
        console.print(f"[red]{exc.code}:[/] {exc.message}")
        raise typer.Exit(1) from exc


@users_app.command("token")
def users_token(address: Annotated[str, typer.Argument(metavar="EMAIL")]) -> None:
    """Print an access token for EMAIL (valid EDGELAB_ACCESS_TOKEN_TTL_SECONDS)."""
    from edgelab.accounts.service import user_by_email
    from edgelab.core.auth import issue_access_token

    settings = _settings()

    async def work(session: AsyncSession) -> str | None:
        user = await user_by_email(session, address)
        return issue_access_token(settings, user.id) if user else None

    token = _run_in_session(settings, work)
    if token is None:
        console.print(f"[red]no user with e-mail {address}[/]")
        raise typer.Exit(1)
    typer.echo(token)


@email_app.command("outbox")
def email_outbox(last: Annotated[int, typer.Option(min=1, max=1000)] = 10) -> None:
    """Show the newest e-mails of the outbox, newest first (read sign-in links locally)."""
    from edgelab.accounts.email import latest_outbox

    async def work(session: AsyncSession) -> list[tuple[str, ...]]:
        return [
            (
                str(m.id),
                m.created_at.isoformat(timespec="seconds"),
                m.to_address,
                m.template,
                m.status,
                m.text,
            )
            for m in await latest_outbox(session, last)
        ]

    for row in _run_in_session(_settings(), work):
        typer.echo(f"#{row[0]} {row[1]} to {row[2]} [{row[3]}, {row[4]}]\n{row[5]}\n")


@jobs_app.command("worker")
def jobs_worker(
    concurrency: Annotated[int, typer.Option(min=1, max=100, help="Jobs run at once.")] = 10,
) -> None:
    """Run background jobs from the Redis queue until SIGINT/SIGTERM (for deployments with
    EDGELAB_JOBS_WORKER_IN_PROCESS=false). Running jobs finish before it exits."""
    import signal

    from edgelab.app import _register_jobs
    from edgelab.core.jobs import Jobs
    from edgelab.core.observability import configure_logging

    settings = _settings()
    if not settings.redis_url:
        console.print(
            "[red]No EDGELAB_REDIS_URL: without Redis, jobs run inside the app process and "
            "there is no queue for a worker.[/red]"
        )
        raise typer.Exit(2)
    configure_logging(settings.log_level)

    async def main() -> None:
        engine = create_engine(settings)
        jobs = Jobs(
            settings.redis_url,
            queue_name=settings.jobs_queue,
            session_factory=create_sessionmaker(engine),
        )
        resend = _register_jobs(jobs, settings)
        await jobs.startup()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, jobs.stop_worker)
        console.print(f"job worker up: queue {jobs.queue_name}, concurrency {concurrency}")
        try:
            await jobs.run_worker(concurrency=concurrency)
        finally:
            await jobs.shutdown()
            if resend is not None:
                await resend.aclose()
            await engine.dispose()
        console.print("job worker stopped")

    asyncio.run(main())


def _parse_seasons(text: str | None) -> list[int] | None:
    """`2015,2016`, `2009-2019` or a mix (`2009-2012,2015`); None for every season."""
    if not text:
        return None
    out: set[int] = set()
    for part in text.split(","):
        lo, sep, hi = part.strip().partition("-")
        try:
            first, last = int(lo), int(hi) if sep else int(lo)
        except ValueError as exc:
            raise typer.BadParameter(
                f"{part.strip()!r}: use ending years, e.g. 2015,2016 or 2009-2019",
                param_hint="--seasons",
            ) from exc
        if last < first:
            raise typer.BadParameter(f"{part.strip()!r}: empty range", param_hint="--seasons")
        out.update(range(first, last + 1))
    return sorted(out)


def _backtest_tables(report: dict[str, Any], algorithms: list[str]) -> list[Table]:
    cols: list[tuple[str, str]] = [("moneyline", "close"), ("spread", "close"), ("spread", "open")]
    cols += [("total", "close"), ("total", "open")]
    tables = []
    for metric, title in (("brier", "Brier score"), ("log_loss", "Log loss")):
        table = Table(title=f"{title}: p_true | de-vigged market (lower is better)")
        table.add_column("season")
        for mtype, kind in cols:
            table.add_column(f"{mtype} {kind}", justify="right")
        for row in report["table"]:
            cells = []
            for mtype, kind in cols:
                c = row[f"{mtype}_{kind}"]
                model, market = c[f"p_true_{metric}"], c[f"market_{metric}"]
                cells.append("-" if model is None else f"{model:.4f} | {market:.4f}")
            table.add_row(str(row["season"]), *cells)
        tables.append(table)
    bets = Table(title="Bets at the price taken (open where the data has one): n, hit, ROI, CLV")
    bets.add_column("season")
    keys = [f"{a}{t}" for a in algorithms for t in (50, 70)]
    for key in keys:
        bets.add_column(f"{key[0].upper()} >= {key[1:]}", justify="right")
    for row in report["table"]:
        cells = []
        for key in keys:
            b = row[f"bets_{key}"]
            if not b["n"]:
                cells.append("0")
                continue
            clv = "n/a" if b["mean_clv"] is None else f"{b['mean_clv'] * 100:+.2f}"
            cells.append(f"{b['n']} {b['hit_rate']:.0%} {b['roi']:+.1%} {clv}")
        bets.add_row(str(row["season"]), *cells)
    tables.append(bets)
    return tables


@app.command("backtest")
def backtest(
    seasons: Annotated[
        str | None,
        typer.Option(
            help="Seasons by ending year: 2015,2016 or 2009-2019 (default: every season after "
            "the first, which only trains)."
        ),
    ] = None,
    algorithms: Annotated[str, typer.Option(help="Algorithms to report: a, b or a,b.")] = "a,b",
    json_path: Annotated[
        Path | None, typer.Option("--json", help="Write the full report here (JSON).")
    ] = None,
    bootstrap: Annotated[
        int, typer.Option(min=100, max=20_000, help="Bootstrap resamples per interval.")
    ] = 1000,
) -> None:
    """Walk-forward backtest: per season, fit on every game before it, score each market at the
    opening and closing lines, settle, and compare p_true, the market and algorithms A and B."""
    from edgelab.betting import backtest as engine
    from edgelab.betting import evaluation_report

    wanted = _parse_seasons(seasons)
    algos = [a.strip().lower() for a in algorithms.split(",") if a.strip()]
    if not algos or any(a not in ("a", "b") for a in algos):
        raise typer.BadParameter("use a, b or a,b", param_hint="--algorithms")
    settings = _settings()

    async def load(session: AsyncSession) -> engine.BacktestData:
        data = await engine.load_backtest_data(session)
        data.fingerprint = (await engine.data_fingerprint(session)).digest
        return data

    with console.status("loading games and odds"):
        data = _run_in_session(settings, load)
    with _progress() as progress:
        task = progress.add_task("backtest", total=len(wanted or data.evaluable_seasons()))

        def step(season: int, done: int, total: int) -> None:
            progress.update(task, completed=done, description=f"backtest: season {season} done")

        try:
            result = engine.run_backtest(
                data, devig_method=settings.devig_method, seasons=wanted, progress=step
            )
        except LookupError as exc:
            console.print(f"[red]{exc}[/]")
            raise typer.Exit(1) from exc
    if not result.seasons:
        console.print("[red]no season to evaluate: import at least two seasons of results[/]")
        raise typer.Exit(1)
    with console.status("computing metrics and bootstrap intervals"):
        report = evaluation_report.full_report(result, n_boot=bootstrap, algorithms=tuple(algos))
    for table in _backtest_tables(report, algos):
        console.print(table)
    for line in report["by_season"]["all"]["all"]["summary"]:
        console.print(f"  {line}")
    console.print(f"backtest of {len(result.seasons)} seasons in {result.seconds:.1f} s")
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(report, indent=1) + "\n")
        console.print(f"[green]report written to {json_path}[/]")


@model_app.command("update")
def model_update() -> None:
    """Recalibrate now, inline (what `POST /model/update` runs as a job): walk-forward
    predictions, the calibration map, ratings and shrinkage refitted, the slate re-scored."""
    from edgelab.betting.model_jobs import create_job
    from edgelab.betting.recalibration import run_job
    from edgelab.core.errors import ConflictError

    settings = _settings()

    async def main() -> dict[str, Any]:
        engine = create_engine(settings)
        sessions = create_sessionmaker(engine)
        try:
            async with sessions() as session:
                job = await create_job(session, "cli", send=False)
                await session.commit()
            with _progress() as progress:
                task = progress.add_task("model update", total=100)

                def hook(stage: str, done: float) -> None:
                    progress.update(task, description=stage, completed=round(done * 100))

                return await run_job(sessions, settings, job.id, hook=hook)
        finally:
            await engine.dispose()

    try:
        result = asyncio.run(main())
    except ConflictError as exc:
        console.print(f"[red]{exc.message}[/] ({exc.details})")
        raise typer.Exit(1) from exc
    except LookupError as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(1) from exc
    _invalidate_shared_cache(settings)
    console.print_json(json.dumps(result))


@app.command("serve")
def serve(
    host: Annotated[str | None, typer.Option(help="Default EDGELAB_HOST.")] = None,
    port: Annotated[int | None, typer.Option(help="Default EDGELAB_PORT.")] = None,
    workers: Annotated[int, typer.Option(help="Worker processes.")] = 1,
) -> None:
    """Serve the API (OpenAPI UI at /docs)."""
    import uvicorn

    settings = _settings()
    uvicorn.run(
        "edgelab.app:create_app",
        factory=True,
        host=host or settings.host,
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

    settings = _settings()
    console.rule("1/5 migrate")
    migrations.upgrade(settings)
    console.rule("2/5 import the shipped NBA data")
    _import_nba(settings, shipped_nba_files(), None)
    console.rule("3/5 fit the model and score the demo slate")
    result = _score(settings, None)
    console.print(
        f"slate {result['slate_date']}: {result['scored_rows']} scores, "
        f"model {result['model_version']}"
    )
    alerts = _send_alerts(settings, dt.date.fromisoformat(result["slate_date"]))
    console.print(f"alerts: {alerts['alerts']} markets in {alerts['emails']} e-mails")
    console.rule("4/5 Sentinel: load the shipped real payments and score their players")
    from edgelab.sentinel.commands import import_payments, rescore

    import_payments(None)  # idempotent: a second demo adds nothing
    rescore(all_players=True)
    if serve_after:
        console.rule(f"5/5 serve on http://{settings.host}:{settings.port} (docs at /docs)")
        serve(None, None, 1)


if __name__ == "__main__":  # pragma: no cover - `python -m edgelab.cli`
    app()
