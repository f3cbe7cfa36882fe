"""Our own users as Sentinel players: the bet tracker's bets flow into Sentinel's bet log.

Each user who records a bet (`POST /me/bets`) is a Sentinel player with a derived id,
`PLR_<6 digits>_EL`: the digits are the first 8 bytes of SHA-256 of the account id, modulo
1,000,000, zero-padded (so the id matches the seed's `^PLR_\\d{4,6}_[A-Z]{2}$` and
analyze-player works for it; `EL` marks edgelab's own players). Should that number be taken
(another account, or an operator's player with the same id), the next free number is used. The
id is stored with the account link (`sentinel_players.user_id`) on first sight and never
recomputed, so it is stable. The account id itself is not in the player id (a one-way hash).

Tracked bets are stored with `source = "tracker"` and the tracker's bet id as `external_id`
(bet ids are unique across users), through the same validation and idempotent write as every
other way in (`ingest.ingest_bets`). A tracked bet changes after it is recorded (settled from
the result): `sync_tracked_bets` updates the row and marks the player for rescoring, so the
hourly incremental run picks it up. A bet the user deletes (recorded by mistake) is removed
from Sentinel's log too, and the player rescored: a bet that was never placed is not behaviour.

The betting product calls these functions with plain values (`TrackedBet`), never its rows:
Sentinel does not read the tracker's tables.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from pydantic import ValidationError
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from edgelab.core.clock import utcnow
from edgelab.sentinel.betlog.ingest import ingest_bets, market_code
from edgelab.sentinel.models import SentinelBet, SentinelPlayer
from edgelab.sentinel.schemas import BetRow
from edgelab.sentinel.service import bump_activity, chunks, dialect_insert

log = logging.getLogger("edgelab.sentinel.betlog.tracker")

SOURCE = "tracker"
ID_SPACE = 1_000_000
MAX_PROBES = 1000
TRACKED_SPORT = "basketball"  # the tracker records bets on our NBA markets
STATUS_MAP = {"open": "open", "won": "won", "lost": "lost", "push": "void"}  # push: stake back


@dataclass(frozen=True)
class TrackedBet:
    """A tracker bet as Sentinel needs it. Money in minor units; payout includes the stake."""

    bet_id: str
    placed_at: dt.datetime
    settled_at: dt.datetime | None
    market_type: str
    stake_minor: int
    payout_minor: int | None
    currency: str
    odds_decimal: float
    status: str  # open | won | lost | push


def derived_player_id(user_id: str, probe: int = 0) -> str:
    """`PLR_<6 digits>_EL` from the account id (see the module docstring); `probe` > 0 gives
    the next numbers, used only when the first is taken."""
    number = int.from_bytes(hashlib.sha256(user_id.encode()).digest()[:8], "big")
    return f"PLR_{(number + probe) % ID_SPACE:06d}_EL"


async def player_for_user(session: AsyncSession, user_id: str) -> SentinelPlayer | None:
    return (
        await session.execute(select(SentinelPlayer).where(SentinelPlayer.user_id == user_id))
    ).scalar_one_or_none()


async def ensure_user_player(session: AsyncSession, user_id: str) -> SentinelPlayer:
    """The account's Sentinel player, created (with the account's time zone) on first sight.

    Safe under concurrency: the insert skips on any unique conflict, then either another
    request created this account's player (found by `user_id`) or the number is taken by
    someone else and the next one is tried.
    """
    player = await player_for_user(session, user_id)
    if player is not None:
        return player
    from edgelab.accounts.service import active_user

    time_zone = (await active_user(session, user_id)).time_zone
    insert = dialect_insert(session)
    for probe in range(MAX_PROBES):
        stmt = (
            insert(SentinelPlayer)
            .values(
                player_id=derived_player_id(user_id, probe),
                source=SOURCE,
                user_id=user_id,
                time_zone=time_zone,
                created_at=utcnow(),
                activity_version=0,
            )
            .on_conflict_do_nothing()
            .returning(SentinelPlayer.pk)
        )
        pk = (await session.execute(stmt)).scalar_one_or_none()
        if pk is not None:
            player = await session.get(SentinelPlayer, pk)
            assert player is not None
            return player
        player = await player_for_user(session, user_id)
        if player is not None:
            return player
    raise RuntimeError("no free Sentinel player number")  # pragma: no cover - 10^6 ids


def _row(player_id: str, bet: TrackedBet) -> BetRow | None:
    try:
        return BetRow.model_validate(
            {
                "external_id": bet.bet_id,
                "player_id": player_id,
                "placed_at": bet.placed_at,
                "settled_at": bet.settled_at if bet.status != "open" else None,
                "sport": TRACKED_SPORT,
                "market_type": bet.market_type,
                "is_live": False,  # the tracker does not ask; recorded bets count as pre-match
                "stake_minor": bet.stake_minor,
                "payout_minor": bet.payout_minor if bet.status != "open" else None,
                "currency": bet.currency,
                "odds_decimal": bet.odds_decimal,
                "status": STATUS_MAP.get(bet.status, bet.status),
            },
            strict=False,  # Python values from our own rows, not client JSON
        )
    except ValidationError as exc:  # never block the tracker: log and leave it out
        log.warning("tracked bet %s not copied to Sentinel: %s", bet.bet_id, exc.errors()[:3])
        return None


async def sync_tracked_bets(
    session: AsyncSession, user_id: str, tracked: Sequence[TrackedBet]
) -> int:
    """Copy a user's tracked bets into Sentinel's log (new ones inserted, changed ones
    updated); the player is marked for rescoring when anything changed. Returns rows written."""
    if not tracked:
        return 0
    player = await ensure_user_player(session, user_id)
    rows = [r for r in (_row(player.player_id, b) for b in tracked) if r is not None]
    existing: dict[str, SentinelBet] = {}
    for part in chunks([r.external_id for r in rows]):
        found = await session.execute(
            select(SentinelBet).where(
                SentinelBet.source == SOURCE, SentinelBet.external_id.in_(part)
            )
        )
        existing.update({b.external_id: b for b in found.scalars()})
    changed = 0
    for r in rows:
        stored = existing.get(r.external_id)
        if stored is None:
            continue
        new = {
            "status": r.status,
            "settled_at": r.settled_at,
            "payout_minor": r.payout_minor,
            "stake_minor": r.stake_minor,
            "odds_decimal": r.odds_decimal,
            "market_type": r.market_type,
            "market_code": market_code(r.sport, r.market_type),
            "placed_at": r.placed_at,
        }
        if any(getattr(stored, k) != v for k, v in new.items()):
            for k, v in new.items():
                setattr(stored, k, v)
            changed += 1
    if changed:
        await session.flush()
        await bump_activity(session, [player.pk])
    fresh = [r for r in rows if r.external_id not in existing]
    created = (await ingest_bets(session, fresh, source=SOURCE)).created if fresh else 0
    return changed + created


async def remove_tracked_bets(session: AsyncSession, user_id: str, bet_ids: Sequence[str]) -> int:
    """Remove deleted tracker bets from Sentinel's log; the player is rescored. Returns rows
    removed."""
    player = await player_for_user(session, user_id)
    if player is None:
        return 0
    removed = 0
    for part in chunks(list(bet_ids)):
        result = await session.execute(
            delete(SentinelBet).where(
                SentinelBet.source == SOURCE,
                SentinelBet.player_pk == player.pk,
                SentinelBet.external_id.in_(part),
            )
        )
        removed += int(getattr(result, "rowcount", 0) or 0)
    if removed:
        await bump_activity(session, [player.pk])
    return removed


async def remove_user_bets(session: AsyncSession, user_id: str) -> int:
    """Account deletion: every tracked bet of the user leaves Sentinel's log."""
    player = await player_for_user(session, user_id)
    if player is None:
        return 0
    result = await session.execute(
        delete(SentinelBet).where(SentinelBet.source == SOURCE, SentinelBet.player_pk == player.pk)
    )
    removed = int(getattr(result, "rowcount", 0) or 0)
    if removed:
        await bump_activity(session, [player.pk])
    return removed
