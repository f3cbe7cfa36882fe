"""From stored odds snapshots to pricing moments: every book's latest two-way quote of a market
at each time the market is scored.

A book's quote of a two-way market is its two sides' snapshots with the same capture time (and,
for lines, the same number): home -4.5 at 1.91 with away +4.5 at 1.91. A market is scored at
each moment its quotes changed before tip-off (quotes closer than `POINT_WINDOW_MINUTES` are one
moment, at the latest of them), and once at the close: pre-tip moments use `live` and `open`
quotes, the close moment `close` quotes alone. At each moment each book contributes its latest
quote at or before it (`pricing.moments` leaves out quotes older than `MAX_QUOTE_AGE_HOURS`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from edgelab.betting.odds.models import Market, OddsSnapshot, Outcome
from edgelab.betting.pricing import params as P
from edgelab.betting.pricing.moments import Moment, Quote

FIRST_SIDE = {"moneyline": "home", "spread": "home", "total": "over", "prop": "over"}
PRE_TIP_KINDS = ("live", "open")


@dataclass(frozen=True)
class BookQuote:
    """One book's two-way quote of a market, as stored."""

    market_id: str
    market_type: str
    book: str
    kind: str
    at: dt.datetime
    x_line: float | None  # see pricing.moments: minus the home handicap for spreads
    d_over: float
    d_under: float
    snapshot_over: int  # snapshot ids of the two sides
    snapshot_under: int
    seen: dt.datetime  # the last time both sides were listed unchanged (>= at)


@dataclass(frozen=True)
class MarketMoment:
    market_id: str
    market_type: str
    kind: str  # "pre" (live/open quotes) or "close"
    at: dt.datetime
    quotes: tuple[BookQuote, ...]

    def to_moment(self) -> Moment:
        return Moment(
            self.market_type,
            tuple(
                Quote(
                    q.book,
                    q.x_line,
                    q.d_over,
                    q.d_under,
                    max((self.at - q.seen).total_seconds(), 0.0) / 60.0,
                )
                for q in self.quotes
            ),
        )


@dataclass(frozen=True)
class SnapshotRow:
    snapshot_id: int
    market_id: str
    market_type: str
    side: str
    book: str
    kind: str
    at: dt.datetime
    odds: float
    line: float | None
    seen_at: dt.datetime | None = None


async def load_snapshot_rows(
    session: AsyncSession, game_ids: Sequence[str], market_types: Iterable[str] | None = None
) -> list[SnapshotRow]:
    stmt = (
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
            OddsSnapshot.seen_at,
        )
        .join(Outcome, Outcome.id == OddsSnapshot.outcome_id)
        .join(Market, Market.id == Outcome.market_id)
        .where(Market.game_id.in_(list(game_ids)))
    )
    if market_types is not None:
        stmt = stmt.where(Market.market_type.in_(list(market_types)))
    rows = (await session.execute(stmt)).all()
    return [SnapshotRow(*tuple(row)) for row in rows]


def book_quotes(rows: Iterable[SnapshotRow]) -> list[BookQuote]:
    """Pair each book's two sides captured at the same time (and on one line) into quotes."""
    pairs: dict[tuple[str, str, str, dt.datetime], dict[str, SnapshotRow]] = {}
    for r in rows:
        pairs.setdefault((r.market_id, r.book, r.kind, r.at), {})[r.side] = r
    out: list[BookQuote] = []
    for (mid, book, kind, at), sides in pairs.items():
        if len(sides) != 2:
            continue
        mtype = next(iter(sides.values())).market_type
        first = FIRST_SIDE.get(mtype, "over")
        if first not in sides:
            continue
        over = sides[first]
        under = next(r for s, r in sides.items() if s != first)
        if mtype == "moneyline":
            x_line = None
        elif over.line is None or under.line is None:
            continue
        elif mtype == "spread":
            if abs(over.line + under.line) > 1e-9:  # home -4.5 pairs with away +4.5 only
                continue
            x_line = -over.line
        else:
            if abs(over.line - under.line) > 1e-9:
                continue
            x_line = over.line
        seen = min(over.seen_at or at, under.seen_at or at)
        out.append(
            BookQuote(mid, mtype, book, kind, at, x_line, over.odds, under.odds, over.snapshot_id,
                      under.snapshot_id, max(seen, at))
        )  # fmt: skip
    return out


def _moment_times(times: list[dt.datetime]) -> list[dt.datetime]:
    """Capture times clustered: the times within the window of a cluster's first time are one
    moment, at the latest of them (a steady stream of quotes still makes a moment per window)."""
    window = dt.timedelta(minutes=P.POINT_WINDOW_MINUTES)
    out: list[dt.datetime] = []
    start: dt.datetime | None = None
    for t in sorted(set(times)):
        if start is not None and t - start <= window:
            out[-1] = t
        else:
            start = t
            out.append(t)
    return out


def market_moments(
    quotes: Iterable[BookQuote], tip_times: dict[str, dt.datetime]
) -> list[MarketMoment]:
    """Every moment of every market: pre-tip moments (each book's latest live or open quote at
    or before the moment) and the close. `tip_times` maps market id to tip-off: pre-tip quotes
    captured after it are in-play and left out."""
    by_market: dict[str, list[BookQuote]] = {}
    for q in quotes:
        by_market.setdefault(q.market_id, []).append(q)
    out: list[MarketMoment] = []
    for mid, qs in by_market.items():
        tip = tip_times.get(mid)
        pre = sorted(
            (q for q in qs if q.kind in PRE_TIP_KINDS and (tip is None or q.at < tip)),
            key=lambda q: q.at,
        )
        for at in _moment_times([q.at for q in pre]):
            latest: dict[str, BookQuote] = {}
            for q in pre:
                if q.at > at:
                    break
                latest[q.book] = q
            out.append(MarketMoment(mid, pre[0].market_type, "pre", at, tuple(latest.values())))
        closes = [q for q in qs if q.kind == "close"]
        if closes:
            at = max(q.at for q in closes)
            latest_close: dict[str, BookQuote] = {}
            for q in sorted(closes, key=lambda q: q.at):
                latest_close[q.book] = q
            out.append(
                MarketMoment(mid, closes[0].market_type, "close", at, tuple(latest_close.values()))
            )
    return out
