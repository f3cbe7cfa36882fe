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

from edgelab.core.cache import make_cache
from edgelab.core.db import create_engine, create_sessionmaker
from edgelab.core.settings import Settings, data_dir

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
    """Fit the model on everything before the slate and score every snapshot of it."""
    result = _score(_settings(), date.date() if date else None)
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
    """Migrate, import the shipped real data, fit and score the demo slate, then serve."""
    from edgelab.core import migrations

    settings = _settings()
    console.rule("1/4 migrate")
    migrations.upgrade(settings)
    console.rule("2/4 import the shipped NBA data")
    _import_nba(settings, shipped_nba_files(), None)
    console.rule("3/4 fit the model and score the demo slate")
    result = _score(settings, None)
    console.print(
        f"slate {result['slate_date']}: {result['scored_rows']} scores, "
        f"model {result['model_version']}"
    )
    if serve_after:
        console.rule(f"4/4 serve on http://{settings.host}:{settings.port} (docs at /docs)")
        serve(None, None, 1)


if __name__ == "__main__":  # pragma: no cover - `python -m edgelab.cli`
    app()
