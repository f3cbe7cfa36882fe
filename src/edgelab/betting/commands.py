"""Value betting's commands: import results and odds, score the slate (and send alerts), fetch
live odds, backtest, recalibrate. `edgelab.cli` mounts them under `import`, `ingest`, `model`
and at the top level."""

from __future__ import annotations

import asyncio
import datetime as dt
import glob
import json
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncSession

from edgelab.core.commands import (
    MARKETS_CACHE_PREFIXES,
    clear_shared_cache,
    console,
    load_settings,
    progress_bar,
    run_in_session,
)
from edgelab.core.db import create_engine, create_sessionmaker
from edgelab.core.settings import Settings, data_dir


def shipped_nba_files() -> list[Path]:
    base = data_dir() / "nba"
    return sorted((base / "kaggle").glob("*.csv")) + sorted((base / "sbr_raw").glob("*.csv"))


def import_nba(settings: Settings, paths: list[Path], season: int | None) -> None:
    from edgelab.betting.odds.ingest import import_parsed
    from edgelab.betting.odds.nba_csv import MalformedFileError, parse_nba_csv

    parsed = []
    with progress_bar() as progress:
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
        with progress_bar() as progress:
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
        from edgelab.betting.bets.service import settle_open_bets

        settled = await settle_open_bets(session, settings)  # results may have arrived
        if settled:
            console.print(f"settled {settled} tracked bets")

    run_in_session(settings, work)
    clear_shared_cache(settings, MARKETS_CACHE_PREFIXES)
    console.print(table)
    for reason, n in sorted(skipped_all.items(), key=lambda kv: -kv[1]):
        console.print(f"  skipped {n} x {reason}")


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
    import_nba(load_settings(), files, season)


def import_nba_shipped() -> None:
    """Import the real NBA data shipped with edgelab (see src/edgelab/data/nba/README.md)."""
    import_nba(load_settings(), shipped_nba_files(), None)


def score_slate_now(settings: Settings, date: dt.date | None) -> dict[str, Any]:
    from edgelab.betting.markets.slate import score_slate

    with progress_bar() as progress:
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
            result = run_in_session(settings, work)
        except LookupError as exc:
            console.print(f"[red]{exc}[/]")
            raise typer.Exit(1) from exc
    clear_shared_cache(settings, MARKETS_CACHE_PREFIXES)
    return result


def send_alerts_now(settings: Settings, slate_date: dt.date) -> dict[str, Any]:
    """The alerts step after a scoring run, in its own unit of work (the scores are committed).

    The e-mails it queues go out after its commit: through Resend from this process (waited for
    before exit), or with Redis by the job workers; without a Resend key they stay in the outbox.
    """
    from edgelab.betting.alerts.service import send_alerts_after_scoring
    from edgelab.core.email.delivery import register_delivery
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
        async with AsyncExitStack() as stack:
            stack.push_async_callback(engine.dispose)
            register_delivery(jobs, settings, stack)  # the e-mails it queues
            await jobs.startup()
            stack.push_async_callback(jobs.shutdown)
            async with session_unit_of_work(jobs, sessions) as session:
                return await send_alerts_after_scoring(session, settings, slate_date)

    return asyncio.run(main())


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
    settings = load_settings()
    result = score_slate_now(settings, date.date() if date else None)
    result["alerts"] = send_alerts_now(settings, dt.date.fromisoformat(result["slate_date"]))
    console.print_json(json.dumps(result))


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
    from edgelab.betting.odds.live import ingest_live_odds
    from edgelab.core.errors import AppError

    settings = load_settings()

    async def work(session: AsyncSession) -> dict[str, Any]:
        return await ingest_live_odds(
            session, settings, sport=sport, markets=markets, regions=regions, props=props
        )

    try:
        result = run_in_session(settings, work)
    except AppError as exc:
        console.print(f"[red]{exc.code}:[/] {exc.message}")
        raise typer.Exit(2) from exc
    clear_shared_cache(settings, MARKETS_CACHE_PREFIXES)
    console.print_json(json.dumps(result))


def parse_seasons(text: str | None) -> list[int] | None:
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
    from edgelab.betting.evaluation import backtest as engine
    from edgelab.betting.evaluation import report as evaluation_report

    wanted = parse_seasons(seasons)
    algos = [a.strip().lower() for a in algorithms.split(",") if a.strip()]
    if not algos or any(a not in ("a", "b") for a in algos):
        raise typer.BadParameter("use a, b or a,b", param_hint="--algorithms")
    settings = load_settings()

    async def load(session: AsyncSession) -> engine.BacktestData:
        data = await engine.load_backtest_data(session)
        data.fingerprint = (await engine.data_fingerprint(session)).digest
        return data

    with console.status("loading games and odds"):
        data = run_in_session(settings, load)
    with progress_bar() as progress:
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


def model_update() -> None:
    """Recalibrate now, inline (what `POST /model/update` runs as a job): walk-forward
    predictions, the calibration map, ratings and shrinkage refitted, the slate re-scored."""
    from edgelab.betting.model.jobs import create_job
    from edgelab.betting.model.recalibration import run_job
    from edgelab.core.errors import ConflictError

    settings = load_settings()

    async def main() -> dict[str, Any]:
        engine = create_engine(settings)
        sessions = create_sessionmaker(engine)
        try:
            async with sessions() as session:
                job = await create_job(session, "cli", send=False)
                await session.commit()
            with progress_bar() as progress:
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
    clear_shared_cache(settings, MARKETS_CACHE_PREFIXES)
    console.print_json(json.dumps(result))
