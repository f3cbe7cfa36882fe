"""Sentinel use cases: players (created on first sight, time zone, self-assessment), their
scores and score history, the ranked list, and the seed's analyze-player assessment.

Services flush, never commit: the request or the job commits.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, bindparam, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from edgelab.core.clock import utcnow
from edgelab.core.error_codes import PLAYER_NOT_FOUND
from edgelab.core.errors import NotFoundError
from edgelab.core.settings import Settings
from edgelab.sentinel.models import SentinelPlayer, SentinelScore
from edgelab.sentinel.schemas import PLAYER_NOT_SCORED
from edgelab.sentinel.scoring import COMPONENT_WEIGHTS

IN_CHUNK = 900  # ids per IN (...) list: under SQLite's and asyncpg's parameter limits
ACTIONS = {
    # SENTINEL §5: act early and in proportion to the strength of the indicators (UKGC)
    "LOW": ("none", "No action: the player keeps the usual self-service tools and statistics."),
    "MEDIUM": (
        "nudge",
        "Send personalised feedback on time and money spent (mentor-style feedback, loss-limit "
        "reminders reduced spending in published trials).",
    ),
    "HIGH": (
        "watchlist",
        "Put the player on the analysts' watchlist for review; stop marketing and bonuses, "
        "prompt to set deposit limits and offer a cool-off.",
    ),
    "CRITICAL": (
        "timeout",
        "Contact by the RG team now: offer or enforce a time-out, run a financial vulnerability "
        "check and refer to treatment or a helpline.",
    ),
}


API_NAMES = {"behavioural": "gamalyze"}  # the seed's name for the behavioural component


def api_name(component: str) -> str:
    return API_NAMES.get(component, component)


def effective_weights(absent: Iterable[str]) -> dict[str, float]:
    """Component weights re-normalised over the components present (seed names)."""
    gone = set(absent)
    present = {c: w for c, w in COMPONENT_WEIGHTS.items() if c not in gone}
    total = sum(present.values())
    return {api_name(c): round(w / total, 4) for c, w in present.items()} if total else {}


def dialect_insert(session: AsyncSession) -> Any:
    """`insert` with ON CONFLICT support for the session's backend."""
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


