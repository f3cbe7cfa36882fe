"""The bet tracker: bets users say they placed, settled from results, with CLV and ROI.

A bet names one of our markets (an outcome id), the decimal odds taken, the stake in minor
units, the bookmaker and when it was placed. It is settled as soon as the game has a final
score (at once, or by `settle_open_bets` after an import), and its closing-line value is
measured against the de-vigged closing price of the same line. Bets are the user's own: another
user's bet id is simply not found. Every change is copied into Sentinel's bet log through
`sentinel.tracker` (the user is a Sentinel player with a derived id).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from edgelab.betting import errors
from edgelab.betting.bets import performance as figures
from edgelab.betting.bets import settlement
from edgelab.betting.bets.models import UserBet
from edgelab.betting.markets.devig import devig
from edgelab.betting.odds.models import Game, Market, OddsSnapshot, Outcome
from edgelab.core.auth import Principal
from edgelab.core.clock import utcnow
from edgelab.core.errors import InvalidInputError, NotFoundError
from edgelab.core.settings import Settings
from edgelab.sentinel.betlog import tracker

SETTLEABLE = ("moneyline", "spread", "total")
FUTURE_SLACK = dt.timedelta(minutes=5)  # clocks differ; a bet "placed" later than that is a typo


def _bet_id() -> str:
    import secrets

    return f"bet_{secrets.token_hex(12)}"


@dataclass(frozen=True)
class NewBet:
    market_id: str
    odds_decimal: float
    stake_minor: int
    currency: str
    bookmaker: str | None
    placed_at: dt.datetime
    line: float | None
    external_id: str | None


async def _line_at(session: AsyncSession, outcome_id: str, at: dt.datetime) -> float | None:
    """The side's line in our data at `at` (latest snapshot before it, else the earliest)."""
    before = await session.execute(
        select(OddsSnapshot.line)
        .where(OddsSnapshot.outcome_id == outcome_id, OddsSnapshot.captured_at <= at)
        .order_by(OddsSnapshot.captured_at.desc())
        .limit(1)
    )
    line = before.scalar_one_or_none()
    if line is not None:
        return float(line)
    first = await session.execute(
        select(OddsSnapshot.line)
        .where(OddsSnapshot.outcome_id == outcome_id, OddsSnapshot.line.is_not(None))
        .order_by(OddsSnapshot.captured_at)
        .limit(1)
    )
    value = first.scalar_one_or_none()
    return None if value is None else float(value)


async def _bet_by_external_id(
    session: AsyncSession, user_id: str, external_id: str
) -> UserBet | None:
    stmt = select(UserBet).where(UserBet.user_id == user_id, UserBet.external_id == external_id)
    return (await session.execute(stmt)).scalar_one_or_none()


async def record_bet(
    session: AsyncSession, settings: Settings, principal: Principal, new: NewBet
) -> tuple[UserBet, bool]:
    """Store a bet (settling it at once if the game is final); (bet, created).

    With an `external_id` the call is idempotent: sending the same id again returns the bet
    already stored (created=False) and changes nothing.
    """
    if new.external_id is not None:
        existing = await _bet_by_external_id(session, principal.id, new.external_id)
        if existing is not None:
            return existing, False
    row = (
        await session.execute(
            select(Outcome, Market, Game)
            .join(Market, Market.id == Outcome.market_id)
            .join(Game, Game.id == Market.game_id)
            .where(Outcome.id == new.market_id)
        )
    ).one_or_none()
    if row is None:
        raise NotFoundError(f"No market with id '{new.market_id}'.", code=errors.MARKET_NOT_FOUND)
    outcome, market, game = row
    if new.placed_at > utcnow() + FUTURE_SLACK:
        raise InvalidInputError("placed_at is in the future.", code=errors.PLACED_IN_FUTURE)
    line = new.line
    if market.market_type in ("spread", "total") and line is None:
        line = await _line_at(session, outcome.id, new.placed_at)
        if line is None:
            raise InvalidInputError(
                "This market has no line in our data: send the line you took.",
                code=errors.LINE_REQUIRED,
            )
    bet = UserBet(
        id=_bet_id(),
        user_id=principal.id,
        external_id=new.external_id,
        outcome_id=outcome.id,
        game_id=game.id,
        market_type=market.market_type,
        side=outcome.side,
        line=line,
        odds_decimal=new.odds_decimal,
        stake_minor=new.stake_minor,
        currency=new.currency,
        bookmaker=new.bookmaker,
        placed_at=new.placed_at,
        status="open",
        created_at=utcnow(),
    )
    try:
        async with session.begin_nested():  # a savepoint: a lost race must not spoil the unit
            session.add(bet)
    except IntegrityError:
        # the same external_id, sent twice at once: the first insert won the unique key; this
        # one answers as any repeat does, with the stored bet
        stored = None
        if new.external_id is not None:
            stored = await _bet_by_external_id(session, principal.id, new.external_id)
        if stored is None:
            raise
        return stored, False
    await _settle(session, settings, bet, game)
    await tracker.sync_tracked_bets(session, principal.id, [_tracked(bet)])  # Sentinel's log
    return bet, True


