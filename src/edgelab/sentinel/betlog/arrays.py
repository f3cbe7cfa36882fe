"""The logs a scoring run reads (`rescore.run_rescore`), straight into feature arrays.

Logs are read as numbers only (epoch seconds computed by the database, status and kind as
codes, the market as `market_code`) straight into NumPy, so a million rows cost no datetime
parsing or per-value processing.

Behavioural inputs besides the logs (`load_behaviour`): each player's prior time-outs
(`sentinel_interventions`) and limit increases (`sentinel_limit_changes`) in the
`rescore.BEHAVIOUR_LOOKBACK_DAYS` before the run, one grouped query each for the whole run.
Creating or cancelling a time-out and every new limit change bump the player's
`activity_version`, so the next incremental run picks them up.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from itertools import chain
from typing import Any

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from edgelab.sentinel import features
from edgelab.sentinel.models import SentinelIntervention, SentinelLimitChange
from edgelab.sentinel.service import chunks


@dataclass
class Targets:
    """The players a run scores (sorted by pk) and their inputs besides the logs."""

    pks: np.ndarray[Any, np.dtype[np.int64]]  # sorted
    versions: list[int]
    zones: list[str]
    gamalyze: np.ndarray[Any, np.dtype[np.float64]]
    limit_increases: np.ndarray[Any, np.dtype[np.float64]] | None = None
    prior_timeouts: np.ndarray[Any, np.dtype[np.float64]] | None = None


BET_SQL = {
    "sqlite": (
        "SELECT player_pk, (julianday(placed_at) - 2440587.5) * 86400.0, "
        "coalesce((julianday(settled_at) - 2440587.5) * 86400.0, -1.0), market_code, is_live, "
        "stake_minor, coalesce(payout_minor, 0), "
        "CASE status WHEN 'won' THEN 1 WHEN 'lost' THEN 2 WHEN 'void' THEN 3 ELSE 0 END "
        "FROM sentinel_bets"
    ),
    "postgresql": (
        "SELECT player_pk, extract(epoch FROM placed_at)::float8, "
        "coalesce(extract(epoch FROM settled_at)::float8, -1.0), market_code, is_live::int, "
        "stake_minor, coalesce(payout_minor, 0), "
        "CASE status WHEN 'won' THEN 1 WHEN 'lost' THEN 2 WHEN 'void' THEN 3 ELSE 0 END "
        "FROM sentinel_bets"
    ),
}
TX_SQL = {
    "sqlite": (
        "SELECT player_pk, (julianday(occurred_at) - 2440587.5) * 86400.0, "
        "CASE kind WHEN 'deposit' THEN 0 WHEN 'withdrawal' THEN 1 ELSE 2 END, "
        "CASE status WHEN 'approved' THEN 1 ELSE 0 END, amount_minor FROM sentinel_transactions"
    ),
    "postgresql": (
        "SELECT player_pk, extract(epoch FROM occurred_at)::float8, "
        "CASE kind WHEN 'deposit' THEN 0 WHEN 'withdrawal' THEN 1 ELSE 2 END, "
        "CASE status WHEN 'approved' THEN 1 ELSE 0 END, amount_minor FROM sentinel_transactions"
    ),
}


async def _numeric_rows(
    session: AsyncSession, sql: str, ncols: int, pks: np.ndarray[Any, Any] | None
) -> np.ndarray[Any, np.dtype[np.float64]]:
    """Rows of an all-numeric query as an (n, ncols) float array, read through the driver.

    The scoring run reads about a million rows: SQLAlchemy's per-value result processing would
    cost several times the driver's own fetch, so this one query goes to the driver directly
    (same connection, same transaction). `pks` (integers from our own table) become IN lists.
    """
    conn = await session.connection()
    raw = await conn.get_raw_connection()
    driver: Any = raw.driver_connection
    postgres = session.get_bind().dialect.name == "postgresql"
    queries = [sql]
    if pks is not None:
        queries = [
            f"{sql} WHERE player_pk IN ({','.join(str(int(p)) for p in part)})"
            for part in chunks(pks.tolist(), 5000)
        ]
    rows: list[Any] = []
    for q in queries:
        if postgres:
            rows.extend(await driver.fetch(q))
        else:
            cursor = await driver.execute(q)
            rows.extend(await cursor.fetchall())
            await cursor.close()
    flat = np.fromiter(chain.from_iterable(rows), np.float64, count=len(rows) * ncols)
    return flat.reshape(len(rows), ncols)


def _index(
    pk_col: np.ndarray[Any, Any], targets: np.ndarray[Any, Any]
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """Row -> player index (and the mask of rows whose player is a target)."""
    pos = np.searchsorted(targets, pk_col)
    pos_c = np.minimum(pos, max(len(targets) - 1, 0))
    ok = (
        (pos < len(targets)) & (targets[pos_c] == pk_col)
        if len(targets)
        else np.zeros(len(pk_col), bool)
    )
    return pos_c.astype(np.int64), ok


async def load_logs(
    session: AsyncSession, targets: Targets, *, all_rows: bool
) -> tuple[features.BetArrays, features.TxArrays]:
    """The targets' bets and transactions (every row when `all_rows`), as feature arrays."""
    dialect = "postgresql" if session.get_bind().dialect.name == "postgresql" else "sqlite"
    only = None if all_rows else targets.pks
    b = await _numeric_rows(session, BET_SQL[dialect], 8, only)
    player, ok = _index(b[:, 0].astype(np.int64), targets.pks)
    settled = b[:, 2].copy()
    settled[settled < 0] = np.nan
    bets = features.BetArrays(
        player=player,
        placed=b[:, 1].copy(),
        settled=settled,
        market=b[:, 3].astype(np.int64),
        live=b[:, 4] > 0,
        stake=b[:, 5].copy(),
        payout=b[:, 6].copy(),
        status=b[:, 7].astype(np.int8),
    ).take(ok)
    t = await _numeric_rows(session, TX_SQL[dialect], 5, only)
    player, ok = _index(t[:, 0].astype(np.int64), targets.pks)
    txs = features.TxArrays(
        player=player,
        at=t[:, 1].copy(),
        kind=t[:, 2].astype(np.int8),
        approved=t[:, 3] > 0,
        amount=t[:, 4].copy(),
    ).take(ok)
    return bets, txs


