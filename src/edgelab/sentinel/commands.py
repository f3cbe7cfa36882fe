"""`edgelab sentinel ...`: import bet CSVs and the real payments file, simulate, rescore.

Each command is one unit of work (all-or-nothing). Heavy modules are imported inside the
commands so `edgelab --help` stays fast.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from edgelab.core.clock import utcnow
from edgelab.core.commands import console, load_settings, progress_bar, run_in_session

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from edgelab.sentinel.simulate import Simulation

sentinel_app = typer.Typer(
    help="Sentinel: responsible-gambling bet logs and risk scores.", no_args_is_help=True
)


def shipped_payments_file() -> Path:
    from edgelab.core.settings import data_dir

    return data_dir() / "sentinel" / "online_sports_payments_DIB.csv.gz"


def _rows_invalid(exc: Exception) -> None:

    details = getattr(exc, "details", None) or []
    console.print(f"[red]{exc}[/]")
    for d in details[:20]:
        console.print(f"  row {d.get('row')}: {'.'.join(d.get('loc', []))}: {d.get('message')}")
    raise typer.Exit(1) from exc


@sentinel_app.command("import-bets")
def import_bets(
    path: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
) -> None:
    """Import a bets CSV in the bulk layout (header = the JSON field names; empty cell = none).
    Idempotent on external_id; any bad row rejects the file and nothing is written."""
    from edgelab.core.errors import AppError
    from edgelab.sentinel.betlog.ingest import import_bets_csv

    text = path.read_text(encoding="utf-8-sig")
    with progress_bar() as progress:
        task = progress.add_task("importing bets", total=None)

        def step(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        async def work(session: AsyncSession) -> dict[str, Any]:
            return (await import_bets_csv(session, text, progress=step)).model_dump()

        try:
            result = run_in_session(load_settings(), work)
        except AppError as exc:
            progress.stop()
            _rows_invalid(exc)
    console.print_json(json.dumps(result))


@sentinel_app.command("import-payments")
def import_payments(
    path: Annotated[
        Path | None,
        typer.Argument(help="Default: the shipped real file (src/edgelab/data/sentinel/)."),
    ] = None,
) -> None:
    """Load the real payments file (deposits and withdrawals of 5,685 US sports bettors, see
    its README) as Sentinel transactions; idempotent."""
    from edgelab.core.errors import AppError
    from edgelab.sentinel.betlog.ingest import import_payments as run_import

    source = path or shipped_payments_file()
    with progress_bar() as progress:
        task = progress.add_task("importing payments", total=None)

        def step(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        async def work(session: AsyncSession) -> dict[str, Any]:
            return await run_import(session, source, progress=step)

        try:
            result = run_in_session(load_settings(), work)
        except AppError as exc:
            progress.stop()
            _rows_invalid(exc)
    console.print_json(json.dumps(result))


def bet_rows(sim: Simulation, seed: int, start: int, stop: int) -> list[dict[str, Any]]:
    """Bulk-format rows of the simulated bets [start, stop)."""
    from edgelab.sentinel.simulate import MARKET_TYPES, SPORTS

    def ts(x: float) -> dt.datetime:
        return dt.datetime.fromtimestamp(x, dt.UTC)

    pid = [p.player_id for p in sim.players]
    bets = []
    for k in range(start, stop):
        open_ = sim.status[k] == "open"
        bets.append(
            {
                "external_id": f"sim-{seed}-b{k}",
                "player_id": pid[sim.bet_player[k]],
                "placed_at": ts(float(sim.placed[k])),
                "settled_at": None if open_ else ts(float(sim.settled[k])),
                "sport": SPORTS[sim.sport[k]],
                "market_type": MARKET_TYPES[sim.market_type[k]],
                "is_live": bool(sim.is_live[k]),
                "stake_minor": int(sim.stake_minor[k]),
                "payout_minor": None if open_ else int(sim.payout_minor[k]),
                "currency": "USD",
                "odds_decimal": float(sim.odds[k]),
                "status": str(sim.status[k]),
            }
        )
    return bets


def transaction_rows(sim: Simulation, seed: int, start: int, stop: int) -> list[dict[str, Any]]:
    pid = [p.player_id for p in sim.players]
    return [
        {
            "external_id": f"sim-{seed}-t{k}",
            "player_id": pid[sim.tx_player[k]],
            "occurred_at": dt.datetime.fromtimestamp(float(sim.tx_at[k]), dt.UTC),
            "kind": str(sim.tx_kind[k]),
            "status": str(sim.tx_status[k]),
            "amount_minor": int(sim.tx_amount_minor[k]),
            "currency": "USD",
        }
        for k in range(start, stop)
    ]


async def store_simulation(
    session: AsyncSession, sim: Simulation, seed: int, progress: Any = None
) -> dict[str, Any]:
    """Write a simulation through the bulk ingest path (validation included), 10,000 rows at a
    time, then the players' time zones and self-assessments."""
    from edgelab.sentinel import service
    from edgelab.sentinel.betlog import ingest
    from edgelab.sentinel.schemas import MAX_ROWS, BetRow, TransactionRow

    total = len(sim.placed) + len(sim.tx_at)
    done = 0
    bets = txs = ingest.EMPTY
    for start in range(0, len(sim.placed), MAX_ROWS):
        stop = min(start + MAX_ROWS, len(sim.placed))
        raw = bet_rows(sim, seed, start, stop)
        rows = ingest.validate_rows(BetRow, raw, what="bets", first_index=start)
        bets = ingest.add_results(bets, await ingest.ingest_bets(session, rows, source="simulated"))
        done += stop - start
        if progress:
            progress(done, total)
    for start in range(0, len(sim.tx_at), MAX_ROWS):
        stop = min(start + MAX_ROWS, len(sim.tx_at))
        raw_tx = transaction_rows(sim, seed, start, stop)
        tx_rows = ingest.validate_rows(
            TransactionRow, raw_tx, what="transactions", first_index=start
        )
        txs = ingest.add_results(
            txs, await ingest.ingest_transactions(session, tx_rows, source="simulated")
        )
        done += stop - start
        if progress:
            progress(done, total)
    profiles = {p.player_id: (p.time_zone, p.gamalyze) for p in sim.players}
    await service.set_profiles(session, profiles, "simulated")
    return {
        "players": len(sim.players),
        "bets": bets.model_dump(),
        "transactions": txs.model_dump(),
    }


