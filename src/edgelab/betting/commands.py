"""Value betting's commands: import results and odds, score the slate (and send alerts), fetch
live odds, backtest, recalibrate. `edgelab.cli` mounts them under `import`, `ingest`, `model`
and at the top level. Over 400 lines because it is one short Typer command per operator task,
each printing its own rich tables; the work itself is in the product's services."""

from __future__ import annotations

import asyncio
import datetime as dt
import glob
import json
import time
from collections import Counter
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


def shipped_odds_api_files() -> list[Path]:
    """The shipped The Odds API snapshots (many bookmakers, 2021-22 and 2022-23), oldest first."""
    from edgelab.betting.odds.oddsapi_import import FILE_SUFFIXES

    folder = data_dir() / "nba" / "odds_api"
    return sorted(p for p in folder.glob("*") if p.name.endswith(FILE_SUFFIXES))


def _expand(paths: list[str]) -> list[Path]:
    """Arguments as given, each glob expanded in order (a pattern matching nothing stays, so
    reading it names the missing file)."""
    files: list[Path] = []
    for raw in paths:
        matches = sorted(glob.glob(raw)) or [raw]
        files.extend(Path(m) for m in matches)
    return files


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
    import_nba(load_settings(), _expand(paths), season)


def import_nba_shipped() -> None:
    """Import the real NBA data shipped with edgelab (see src/edgelab/data/nba/README.md)."""
    import_nba(load_settings(), shipped_nba_files(), None)


def import_odds(settings: Settings, paths: list[Path]) -> None:
    """Parse every file first (a bad one rejects the import before anything is written), then
    write them in one unit of work."""
    from edgelab.betting.odds.nba_csv import MalformedFileError
    from edgelab.betting.odds.oddsapi_import import import_odds_files, parse_odds_file

    parsed = []
    with progress_bar() as progress:
        task = progress.add_task("parsing", total=len(paths))
        for path in paths:
            try:
                parsed.append(parse_odds_file(path, sport=settings.odds_api_sport))
            except MalformedFileError as exc:
                console.print(f"[red]rejected:[/] {exc}. Nothing was written.")
                raise typer.Exit(1) from exc
            except OSError as exc:
                console.print(f"[red]cannot read {path}:[/] {exc.strerror}. Nothing was written.")
                raise typer.Exit(1) from exc
            progress.advance(task)

    table = Table(title="The Odds API import")
    table.add_column("file", min_width=26, overflow="fold")
    for col in ("snapshots", "events", "games new", "games upd", "odds new", "skipped"):
        table.add_column(col, justify="right")
    skipped_all: Counter[str] = Counter()

    async def work(session: AsyncSession) -> None:
        with progress_bar() as progress:
            task = progress.add_task("importing", total=sum(len(p.documents) for p in parsed))
            every = await import_odds_files(
                session, parsed, settings, progress=lambda: progress.advance(task)
            )
            for p, stats in zip(parsed, every, strict=True):
                table.add_row(
                    Path(p.path).name,
                    str(stats.rows_read),
                    str(len(p.event_ids)),
                    str(stats.games_new),
                    str(stats.games_updated),
                    str(stats.snapshots_new),
                    str(sum(stats.skipped.values())),
                )
                skipped_all.update(stats.skipped)

    started = time.perf_counter()
    run_in_session(settings, work)
    clear_shared_cache(settings, MARKETS_CACHE_PREFIXES)
    console.print(table)
    for reason, n in skipped_all.most_common():
        console.print(f"  skipped {n} x {reason}")
    console.print(f"imported in {time.perf_counter() - started:.1f} s")


def import_odds_api(
    paths: Annotated[
        list[str],
        typer.Argument(help="Saved The Odds API v4 answers: .json/.jsonl, optionally .gz (globs)."),
    ],
) -> None:
    """Import saved The Odds API v4 odds (historical snapshots, /odds lists or single events):
    every bookmaker's prices as snapshots of the games they are for. Idempotent."""
    import_odds(load_settings(), _expand(paths))


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
    from edgelab.betting.alerts.sending import send_alerts_after_scoring
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


