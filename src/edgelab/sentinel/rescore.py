"""Scoring runs: read the logs of the players due, compute features and scores, store them.

Which players a run scores:
- `full`: every player with any activity; also rebuilds the population reference (feature
  quantiles) stored on the run, which later runs score against.
- `incremental` (the hourly job): only players whose `activity_version` differs from the
  `scored_version` the last scoring stored, so the cost follows the new activity, not the
  history. It turns into a full run when there is no reference yet or it is older than
  `EDGELAB_SENTINEL_REFERENCE_MAX_AGE_HOURS`.
- `players`: the given players (an on-demand analysis), against the stored reference.

Why a version counter and not timestamps: an ingest that commits *after* the run has read a
player's version but *before* it read the bets would be missed forever by a "changed since
the run started" test. With counters the run stores the version it read before reading the
logs; any later ingest has bumped it, so the player is picked up by the next run. A rerun with
nothing new scores nobody (idempotent).

Only one full or incremental run at a time: on PostgreSQL a transaction-level advisory lock (a
second run records itself as `locked` and stops); on SQLite the run's first write holds the
database's single write lock until it commits, so a second one waits. The hourly schedule
itself fires once per slot across instances (a Redis lock per firing, see core.jobs_schedule).

Behavioural inputs besides the logs (see `load_behaviour`): each player's prior time-outs
(`sentinel_interventions`) and limit increases (`sentinel_limit_changes`) in the
`BEHAVIOUR_LOOKBACK_DAYS` before the run, one grouped query each for the whole run. Creating or
cancelling a time-out and every new limit change bump the player's `activity_version`, so the
next incremental run picks them up.

Logs are read as numbers only (epoch seconds computed by the database, status and kind as
codes, the market as `market_code`) straight into NumPy, so a million rows cost no datetime
parsing or per-value processing; the NumPy work runs in a worker thread to keep the event loop
free.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from itertools import chain
from typing import Any, Literal

import numpy as np
from sqlalchemy import Table, bindparam, func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from edgelab.core.clock import utcnow
from edgelab.core.settings import Settings
from edgelab.sentinel import features, scoring
from edgelab.sentinel.models import (
    SentinelIntervention,
    SentinelLimitChange,
    SentinelPlayer,
    SentinelScore,
    SentinelScoreRun,
)
from edgelab.sentinel.service import chunks

log = logging.getLogger("edgelab.sentinel")
Mode = Literal["full", "incremental", "players"]
Progress = Callable[[str, int, int], None]
ADVISORY_LOCK_KEY = 0x53454E54  # "SENT"
BEHAVIOUR_LOOKBACK_DAYS = 90  # time-outs and limit changes counted: the 90 days before the run
MARKER_FEATURES = ("ba_limit_increases", "ba_prior_timeouts")  # NaN = marker not shown


@dataclass
class RunSummary:
    run_id: int
    mode: str
    status: str
    players_scored: int = 0
    bets_read: int = 0
    transactions_read: int = 0
    errors: int = 0
    duration_seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


async def _take_lock(session: AsyncSession) -> bool:
    if session.get_bind().dialect.name != "postgresql":
        return True
    got = await session.execute(
        text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": ADVISORY_LOCK_KEY}
    )
    return bool(got.scalar_one())


async def _reference(
    session: AsyncSession,
) -> tuple[dict[str, list[float]] | None, dt.datetime | None]:
    row = (
        await session.execute(
            select(SentinelScoreRun.reference, SentinelScoreRun.started_at)
            .where(SentinelScoreRun.reference.is_not(None), SentinelScoreRun.status == "ok")
            .order_by(SentinelScoreRun.id.desc())
            .limit(1)
        )
    ).one_or_none()
    return (row[0], row[1]) if row else (None, None)


@dataclass
class _Targets:
    pks: np.ndarray[Any, np.dtype[np.int64]]  # sorted
    versions: list[int]
    zones: list[str]
    gamalyze: np.ndarray[Any, np.dtype[np.float64]]
    limit_increases: np.ndarray[Any, np.dtype[np.float64]] | None = None
    prior_timeouts: np.ndarray[Any, np.dtype[np.float64]] | None = None


async def _targets(
    session: AsyncSession, settings: Settings, mode: Mode, pks: list[int] | None
) -> _Targets:
    stmt = select(
        SentinelPlayer.pk,
        SentinelPlayer.activity_version,
        SentinelPlayer.time_zone,
        SentinelPlayer.gamalyze_score,
    ).order_by(SentinelPlayer.pk)
    if mode == "incremental":
        stmt = stmt.where(
            (SentinelPlayer.scored_version.is_(None))
            | (SentinelPlayer.scored_version != SentinelPlayer.activity_version)
        )
    rows: list[Any] = []
    if mode == "players":
        for part in chunks(sorted(set(pks or []))):
            rows.extend(await session.execute(stmt.where(SentinelPlayer.pk.in_(part))))
    else:
        rows = list(await session.execute(stmt))
    return _Targets(
        pks=np.array([r[0] for r in rows], dtype=np.int64),
        versions=[int(r[1]) for r in rows],
        zones=[r[2] or settings.sentinel_default_tz for r in rows],
        gamalyze=np.array([np.nan if r[3] is None else r[3] for r in rows], dtype=np.float64),
    )


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
    session: AsyncSession, targets: _Targets, *, all_rows: bool
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


async def load_behaviour(session: AsyncSession, targets: _Targets, since: dt.datetime) -> None:
    """Each target's prior time-outs and limit increases since `since`, onto `targets`.

    One grouped query per table for the whole run (never one per player). The window is the
    `BEHAVIOUR_LOOKBACK_DAYS` before the run, not before the player's last bet: a time-out
    usually follows the play that led to it.

    - `prior_timeouts`: time-out interventions created in the window, expired or running;
      cancelled ones do not count (an analyst cancels a time-out set by mistake or on the wrong
      player, and the player never sat it out).
    - `limit_increases`: limits raised or removed in the window ("set" and "decrease" are not the
      marker; SENTINEL §4 category f: "changing/removing deposit limits", UKGC [36]).

    Both are NaN when the count is 0: not showing a marker is not evidence of safety, so the
    composite of a player without one is re-weighted as before these inputs existed (the
    population reference still counts them as 0, see `_compute`).
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