def _tracked(bet: UserBet) -> tracker.TrackedBet:
    return tracker.TrackedBet(
        bet_id=bet.id,
        placed_at=bet.placed_at,
        settled_at=bet.settled_at,
        market_type=bet.market_type,
        stake_minor=bet.stake_minor,
        payout_minor=bet.payout_minor,
        currency=bet.currency,
        odds_decimal=bet.odds_decimal,
        status=bet.status,
    )


async def _closing_fair(
    session: AsyncSession, settings: Settings, bet: UserBet
) -> tuple[float, float] | None:
    """(closing odds of the side, its de-vigged closing probability), for the bet's line.

    Both sides from one book's close (a price is de-vigged against its own book's other side),
    a book that closed at the bet's line for spreads and totals; sharp books first
    (`EDGELAB_SHARP_BOOKS`, in order), then by name. None when no book's close fits
    (probabilities at different lines are not comparable).
    """
    market_id = (
        await session.execute(select(Outcome.market_id).where(Outcome.id == bet.outcome_id))
    ).scalar_one()
    rows = (
        await session.execute(
            select(
                OddsSnapshot.bookmaker,
                OddsSnapshot.outcome_id,
                OddsSnapshot.odds_decimal,
                OddsSnapshot.line,
            )
            .join(Outcome, Outcome.id == OddsSnapshot.outcome_id)
            .where(Outcome.market_id == market_id, OddsSnapshot.kind == "close")
            .order_by(OddsSnapshot.captured_at, OddsSnapshot.id)
        )
    ).all()
    books: dict[str, dict[str, tuple[float, float | None]]] = {}
    for bookmaker, outcome_id, odds, line in rows:  # the latest close of each book and side
        books.setdefault(bookmaker, {})[outcome_id] = (float(odds), line)
    sharp = list(settings.sharp_books)

    def rank(book: str) -> tuple[int, str]:
        return (sharp.index(book) if book in sharp else len(sharp), book)

    for book in sorted(books, key=rank):
        sides = books[book]
        if bet.outcome_id not in sides or len(sides) != 2:
            continue
        own_odds, own_line = sides[bet.outcome_id]
        if bet.market_type != "moneyline" and (own_line is None or own_line != bet.line):
            continue
        ordered = [bet.outcome_id, *(k for k in sides if k != bet.outcome_id)]
        fair = devig(np.array([[sides[k][0] for k in ordered]]), settings.devig_method)
        return own_odds, float(fair.probabilities[0, 0])
    return None


async def _settle(session: AsyncSession, settings: Settings, bet: UserBet, game: Game) -> bool:
    if bet.status != "open" or game.home_score is None or game.away_score is None:
        return False
    result = settlement.settle(
        bet.market_type, bet.side, bet.line, game.home_score, game.away_score
    )
    if result is None:
        return False
    bet.status = result
    bet.payout_minor = settlement.payout_minor(result, bet.stake_minor, bet.odds_decimal)
    bet.settled_at = utcnow()
    close = await _closing_fair(session, settings, bet)
    if close is not None:
        bet.closing_odds_decimal, bet.p_close_fair = close
        bet.clv = settlement.closing_line_value(bet.odds_decimal, close[1])
    return True


