"""The live loop as operators see it: its runs (`GET /admin/runs`) and its state (`/health`)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from edgelab.betting.live import plan, runs
from edgelab.betting.live.jobs import live_loop_enabled
from edgelab.betting.live.models import LoopRun
from edgelab.betting.live.odds_poll import Feed
from edgelab.core.settings import Settings


async def list_runs(
    session: AsyncSession, *, job: str | None, limit: int, offset: int
) -> tuple[list[LoopRun], int]:
    """Runs newest first, of one job or all."""
    where = [LoopRun.job == job] if job else []
    total = (await session.execute(select(func.count(LoopRun.id)).where(*where))).scalar_one()
    rows = await session.execute(
        select(LoopRun)
        .where(*where)
        .order_by(LoopRun.started_at.desc(), LoopRun.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return list(rows.scalars()), int(total)


def _run_summary(run: LoopRun) -> dict[str, Any]:
    return {
        "id": run.id,
        "started_at": run.started_at.isoformat(),
        "finished_at": None if run.finished_at is None else run.finished_at.isoformat(),
        "calls": run.calls,
        "credits_used": run.credits_used,
        "rows_written": run.rows_written,
        "error_code": run.error_code,
    }


async def loop_status(
    session: AsyncSession, settings: Settings, now: dt.datetime
) -> dict[str, Any]:
    """`state` (`off`, `polling`, `holding_reserve`, `out_of_credits`), the quota as last told,
    the stretch of the intervals, and each job's latest run and latest failure."""
    if not live_loop_enabled(settings):
        return {"state": "off", "reason": "no EDGELAB_ODDS_API_KEY: nothing is scheduled"}
    quota = await runs.quota_view(session, now)
    reserve = settings.odds_api_credit_reserve
    state = "polling"
    if quota.stopped_until is not None and now < quota.stopped_until:
        state = "out_of_credits"
    elif not plan.keeps_reserve(quota.remaining, Feed.of(settings).odds_cost, reserve):
        state = "holding_reserve"
    factor = plan.stretch(
        now=now,
        remaining=quota.remaining,
        reserve=reserve,
        used_recently=quota.used_recently,
        recent_since=quota.recent_since,
        min_span_seconds=settings.odds_poll_seconds,
    )
    jobs: dict[str, Any] = {}
    for job in runs.JOBS:
        latest = (
            await session.execute(
                select(LoopRun)
                .where(LoopRun.job == job)
                .order_by(LoopRun.started_at.desc(), LoopRun.id.desc())
                .limit(1)
            )
        ).scalar_one_or_none()
        failed = (
            await session.execute(
                select(LoopRun)
                .where(LoopRun.job == job, LoopRun.error_code.is_not(None))
                .order_by(LoopRun.started_at.desc(), LoopRun.id.desc())
                .limit(1)
            )
        ).scalar_one_or_none()
        jobs[job] = {
            "latest": None if latest is None else _run_summary(latest),
            "latest_failure": None
            if failed is None
            else {**_run_summary(failed), "error": failed.error},
        }
    return {
        "state": state,
        "stopped_until": None if quota.stopped_until is None else quota.stopped_until.isoformat(),
        "credits_remaining": quota.remaining,
        "credits_used_this_month": quota.used,
        "quota_as_of": None if quota.as_of is None else quota.as_of.isoformat(),
        "credit_reserve": reserve,
        "credits_used_last_24h": quota.used_recently,
        "interval_stretch": round(factor, 3),
        "jobs": jobs,
    }
