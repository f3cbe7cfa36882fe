"""Alert sending (the `betting.send_alerts` job): e-mail each user the new matches of their rules.

After each scoring run `send_alerts_after_scoring` e-mails every paid, subscribed user the
slate's current scores that pass one of their active rules: one e-mail per user per run.

"Never the same market twice" is kept by the database, not by this code: `alert_deliveries` is
unique on (user, market) and a run claims its rows with INSERT ... ON CONFLICT DO NOTHING, so
when two runs overlap (two workers, a CLI run beside a job) only the run whose insert wins
e-mails a market. The e-mail is queued in the same transaction as the claim: both happen or
neither. Delivery is at most once: a message Resend finally refuses is not retried by a later
run.

The daily cap counts deliveries since midnight in the user's time zone. Matches over the cap
are not recorded, so a later run may still send them (the next day, say) while they are
current and still match. The cap is read at the start of a user's turn: two runs at the same
moment for one user could together pass it (the unique key still holds).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from edgelab.accounts import service as accounts_service
from edgelab.betting.alerts.models import AlertDelivery, AlertRule
from edgelab.betting.alerts.service import unsubscribe_link
from edgelab.betting.markets.models import ValueScore
from edgelab.betting.markets.service import resolve_slate_date
from edgelab.betting.odds.models import Game, Market, Outcome
from edgelab.core.clock import utcnow
from edgelab.core.email import outbox
from edgelab.core.jobs import Jobs
from edgelab.core.settings import Settings

log = logging.getLogger("edgelab.alerts")
ALERT_MAIL = outbox.EmailTemplate(
    "edgelab.betting.alerts", "alert", "New value bets matching your edgelab alerts"
)


@dataclass(frozen=True)
class Candidate:
    """A current score of the slate, with what a rule filters on and an e-mail shows."""

    outcome_id: str
    label: str
    market_type: str
    home_team: str
    away_team: str
    odds_decimal: float
    line: float | None
    score_a: float
    score_b: float
    slate_date: dt.date


def rule_score(rule: AlertRule, c: Candidate) -> float | None:
    """The candidate's score under the rule's algorithm if the rule matches it, else None."""
    score = c.score_a if rule.algorithm == "a" else c.score_b
    if score < rule.min_value_score or c.market_type not in rule.market_types:
        return None
    if rule.teams and c.home_team not in rule.teams and c.away_team not in rule.teams:
        return None
    return score


def new_matches(
    rules: list[AlertRule], candidates: list[Candidate]
) -> list[tuple[str, tuple[float, AlertRule]]]:
    """(market id, (score, rule)) for every candidate some rule matches, best score first.

    A market matched by several rules is credited to the one giving it the highest score (the
    first such rule on a tie); markets of equal score are in id order.
    """
    best: dict[str, tuple[float, AlertRule]] = {}
    for c in candidates:
        for rule in rules:
            score = rule_score(rule, c)
            if score is not None and (c.outcome_id not in best or score > best[c.outcome_id][0]):
                best[c.outcome_id] = (score, rule)
    return sorted(best.items(), key=lambda kv: (-kv[1][0], kv[0]))


def _local_midnight(now: dt.datetime, time_zone: str) -> dt.datetime:
    try:
        zone = ZoneInfo(time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    local = now.astimezone(zone)
    return local.replace(hour=0, minute=0, second=0, microsecond=0).astimezone(dt.UTC)


def _pick(c: Candidate) -> str:
    if c.line is None:
        return c.label
    return f"{c.label} {c.line:+g}" if c.market_type == "spread" else f"{c.label} {c.line:g}"


async def _candidates(
    session: AsyncSession, slate_date: dt.date, started_before: dt.datetime | None = None
) -> list[Candidate]:
    """The slate's current scores; with `started_before`, games tipping off by then left out."""
    stmt = (
        select(ValueScore, Outcome.label, Market.market_type, Game.home_team, Game.away_team)
        .join(Outcome, Outcome.id == ValueScore.outcome_id)
        .join(Market, Market.id == Outcome.market_id)
        .join(Game, Game.id == Market.game_id)
        .where(ValueScore.is_current.is_(True), ValueScore.slate_date == slate_date)
        .order_by(ValueScore.outcome_id)
    )
    if started_before is not None:
        stmt = stmt.where(Game.tip_time > started_before)
    rows = await session.execute(stmt)
    return [
        Candidate(
            s.outcome_id,
            label,
            mtype,
            home,
            away,
            s.odds_decimal,
            s.line,
            s.algo_a_value_score,
            s.algo_b_value_score,
            s.slate_date,
        )
        for s, label, mtype, home, away in rows.all()
    ]


async def _claim(session: AsyncSession, rows: list[dict[str, Any]]) -> set[str]:
    """Insert delivery rows, skipping any (user, market) already there; the outcome ids won."""
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    stmt = (
        insert(AlertDelivery)
        .values(rows)
        .on_conflict_do_nothing(index_elements=["user_id", "outcome_id"])
        .returning(AlertDelivery.outcome_id)
    )
    return set((await session.execute(stmt)).scalars())


