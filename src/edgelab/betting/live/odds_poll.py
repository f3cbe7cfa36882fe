"""The odds job (`betting.poll_odds`): fires every near-tip interval and decides for itself.

Each firing (see `plan.decide`): nothing while the month's credits are spent, a run is going or
a failed run's back-off lasts; otherwise it fetches when the last fetch is older than
`EDGELAB_ODDS_POLL_SECONDS`, or than `EDGELAB_ODDS_POLL_NEAR_TIP_SECONDS` while a known game
tips off within the hour, both stretched when the credits would not last the month, and never a
call that would leave less than the reserve. A fetch is one `/odds` call for the featured
markets and, for games tipping within `EDGELAB_PROPS_HOURS_AHEAD`, one event-odds call each for
the `player_*` markets (each checked against the reserve with the credits the previous answer
left). Every firing also keeps the closing line of games that have started (`closes`).

Prices are stored as `live` snapshots (`odds.live.store_events`: only moved prices are new);
the slate dates of the games whose prices changed are scored, then their alerts enqueued, sent
after the job's unit of work ends (`betting.send_alerts`, upcoming games only). A slate is scored
again with its closes when its games get their finals (`scores_poll`), not at tip-off: scoring
takes seconds, and the near-tip fetches of the next games must not wait for it.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from edgelab.betting import errors
from edgelab.betting.live import closes, plan, runs
from edgelab.betting.live.rescoring import game_dates, rescore
from edgelab.betting.live.runs import ODDS_JOB, RunOutcome, Sessions
from edgelab.betting.odds.live import store_events
from edgelab.betting.odds.models import Game
from edgelab.betting.odds.oddsapi import OddsApiClient, OddsEvent
from edgelab.core.clock import utcnow
from edgelab.core.errors import AppError
from edgelab.core.settings import Settings

log = logging.getLogger("edgelab.betting.live")


@dataclass(frozen=True)
class Feed:
    """What the loop asks for and what one call of each kind costs at most."""

    game_markets: list[str]
    prop_markets: list[str]
    regions: int

    @classmethod
    def of(cls, settings: Settings) -> Feed:
        games, props = plan.split_markets(settings.odds_api_markets)
        regions = plan.regions_priced(settings.odds_api_regions, settings.odds_api_bookmakers)
        return cls(games, props if settings.props_hours_ahead > 0 else [], regions)

    @property
    def odds_cost(self) -> int:
        return plan.call_cost(len(self.game_markets), self.regions)

    @property
    def props_cost(self) -> int:
        return plan.call_cost(len(self.prop_markets), self.regions)


def firing_seconds(settings: Settings) -> int:
    """How often the job fires: the shorter of the two intervals."""
    return min(settings.odds_poll_near_tip_seconds, settings.odds_poll_seconds)


async def tip_within(session: AsyncSession, now: dt.datetime, within: dt.timedelta) -> bool:
    """Whether a known game (a real tip-off time) starts in (now, now + within]."""
    row = await session.execute(
        select(Game.id)
        .where(
            Game.tip_time > now,
            Game.tip_time <= now + within,
            Game.tip_time_estimated.is_(False),
        )
        .limit(1)
    )
    return row.first() is not None


async def poll_odds(sessions: Sessions, settings: Settings) -> dict[str, Any]:
    """One firing of the odds job; returns what it did (also recorded in `loop_runs` when it
    did anything)."""
    now = utcnow()
    shared = settings.redis_url is not None  # else this process runs every job (see runs)
    feed = Feed.of(settings)
    async with sessions() as session:
        if await runs.running_since(session, ODDS_JOB, now, shared=shared, sessions=sessions):
            return {"status": "skipped", "reason": "a run is going"}
        job = await runs.job_view(session, ODDS_JOB)
        quota = await runs.quota_view(session, now)
        near = await tip_within(session, now, plan.NEAR_TIP)
        to_freeze = await closes.games_to_freeze(session, now)
        carried = await runs.carried_dates(session, ODDS_JOB)
    factor = plan.stretch(
        now=now,
        remaining=quota.remaining,
        reserve=settings.odds_api_credit_reserve,
        used_recently=quota.used_recently,
        recent_since=quota.recent_since,
        min_span_seconds=settings.odds_poll_seconds,
    )
    base = settings.odds_poll_near_tip_seconds if near else settings.odds_poll_seconds
    decision = plan.decide(
        now=now,
        job=job,
        interval_seconds=base * factor,
        firing_seconds=firing_seconds(settings),
        stopped_until=quota.stopped_until,
        remaining=quota.remaining,
        cost=feed.odds_cost,
        reserve=settings.odds_api_credit_reserve,
    )
    if not decision.fetch and not to_freeze:
        return {"status": "skipped", "reason": decision.reason}

    run_id = await runs.start_run(sessions, ODDS_JOB, shared=shared)
    outcome = RunOutcome(
        credits_remaining=quota.remaining,
        requests_used=quota.used,
        details={
            "decision": decision.reason,
            "near_tip": near,
            "interval_seconds": round(decision.interval_seconds or base * factor, 1),
            "stretch": round(factor, 3),
        },
    )
    try:
        dates: set[dt.date] = set(carried)
        alert_dates: set[dt.date] = set()
        if to_freeze:
            async with runs.writing(sessions) as session:
                outcome.rows_written += await closes.freeze_closes(session, to_freeze)
                await session.commit()
            outcome.details["closes_kept_games"] = sorted(to_freeze)
        if decision.fetch:
            events = await fetch_round(settings, feed, quota.remaining, outcome, now)
            touched = await _store(sessions, settings, events, outcome)
            dates |= touched
            alert_dates |= touched
        await rescore(sessions, settings, dates, alert_dates, outcome)
    except Exception as exc:
        outcome.failed(exc, "odds", run_id)
    await runs.finish_run(sessions, run_id, outcome)
    status = "ok" if outcome.ok else "failed"
    return {"status": status, "run_id": run_id, "error_code": outcome.error_code}


async def fetch_round(
    settings: Settings,
    feed: Feed,
    remaining: int | None,
    outcome: RunOutcome,
    now: dt.datetime,
) -> list[OddsEvent]:
    """The featured markets of every upcoming game, then the props of those tipping within the
    window, each props call only if it keeps the reserve. A spent month met during props ends
    the round with what was fetched (recorded as the run's error)."""
    client = OddsApiClient(settings)
    try:
        if feed.game_markets:
            response = await client.fetch_odds(markets=",".join(feed.game_markets))
            outcome.paid(response.quota, feed.odds_cost if response.events else 0)
            listed = list(response.events)
        else:  # props only: the free event list gives the ids
            listed, quota = await client.list_events()
            outcome.paid(quota, 0)
        outcome.details["events"] = len(listed)
        events = [e for e in listed if e.bookmakers]
        if outcome.credits_remaining is not None:
            remaining = outcome.credits_remaining
        horizon = now + dt.timedelta(hours=settings.props_hours_ahead)
        due = [e for e in listed if now < e.commence_time <= horizon] if feed.prop_markets else []
        failed: dict[str, str] = {}
        held = 0
        for event in sorted(due, key=lambda e: (e.commence_time, e.id)):
            if not plan.keeps_reserve(remaining, feed.props_cost, settings.odds_api_credit_reserve):
                held += 1
                continue
            try:
                props, quota = await client.fetch_event_odds(
                    event.id, markets=",".join(feed.prop_markets)
                )
            except AppError as exc:
                if exc.code == errors.ODDS_API_OUT_OF_CREDITS.code:
                    outcome.error_code, outcome.error = str(exc.code), exc.message
                    outcome.credits_remaining = 0
                    break
                failed[event.id] = str(exc.code)  # one game's props (it started) cost nothing
                continue
            outcome.paid(quota, feed.props_cost)
            if quota.remaining is not None:
                remaining = quota.remaining
            events.append(props)
        if due:
            outcome.details["props"] = {"games": len(due), "failed": failed, "held": held}
        return events
    finally:
        await client.aclose()


async def _store(
    sessions: Sessions, settings: Settings, events: list[OddsEvent], outcome: RunOutcome
) -> set[dt.date]:
    """Store the fetched prices; returns the slate dates of the games whose prices changed."""
    if not events:
        return set()
    async with runs.writing(sessions) as session:
        stats = await store_events(session, events, settings, utcnow())
        touched = await game_dates(session, stats.touched_games)
        await session.commit()
    outcome.rows_written += (
        stats.games_new + stats.games_updated + stats.snapshots_new + stats.snapshots_updated
    )
    outcome.details["snapshots_new"] = stats.snapshots_new
    outcome.details["touched_games"] = len(stats.touched_games)
    return touched