@sentinel_app.command("simulate")
def simulate(
    players: Annotated[int, typer.Option(min=1, max=200_000, help="How many players.")] = 1000,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same data).")] = 7,
    days: Annotated[int, typer.Option(min=14, max=365)] = 90,
    end: Annotated[
        dt.datetime | None,
        typer.Option(help="Last moment simulated, UTC (default: now, to the minute)."),
    ] = None,
    labels: Annotated[
        Path | None, typer.Option(help="Write each player's cohort and label to this CSV.")
    ] = None,
) -> None:
    """Generate synthetic players following SENTINEL.md's published patterns (cohorts and
    assumptions: `edgelab/sentinel/simulate.py`) and store them through the bulk ingest path."""
    from edgelab.sentinel.simulate import simulate as generate

    stop = (end.replace(tzinfo=dt.UTC) if end else utcnow()).replace(second=0, microsecond=0)
    with console.status(f"simulating {players} players"):
        sim = generate(players, seed, end=stop, days=days)
    with progress_bar() as progress:
        task = progress.add_task("storing", total=len(sim.placed) + len(sim.tx_at))

        def step(done: int, total: int) -> None:
            progress.update(task, completed=done)

        async def work(session: AsyncSession) -> dict[str, Any]:
            return await store_simulation(session, sim, seed, step)

        result = run_in_session(load_settings(), work)
    cohorts: dict[str, int] = {}
    for p in sim.players:
        cohorts[p.cohort] = cohorts.get(p.cohort, 0) + 1
    result["cohorts"] = cohorts
    if labels is not None:
        labels.parent.mkdir(parents=True, exist_ok=True)
        with labels.open("w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["player_id", "cohort", "label", "time_zone", "gamalyze"])
            for p in sim.players:
                w.writerow([p.player_id, p.cohort, int(p.label), p.time_zone, p.gamalyze])
        result["labels"] = str(labels)
    console.print_json(json.dumps(result))


@sentinel_app.command("rescore")
def rescore(
    all_players: Annotated[
        bool,
        typer.Option("--all", help="Every player, and rebuild the population reference."),
    ] = False,
) -> None:
    """Score the players with new bets or transactions since their last scoring (what the
    hourly job does), or everyone with --all."""
    from edgelab.sentinel.rescore import run_rescore

    settings = load_settings()
    with progress_bar() as progress:
        task = progress.add_task("scoring", total=4)

        def step(stage: str, done: int, total: int) -> None:
            progress.update(task, description=stage, completed=done, total=total)

        async def work(session: AsyncSession) -> dict[str, Any]:
            summary = await run_rescore(
                session,
                settings,
                mode="full" if all_players else "incremental",
                trigger="cli",
                progress=step,
            )
            return summary.as_dict()

        result = run_in_session(settings, work)
    console.print_json(json.dumps(result))
    if result["status"] != "ok":
        raise typer.Exit(1)
