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

Reading the logs and the behavioural inputs (prior time-outs, limit increases) is
`betlog.arrays`; the NumPy work runs in a worker thread to keep the event loop free.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
from sqlalchemy import Table, bindparam, insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from edgelab.core.clock import utcnow
from edgelab.core.settings import Settings
from edgelab.sentinel import features, scoring
from edgelab.sentinel.betlog.arrays import Targets, load_behaviour, load_logs
from edgelab.sentinel.models import SentinelPlayer, SentinelScore, SentinelScoreRun
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


async def _targets(
    session: AsyncSession, settings: Settings, mode: Mode, pks: list[int] | None
) -> Targets:
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
    return Targets(
        pks=np.array([r[0] for r in rows], dtype=np.int64),
        versions=[int(r[1]) for r in rows],
        zones=[r[2] or settings.sentinel_default_tz for r in rows],
        gamalyze=np.array([np.nan if r[3] is None else r[3] for r in rows], dtype=np.float64),
    )


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
    targets: Targets,
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
    targets: Targets,
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