async def send_alerts_after_scoring(
    session: AsyncSession,
    settings: Settings,
    slate_date: dt.date | None = None,
    *,
    now: dt.datetime | None = None,
    upcoming_only: bool = False,
) -> dict[str, Any]:
    """E-mail each subscribed paid user the slate's new matches; returns counts for the log.

    `slate_date` defaults to the slate `edgelab score` picks. Idempotent: a second run sends
    only markets that became matches since (rescored, or freed by the next day's cap).
    `upcoming_only` (the live loop) leaves out games that have started by `now`.
    """
    now = now or utcnow()
    counts: dict[str, Any] = {
        "slate_date": None,
        "rules": 0,
        "emails": 0,
        "alerts": 0,
        "held_by_cap": 0,
    }
    slate_date = slate_date or await resolve_slate_date(session, settings)
    if slate_date is None:
        return counts
    counts["slate_date"] = slate_date.isoformat()
    rules = list(
        (
            await session.execute(
                select(AlertRule)
                .where(AlertRule.active.is_(True))
                .order_by(AlertRule.user_id, AlertRule.created_at, AlertRule.id)
            )
        ).scalars()
    )
    recipients = await accounts_service.alert_recipients(session, [r.user_id for r in rules])
    rules = [r for r in rules if r.user_id in recipients]  # free, deleted, unsubscribed: none
    counts["rules"] = len(rules)
    started = now if upcoming_only else None
    candidates = await _candidates(session, slate_date, started) if rules else []
    if not candidates:
        return counts
    by_id = {c.outcome_id: c for c in candidates}
    delivered = await session.execute(
        select(AlertDelivery.user_id, AlertDelivery.outcome_id).where(
            AlertDelivery.outcome_id.in_(list(by_id))
        )
    )
    sent_before = {(uid, oid) for uid, oid in delivered}
    recent = await session.execute(  # every local midnight is less than 25 hours back
        select(AlertDelivery.user_id, AlertDelivery.created_at).where(
            AlertDelivery.created_at >= now - dt.timedelta(hours=25)
        )
    )
    recent_by_user: dict[str, list[dt.datetime]] = {}
    for uid, at in recent:
        recent_by_user.setdefault(uid, []).append(at)

    rules_by_user: dict[str, list[AlertRule]] = {}
    for rule in rules:
        rules_by_user.setdefault(rule.user_id, []).append(rule)
    for user_id, user_rules in sorted(rules_by_user.items()):  # one order: no lock cycles
        ranked = new_matches(
            user_rules, [c for c in candidates if (user_id, c.outcome_id) not in sent_before]
        )
        if not ranked:
            continue
        recipient = recipients[user_id]
        midnight = _local_midnight(now, recipient.time_zone)
        sent_today = sum(1 for at in recent_by_user.get(user_id, []) if at >= midnight)
        room = max(settings.alerts_daily_cap - sent_today, 0)
        chosen, held = ranked[:room], len(ranked[room:])
        counts["held_by_cap"] += held
        if not chosen:
            continue
        won = await _claim(
            session,
            [
                {
                    "user_id": user_id,
                    "outcome_id": oid,
                    "rule_id": rule.id,
                    "slate_date": by_id[oid].slate_date,
                    "algorithm": rule.algorithm,
                    "value_score": score,
                    "odds_decimal": by_id[oid].odds_decimal,
                    "line": by_id[oid].line,
                    "created_at": now,
                }
                for oid, (score, rule) in chosen
            ],
        )
        sent = [(oid, score, rule) for oid, (score, rule) in chosen if oid in won]
        if not sent:  # another run claimed them first
            continue
        message = await outbox.queue_email(
            session,
            settings,
            to=recipient.email,
            template=ALERT_MAIL,
            context=_email_context(settings, recipient, slate_date, sent, by_id, held),
        )
        await session.execute(
            update(AlertDelivery)
            .where(AlertDelivery.user_id == user_id, AlertDelivery.outcome_id.in_(sorted(won)))
            .values(email_id=message.id)
        )
        counts["emails"] += 1
        counts["alerts"] += len(sent)
    log.info("alerts for slate %s: %s", slate_date, counts)
    return counts


def _email_context(
    settings: Settings,
    recipient: accounts_service.AlertRecipient,
    slate_date: dt.date,
    sent: list[tuple[str, float, AlertRule]],
    by_id: dict[str, Candidate],
    held: int,
) -> dict[str, Any]:
    base = settings.app_base_url.rstrip("/")
    matches = []
    for oid, score, rule in sent:
        c = by_id[oid]
        matches.append(
            {
                "pick": _pick(c),
                "matchup": f"{c.away_team} at {c.home_team}",
                "market_type": c.market_type,
                "odds": f"{c.odds_decimal:.2f}",
                "value_score": f"{score:.1f}",
                "algorithm": rule.algorithm.upper(),
                "rule_name": rule.name,
                "link": f"{base}/bet/{quote(oid)}",
            }
        )
    return {
        "display_name": recipient.display_name,
        "slate_date": slate_date.isoformat(),
        "matches": matches,
        "held_back": held,
        "daily_cap": settings.alerts_daily_cap,
        "alerts_link": f"{base}/alerts",
        "unsubscribe_link": unsubscribe_link(settings, recipient.id),
    }


def register_alert_jobs(jobs: Jobs, settings: Settings) -> None:
    """`betting.send_alerts`: enqueue it after a scoring run commits (slate date as ISO text, or
    several, `slate_dates`, run one after the other; the live loop asks for games not yet
    started only)."""

    @jobs.task("betting.send_alerts")
    async def send_alerts(
        session: AsyncSession,
        slate_date: str | None = None,
        upcoming_only: bool = False,
        slate_dates: list[str] | None = None,
    ) -> dict[str, Any]:
        if session.get_bind().dialect.name == "sqlite":
            # take the write lock before reading: a run that read first would fail its claim
            # (busy snapshot) if another writer committed meanwhile, and its alerts be lost
            await session.execute(text("UPDATE alert_deliveries SET id = id WHERE 1 = 0"))
        if slate_dates:
            runs = [
                await send_alerts_after_scoring(
                    session, settings, dt.date.fromisoformat(d), upcoming_only=upcoming_only
                )
                for d in slate_dates
            ]
            return {"slates": runs}
        day = dt.date.fromisoformat(slate_date) if slate_date else None
        return await send_alerts_after_scoring(session, settings, day, upcoming_only=upcoming_only)