async def settle_open_bets(session: AsyncSession, settings: Settings) -> int:
    """Settle every open bet whose game now has a final score; returns how many.

    Each bet settles once: on PostgreSQL the open bets are locked (`FOR UPDATE SKIP LOCKED`),
    so a second run at the same time skips them and, once the first commits, no longer finds
    them open. SQLite commits one writer at a time: a run that read the bets before another's
    commit fails on its write (busy snapshot) and finds them settled when retried."""
    rows = (
        await session.execute(
            select(UserBet, Game)
            .join(Game, Game.id == UserBet.game_id)
            .where(UserBet.status == "open", Game.home_score.is_not(None))
            .order_by(UserBet.placed_at)
            .with_for_update(of=UserBet, skip_locked=True)
        )
    ).all()
    settled = 0
    by_user: dict[str, list[tracker.TrackedBet]] = {}
    for bet, game in rows:
        if await _settle(session, settings, bet, game):
            settled += 1
            by_user.setdefault(bet.user_id, []).append(_tracked(bet))
    for user_id, changed in sorted(by_user.items()):  # Sentinel's copy settles too
        await tracker.sync_tracked_bets(session, user_id, changed)
    return settled


async def list_bets(
    session: AsyncSession, principal: Principal, *, limit: int, offset: int
) -> tuple[list[UserBet], int]:
    where = UserBet.user_id == principal.id
    total = (await session.execute(select(func.count()).where(where))).scalar_one()
    rows = await session.execute(
        select(UserBet)
        .where(where)
        .order_by(UserBet.placed_at.desc(), UserBet.id)
        .limit(limit)
        .offset(offset)
    )
    return list(rows.scalars()), int(total)


async def get_bet(session: AsyncSession, principal: Principal, bet_id: str) -> UserBet:
    bet = await session.get(UserBet, bet_id)
    if bet is None or bet.user_id != principal.id:  # another user's bet: not found, not 403
        raise NotFoundError(f"No bet with id '{bet_id}'.", code=errors.BET_NOT_FOUND)
    return bet


async def delete_bet(session: AsyncSession, principal: Principal, bet_id: str) -> None:
    await session.delete(await get_bet(session, principal, bet_id))
    await tracker.remove_tracked_bets(session, principal.id, [bet_id])


# --- performance ----------------------------------------------------------------------------

roi_with_interval = figures.roi_with_interval  # kept importable here: the tracker's ROI maths


async def all_bets(session: AsyncSession, principal: Principal) -> list[UserBet]:
    """Every bet of the user, oldest placed first (the CSV export and the performance)."""
    stmt = (
        select(UserBet)
        .where(UserBet.user_id == principal.id)
        .order_by(UserBet.placed_at, UserBet.id)
    )
    return list((await session.execute(stmt)).scalars())


async def performance(session: AsyncSession, principal: Principal) -> dict[str, Any]:
    """Overall, by market type, by month (UTC) of placing and by book, with the cumulative
    profit and the CLV histogram (`performance.report`). Amounts are summed per currency only
    when every bet uses one currency; mixed currencies are noted."""
    bets = await all_bets(session, principal)
    seed = int.from_bytes(hashlib.sha256(principal.id.encode()).digest()[:4], "big")
    currencies = sorted({b.currency for b in bets})
    clv_missing = sum(1 for b in bets if b.status in figures.SETTLED and b.clv is None)
    return {
        "currencies": currencies,
        **figures.report(bets, seed),
        "per_bet_clv": [
            {"bet_id": b.id, "market_id": b.outcome_id, "clv": b.clv}
            for b in bets
            if b.clv is not None
        ],
        "notes": [
            "ROI intervals are 95% bootstrap intervals over your bets: until they exclude 0, "
            "results are consistent with luck. CLV (closing-line value) converges much faster.",
            "CLV = the de-vigged closing probability of your side minus the probability your "
            "price implied; measured only when you took the closing line's number.",
        ]
        + (
            [
                f"{clv_missing} settled bet(s) have no closing-line value (no book closed at "
                "their line, or imported without a close): they count in ROI, not in CLV."
            ]
            if clv_missing
            else []
        )
        + (
            ["Bets in several currencies: amounts are summed as if one currency."]
            if len(currencies) > 1
            else []
        ),
    }


async def delete_user_bets(session: AsyncSession, user_id: str) -> int:
    """Account deletion: the user's tracked bets go with them; returns how many."""
    result = await session.execute(delete(UserBet).where(UserBet.user_id == user_id))
    return int(getattr(result, "rowcount", 0) or 0)
