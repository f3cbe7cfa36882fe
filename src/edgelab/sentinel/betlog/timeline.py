"""A player's activity: their bets and account transactions merged into one list, newest first,
read a page at a time.

Paging is a keyset on `(at, kind, id)` descending, so a page never skips or repeats a row even
when rows are added meanwhile or share a timestamp: `at` is when the bet was placed or the
transaction occurred; at the same instant a bet sorts before a transaction (newest first: the
deposit that paid for a bet came first), and within a kind the higher row id first. The
cursor is the last item's `(at, id)`, with ids `bet_<n>` / `tx_<n>` naming the kind.

Each table is read with its own index (`player_pk`, time) for at most `limit + 1` rows past the
cursor, and the two short lists are merged here: no UNION over differently shaped tables.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.sql.elements import ColumnElement

from edgelab.sentinel.models import SentinelBet, SentinelPlayer, SentinelTransaction

# rank of each kind in the ordering (higher sorts first at the same instant)
_RANK = {"bet": 1, "tx": 0}


@dataclass(frozen=True)
class Cursor:
    """Where a page ended: read on from rows strictly older in `(at, kind, id)` order. With
    `kind` None it is a bare time: every row strictly before `at`."""

    at: dt.datetime
    kind: str | None = None  # "bet" | "tx"
    row_id: int = 0

    @property
    def activity_id(self) -> str | None:
        return f"{self.kind}_{self.row_id}" if self.kind is not None else None


def parse_cursor(before: dt.datetime, before_id: str | None) -> Cursor:
    """`before_id` is `bet_<n>` or `tx_<n>` (the API validates the pattern)."""
    if before_id is None:
        return Cursor(before)
    kind, _, number = before_id.partition("_")
    return Cursor(before, kind, int(number))


@dataclass(frozen=True)
class Entry:
    kind: str  # "bet" | "tx"
    at: dt.datetime
    row: SentinelBet | SentinelTransaction

    @property
    def key(self) -> tuple[dt.datetime, int, int]:
        return (self.at, _RANK[self.kind], self.row.id)

    @property
    def cursor(self) -> Cursor:
        return Cursor(self.at, self.kind, self.row.id)


@dataclass(frozen=True)
class ActivityPage:
    entries: list[Entry]
    next_cursor: Cursor | None  # None: this is the last page


def _older_than(
    cursor: Cursor | None,
    kind: str,
    at: InstrumentedAttribute[dt.datetime],
    row_id: InstrumentedAttribute[int],
) -> ColumnElement[bool] | None:
    """The rows of one kind that come after `cursor` in newest-first order."""
    if cursor is None:
        return None
    if cursor.kind is None:
        return at < cursor.at
    if _RANK[kind] < _RANK[cursor.kind]:  # this kind sorts after the cursor's at that instant
        return at <= cursor.at
    if _RANK[kind] > _RANK[cursor.kind]:  # ... or before it: already shown
        return at < cursor.at
    return or_(at < cursor.at, and_(at == cursor.at, row_id < cursor.row_id))


async def player_activity(
    session: AsyncSession, player: SentinelPlayer, *, limit: int, before: Cursor | None
) -> ActivityPage:
    """Up to `limit` of the player's bets and transactions older than `before` (all when None),
    newest first, and the cursor of the next page."""
    bet_where = [SentinelBet.player_pk == player.pk]
    tx_where = [SentinelTransaction.player_pk == player.pk]
    bet_after = _older_than(before, "bet", SentinelBet.placed_at, SentinelBet.id)
    tx_after = _older_than(before, "tx", SentinelTransaction.occurred_at, SentinelTransaction.id)
    if bet_after is not None:
        bet_where.append(bet_after)
    if tx_after is not None:
        tx_where.append(tx_after)
    bets = (
        await session.execute(
            select(SentinelBet)
            .where(*bet_where)
            .order_by(SentinelBet.placed_at.desc(), SentinelBet.id.desc())
            .limit(limit + 1)
        )
    ).scalars()
    transactions = (
        await session.execute(
            select(SentinelTransaction)
            .where(*tx_where)
            .order_by(SentinelTransaction.occurred_at.desc(), SentinelTransaction.id.desc())
            .limit(limit + 1)
        )
    ).scalars()
    merged = [Entry("bet", b.placed_at, b) for b in bets]
    merged += [Entry("tx", t.occurred_at, t) for t in transactions]
    merged.sort(key=lambda e: e.key, reverse=True)
    page = merged[:limit]
    more = len(merged) > limit
    return ActivityPage(page, page[-1].cursor if more else None)
