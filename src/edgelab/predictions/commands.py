"""Prediction markets' commands: fetch Polymarket markets (`edgelab ingest polymarket`)."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from sqlalchemy.ext.asyncio import AsyncSession

from edgelab.core.commands import clear_shared_cache, console, load_settings, run_in_session


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