def cast_table(table: Any) -> Table:
    assert isinstance(table, Table)
    return table


def _clean(x: float) -> float | None:
    return None if not math.isfinite(x) else round(float(x), 6)


@dataclass
class _Computed:
    scored: scoring.Scored
    table: features.FeatureTable
    reference: dict[str, list[float]]


def _compute(
    bets: features.BetArrays,
    txs: features.TxArrays,
    targets: _Targets,
    reference: dict[str, list[float]] | None,
    cutoffs: scoring.Cutoffs,
) -> _Computed:
    players = features.PlayerInputs(
        n=len(targets.pks),
        time_zones=targets.zones,
        gamalyze=targets.gamalyze,
        limit_increases=targets.limit_increases,
        prior_timeouts=targets.prior_timeouts,
    )
    table = features.compute_features(bets, txs, players)
    if reference is None:
        active = np.isfinite(table.as_of)
        population = {k: v[active] for k, v in table.values.items()}
        for name in MARKER_FEATURES:  # the population mostly shows none: 0, not unknown
            population[name] = np.nan_to_num(population[name], nan=0.0)
        reference = scoring.build_reference(population)
    return _Computed(scoring.score(table.values, reference, cutoffs), table, reference)


async def _write_scores(
    session: AsyncSession,
    computed: _Computed,
    targets: _Targets,
    run_id: int,
    scored_at: dt.datetime,
) -> int:
    sc, table = computed.scored, computed.table
    rows: list[dict[str, Any]] = []
    player_updates: list[dict[str, Any]] = []
    names = list(table.values)
    for i, pk in enumerate(targets.pks.tolist()):
        as_of = table.as_of[i]
        update_row: dict[str, Any] = {
            "b_pk": pk,
            "b_version": targets.versions[i],
            "b_at": None,
            "b_composite": None,
            "b_category": None,
        }
        if not math.isfinite(as_of):  # nothing to score: remember the version, keep no score
            player_updates.append(update_row)
            continue
        comps = {c: _clean(sc.components[c][i]) for c in scoring.COMPONENTS}
        composite = round(float(sc.composite[i]), 6)
        category = str(sc.categories[i])
        rows.append(
            {
                "player_pk": pk,
                "run_id": run_id,
                "scored_at": scored_at,
                "as_of": dt.datetime.fromtimestamp(float(as_of), dt.UTC),
                "composite": composite,
                "risk_category": category,
                **comps,
                "absent": [c for c, v in comps.items() if v is None],
                "top_features": scoring.top_features(sc, table.values, i),
                "features": {n: _clean(table.values[n][i]) for n in names},
            }
        )
        update_row.update(b_at=scored_at, b_composite=composite, b_category=category)
        player_updates.append(update_row)
    for start in range(0, len(rows), 2000):
        await session.execute(
            insert(cast_table(SentinelScore.__table__)), rows[start : start + 2000]
        )
    p = cast_table(SentinelPlayer.__table__)
    stmt = (
        p.update()
        .where(p.c.pk == bindparam("b_pk"))
        .values(
            scored_version=bindparam("b_version"),
            scored_at=bindparam("b_at"),
            composite=bindparam("b_composite"),
            risk_category=bindparam("b_category"),
        )
    )
    # a player with nothing to score keeps any older score: only the version is stored
    unscored = [u for u in player_updates if u["b_at"] is None]
    scored_updates = [u for u in player_updates if u["b_at"] is not None]
    if scored_updates:
        await session.execute(stmt, scored_updates)
    if unscored:
        await session.execute(
            p.update()
            .where(p.c.pk == bindparam("b_pk"))
            .values(scored_version=bindparam("b_version")),
            [{"b_pk": u["b_pk"], "b_version": u["b_version"]} for u in unscored],
        )
    return len(rows)


