"""Recording the live loop's runs, and reading its state back from them.

A run is recorded in transactions of its own, apart from its work: its row is committed when it
starts (so another process sees it running) and finished whether the work committed or rolled
back (a failed run keeps its error). Nothing else holds state: the last fetch, the failures
since, the latest quota headers and a spent month are all read from `loop_runs`.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from edgelab.betting import errors
from edgelab.betting.live import plan
from edgelab.betting.live.models import LoopRun
from edgelab.betting.odds.oddsapi_payload import OddsQuota
from edgelab.core.clock import utcnow
from edgelab.core.db import take_write_lock
from edgelab.core.error_codes import INTERNAL_ERROR
from edgelab.core.errors import AppError
from edgelab.core.jobs import current_job_id

log = logging.getLogger("edgelab.betting.live")

Sessions = async_sessionmaker[AsyncSession]
ODDS_JOB = "betting.poll_odds"
SCORES_JOB = "betting.poll_scores"
JOBS = (ODDS_JOB, SCORES_JOB)
# an unfinished run older than this died with its process: the loop no longer waits for it
STALE_AFTER = dt.timedelta(hours=1)
RECENT_FAILURES = 20  # how far back consecutive failures are counted


@dataclass
class RunOutcome:
    """What a run did: its calls, their cost (the quota headers), rows written, any error."""

    calls: int = 0
    credits_used: int = 0
    credits_remaining: int | None = None
    requests_used: int | None = None
    rows_written: int = 0
    error_code: str | None = None
    error: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def paid(self, quota: OddsQuota, estimate: int) -> None:
        """One answered call: its cost (`x-requests-last`, else the estimate) and the quota."""
        self.calls += 1
        self.credits_used += quota.last if quota.last is not None else estimate
        if quota.remaining is not None:
            self.credits_remaining = quota.remaining
        if quota.used is not None:
            self.requests_used = quota.used

    @property
    def ok(self) -> bool:
        return self.error_code is None

    def failed(self, exc: Exception, what: str, run_id: int) -> None:
        """Record why the run failed: an `AppError`'s code and message (a spent month leaves
        no credits), anything else as an internal error, logged with its traceback."""
        if isinstance(exc, AppError):
            self.error_code, self.error = str(exc.code), exc.message
            if exc.code == errors.ODDS_API_OUT_OF_CREDITS.code:
                self.credits_remaining = 0
            return
        log.exception("live %s run %d failed", what, run_id)
        self.error_code, self.error = INTERNAL_ERROR.code, f"{type(exc).__name__}: {exc}"


@asynccontextmanager
async def writing(sessions: Sessions) -> AsyncIterator[AsyncSession]:
    """A session for a short write transaction. On SQLite it takes the write lock with its first
    statement: a transaction that reads first and writes later fails at once (busy snapshot)
    when another writer committed in between, while one that asks for the lock first waits
    for it (`busy_timeout`). PostgreSQL locks rows and needs nothing."""
    async with sessions() as session:
        await take_write_lock(session)
        yield session


ABANDONED = "its worker stopped mid-run (killed or lost); the job was delivered again"
STOPPED = "the app stopped mid-run (its jobs run in the app's process)"
# Runs going in this process, by job: without Redis the app's process runs every job, so a run
# is going exactly when it is in here (a row left unfinished by an earlier process is not).
_RUNNING_HERE: dict[tuple[int, str], tuple[int, dt.datetime]] = {}  # by (app's sessions, job)


async def start_run(sessions: Sessions, job: str, *, shared: bool = True) -> int:
    """Record a run of `job` as started. A run left unfinished by an earlier delivery of the
    same job (its worker died: jobs are delivered at least once) is closed as failed first;
    with the jobs in this process (`shared=False`, no Redis) so is every unfinished run of the
    job that this process is not running (the app stopped mid-run)."""
    job_id = current_job_id()
    now = utcnow()
    async with sessions() as session:
        if not shared:
            await session.execute(
                update(LoopRun)
                .where(LoopRun.job == job, LoopRun.finished_at.is_(None))
                .values(finished_at=now, error_code=INTERNAL_ERROR.code, error=STOPPED)
            )
        elif job_id is not None:
            await session.execute(
                update(LoopRun)
                .where(LoopRun.job == job, LoopRun.job_id == job_id, LoopRun.finished_at.is_(None))
                .values(finished_at=now, error_code=INTERNAL_ERROR.code, error=ABANDONED)
            )
        run = LoopRun(
            job=job,
            job_id=job_id,
            started_at=now,
            calls=0,
            credits_used=0,
            rows_written=0,
            details={},
        )
        session.add(run)
        await session.commit()
        _RUNNING_HERE[(id(sessions), job)] = (run.id, now)
        return run.id


async def finish_run(sessions: Sessions, run_id: int, outcome: RunOutcome) -> None:
    for key, (running, _) in list(_RUNNING_HERE.items()):
        if running == run_id:
            del _RUNNING_HERE[key]
    async with sessions() as session:
        await session.execute(
            update(LoopRun)
            .where(LoopRun.id == run_id)
            .values(
                finished_at=utcnow(),
                calls=outcome.calls,
                credits_used=outcome.credits_used,
                credits_remaining=outcome.credits_remaining,
                requests_used=outcome.requests_used,
                rows_written=outcome.rows_written,
                error_code=outcome.error_code,
                error=None if outcome.error is None else outcome.error[:2000],
                details=outcome.details,
            )
        )
        await session.commit()


# ---------------------------------------------------------------- the state, read back


@dataclass(frozen=True)
class QuotaView:
    remaining: int | None  # this month's latest x-requests-remaining; None: not known yet
    used: int | None
    as_of: dt.datetime | None
    stopped_until: dt.datetime | None  # a spent month: no call before this
    used_recently: int  # credits used by runs over the trailing `plan.PACE_WINDOW`
    recent_since: dt.datetime | None  # the first of those runs


async def running_since(
    session: AsyncSession,
    job: str,
    now: dt.datetime,
    *,
    shared: bool = True,
    sessions: Sessions | None = None,
) -> dt.datetime | None:
    """The start of a run of `job` still going (not yet stale), if any: not one this very job
    started before its worker died (that one is taken over, see `start_run`). With the jobs in
    this process (`shared=False`) only a run this process started on `sessions` counts."""
    if not shared:
        here = _RUNNING_HERE.get((id(sessions), job))
        return here[1] if here is not None and here[1] > now - STALE_AFTER else None
    query = select(func.max(LoopRun.started_at)).where(
        LoopRun.job == job,
        LoopRun.finished_at.is_(None),
        LoopRun.started_at > now - STALE_AFTER,
    )
    job_id = current_job_id()
    if job_id is not None:
        query = query.where(or_(LoopRun.job_id.is_(None), LoopRun.job_id != job_id))
    started = (await session.execute(query)).scalar_one_or_none()
    return started


async def job_view(session: AsyncSession, job: str) -> plan.JobView:
    """The latest successful fetch of `job` and the failed runs since (finished runs only)."""
    rows = (
        await session.execute(
            select(LoopRun.started_at, LoopRun.error_code, LoopRun.calls)
            .where(LoopRun.job == job, LoopRun.finished_at.is_not(None))
            .order_by(LoopRun.started_at.desc(), LoopRun.id.desc())
            .limit(RECENT_FAILURES)
        )
    ).all()
    failures, last_failed = 0, None
    for started, error_code, calls in rows:
        if error_code is None:
            if calls:
                return plan.JobView(started, failures, last_failed)
            continue  # a run that only froze closes: not a fetch
        failures += 1
        last_failed = last_failed or started
    last_ok = (
        await session.execute(
            select(func.max(LoopRun.started_at)).where(
                LoopRun.job == job, LoopRun.error_code.is_(None), LoopRun.calls > 0
            )
        )
    ).scalar_one_or_none()
    return plan.JobView(last_ok, failures, last_failed)


async def quota_view(session: AsyncSession, now: dt.datetime) -> QuotaView:
    """The quota as the latest answers told it, this month's only (credits renew monthly)."""
    month = plan.month_start(now)
    latest = (
        await session.execute(
            select(LoopRun.credits_remaining, LoopRun.requests_used, LoopRun.started_at)
            .where(LoopRun.credits_remaining.is_not(None), LoopRun.started_at >= month)
            .order_by(LoopRun.started_at.desc(), LoopRun.id.desc())
            .limit(1)
        )
    ).first()
    spent_at = (
        await session.execute(
            select(func.max(LoopRun.started_at)).where(
                LoopRun.error_code == errors.ODDS_API_OUT_OF_CREDITS.code,
                LoopRun.started_at >= month,
            )
        )
    ).scalar_one_or_none()
    stopped_until = None
    if spent_at is not None:
        answered_since = (
            await session.execute(
                select(LoopRun.id)
                .where(
                    LoopRun.started_at > spent_at,
                    LoopRun.calls > 0,
                    LoopRun.error_code.is_(None),
                )
                .limit(1)
            )
        ).first()
        if answered_since is None:  # no call has worked since: the month is spent
            stopped_until = plan.next_month_start(spent_at)
    since = now - plan.PACE_WINDOW
    used, first = (
        await session.execute(
            select(
                func.coalesce(func.sum(LoopRun.credits_used), 0), func.min(LoopRun.started_at)
            ).where(LoopRun.started_at >= since)
        )
    ).one()
    return QuotaView(
        remaining=None if latest is None else latest.credits_remaining,
        used=None if latest is None else latest.requests_used,
        as_of=None if latest is None else latest.started_at,
        stopped_until=stopped_until,
        used_recently=int(used or 0),
        recent_since=first,
    )


async def carried_dates(session: AsyncSession, job: str) -> set[dt.date]:
    """Slate dates a failed run stored prices for but did not score (`unscored_dates`), since
    the job's latest run that did not fail: the next run scores them."""
    last_ok = (
        await session.execute(
            select(func.max(LoopRun.started_at)).where(
                LoopRun.job == job, LoopRun.finished_at.is_not(None), LoopRun.error_code.is_(None)
            )
        )
    ).scalar_one_or_none()
    stmt = select(LoopRun.details).where(LoopRun.job == job, LoopRun.error_code.is_not(None))
    if last_ok is not None:
        stmt = stmt.where(LoopRun.started_at > last_ok)
    dates: set[dt.date] = set()
    for details in (await session.execute(stmt.limit(RECENT_FAILURES))).scalars():
        for day in (details or {}).get("unscored_dates", []):
            dates.add(dt.date.fromisoformat(day))
    return dates
