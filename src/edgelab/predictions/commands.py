"""Prediction markets' commands: fetch Polymarket markets (`edgelab ingest polymarket`), load
a recording of them (`edgelab import polymarket-recording`), and the demo's choice between the
two (`demo_markets`)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from sqlalchemy.ext.asyncio import AsyncSession

from edgelab.core.commands import clear_shared_cache, console, load_settings, run_in_session
from edgelab.core.settings import Settings, data_dir


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

    settings = load_settings()

    async def work(session: AsyncSession) -> dict[str, Any]:
        return await run_ingest(
            session,
            settings,
            limit=limit,
            history=history,
            history_interval=history_interval,
            history_fidelity=fidelity,
        )

    result = run_in_session(settings, work)
    # answers a server shares with us through Redis are now old
    clear_shared_cache(settings, ("predictions:markets:",))
    console.print_json(json.dumps(result, default=str))
    if not result["ok"]:
        raise typer.Exit(2)


def shipped_recording() -> Path:
    """The shipped recordings of Polymarket (Gamma pages and CLOB price paths, with sources)."""
    return data_dir() / "polymarket"


def load_recording(settings: Settings, paths: list[Path]) -> dict[str, Any]:
    """Store the recordings in `paths` (files or folders); exits 2 saying why on a bad file."""
    from edgelab.predictions.ingest import import_recording
    from edgelab.predictions.sources.recording import RecordingError, read

    try:
        recordings = read(paths)
    except (RecordingError, OSError) as exc:
        console.print(f"[red]{escape(str(exc))}[/red]", highlight=False)
        raise typer.Exit(2) from None
    result = run_in_session(settings, lambda session: import_recording(session, recordings))
    clear_shared_cache(settings, ("predictions:markets:",))
    return result


def import_polymarket_recording(
    paths: Annotated[
        list[Path],
        typer.Argument(
            help="Gamma /markets pages (.json) and CLOB price files (.csv, with the market "
            "file beside them), optionally .gz, or folders of them (the shipped one: "
            "src/edgelab/data/polymarket).",
        ),
    ],
) -> None:
    """Load recorded Polymarket answers: markets marked recorded (with the recording's date),
    their price points and price paths. Idempotent; live markets are left as they are."""
    result = load_recording(load_settings(), paths)
    console.print_json(json.dumps(result, default=str))


async def _reachable(settings: Settings) -> bool:
    from edgelab.predictions.sources.polymarket import PolymarketClient

    client = PolymarketClient(settings)
    try:
        return await client.reachable()
    finally:
        await client.aclose()


def demo_markets(settings: Settings) -> str:
    """The demo's prediction markets: live when Polymarket answers and the scheduled ingest is
    on (the app's first ingest fetches them at start-up), else the shipped recording. Returns
    the backend chosen, `polymarket` or `recording`."""
    if settings.polymarket_ingest_minutes > 0 and asyncio.run(_reachable(settings)):
        console.print("Polymarket answers: the app ingests live markets at start-up.")
        return "polymarket"
    why = (
        "Polymarket cannot be reached"
        if settings.polymarket_ingest_minutes > 0
        else "the scheduled ingest is off (EDGELAB_POLYMARKET_INGEST_MINUTES=0)"
    )
    result = load_recording(settings, [shipped_recording()])
    console.print(
        f"{why}: loaded the shipped recording ({result['markets']} recorded markets, "
        f"{result['points']} new price points; {result['skipped_live']} live left as they are)"
    )
    return "recording"
