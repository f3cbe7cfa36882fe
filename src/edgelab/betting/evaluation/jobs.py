"""Computing and storing evaluation reports: the `betting.evaluate` job, and the same work inline
for the CLI and the demo.

A report belongs to a data fingerprint (`current_fingerprint`: the settled games, their results
and their odds snapshots, the last model update, the engine version and the sharp books; games
without a final score and their quotes are neither read nor fingerprinted, so live polling of
upcoming games leaves the report fresh). Readers serve
the newest ready report; when the data has changed since, they serve it marked stale and call
`request_report`, which records the new fingerprint as `queued` (the unique fingerprint makes
one reader's request the only one) and enqueues the job after that request's commit. The job
computes whatever the data is when it runs, one computation at a time (a job that finds one
running stops: the running job takes the newer data when it is done), in short transactions of
its own so a reader sees it running, and keeps the `KEEP_REPORTS` newest reports.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import io
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from edgelab.betting.evaluation.models import EvaluationReport
from edgelab.betting.odds.models import Game, Market, OddsSnapshot, Outcome
from edgelab.core.clock import utcnow
from edgelab.core.db import take_write_lock
from edgelab.core.jobs import Jobs, enqueue
from edgelab.core.settings import Settings

log = logging.getLogger("edgelab.betting.evaluation.jobs")
EVALUATE_TASK = "betting.evaluate"
ENGINE_VERSION = "consensus1-eval-2"  # bump when the figures a stored report holds change
KEEP_REPORTS = 3
RETRY_FAILED_AFTER = dt.timedelta(minutes=10)
LOST_AFTER = dt.timedelta(hours=1)  # a report queued or running this long died with its process
MAX_ROUNDS = 3  # reports one job computes while the data keeps changing under it
Progress = Callable[[str], None]
Sessions = async_sessionmaker[AsyncSession]
SETTLED = Game.home_score.is_not(None) & Game.away_score.is_not(None)  # what is evaluated


@dataclass(frozen=True)
class DataFingerprint:
    """Cheap identity of the data a computation reads, and the seasons it could evaluate."""

    digest: str
    seasons: tuple[int, ...]


async def current_fingerprint(session: AsyncSession, settings: Settings) -> DataFingerprint:
    """A few aggregate queries over the settled games (`SETTLED`) and their snapshots: a
    result arriving or changing, a settled game's price or line changing, a model update, a new
    engine or another sharp-book list changes the digest; a quote of an unplayed game does not
    (the evaluation does not read it)."""
    from edgelab.betting.model.jobs import evaluation_fingerprint as with_model

    g = (
        await session.execute(
            select(
                func.count(),
                func.sum(Game.home_score),
                func.sum(Game.away_score),
                func.max(Game.updated_at),
            ).where(SETTLED)
        )
    ).one()
    # every snapshot but those of the few unsettled games, found through the indexes from the
    # games down (one scan of the snapshots, about 2x the plain aggregate; a join from the
    # snapshots up costs 6x on the shipped data)
    unsettled = select(Game.id).where(~SETTLED)
    unsettled_outcomes = select(Outcome.id).where(
        Outcome.market_id.in_(select(Market.id).where(Market.game_id.in_(unsettled)))
    )
    s = (
        await session.execute(
            select(
                func.count(),
                func.max(OddsSnapshot.id),
                func.sum(OddsSnapshot.odds_decimal),
                func.sum(OddsSnapshot.line),
                func.count(OddsSnapshot.seen_at),  # when a quote was last listed: its age
                func.max(OddsSnapshot.seen_at),
            ).where(OddsSnapshot.outcome_id.not_in(unsettled_outcomes))
        )
    ).one()
    seasons = await session.scalars(select(Game.season).where(SETTLED).group_by(Game.season))
    played = tuple(sorted(int(x) for x in seasons))
    raw = repr((tuple(g), tuple(s), played, ENGINE_VERSION, sorted(settings.sharp_books)))
    fp = DataFingerprint(hashlib.sha1(raw.encode()).hexdigest()[:16], played)
    return await with_model(session, fp)


# ---- computing -------------------------------------------------------------------------------


@dataclass
class Computed:
    evaluation: Any  # walkforward.Evaluation
    document: dict[str, Any]
    arrays: bytes


def _pack(arrays: dict[str, Any]) -> bytes:
    import numpy as np

    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    return buf.getvalue()


def unpack(blob: bytes) -> dict[str, Any]:
    """The per-market forecast arrays of a stored report (`report.forecast_arrays`)."""
    import numpy as np

    with np.load(io.BytesIO(blob), allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files}


async def compute(
    session: AsyncSession,
    settings: Settings,
    seasons: Sequence[int] | None = None,
    *,
    n_boot: int | None = None,
    progress: Progress | None = None,
) -> Computed:
    """The evaluation of `seasons` (default: every season with results), read in `session`
    and computed off the event loop."""
    from edgelab.betting.evaluation import report, walkforward
    from edgelab.betting.evaluation.dataset import load_evaluation_data, seasons_with_results

    wanted = list(seasons) if seasons is not None else await seasons_with_results(session)
    data = await load_evaluation_data(session, wanted, progress)
    sharp = frozenset(settings.sharp_books)
    boot = n_boot or report.DEFAULT_BOOTSTRAP

    def work() -> Computed:
        e = walkforward.evaluate(data, sharp, progress)
        if progress is not None:
            progress("reports, bootstrap intervals")
        doc = report.build_document(e, sharp=sharp, engine=ENGINE_VERSION, n_boot=boot)
        return Computed(e, doc, _pack(report.forecast_arrays(e)))

    return await asyncio.to_thread(work)


async def store(
    session: AsyncSession, fingerprint: DataFingerprint, done: Computed, seconds: float
) -> EvaluationReport:
    """Save a ready report under `fingerprint` (replacing a queued, running or failed one) and
    drop all but the `KEEP_REPORTS` newest ready ones."""
    row = (
        await session.execute(
            select(EvaluationReport).where(EvaluationReport.fingerprint == fingerprint.digest)
        )
    ).scalar_one_or_none()
    if row is None:
        row = EvaluationReport(fingerprint=fingerprint.digest, created_at=utcnow())
        session.add(row)
    now = utcnow()
    row.status, row.error = "ready", None
    row.started_at = row.started_at or now - dt.timedelta(seconds=seconds)
    row.finished_at, row.seconds = now, round(seconds, 3)
    row.seasons = list(done.document["seasons"])
    row.document = {**done.document, "data_fingerprint": fingerprint.digest}
    row.arrays = done.arrays
    await session.flush()
    keep = (
        await session.execute(
            select(EvaluationReport.id)
            .where(EvaluationReport.status == "ready")
            .order_by(EvaluationReport.finished_at.desc(), EvaluationReport.id.desc())
            .limit(KEEP_REPORTS)
        )
    ).scalars()
    await session.execute(
        delete(EvaluationReport).where(
            EvaluationReport.status == "ready", EvaluationReport.id.not_in(list(keep))
        )
    )
    return row


async def compute_and_store(
    session: AsyncSession,
    settings: Settings,
    progress: Progress | None = None,
    *,
    n_boot: int | None = None,
) -> EvaluationReport:
    """A fresh report of every season, stored now (the demo, tests)."""
    started = time.perf_counter()
    fp = await current_fingerprint(session, settings)
    done = await compute(session, settings, progress=progress, n_boot=n_boot)
    return await store(session, fp, done, time.perf_counter() - started)


# ---- the job ---------------------------------------------------------------------------------


async def request_report(session: AsyncSession, fingerprint: DataFingerprint) -> str:
    """Ask for the report of `fingerprint` (a reader found the data changed): enqueue the job
    after the caller's commit unless it is queued, running or failed a moment ago. Returns the
    report's status."""
    row = (
        await session.execute(
            select(EvaluationReport).where(EvaluationReport.fingerprint == fingerprint.digest)
        )
    ).scalar_one_or_none()
    now = utcnow()
    if row is None:
        try:
            async with session.begin_nested():
                session.add(
                    EvaluationReport(
                        fingerprint=fingerprint.digest,
                        status="queued",
                        created_at=now,
                        seasons=list(fingerprint.seasons),
                    )
                )
                await session.flush()
        except IntegrityError:  # another reader asked first
            return "queued"
        enqueue(EVALUATE_TASK)
        return "queued"
    since = row.started_at or row.created_at
    retry = (row.status == "failed" and now - (row.finished_at or since) > RETRY_FAILED_AFTER) or (
        row.status in ("queued", "running") and now - since > LOST_AFTER
    )
    if retry:
        row.status, row.created_at, row.started_at = "queued", now, None
        await session.flush()
        enqueue(EVALUATE_TASK)
        return "queued"
    return row.status


