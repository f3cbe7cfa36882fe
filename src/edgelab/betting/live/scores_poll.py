"""The results job (`betting.poll_scores`): every `EDGELAB_SCORES_POLL_SECONDS`, while a known
game has started in the last three days without a final score, read `/scores?daysFrom=3`
(2 credits, within the quota plan as the odds job: reserve, stretch, a spent month, back-off).

A completed game (only a completed one) gets its final score, matched by event id, else by its
US-Eastern date and teams (the game id). Then the closes of started games are kept (if the odds
job has not yet), tracked bets on games with a final are settled (`bets.service.
settle_open_bets`: status, payout, CLV against the stored close, and Sentinel's copy of each
bet), all in one transaction. Then the slates of the games that got a final are scored again
(their close moment; no alerts: the games are over) and `betting.evaluate` is enqueued.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from edgelab.betting.bets.service import settle_open_bets
from edgelab.betting.evaluation.jobs import EVALUATE_TASK
from edgelab.betting.live import closes, plan, runs
from edgelab.betting.live.rescoring import game_dates, rescore
from edgelab.betting.live.runs import SCORES_JOB, RunOutcome, Sessions
from edgelab.betting.odds import ids
from edgelab.betting.odds.models import Game
from edgelab.betting.odds.oddsapi import OddsApiClient, OddsScore
from edgelab.betting.odds.teams import UnknownTeamError, normalize_team
from edgelab.core.clock import utcnow
from edgelab.core.jobs import enqueue
from edgelab.core.settings import Settings

log = logging.getLogger("edgelab.betting.live")
RESULTS_WINDOW = dt.timedelta(days=plan.SCORES_DAYS_FROM)


async def awaiting_results(session: AsyncSession, now: dt.datetime) -> bool:
    """Whether a known game (a real tip-off) started within the window and has no final yet:
    otherwise `/scores` has nothing for us and the call is not made."""
    row = await session.execute(
        select(Game.id)
        .where(
            Game.tip_time <= now,
            Game.tip_time > now - RESULTS_WINDOW,
            Game.tip_time_estimated.is_(False),
            Game.home_score.is_(None),
        )
        .limit(1)
    )
    return row.first() is not None


async def poll_scores(sessions: Sessions, settings: Settings) -> dict[str, Any]:
    now = utcnow()
    shared = settings.redis_url is not None  # else this process runs every job (see runs)
    async with sessions() as session:
        if await runs.running_since(session, SCORES_JOB, now, shared=shared, sessions=sessions):
            return {"status": "skipped", "reason": "a run is going"}
        if not await awaiting_results(session, now):
            return {"status": "skipped", "reason": "no game awaiting its result"}
        job = await runs.job_view(session, SCORES_JOB)
        quota = await runs.quota_view(session, now)
    factor = plan.stretch(
        now=now,
        remaining=quota.remaining,
        reserve=settings.odds_api_credit_reserve,
        used_recently=quota.used_recently,
        recent_since=quota.recent_since,
        min_span_seconds=settings.odds_poll_seconds,
    )
    decision = plan.decide(
        now=now,
        job=job,
        interval_seconds=settings.scores_poll_seconds * factor,
        firing_seconds=settings.scores_poll_seconds,
        stopped_until=quota.stopped_until,
        remaining=quota.remaining,
        cost=plan.SCORES_COST,
        reserve=settings.odds_api_credit_reserve,
    )
    if not decision.fetch:
        return {"status": "skipped", "reason": decision.reason}

    run_id = await runs.start_run(sessions, SCORES_JOB, shared=shared)
    outcome = RunOutcome(
        credits_remaining=quota.remaining,
        requests_used=quota.used,
        details={"stretch": round(factor, 3)},
    )
    try:
        client = OddsApiClient(settings)
        try:
            scores, answered = await client.fetch_scores(days_from=plan.SCORES_DAYS_FROM)
        finally:
            await client.aclose()
        outcome.paid(answered, plan.SCORES_COST)
        async with runs.writing(sessions) as session:
            finals = await record_finals(session, settings, scores)
            started = await closes.games_to_freeze(session, now)
            kept = await closes.freeze_closes(session, started)
            dates = await game_dates(session, finals)
            settled = await settle_open_bets(session, settings)
            await session.commit()
        outcome.rows_written += len(finals) + kept + settled
        outcome.details.update(
            completed=sum(1 for s in scores if s.completed),
            finals=finals,
            closes_kept_games=sorted(started),
            settled=settled,
        )
        await rescore(sessions, settings, dates, set(), outcome)
        if finals:
            enqueue(EVALUATE_TASK)
    except Exception as exc:
        outcome.failed(exc, "results", run_id)
    await runs.finish_run(sessions, run_id, outcome)
    status = "ok" if outcome.ok else "failed"
    return {"status": status, "run_id": run_id, "error_code": outcome.error_code}


async def record_finals(
    session: AsyncSession, settings: Settings, scores: list[OddsScore]
) -> list[str]:
    """Give each completed game its final score (a game that has one keeps it); returns the
    ids of the games that got one."""
    completed = [s for s in scores if s.completed and s.home_score is not None]
    if not completed:
        return []
    by_event = {
        g.external_id: g
        for g in (
            await session.execute(
                select(Game).where(Game.external_id.in_([s.id for s in completed]))
            )
        ).scalars()
    }
    zone = ZoneInfo(settings.tip_timezone)
    wanted: dict[str, OddsScore] = {}
    for s in completed:
        game = by_event.get(s.id)
        if game is not None:
            wanted[game.id] = s
            continue
        try:
            home, away = normalize_team(s.home_team), normalize_team(s.away_team)
        except UnknownTeamError:
            continue
        wanted[ids.game_id(s.commence_time.astimezone(zone).date(), home, away)] = s
    games = (await session.execute(select(Game).where(Game.id.in_(list(wanted))))).scalars()
    got: list[str] = []
    for game in games:
        s = wanted[game.id]
        if game.home_score is not None or s.home_score is None or s.away_score is None:
            continue
        game.home_score, game.away_score = s.home_score, s.away_score
        got.append(game.id)
    await session.flush()
    return sorted(got)
