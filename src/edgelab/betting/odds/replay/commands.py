"""`edgelab replay odds-api`: serve recorded The Odds API answers as a local Odds API on a
simulated clock, for running the live loop (and paper trading) without the real API."""

from __future__ import annotations

import datetime as dt
import glob
from pathlib import Path
from typing import Annotated

import typer

from edgelab.core.commands import console

DEFAULT_PORT = 8765
DEFAULT_SPEED = 60.0
DEFAULT_CREDITS = 20_000
LEAD_BEFORE_FIRST = dt.timedelta(minutes=5)  # the default start: shortly before the recording


def parse_start(text: str) -> dt.datetime:
    """An ISO 8601 instant with an offset (`Z` included); a naive one is refused, not guessed."""
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError as exc:
        raise typer.BadParameter(f"not an ISO 8601 time: {text!r}") from exc
    if when.tzinfo is None:
        raise typer.BadParameter(f"{text!r} has no offset: add Z for UTC (2023-03-15T12:00:00Z)")
    return when.astimezone(dt.UTC)


def _expand(paths: list[str]) -> list[Path]:
    """Each argument's glob matches in order; a pattern matching nothing stays (and fails
    reading, naming the missing file)."""
    return [Path(m) for raw in paths for m in (sorted(glob.glob(raw)) or [raw])]


def replay_odds_api(
    paths: Annotated[
        list[str],
        typer.Argument(help="Recorded Odds API answers (.json/.jsonl, .gz; globs allowed)."),
    ],
    results: Annotated[
        Path | None,
        typer.Option(help="Results CSV (Kaggle layout) whose final scores /scores reports."),
    ] = None,
    speed: Annotated[
        float, typer.Option(min=0.001, help="Simulated seconds per real second.")
    ] = DEFAULT_SPEED,
    start: Annotated[
        str | None,
        typer.Option(
            help="Simulated start, ISO 8601 with offset. Default: just before the "
            "first recorded snapshot."
        ),
    ] = None,
    port: Annotated[int, typer.Option(min=1, max=65535)] = DEFAULT_PORT,
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    credits: Annotated[
        int, typer.Option(min=0, help="Credits at start (spent as the real API spends them).")
    ] = DEFAULT_CREDITS,
    game_minutes: Annotated[
        float, typer.Option(min=1, help="Tip-off to final: when /scores completes a game.")
    ] = 135,
    sport: Annotated[str, typer.Option(help="The sport key of the recording.")] = "basketball_nba",
    api_key: Annotated[
        str | None, typer.Option(help="Accept only this key (default: any non-empty key).")
    ] = None,
) -> None:
    """Serve recorded Odds API payloads as a local Odds API v4 on a simulated clock."""
    import uvicorn

    from edgelab.betting.odds.nba_csv import MalformedFileError
    from edgelab.betting.odds.replay.recording import Recording
    from edgelab.betting.odds.replay.results import FinalScores
    from edgelab.betting.odds.replay.server import ReplayConfig, create_replay_app
    from edgelab.core.clock import ScaledClock

    begin = parse_start(start) if start else None
    files = _expand(paths)
    try:
        with console.status(f"reading {len(files)} recorded file(s)"):
            recording = Recording.load(files, sport=sport)
            finals = FinalScores.load(results) if results is not None else None
    except MalformedFileError as exc:
        console.print(f"[red]rejected:[/] {exc}")
        raise typer.Exit(1) from exc
    except OSError as exc:
        console.print(f"[red]cannot read {exc.filename}:[/] {exc.strerror}")
        raise typer.Exit(1) from exc
    first, last = recording.first_taken, recording.last_taken
    if first is None or last is None:
        console.print(f"[red]nothing to replay:[/] no {sport} event in {len(files)} file(s)")
        raise typer.Exit(1)
    console.print(
        f"recorded: {len(recording.snapshots)} snapshots, {recording.event_count} events, "
        f"{first:%Y-%m-%d %H:%M} .. {last:%Y-%m-%d %H:%M} UTC"
    )
    for f in recording.files:
        for reason, n in f.skipped.most_common():
            console.print(f"  {Path(f.path).name}: skipped {n} x {reason}")
    if finals is None:
        console.print("[yellow]no --results: no game completes in /scores[/yellow]")
    else:
        console.print(f"results: {len(finals)} final scores from {results}")

    begin = begin or first - LEAD_BEFORE_FIRST
    config = ReplayConfig(
        sport=sport,
        credits=credits,
        game_length=dt.timedelta(minutes=game_minutes),
        api_key=api_key,
    )
    clock = ScaledClock(begin, speed)  # made last: simulated time starts as serving does
    app = create_replay_app(recording, clock, results=finals, config=config)
    base = f"http://{host}:{port}"
    console.print(f"simulated clock: from {begin:%Y-%m-%dT%H:%M:%SZ} at {speed:g}x real time")
    typer.echo(f"The Odds API replay on {base} (clock: {base}/replay/clock)")
    typer.echo("Point the app at it:")
    typer.echo(
        f"  EDGELAB_ODDS_API_URL={base} EDGELAB_ODDS_API_KEY={api_key or 'replay'} edgelab serve"
    )
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)


def replay_prepare(
    before: Annotated[
        str, typer.Option(help="The replay's start, ISO 8601 with offset: nothing from then on.")
    ],
) -> None:
    """Make EDGELAB_DATABASE_URL's database a paper-trading one: migrated, with the shipped
    results and Odds API snapshots known before `--before` only (see `make replay`)."""
    import asyncio

    from edgelab.betting.odds.replay.prepare import KnowsTheFuture, prepare_database
    from edgelab.core import migrations
    from edgelab.core.commands import load_settings

    when = parse_start(before)
    settings = load_settings()
    migrations.upgrade(settings)
    try:
        with console.status(f"importing what was known before {when:%Y-%m-%d %H:%M} UTC"):
            done = asyncio.run(prepare_database(settings, when))
    except KnowsTheFuture as exc:
        console.print(f"[red]refused:[/] {exc}")
        raise typer.Exit(1) from exc
    console.print(
        f"ready for a replay from {when:%Y-%m-%d %H:%M} UTC: {done['games']} games, "
        f"{done['snapshots']} Odds API snapshots, closes of {done['closes']} quotes kept"
    )
