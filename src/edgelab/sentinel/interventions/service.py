"""Interventions: analysts' decisions about players, and their enforcement for our own users.

Two kinds of player (SENTINEL §5, interventions in proportion to the risk):
- an operator's player: the decision is recorded and published (`GET /api/interventions`,
  pollable with `updated_since`); the operator enforces it, we enforce nothing;
- one of our own users (a Sentinel player linked to an account, see `tracker.py`): enforced
  here through `accounts.service`:
  - timeout: the account is restricted until the timeout ends (`users.restricted_until`):
    paid feeds (`/markets`, `/bet/...`, evaluation), `/alerts...`, alert e-mails and recording
    bets answer 403 `account_restricted` with the end time. Nothing runs when it ends: the
    check compares with the clock. Overlapping timeouts: the latest end wins; cancelling one
    falls back to the latest end of the others still running (or lifts the restriction);
  - nudge: a check-in e-mail through the outbox (`nudge` template), written from the player's
    strongest risk features: by Claude with `EDGELAB_ANTHROPIC_API_KEY`, the template nudge of
    `explain.py` otherwise or whenever Claude fails or names a diagnosis (as analyze-player's
    nudge; `effects.written_by` says which). The message is written by `draft_nudge` in a
    read-only session before the intervention's unit of work begins, so no write transaction
    (SQLite's one write lock) waits on Claude;
  - watchlist: the player shows in `GET /sentinel/players?watchlist=true` until cancelled;
  - referral: the hand-off is recorded (reason, `note` saying to whom); it stays active until
    cancelled.

`status` is stored as active or cancelled; `expired` is derived for timeouts past `ends_at`.
Creating or cancelling a timeout marks the player for rescoring (`activity_version`): prior
time-outs are a behavioural input of the score (`betlog.arrays.load_behaviour`).

Every creation and cancellation writes an audit event (`accounts.service.audit`). Services
flush, never commit.
"""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.sql.elements import ColumnElement

from edgelab.accounts import service as accounts
from edgelab.accounts.models import User
from edgelab.core.auth import Principal
from edgelab.core.clock import utcnow
from edgelab.core.email import outbox
from edgelab.core.errors import ConflictError, NotFoundError
from edgelab.core.settings import Settings
from edgelab.sentinel import explain
from edgelab.sentinel.anthropic_client import ClaudeExplainer, Explanation, written_nudge
from edgelab.sentinel.interventions.schemas import InterventionCreate, ListFilters
from edgelab.sentinel.models import SentinelIntervention, SentinelPlayer
from edgelab.sentinel.schemas import (
    INTERVENTION_CANCELLED,
    INTERVENTION_EXPIRED,
    INTERVENTION_NOT_FOUND,
)
from edgelab.sentinel.service import get_player, latest_scores, mark_for_rescore

# the 409 for cancelling an intervention that is no longer active, by its status
_NOT_CANCELLABLE = {
    "cancelled": INTERVENTION_CANCELLED,
    "expired": INTERVENTION_EXPIRED,
}
NUDGE_MAIL = outbox.EmailTemplate("edgelab.sentinel", "nudge", "A moment to check in, from edgelab")


def status_of(row: SentinelIntervention, at: dt.datetime | None = None) -> str:
    if row.status == "cancelled":
        return "cancelled"
    if row.ends_at is not None and row.ends_at <= (at or utcnow()):
        return "expired"
    return "active"


def _status_clause(status: str, at: dt.datetime) -> ColumnElement[bool]:
    live = SentinelIntervention.status == "active"
    if status == "cancelled":
        return SentinelIntervention.status == "cancelled"
    if status == "expired":
        return and_(live, SentinelIntervention.ends_at <= at)
    return and_(
        live, or_(SentinelIntervention.ends_at.is_(None), SentinelIntervention.ends_at > at)
    )


def _running_timeouts(user_id: str, at: dt.datetime) -> ColumnElement[bool]:
    return and_(
        SentinelIntervention.user_id == user_id,
        SentinelIntervention.intervention_type == "timeout",
        _status_clause("active", at),
    )


