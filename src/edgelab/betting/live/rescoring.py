"""Scoring after the loop wrote prices or closes: the slate dates of the games touched, each in
a transaction of its own, and the alerts of a date enqueued once its scores are committed."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from edgelab.betting.live.runs import RunOutcome, Sessions, writing
from edgelab.betting.markets.slate import SlateResult, score_slate
from edgelab.betting.odds.models import Game
from edgelab.core.jobs import enqueue
from edgelab.core.settings import Settings

ALERTS_TASK = "betting.send_alerts"


async def game_dates(session: AsyncSession, game_ids: Iterable[str]) -> set[dt.date]:
    ids = sorted(set(game_ids))
    dates: set[dt.date] = set()
    for start in range(0, len(ids), 500):
        rows = await session.execute(
            select(Game.game_date).where(Game.id.in_(ids[start : start + 500])).distinct()
        )
        dates.update(rows.scalars())
    return dates


async def rescore(
    sessions: Sessions,
    settings: Settings,
    dates: set[dt.date],
    alert_dates: set[dt.date],
    outcome: RunOutcome,
) -> None:
    """Score each date (oldest first), then enqueue one `betting.send_alerts` for the upcoming
    games of the `alert_dates` scored (sent when the job's unit of work ends; one job, so the
    slates' alerts go out one after the other). A date that fails raises, after recording what
    is left (`unscored_dates`) for the next run to take up; the alerts of the dates scored
    before it are still enqueued."""
    left = sorted(dates)
    scored: list[str] = []
    outcome.details["scored_dates"] = scored
    try:
        await _score_each(sessions, settings, left, scored, outcome)
    finally:
        alerts = [d for d in scored if dt.date.fromisoformat(d) in alert_dates]
        if alerts:
            enqueue(ALERTS_TASK, slate_dates=alerts, upcoming_only=True)


async def _score_each(
    sessions: Sessions,
    settings: Settings,
    left: list[dt.date],
    scored: list[str],
    outcome: RunOutcome,
) -> None:
    while left:
        day = left[0]
        try:
            result = await _score(sessions, settings, day)
        except Exception:
            outcome.details["unscored_dates"] = [d.isoformat() for d in left]
            raise
        left.pop(0)
        scored.append(day.isoformat())
        outcome.details["scored_rows"] = outcome.details.get("scored_rows", 0) + result.scored


async def _score(sessions: Sessions, settings: Settings, day: dt.date) -> SlateResult:
    """Score one date in its own transaction. Scoring reads for seconds before it writes: on
    SQLite a commit by anyone else meanwhile (a request, the A/B exposure flush) fails its first
    write at once (busy snapshot, "database is locked"); it is then run again holding the write
    lock from its first statement, so it cannot fail so, and other writers wait for it instead
    (only then, to keep them waiting as little as possible)."""
    try:
        async with sessions() as session:
            result = await score_slate(session, settings, day)
            await session.commit()
            return result
    except OperationalError as exc:
        if session.get_bind().dialect.name != "sqlite" or "locked" not in str(exc):
            raise
    async with writing(sessions) as session:
        result = await score_slate(session, settings, day)
        await session.commit()
        return result