def _backtest_tables(export: dict[str, Any], algorithms: list[str]) -> list[Table]:
    seasons = export["seasons"]
    brier = Table(title="Brier score: p_true | morning consensus | close (lower is better)")
    brier.add_column("season")
    for mtype in ("moneyline", "spread", "total"):
        brier.add_column(mtype, justify="right")
    for year, sd in seasons.items():
        cells = []
        for mtype in ("moneyline", "spread", "total"):
            m = sd.get(mtype)
            if not m:
                cells.append("-")
                continue
            b = [m[f]["brier"] for f in ("p_true", "consensus", "close")]
            cells.append(" | ".join("-" if x is None else f"{x:.4f}" for x in b))
        notes = [
            n for n, on in (("one book", sd["single_book"]), ("in sample", sd["in_sample"])) if on
        ]
        brier.add_row(year + (f" ({', '.join(notes)})" if notes else ""), *cells)
    shown = ("a>=50", "a>=70", "b>=50", "b>=70", "ev>=2%", "default")
    rules = [r for r in shown if r[0] not in "ab" or r[0] in algorithms]
    bets = Table(
        title="Flagged bets: n, CLV (points incl. price; moneylines in pp, percentage points of "
        "probability), beat the close"
    )
    bets.add_column("season")
    bets.add_column("market")
    for rule in rules:
        bets.add_column(rule, justify="right")
    for name in ("kaunitz_0.02", "line_shopping"):
        bets.add_column(name, justify="right")
    for year, sd in seasons.items():
        if sd["single_book"]:
            continue
        for key in ("moneyline", "spread", "total", "spread+total"):
            m = sd.get(key)
            if not m:
                continue
            scale, unit = (100.0, "pp") if key == "moneyline" else (1.0, "")
            cells = []
            for b in [m["bets"][r] for r in rules] + [
                m["baselines"].get(n) for n in ("kaunitz_0.02", "line_shopping")
            ]:
                if not b or not b["n"]:
                    cells.append("0" if b else "-")
                elif b["clv"] is None:
                    cells.append(f"{b['n']} n/a")
                else:
                    cells.append(f"{b['n']} {b['clv'] * scale:+.2f}{unit} {b['beat_close']:.0%}")
            bets.add_row(year + (" (in sample)" if sd["in_sample"] else ""), key, *cells)
    return [brier, bets]


def backtest(
    seasons: Annotated[
        str | None,
        typer.Option(
            help="Seasons by ending year: 2023 or 2022,2023 or 2009-2019 (default: every season "
            "with results; the report is then also stored as the one the API serves)."
        ),
    ] = None,
    algorithms: Annotated[
        str, typer.Option(help="Value-score rules to print: a, b or a,b (the JSON has all).")
    ] = "a,b",
    json_path: Annotated[
        Path | None, typer.Option("--json", help="Write the full report here (JSON).")
    ] = None,
    bootstrap: Annotated[
        int, typer.Option(min=100, max=20_000, help="Bootstrap resamples per interval.")
    ] = 2000,
) -> None:
    """Walk-forward evaluation of the value model: per season, the forecasts (p_true, the
    morning consensus, the close), the bets each rule flags and the baselines, against the
    close and the results; nothing fitted on a season's results is used for it."""
    from edgelab.betting.evaluation import jobs as evaluation
    from edgelab.betting.evaluation.dataset import seasons_with_results
    from edgelab.betting.evaluation.report.export import export as backtest_json

    wanted = parse_seasons(seasons)
    algos = [a.strip().lower() for a in algorithms.split(",") if a.strip()]
    if not algos or any(a not in ("a", "b") for a in algos):
        raise typer.BadParameter("use a, b or a,b", param_hint="--algorithms")
    settings = load_settings()
    started = time.perf_counter()

    with progress_bar() as progress:
        task = progress.add_task("evaluation", total=None)

        def say(message: str) -> None:
            progress.update(task, description=message)

        async def work(session: AsyncSession) -> tuple[evaluation.Computed, str]:
            available = await seasons_with_results(session)
            unknown = [s for s in wanted or [] if s not in available]
            if not available or unknown:
                raise LookupError(
                    f"season(s) {', '.join(map(str, unknown)) or 'any'} cannot be evaluated: "
                    f"the data has results for {', '.join(map(str, available)) or 'no season'}"
                )
            fp = await evaluation.current_fingerprint(session, settings)
            done = await evaluation.compute(
                session, settings, wanted, n_boot=bootstrap, progress=say
            )
            if wanted is None:  # every season: the report the API serves from now on
                await evaluation.store(session, fp, done, time.perf_counter() - started)
            return done, fp.digest

        try:
            done, digest = run_in_session(settings, work)
        except LookupError as exc:
            console.print(f"[red]{exc}[/]")
            raise typer.Exit(1) from exc
        say("the report's tables and the comparison of A and B")
        export = backtest_json(
            done.document, done.evaluation, algorithms=tuple(algos), fingerprint=digest
        )
    for table in _backtest_tables(export, algos):
        console.print(table)
    for year in export["seasons"]:
        for line in export["seasons"][year]["summary"]:
            console.print(f"  {line}")
    pooled = export["all_seasons"]
    if len(export["seasons"]) > 1 or pooled["left_out"]:  # the headline: out of sample only
        console.print(f"[bold]{pooled['label']}:[/]")
        for line in pooled["summary"]:
            console.print(f"  {line}")
    console.print(
        f"evaluation of {len(export['seasons'])} seasons in {time.perf_counter() - started:.1f} s"
        + ("; stored as the served report" if wanted is None else "")
    )
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(export, indent=1) + "\n")
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