async def _restriction_end(
    session: AsyncSession, user_id: str, at: dt.datetime
) -> dt.datetime | None:
    """The latest end among the user's running timeouts (None: no restriction)."""
    end = (
        await session.execute(
            select(func.max(SentinelIntervention.ends_at)).where(_running_timeouts(user_id, at))
        )
    ).scalar_one_or_none()
    if end is not None and end.tzinfo is None:  # pragma: no cover - UTCDateTime returns aware
        end = end.replace(tzinfo=dt.UTC)
    return end


async def _nudge_message(session: AsyncSession, player_pk: int) -> str:
    score = (await latest_scores(session, [player_pk])).get(player_pk)
    return explain.nudge(top_features=list(score.top_features or []) if score else [])


async def draft_nudge(
    sessions: async_sessionmaker[AsyncSession],
    explainer: ClaudeExplainer | None,
    body: InterventionCreate,
) -> Explanation | None:
    """The e-mail of a nudge to one of our own users, written (by Claude when it can) before
    the intervention is recorded: in a read-only session of its own, closed before Claude is
    asked. None when nothing will be e-mailed (another type, an unknown or operator's player)."""
    if body.intervention_type != "nudge":
        return None
    async with sessions() as read:
        player = (
            await read.execute(
                select(SentinelPlayer).where(SentinelPlayer.player_id == body.player_id)
            )
        ).scalar_one_or_none()
        if player is None or player.user_id is None:
            return None
        score = (await latest_scores(read, [player.pk])).get(player.pk)
    top = list(score.top_features or []) if score else []
    return await written_nudge(
        explainer,
        explain.nudge_facts(top_features=top),
        explain.nudge(top_features=top),
        player_id=player.player_id,
    )


async def create_intervention(
    session: AsyncSession,
    settings: Settings,
    principal: Principal,
    body: InterventionCreate,
    *,
    nudge: Explanation | None = None,
) -> SentinelIntervention:
    """Record the decision and, for our own users, enforce it. `nudge` is the message a nudge
    e-mails (`draft_nudge`); without one the template writes it here."""
    player = await get_player(session, body.player_id)
    at = utcnow()
    row = SentinelIntervention(
        id=f"int_{secrets.token_hex(12)}",
        player_pk=player.pk,
        player_id=player.player_id,
        user_id=player.user_id,
        intervention_type=body.intervention_type,
        analyst_id=body.analyst_id or principal.id,
        created_by=principal.id,
        reason=body.reason,
        note=body.note,
        duration_hours=body.duration_hours,
        status="active",
        created_at=at,
        updated_at=at,
        ends_at=(
            at + dt.timedelta(hours=body.duration_hours)
            if body.intervention_type == "timeout" and body.duration_hours is not None
            else None
        ),
        effects={},
    )
    session.add(row)
    if body.intervention_type == "timeout":
        await mark_for_rescore(session, [player.pk])
    await session.flush()
    effects: dict[str, Any] = {}
    if player.user_id is not None:
        effects = await _enforce(session, settings, principal, row, player.user_id, at, nudge)
    row.effects = effects
    await accounts.audit(
        session,
        "intervention_created",
        user_id=principal.id,
        intervention_id=row.id,
        player_id=row.player_id,
        intervention_type=row.intervention_type,
        analyst_id=row.analyst_id,
        duration_hours=row.duration_hours,
        enforced=player.user_id is not None,
        effects=effects,
    )
    await session.flush()
    return row


async def _enforce(
    session: AsyncSession,
    settings: Settings,
    principal: Principal,
    row: SentinelIntervention,
    user_id: str,
    at: dt.datetime,
    nudge: Explanation | None,
) -> dict[str, Any]:
    if row.intervention_type == "timeout":
        until = await _restriction_end(session, user_id, at)
        done = await accounts.restrict_user(
            session, user_id, until, by=principal.id, intervention_id=row.id
        )
        return {"restricted_until": until.isoformat() if done and until else None}
    if row.intervention_type == "nudge":
        if nudge is None:
            nudge = Explanation(await _nudge_message(session, row.player_pk), "template")
        email_id = await send_nudge(session, settings, user_id, nudge.text)
        return {
            "email_id": email_id,
            "email": "queued" if email_id else "unreachable",
            "written_by": nudge.source,
        }
    return {}


