"""`edgelab chess ...`: the pattern analysis offline, on a PGN file."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import typer

chess_app = typer.Typer(help="The chess analyzer.", no_args_is_help=True)


@chess_app.command("analyze")
def analyze_pgn(
    pgn: Annotated[
        Path, typer.Option("--pgn", exists=True, dir_okay=False, help="A PGN file (many games).")
    ],
    player: Annotated[
        str | None,
        typer.Option("--player", help="Whose side to take (default: the most frequent name)."),
    ] = None,
    tz: Annotated[str, typer.Option("--tz", help="IANA zone for hour and weekday.")] = "UTC",
    json_path: Annotated[
        Path | None, typer.Option("--json", help="Write the full analysis here as JSON.")
    ] = None,
) -> None:
    """The same pattern analysis as `POST /api/analyze`, on a PGN file; a summary on stdout."""
    from edgelab.chess.games import PgnFileError, read_pgn_file
    from edgelab.chess.patterns import analyze

    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise typer.BadParameter(f"unknown time zone {tz!r}", param_hint="--tz") from None
    started = time.perf_counter()
    try:  # the reader of `POST /api/analyze/pgn`: encodings, skipped games; no game bound
        read = read_pgn_file(pgn.read_bytes(), max_games=10**9)
    except PgnFileError as exc:
        raise typer.BadParameter(str(exc), param_hint="--pgn") from None
    result = analyze(read.games, player, tz=tz)
    result["skipped"]["unreadable"] = read.unreadable
    result["skipped_games"] = read.skipped_games
    result["source"] = {
        "pgn": str(pgn),
        "encoding": read.encoding,
        "games_in_file": read.games_in_file,
    }
    seconds = time.perf_counter() - started
    if json_path is not None:
        json_path.write_text(json.dumps(result, indent=2))
    overall = result["overall"]
    typer.echo(
        f"{result['player_name'] or result['player']}: {result['games_analyzed']} games "
        f"(+{overall['wins']} ={overall['draws']} -{overall['losses']}, "
        f"score {_pct(overall['score'])}) in {seconds:.2f} s"
    )
    if read.unreadable:
        typer.echo(f"  {read.unreadable} unreadable games skipped (listed with --json)")
    for colour, row in result["by_color"].items():
        typer.echo(
            f"  as {colour}: {row['games']} games, +{row['wins']} ={row['draws']} "
            f"-{row['losses']} ({_pct(row['score'])})"
        )
    for colour in ("white", "black"):
        top = result["by_opening"][colour][:3]
        names = ", ".join(f"{o['name']} ({o['games']})" for o in top)
        typer.echo(f"  top openings as {colour}: {names or '-'}")
    if json_path is not None:
        typer.echo(f"  full analysis: {json_path}")


def _pct(score: float | None) -> str:
    """A score share for people: `-` when there were no games to score."""
    return "-" if score is None else f"{score}%"