async def load_behaviour(session: AsyncSession, targets: Targets, since: dt.datetime) -> None:
    """Each target's prior time-outs and limit increases since `since`, onto `targets`.

    One grouped query per table for the whole run (never one per player). The window is the
    `rescore.BEHAVIOUR_LOOKBACK_DAYS` before the run, not before the player's last bet: a
    time-out usually follows the play that led to it.

    - `prior_timeouts`: time-out interventions created in the window, expired or running;
      cancelled ones do not count (an analyst cancels a time-out set by mistake or on the wrong
      player, and the player never sat it out).
    - `limit_increases`: limits raised or removed in the window ("set" and "decrease" are not the
      marker; SENTINEL §4 category f: "changing/removing deposit limits", UKGC [36]).

    Both are NaN when the count is 0: not showing a marker is not evidence of safety, so the
    composite of a player without one is re-weighted as before these inputs existed (the
    population reference still counts them as 0, see `rescore._compute`).
    """
    timeouts = np.zeros(len(targets.pks))
    increases = np.zeros(len(targets.pks))
    if len(targets.pks):
        rows = (
            await session.execute(
                select(SentinelIntervention.player_pk, func.count())
                .where(
                    SentinelIntervention.intervention_type == "timeout",
                    SentinelIntervention.status != "cancelled",
                    SentinelIntervention.created_at >= since,
                )
                .group_by(SentinelIntervention.player_pk)
            )
        ).all()
        _scatter(timeouts, rows, targets.pks)
        raised = SentinelLimitChange.change.in_(("increase", "removed"))
        rows = (
            await session.execute(
                select(SentinelLimitChange.player_pk, func.count())
                .where(raised, SentinelLimitChange.occurred_at >= since)
                .group_by(SentinelLimitChange.player_pk)
            )
        ).all()
        _scatter(increases, rows, targets.pks)
    targets.prior_timeouts = np.where(timeouts > 0, timeouts, np.nan)
    targets.limit_increases = np.where(increases > 0, increases, np.nan)


def _scatter(out: np.ndarray[Any, Any], rows: Any, pks: np.ndarray[Any, Any]) -> None:
    """(player_pk, count) rows into `out`, indexed like the sorted `pks` (others ignored)."""
    if not rows:
        return
    pk_col = np.array([r[0] for r in rows], dtype=np.int64)
    counts = np.array([r[1] for r in rows], dtype=np.float64)
    pos, ok = _index(pk_col, pks)
    out[pos[ok]] = counts[ok]