async def _claim(sessions: Sessions, settings: Settings) -> tuple[int, DataFingerprint] | None:
    """Mark the current fingerprint's report running; None when it is ready, or when a report
    is being computed (that job takes the newer data when it is done)."""
    async with sessions() as s:
        await take_write_lock(s)  # it reads, then writes: see core.db.take_write_lock
        fp = await current_fingerprint(s, settings)
        now = utcnow()
        running = (
            await s.execute(
                select(func.count()).where(
                    EvaluationReport.status == "running",
                    EvaluationReport.started_at > now - LOST_AFTER,
                )
            )
        ).scalar_one()
        row = (
            await s.execute(
                select(EvaluationReport).where(EvaluationReport.fingerprint == fp.digest)
            )
        ).scalar_one_or_none()
        if running or (row is not None and row.status == "ready"):
            return None
        if row is None:
            row = EvaluationReport(fingerprint=fp.digest, created_at=now, seasons=list(fp.seasons))
            s.add(row)
        row.status, row.started_at, row.error = "running", now, None
        try:
            await s.commit()
        except IntegrityError:  # another worker took it
            return None
        return row.id, fp


async def _compute_one(
    sessions: Sessions, settings: Settings, report_id: int, fp: DataFingerprint
) -> EvaluationReport:
    started = time.perf_counter()
    try:
        async with sessions() as s:
            if not fp.seasons:
                raise LookupError("no game with a result to evaluate")
            done = await compute(s, settings)
        async with sessions() as s:
            await take_write_lock(s)
            row = await store(s, fp, done, time.perf_counter() - started)
            await s.commit()
            return row
    except Exception as exc:
        log.exception("evaluation report %s failed", fp.digest)
        async with sessions() as s:
            await take_write_lock(s)
            await s.execute(
                update(EvaluationReport)
                .where(EvaluationReport.id == report_id)
                .values(
                    status="failed",
                    finished_at=utcnow(),
                    error=f"{type(exc).__name__}: {exc}"[:2000],
                )
            )
            await s.commit()
        raise


async def run_evaluation_job(sessions: Sessions, settings: Settings) -> dict[str, Any]:
    """Compute and store the report of the data as it is now, and again (up to `MAX_ROUNDS`
    in all) while the data changed during the computation (see the module docstring)."""
    done: list[dict[str, Any]] = []
    for _ in range(MAX_ROUNDS):
        claimed = await _claim(sessions, settings)
        if claimed is None:
            break
        row = await _compute_one(sessions, settings, *claimed)
        done.append(
            {
                "report_id": row.id,
                "fingerprint": row.fingerprint,
                "seasons": row.seasons,
                "seconds": row.seconds,
            }
        )
    return {"status": "ready" if done else "skipped", "reports": done}


def register_evaluation_jobs(jobs: Jobs, settings: Settings) -> None:
    async def evaluate(session: AsyncSession) -> dict[str, Any]:
        """The job writes in transactions of its own (a reader must see it running, and a
        failure must still be recorded): the unit of work's session only lends its engine."""
        bind = session.bind
        assert bind is not None
        maker = async_sessionmaker(bind, expire_on_commit=False, autoflush=False)
        return await run_evaluation_job(maker, settings)

    jobs.task(EVALUATE_TASK)(evaluate)