async def send_nudge(
    session: AsyncSession, settings: Settings, user_id: str, message: str
) -> int | None:
    """E-mail a responsible-gambling check-in (`nudge` template) through the outbox; the
    outbox id, or None when the user cannot be reached (deleted, no address)."""
    user = await session.get(User, user_id)
    if user is None or user.deleted_at is not None or user.email is None:
        return None
    sent = await outbox.queue_email(
        session,
        settings,
        to=user.email,
        template=NUDGE_MAIL,
        context={
            "display_name": user.display_name,
            "message": message,
            "limits_link": f"{settings.app_base_url.rstrip('/')}/me",
        },
    )
    await accounts.audit(session, "nudge_sent", user_id=user.id, email_id=sent.id)
    return sent.id


async def get_intervention(session: AsyncSession, intervention_id: str) -> SentinelIntervention:
    row = await session.get(SentinelIntervention, intervention_id)
    if row is None:
        raise NotFoundError(
            f"No intervention with id '{intervention_id}'.", code=INTERVENTION_NOT_FOUND
        )
    return row


async def cancel_intervention(
    session: AsyncSession, principal: Principal, intervention_id: str, reason: str | None
) -> SentinelIntervention:
    """Cancel an active intervention; a cancelled or expired one is 409 (nothing to undo)."""
    row = await get_intervention(session, intervention_id)
    at = utcnow()
    current = status_of(row, at)
    if current != "active":
        raise ConflictError(
            f"Intervention '{intervention_id}' is {current}: only an active one can be cancelled.",
            code=_NOT_CANCELLABLE[current],
        )
    row.status = "cancelled"
    row.cancelled_at = at
    row.cancelled_by = principal.id
    row.cancel_reason = reason
    row.updated_at = at
    if row.intervention_type == "timeout":  # a cancelled time-out no longer counts
        await mark_for_rescore(session, [row.player_pk])
    await session.flush()
    effects = dict(row.effects or {})
    if row.intervention_type == "timeout" and row.user_id is not None:
        until = await _restriction_end(session, row.user_id, at)
        await accounts.restrict_user(
            session, row.user_id, until, by=principal.id, intervention_id=row.id
        )
        effects["restricted_until_after_cancel"] = until.isoformat() if until else None
        row.effects = effects
    await accounts.audit(
        session,
        "intervention_cancelled",
        user_id=principal.id,
        intervention_id=row.id,
        player_id=row.player_id,
        intervention_type=row.intervention_type,
        reason=reason,
    )
    await session.flush()
    return row


async def list_interventions(
    session: AsyncSession, filters: ListFilters, *, limit: int, offset: int
) -> tuple[list[SentinelIntervention], int]:
    """Most recently changed first (ties by id), so a poller with `updated_since` sees every
    change once it pages to the end."""
    at = utcnow()
    where: list[ColumnElement[bool]] = []
    if filters.player_id is not None:
        where.append(SentinelIntervention.player_id == filters.player_id)
    if filters.intervention_type is not None:
        where.append(SentinelIntervention.intervention_type == filters.intervention_type)
    if filters.status is not None:
        where.append(_status_clause(filters.status, at))
    if filters.active is not None:
        running = _status_clause("active", at)
        where.append(running if filters.active else ~running)
    if filters.updated_since is not None:
        where.append(SentinelIntervention.updated_at > filters.updated_since)
    total = (
        await session.execute(select(func.count()).select_from(SentinelIntervention).where(*where))
    ).scalar_one()
    rows = await session.execute(
        select(SentinelIntervention)
        .where(*where)
        .order_by(SentinelIntervention.updated_at.desc(), SentinelIntervention.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return list(rows.scalars()), int(total)


def watchlisted_player_pks(at: dt.datetime | None = None) -> Any:
    """A subquery of the players with an active watchlist entry (for the ranked list)."""
    return select(SentinelIntervention.player_pk).where(
        SentinelIntervention.intervention_type == "watchlist",
        _status_clause("active", at or utcnow()),
    )