async def run_rescore(
    session: AsyncSession,
    settings: Settings,
    *,
    mode: Mode = "incremental",
    trigger: str = "job",
    pks: list[int] | None = None,
    progress: Progress | None = None,
) -> RunSummary:
    """One scoring run in the caller's unit of work; recorded in `sentinel_score_runs` whether
    it succeeds (`ok`), fails (`failed`, with the error; its partial writes rolled back) or
    finds another run holding the lock (`locked`)."""
    started = time.perf_counter()
    step = started
    timings: dict[str, float] = {}

    def lap(name: str) -> None:
        nonlocal step
        t = time.perf_counter()
        timings[name] = round(t - step, 4)
        step = t

    def report(stage: str, done: int, total: int) -> None:
        if progress is not None:
            progress(stage, done, total)

    run_started = utcnow()
    run = SentinelScoreRun(
        mode=mode, trigger=trigger, status="running", started_at=run_started, timings={}
    )
    session.add(run)
    await session.flush()
    summary = RunSummary(run_id=run.id, mode=mode, status="running")
    if mode != "players" and not await _take_lock(session):
        run.status = summary.status = "locked"
        run.finished_at = utcnow()
        await session.flush()
        return summary
    cutoffs = scoring.Cutoffs(
        settings.sentinel_cutoff_critical,
        settings.sentinel_cutoff_high,
        settings.sentinel_cutoff_medium,
    )
    reference, built_at = await _reference(session)
    max_age = dt.timedelta(hours=settings.sentinel_reference_max_age_hours)
    stale = built_at is None or utcnow() - built_at > max_age
    if (mode == "incremental" and (reference is None or stale)) or (
        mode == "players" and reference is None  # the first analysis builds the reference
    ):
        mode = "full"
    run.mode = summary.mode = mode
    await session.flush()
    new_reference = None
    try:
        async with session.begin_nested():
            report("selecting players", 0, 4)
            targets = await _targets(session, settings, mode, pks)
            lap("select")
            report("reading bets and transactions", 1, 4)
            bets, txs = await load_logs(session, targets, all_rows=mode == "full")
            since = run_started - dt.timedelta(days=BEHAVIOUR_LOOKBACK_DAYS)
            await load_behaviour(session, targets, since)
            summary.bets_read, summary.transactions_read = len(bets), len(txs)
            lap("read")
            report("computing features and scores", 2, 4)
            computed = await asyncio.to_thread(
                _compute, bets, txs, targets, None if mode == "full" else reference, cutoffs
            )
            lap("compute")
            report("writing scores", 3, 4)
            summary.players_scored = await _write_scores(
                session, computed, targets, summary.run_id, run_started
            )
            if mode == "full":
                new_reference = computed.reference
            lap("write")
            report("done", 4, 4)
        summary.status = "ok"
    except Exception as exc:  # the run is recorded as failed; its scores were rolled back
        log.exception("sentinel scoring run %s failed", run.id)
        summary.status, summary.errors = "failed", 1
        run.error_detail = f"{type(exc).__name__}: {exc}"[:2000]
    if new_reference is not None:
        run.reference = new_reference
    summary.duration_seconds = round(time.perf_counter() - started, 4)
    summary.timings = timings
    run.status = summary.status
    run.players_scored = summary.players_scored
    run.bets_read, run.transactions_read = summary.bets_read, summary.transactions_read
    run.errors = summary.errors
    run.duration_seconds = summary.duration_seconds
    run.timings = timings
    run.finished_at = utcnow()
    await session.flush()
    return summary


async def latest_runs(session: AsyncSession, limit: int = 20) -> list[SentinelScoreRun]:
    rows = await session.execute(
        select(SentinelScoreRun).order_by(SentinelScoreRun.id.desc()).limit(limit)
    )
    return list(rows.scalars())