def chunks(items: list[Any], size: int = IN_CHUNK) -> Iterable[list[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


async def player_pks(session: AsyncSession, player_ids: Iterable[str]) -> dict[str, int]:
    ids = sorted(set(player_ids))
    out: dict[str, int] = {}
    for part in chunks(ids):
        rows = await session.execute(
            select(SentinelPlayer.player_id, SentinelPlayer.pk).where(
                SentinelPlayer.player_id.in_(part)
            )
        )
        out.update({pid: pk for pid, pk in rows})
    return out


async def ensure_players(
    session: AsyncSession, player_ids: Iterable[str], source: str
) -> tuple[dict[str, int], int]:
    """Every id's surrogate key, creating the players not seen before; (keys, created)."""
    ids = sorted(set(player_ids))
    known = await player_pks(session, ids)
    missing = [pid for pid in ids if pid not in known]
    created = 0
    if missing:
        insert = dialect_insert(session)
        at = utcnow()
        for part in chunks(missing):
            stmt = (
                insert(SentinelPlayer)
                .values(
                    [
                        {
                            "player_id": pid,
                            "source": source,
                            "created_at": at,
                            "activity_version": 0,
                        }
                        for pid in part
                    ]
                )
                .on_conflict_do_nothing(index_elements=["player_id"])
                .returning(SentinelPlayer.player_id)
            )
            created += len((await session.execute(stmt)).all())
        known.update(await player_pks(session, missing))
    return known, created


async def bump_activity(session: AsyncSession, pks: Iterable[int]) -> None:
    """Mark players as having new activity: the next scoring run rescores them."""
    at = utcnow()
    for part in chunks(sorted(set(pks))):
        await session.execute(
            update(SentinelPlayer)
            .where(SentinelPlayer.pk.in_(part))
            .values(activity_version=SentinelPlayer.activity_version + 1, last_activity_at=at)
            .execution_options(synchronize_session=False)
        )


async def mark_for_rescore(session: AsyncSession, pks: Iterable[int]) -> None:
    """Make players due for the next incremental run without new log activity (a time-out set
    or cancelled): their version moves, `last_activity_at` (the last ingest) does not."""
    for part in chunks(sorted(set(pks))):
        await session.execute(
            update(SentinelPlayer)
            .where(SentinelPlayer.pk.in_(part))
            .values(activity_version=SentinelPlayer.activity_version + 1)
            .execution_options(synchronize_session=False)
        )


async def get_player(session: AsyncSession, player_id: str) -> SentinelPlayer:
    player = (
        await session.execute(select(SentinelPlayer).where(SentinelPlayer.player_id == player_id))
    ).scalar_one_or_none()
    if player is None:
        raise NotFoundError(f"No Sentinel player with id '{player_id}'.", code=PLAYER_NOT_FOUND)
    return player


async def update_player(
    session: AsyncSession, player_id: str, changes: dict[str, Any]
) -> SentinelPlayer:
    """Set a player's time zone and/or self-assessment (creating the player if new); a change
    makes the player due for rescoring."""
    pks, _ = await ensure_players(session, [player_id], "operator")
    player = await session.get(SentinelPlayer, pks[player_id], populate_existing=True)
    assert player is not None
    changed = False
    for field in ("time_zone", "gamalyze_score"):
        if field in changes and getattr(player, field) != changes[field]:
            setattr(player, field, changes[field])
            changed = True
    if changed:
        player.activity_version += 1
    await session.flush()
    return player


async def set_profiles(
    session: AsyncSession, profiles: Mapping[str, tuple[str | None, float | None]], source: str
) -> int:
    """Set many players' (time zone, self-assessment) at once, creating them if new; a player
    whose values change is made due for rescoring. For loaders (the simulator); returns how
    many players were created."""
    pks, created = await ensure_players(session, profiles, source)
    table = cast(Table, SentinelPlayer.__table__)
    stmt = (
        table.update()
        .where(
            table.c.pk == bindparam("b_pk"),
            table.c.time_zone.is_distinct_from(bindparam("b_tz"))
            | table.c.gamalyze_score.is_distinct_from(bindparam("b_g")),
        )
        .values(
            time_zone=bindparam("b_tz"),
            gamalyze_score=bindparam("b_g"),
            activity_version=table.c.activity_version + 1,
        )
    )
    params = [{"b_pk": pks[pid], "b_tz": tz, "b_g": g} for pid, (tz, g) in profiles.items()]
    if params:
        await session.execute(stmt, params)
    return created


def effective_zone(player: SentinelPlayer, settings: Settings) -> str:
    return player.time_zone or settings.sentinel_default_tz


async def latest_scores(session: AsyncSession, pks: list[int]) -> dict[int, SentinelScore]:
    """The newest score row of each player (by id: rows are written in scoring order)."""
    out: dict[int, SentinelScore] = {}
    for part in chunks(pks):
        newest = (
            select(func.max(SentinelScore.id))
            .where(SentinelScore.player_pk.in_(part))
            .group_by(SentinelScore.player_pk)
        )
        rows = await session.execute(select(SentinelScore).where(SentinelScore.id.in_(newest)))
        out.update({s.player_pk: s for s in rows.scalars()})
    return out


async def list_players(
    session: AsyncSession,
    *,
    category: str | None,
    limit: int,
    offset: int,
    watchlist: bool = False,
) -> tuple[list[tuple[SentinelPlayer, SentinelScore | None]], int]:
    """Scored players, highest composite first (ties by player id); with `watchlist`, the
    players on the analysts' watchlist, scored or not (unscored last)."""
    where: list[ColumnElement[bool]] = []
    if watchlist:
        from edgelab.sentinel.interventions.service import watchlisted_player_pks

        where.append(SentinelPlayer.pk.in_(watchlisted_player_pks()))
    else:
        where.append(SentinelPlayer.composite.is_not(None))
    if category is not None:
        where.append(SentinelPlayer.risk_category == category)
    total = (
        await session.execute(select(func.count()).select_from(SentinelPlayer).where(*where))
    ).scalar_one()
    players = list(
        (
            await session.execute(
                select(SentinelPlayer)
                .where(*where)
                .order_by(SentinelPlayer.composite.desc().nulls_last(), SentinelPlayer.player_id)
                .limit(limit)
                .offset(offset)
            )
        ).scalars()
    )
    scores = await latest_scores(session, [p.pk for p in players])
    return [(p, scores.get(p.pk)) for p in players], int(total)


async def score_history(
    session: AsyncSession, player: SentinelPlayer, *, days: int
) -> list[SentinelScore]:
    since = utcnow() - dt.timedelta(days=days)
    rows = await session.execute(
        select(SentinelScore)
        .where(SentinelScore.player_pk == player.pk, SentinelScore.scored_at >= since)
        .order_by(SentinelScore.scored_at, SentinelScore.id)
    )
    return list(rows.scalars())


@dataclass(frozen=True)
class Assessment:
    player: SentinelPlayer
    score: SentinelScore
    history: list[SentinelScore] | None


async def assess_player(
    session: AsyncSession, settings: Settings, player_id: str, *, include_history: bool
) -> Assessment:
    """The player's current score, rescoring first when they have activity not yet scored."""
    from edgelab.sentinel.rescore import run_rescore

    player = await get_player(session, player_id)
    if player.scored_version != player.activity_version or player.composite is None:
        await run_rescore(session, settings, mode="players", trigger="analyze", pks=[player.pk])
        await session.refresh(player)
    score = (await latest_scores(session, [player.pk])).get(player.pk)
    if score is None:
        raise NotFoundError(
            f"Player '{player_id}' has no bets or transactions to score yet.",
            code=PLAYER_NOT_SCORED,
        )
    history = await score_history(session, player, days=90) if include_history else None
    return Assessment(player, score, history)
