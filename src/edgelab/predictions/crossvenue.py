"""Cross-venue value: Polymarket's NBA game markets beside our sportsbook moneylines.

Matching: a Polymarket market is an NBA game when it is tagged NBA or its slug starts with
`nba-`, it has exactly two outcomes and each names a team (`betting.teams.normalize_team`,
so "Lakers", "LA Lakers", "LAL" all work). Its date is the slug's trailing `YYYY-MM-DD`, else
the game start (or end) time in EDGELAB_TIP_TIMEZONE; our game is the one that day with the
same two teams, home and away taken from ours (the order on Polymarket is not relied on).

Value, per side: Polymarket's price p_poly (its last price, 0..1) against the sportsbook's
de-vigged probability p_book (the current moneyline score's p_market):
* p_poly < p_book: the team is cheaper on Polymarket. Buying a share costs p_poly plus the fee,
  taken here as EDGELAB_POLYMARKET_FEE_RATE x p_poly; edge = p_book - p_poly - fee.
* p_poly > p_book: Polymarket rates the team higher than the books, so the book's price may be
  the value: edge = p_poly - 1/odds (the book's own price, its margin being its fee).
Rows whose edge after fees exceeds EDGELAB_PREDICTIONS_VALUE_THRESHOLD are listed, largest first.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from edgelab.betting.markets import service as betting_service
from edgelab.betting.odds.teams import UnknownTeamError, normalize_team
from edgelab.core.settings import Settings
from edgelab.predictions.models import PredictionMarket, PredictionOutcome
from edgelab.predictions.service import outcomes_of

_SLUG_DATE = re.compile(r"(\d{4}-\d{2}-\d{2})$")
MAX_CANDIDATES = 2000


@dataclass(frozen=True)
class GameMarket:
    """A Polymarket market read as an NBA game: date and outcome per team code."""

    market: PredictionMarket
    game_date: dt.date
    by_team: dict[str, PredictionOutcome]


def read_game(
    market: PredictionMarket, outcomes: list[PredictionOutcome], tz: str
) -> GameMarket | None:
    if len(outcomes) != 2:
        return None
    by_team: dict[str, PredictionOutcome] = {}
    for outcome in outcomes:
        try:
            by_team[normalize_team(outcome.name)] = outcome
        except UnknownTeamError:
            return None
    if len(by_team) != 2:
        return None
    found = _SLUG_DATE.search(market.slug or "")
    if found:
        try:
            return GameMarket(market, dt.date.fromisoformat(found.group(1)), by_team)
        except ValueError:
            pass
    when = market.game_start_time or market.end_date
    if when is None:
        return None
    return GameMarket(market, when.astimezone(ZoneInfo(tz)).date(), by_team)


def _nba_candidates() -> Any:
    m = PredictionMarket
    return (
        select(m)
        .where(or_(m.tag_slugs.like("%|nba|%"), m.slug.like("nba-%")))
        .where(or_(m.closed.is_(None), m.closed.is_(False)))
        .order_by(m.end_date.desc().nulls_last(), m.id)
        .limit(MAX_CANDIDATES)
    )


async def game_markets(
    session: AsyncSession, settings: Settings, *, on: dt.date | None = None
) -> list[GameMarket]:
    stmt = _nba_candidates()
    if on is not None:  # a day either side: times are UTC, dates local
        lo = dt.datetime.combine(on - dt.timedelta(days=1), dt.time(0), tzinfo=dt.UTC)
        hi = dt.datetime.combine(on + dt.timedelta(days=3), dt.time(0), tzinfo=dt.UTC)
        m = PredictionMarket
        stmt = stmt.where(
            or_(
                m.slug.like(f"%{on.isoformat()}"),
                m.game_start_time.between(lo, hi),
                m.end_date.between(lo, hi),
            )
        )
    markets = list((await session.execute(stmt)).scalars())
    outcomes = await outcomes_of(session, [m.id for m in markets])
    read = (read_game(m, outcomes[m.id], settings.tip_timezone) for m in markets)
    return [g for g in read if g is not None and (on is None or g.game_date == on)]


async def polymarket_prices(
    session: AsyncSession, settings: Settings, *, game_date: dt.date, home: str, away: str
) -> dict[str, dict[str, Any]]:
    """Polymarket's price of each side ("home"/"away") of one of our games; {} if unmatched.

    For `GET /bet/{market_id}` (the betting product calls this service function)."""
    for g in await game_markets(session, settings, on=game_date):
        if set(g.by_team) == {home, away}:
            m = g.market
            return {
                side: {
                    "venue": "polymarket",
                    "market_id": m.id,
                    "question": m.question,
                    "outcome": g.by_team[code].name,
                    "probability": g.by_team[code].price,
                    "volume_24h": m.volume_24h,
                    "liquidity": m.liquidity,
                    "as_of": (m.upstream_updated_at or m.fetched_at).isoformat(),
                    "url": f"https://polymarket.com/market/{m.slug}" if m.slug else None,
                }
                for side, code in (("home", home), ("away", away))
            }
    return {}


@dataclass(frozen=True)
class ValueFound:
    rows: list[dict[str, Any]]
    matched_games: int


def side_edge(
    p_poly: float, p_book: float, odds: float, fee_rate: float
) -> tuple[float, float, str]:
    """(fee, edge after fees, direction) for one side; see the module docstring."""
    if p_poly <= p_book:
        fee = fee_rate * p_poly
        return fee, p_book - p_poly - fee, "buy_on_polymarket"
    return 0.0, p_poly - 1.0 / odds, "bet_at_sportsbook"


async def value_rows(session: AsyncSession, settings: Settings) -> ValueFound:
    games = await game_markets(session, settings)
    by_date: dict[dt.date, list[GameMarket]] = {}
    for g in games:
        by_date.setdefault(g.game_date, []).append(g)
    rows: list[dict[str, Any]] = []
    matched = 0
    for date, markets in sorted(by_date.items()):
        scored, _ = await betting_service.list_markets(
            session,
            algorithm="a",
            slate_date=date,
            market_type="moneyline",
            min_value_score=None,
            min_confidence=None,
            limit=1000,
            offset=0,
        )
        books: dict[frozenset[str], list[betting_service.ScoredOutcome]] = {}
        for item in scored:
            books.setdefault(frozenset((item.game.home_team, item.game.away_team)), []).append(item)
        for g in markets:
            sides = books.get(frozenset(g.by_team))
            if not sides:
                continue
            matched += 1
            for item in sides:
                code = item.game.home_team if item.outcome.side == "home" else item.game.away_team
                p_poly = g.by_team[code].price
                if p_poly is None:
                    continue
                p_book = item.score.p_market
                fee, edge, direction = side_edge(
                    p_poly, p_book, item.score.odds_decimal, settings.polymarket_fee_rate
                )
                if edge <= settings.predictions_value_threshold:
                    continue
                rows.append(
                    {
                        "polymarket_market_id": g.market.id,
                        "question": g.market.question,
                        "game_id": item.game.id,
                        "game_date": item.game.game_date,
                        "home_team": item.game.home_team,
                        "away_team": item.game.away_team,
                        "team": code,
                        "side": item.outcome.side,
                        "sportsbook_market_id": item.score.outcome_id,
                        "polymarket_price": p_poly,
                        "sportsbook_probability": p_book,
                        "difference": p_poly - p_book,
                        "fee": fee,
                        "edge_after_fees": edge,
                        "direction": direction,
                    }
                )
    rows.sort(key=lambda r: (-r["edge_after_fees"], r["sportsbook_market_id"]))
    return ValueFound(rows, matched)
