"""Alerts (paid): a user's rules over value scores, what was sent to them, and unsubscribing.

The job that matches rules after a scoring run and e-mails the matches is `sending`.

The unsubscribe link carries an HMAC of the user id (no expiry; rotating EDGELAB_JWT_SECRET
voids old links), so it works without signing in.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from edgelab.accounts import service as accounts_service
from edgelab.accounts.tokens import new_id
from edgelab.betting import errors
from edgelab.betting.alerts.models import AlertDelivery, AlertRule
from edgelab.betting.odds.models import Game, Market, Outcome
from edgelab.core.auth import ForbiddenError
from edgelab.core.clock import utcnow
from edgelab.core.errors import ConflictError, NotFoundError
from edgelab.core.settings import Settings

MAX_RULES_PER_USER = 20
UNSUBSCRIBE_PURPOSE = b"edgelab/alerts/unsubscribe/v1"
RULE_FIELDS = frozenset({"name", "min_value_score", "algorithm", "market_types", "teams", "active"})


# --- rules ----------------------------------------------------------------------------------


async def create_rule(session: AsyncSession, user_id: str, fields: dict[str, Any]) -> AlertRule:
    await accounts_service.lock_user(session, user_id)  # concurrent creates: one at a time
    count = (
        await session.execute(
            select(func.count()).select_from(AlertRule).where(AlertRule.user_id == user_id)
        )
    ).scalar_one()
    if count >= MAX_RULES_PER_USER:
        raise ConflictError(
            f"You have {MAX_RULES_PER_USER} alert rules, the most allowed: delete one first.",
            code=errors.ALERT_RULE_LIMIT_REACHED,
            details={"max_rules": MAX_RULES_PER_USER},
        )
    rule = AlertRule(id=new_id("alr"), user_id=user_id, **_rule_fields(fields))
    session.add(rule)
    await session.flush()
    return rule


async def list_rules(session: AsyncSession, user_id: str) -> list[AlertRule]:
    rows = await session.execute(
        select(AlertRule)
        .where(AlertRule.user_id == user_id)
        .order_by(AlertRule.created_at, AlertRule.id)
    )
    return list(rows.scalars())


async def get_rule(session: AsyncSession, user_id: str, rule_id: str) -> AlertRule:
    """Another user's rule is not found, never forbidden: its existence is not disclosed."""
    rule = await session.get(AlertRule, rule_id)
    if rule is None or rule.user_id != user_id:
        raise NotFoundError(f"No alert rule with id '{rule_id}'.", code=errors.ALERT_RULE_NOT_FOUND)
    return rule


async def update_rule(
    session: AsyncSession, user_id: str, rule_id: str, changes: dict[str, Any]
) -> AlertRule:
    rule = await get_rule(session, user_id, rule_id)
    for name, value in _rule_fields(changes).items():
        setattr(rule, name, value)
    rule.updated_at = utcnow()
    await session.flush()
    return rule


async def delete_rule(session: AsyncSession, user_id: str, rule_id: str) -> None:
    """Deliveries it made stay (their `rule_id` becomes null): those markets stay sent."""
    await session.delete(await get_rule(session, user_id, rule_id))
    await session.flush()


async def delete_user_alert_data(session: AsyncSession, user_id: str) -> None:
    """Account deletion: the user's rules and the record of what was sent to them."""
    await session.execute(delete(AlertDelivery).where(AlertDelivery.user_id == user_id))
    await session.execute(delete(AlertRule).where(AlertRule.user_id == user_id))


def _rule_fields(fields: dict[str, Any]) -> dict[str, Any]:
    unknown = set(fields) - RULE_FIELDS
    if unknown:  # the schemas forbid extras; this guards other callers
        raise ValueError(f"unknown alert rule fields: {sorted(unknown)}")
    return {k: list(v) if isinstance(v, list | tuple) else v for k, v in fields.items()}


# --- delivered alerts -----------------------------------------------------------------------


@dataclass(frozen=True)
class SentAlert:
    delivery: AlertDelivery
    rule_name: str | None
    outcome: Outcome
    market: Market
    game: Game


async def list_sent(
    session: AsyncSession, user_id: str, *, limit: int, offset: int
) -> tuple[list[SentAlert], int]:
    """The user's delivered alerts, newest first (ties by id, newest first)."""
    total = (
        await session.execute(
            select(func.count()).select_from(AlertDelivery).where(AlertDelivery.user_id == user_id)
        )
    ).scalar_one()
    rows = await session.execute(
        select(AlertDelivery, AlertRule.name, Outcome, Market, Game)
        .join(Outcome, Outcome.id == AlertDelivery.outcome_id)
        .join(Market, Market.id == Outcome.market_id)
        .join(Game, Game.id == Market.game_id)
        .outerjoin(AlertRule, AlertRule.id == AlertDelivery.rule_id)
        .where(AlertDelivery.user_id == user_id)
        .order_by(AlertDelivery.created_at.desc(), AlertDelivery.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return [SentAlert(*row) for row in rows.all()], int(total)


# --- unsubscribe ----------------------------------------------------------------------------


def _unsubscribe_mac(settings: Settings, user_id: str) -> str:
    key = hmac.new(
        settings.jwt_secret.get_secret_value().encode(), UNSUBSCRIBE_PURPOSE, hashlib.sha256
    ).digest()  # a key of its own: a MAC made here is useless anywhere else
    mac = hmac.new(key, user_id.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def unsubscribe_token(settings: Settings, user_id: str) -> str:
    return f"{user_id}.{_unsubscribe_mac(settings, user_id)}"


def unsubscribe_link(settings: Settings, user_id: str) -> str:
    base = settings.app_base_url.rstrip("/")
    return f"{base}/alerts/unsubscribe?token={quote(unsubscribe_token(settings, user_id))}"


def user_of_unsubscribe_token(settings: Settings, token: str) -> str:
    user_id, dot, mac = token.rpartition(".")
    expected = _unsubscribe_mac(settings, user_id) if dot and user_id else ""
    if not expected or not hmac.compare_digest(expected.encode(), mac.encode("utf-8", "replace")):
        raise ForbiddenError(  # 403: the link does not speak for any user
            "This unsubscribe link is not valid: use the link from the e-mail as it is.",
            code=errors.INVALID_UNSUBSCRIBE_TOKEN,
        )
    return user_id


async def unsubscribe(session: AsyncSession, settings: Settings, token: str) -> None:
    """Alert e-mails off for the token's user; a user deleted since is already off."""
    user_id = user_of_unsubscribe_token(settings, token)
    await accounts_service.unsubscribe_from_alert_emails(session, user_id)
