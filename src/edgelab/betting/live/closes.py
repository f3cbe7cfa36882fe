"""The closing line of live odds: when a game has started, each book's last pre-tip quote (both
sides, as one two-way quote) is kept as that book's `close` snapshot.

The Odds API stops listing a game at tip-off, so the last quote we saw of a book before
`commence_time` is its close. Copying it as `close` rows (source `closing-line`, captured at
tip-off: the moment it closed, after every pre-tip moment the scoring prices) is what
closing-line value (`bets.service`) and the scoring's close moment read. Idempotent: a book
whose close is kept is never written again, and the insert skips a row another run wrote
first.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import exists, insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from edgelab.betting.markets.quotes import PRE_TIP_KINDS, SnapshotRow, book_quotes
from edgelab.betting.odds.models import Game, Market, OddsSnapshot, Outcome

CLOSE_SOURCE = "closing-line"
# games that started this long ago and still have no close are caught up (a loop that was down)
LOOKBACK = dt.timedelta(days=3)


def _has_snapshot(*conditions: Any) -> Any:
    return exists().where(
        Market.game_id == Game.id,
        Outcome.market_id == Market.id,
        OddsSnapshot.outcome_id == Outcome.id,
        *conditions,
    )


async def games_to_freeze(session: AsyncSession, now: dt.datetime) -> dict[str, dt.datetime]:
    """Games (id -> tip-off) started within `LOOKBACK` with live quotes and no close kept yet."""
    rows = await session.execute(
        select(Game.id, Game.tip_time).where(
            Game.tip_time <= now,
            Game.tip_time > now - LOOKBACK,
            Game.tip_time_estimated.is_(False),  # a real tip-off: the live feed's game
            _has_snapshot(OddsSnapshot.kind == "live"),
            ~_has_snapshot(OddsSnapshot.kind == "close", OddsSnapshot.source == CLOSE_SOURCE),
        )
    )
    return {gid: tip for gid, tip in rows.all()}


async def freeze_closes(session: AsyncSession, tips: dict[str, dt.datetime]) -> int:
    """Keep each book's last pre-tip quote of every market of these games as its close;
    returns the rows written."""
    if not tips:
        return 0
    result = await session.execute(
        select(
            OddsSnapshot.id,
            Market.id,
            Market.market_type,
            Outcome.side,
            OddsSnapshot.bookmaker,
            OddsSnapshot.kind,
            OddsSnapshot.captured_at,
            OddsSnapshot.odds_decimal,
            OddsSnapshot.line,
            OddsSnapshot.outcome_id,
            Market.game_id,
        )
        .join(Outcome, Outcome.id == OddsSnapshot.outcome_id)
        .join(Market, Market.id == Outcome.market_id)
        .where(Market.game_id.in_(list(tips)))
    )
    rows: list[SnapshotRow] = []
    outcome_of: dict[int, str] = {}
    closed: set[tuple[str, str]] = set()  # (market, book) with a close kept already
    tip_of: dict[str, dt.datetime] = {}
    for *fields, outcome_id, game_id in result.all():
        row = SnapshotRow(*fields)
        tip_of[row.market_id] = tips[game_id]
        if row.kind == "close":
            closed.add((row.market_id, row.book))
        elif row.kind in PRE_TIP_KINDS and row.at < tips[game_id]:
            rows.append(row)
            outcome_of[row.snapshot_id] = outcome_id
    last: dict[tuple[str, str], Any] = {}
    for quote in book_quotes(rows):
        key = (quote.market_id, quote.book)
        if key not in closed and (key not in last or quote.at > last[key].at):
            last[key] = quote
    by_id = {r.snapshot_id: r for r in rows}
    new_rows: list[dict[str, Any]] = []
    for (market_id, _book), quote in last.items():
        for snapshot_id in (quote.snapshot_over, quote.snapshot_under):
            side = by_id[snapshot_id]
            new_rows.append(
                {
                    "outcome_id": outcome_of[snapshot_id],
                    "bookmaker": side.book,
                    "kind": "close",
                    "captured_at": tip_of[market_id],
                    "captured_at_estimated": False,
                    "odds_decimal": side.odds,
                    "line": side.line,
                    "price_assumed": False,
                    "source": CLOSE_SOURCE,
                }
            )
    if new_rows:
        await session.execute(_insert_skipping_duplicates(session), new_rows)
    return len(new_rows)


def _insert_skipping_duplicates(session: AsyncSession) -> Any:
    """INSERT ... ON CONFLICT DO NOTHING: a close another run wrote meanwhile stays as it is."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return pg_insert(OddsSnapshot).on_conflict_do_nothing()
    if dialect == "sqlite":
        return sqlite_insert(OddsSnapshot).on_conflict_do_nothing()
    return insert(OddsSnapshot)  # pragma: no cover - the two supported databases above
