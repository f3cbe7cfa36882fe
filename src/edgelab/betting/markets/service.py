"""Read-side use cases of value betting: ranked markets, bet detail, score history."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row, Select, Subquery, and_, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from edgelab.betting import errors
from edgelab.betting.markets.models import ValueScore
from edgelab.betting.model.models import ModelFit
from edgelab.betting.odds.models import Game, Market, OddsSnapshot, Outcome
from edgelab.core.errors import NotFoundError
from edgelab.core.settings import Settings

ESTIMATED_TIME_NOTE = (
    "Tip-off and line times are estimated: the historical data has dates, not times "
    "(tip-off assumed at EDGELAB_DEFAULT_TIP_TIME in EDGELAB_TIP_TIMEZONE)."
)
FULL_SLATE_MIN_GAMES = 8
ASSUMED_PRICE_NOTE = "Spread and total prices are not in the historical data: -110 is assumed."
# The order in which slate.score_slate picks an outcome's current row (slate.KIND_PRIORITY):
# the latest live price, else the opening line, else the closing line. A delayed view picks by
# the same order among the rows old enough, so it shows what was current back then.
AS_OF_KIND_PRIORITY = {"live": 0, "open": 0, "close": 1}


SLATE_MIN_BOOKS = 3  # bookmakers a game's odds need for the slate to show books side by side
_RECENT_SLATES = 10  # full slates searched through the indexes before one scan of all odds


async def resolve_slate_date(session: AsyncSession, settings: Settings) -> dt.date | None:
    """`EDGELAB_DEMO_DATE`, else the most recent full slate (>= 8 games) whose games have
    pre-game odds (`live` or `open`) from at least 3 bookmakers each, else (single-book data,
    such as SBR's lines alone) the most recent full slate.

    Runs on a cache miss of `/markets`: the latest full slates are checked first through the
    game -> market -> outcome -> snapshot indexes (milliseconds); only when none of them
    qualifies is every snapshot scanned once."""
    if settings.demo_date is not None:
        return settings.demo_date
    full = (
        select(Game.game_date)
        .group_by(Game.game_date)
        .having(func.count() >= FULL_SLATE_MIN_GAMES)
        .order_by(Game.game_date.desc())
    )
    recent = list((await session.execute(full.limit(_RECENT_SLATES))).scalars())
    if not recent:
        return None

    async def latest_multi_book(dates: list[dt.date] | None) -> dt.date | None:
        books = (
            select(Market.game_id)
            .join(Outcome, Outcome.market_id == Market.id)
            .join(OddsSnapshot, OddsSnapshot.outcome_id == Outcome.id)
            .where(OddsSnapshot.kind.in_(("live", "open")))
            .group_by(Market.game_id)
            .having(func.count(func.distinct(OddsSnapshot.bookmaker)) >= SLATE_MIN_BOOKS)
        )
        if dates is not None:
            books = books.join(Game, Game.id == Market.game_id).where(Game.game_date.in_(dates))
        covered = books.subquery()
        stmt = (
            select(Game.game_date)
            .join(covered, covered.c.game_id == Game.id)
            .group_by(Game.game_date)
            .having(func.count() >= FULL_SLATE_MIN_GAMES)
            .order_by(Game.game_date.desc())
            .limit(1)
        )
        return (await session.execute(stmt)).scalar_one_or_none()

    found = await latest_multi_book(recent)
    if found is None and len(recent) == _RECENT_SLATES:
        found = await latest_multi_book(None)
    return found or recent[0]


@dataclass(frozen=True)
class ScoredOutcome:
    score: ValueScore
    outcome: Outcome
    market: Market
    game: Game
    price_assumed: bool


def _scored(row: Row[ValueScore, Outcome, Market, Game, bool]) -> ScoredOutcome:
    score, outcome, market, game, price_assumed = row
    return ScoredOutcome(score, outcome, market, game, bool(price_assumed))


def _base_query() -> Select[ValueScore, Outcome, Market, Game, bool]:
    return (
        select(ValueScore, Outcome, Market, Game, OddsSnapshot.price_assumed)
        .join(Outcome, Outcome.id == ValueScore.outcome_id)
        .join(Market, Market.id == Outcome.market_id)
        .join(Game, Game.id == Market.game_id)
        .join(OddsSnapshot, OddsSnapshot.id == ValueScore.snapshot_id)
    )


def _as_of_rank() -> Any:
    """1 for the row an outcome's `is_current` would have pointed at, among the rows kept:
    the latest pre-tip moment, else the close (`slate._store` picks the same)."""
    return func.row_number().over(
        partition_by=ValueScore.outcome_id,
        order_by=(
            case(AS_OF_KIND_PRIORITY, value=ValueScore.odds_kind, else_=len(AS_OF_KIND_PRIORITY)),
            ValueScore.calc_time.desc(),
            ValueScore.is_current.desc(),  # ties: the row scoring marked current
            ValueScore.id.desc(),
        ),
    )


def _slate_as_of(as_of: dt.datetime, slate_date: dt.date | None) -> Subquery:
    """Ids of each outcome's row as of `as_of`: its scores with `calc_time <= as_of` under the
    model version now current, ranked as scoring ranks them. One window over the slate's rows
    (value_scores.slate_date is indexed); outcomes with no score that old have no row."""
    current = aliased(ValueScore)
    ranked = (
        select(ValueScore.id, _as_of_rank().label("rank"))
        .join(
            current,
            and_(
                current.outcome_id == ValueScore.outcome_id,
                current.model_version == ValueScore.model_version,
                current.is_current.is_(True),
            ),
        )
        .where(ValueScore.calc_time <= as_of)
    )
    if slate_date is not None:  # both sides: the slate's current rows drive the join
        ranked = ranked.where(ValueScore.slate_date == slate_date, current.slate_date == slate_date)
    return ranked.subquery()


async def list_markets(
    session: AsyncSession,
    *,
    algorithm: str,
    slate_date: dt.date | None,
    market_type: str | None,
    min_value_score: float | None,
    min_confidence: float | None,
    limit: int,
    offset: int,
    as_of: dt.datetime | None = None,
    market_types: tuple[str, ...] | None = None,
    tip_window: tuple[dt.datetime, dt.datetime] | None = None,
) -> tuple[list[ScoredOutcome], int]:
    """Scores of a slate, ranked by the algorithm's value score; ties by market id.

    Real time (`as_of=None`): each outcome's current score. Delayed: each outcome's score as
    of `as_of` (see `_slate_as_of`). `market_types`, when given, is the set of types shown.
    """
    score_col = ValueScore.algo_a_value_score if algorithm == "a" else ValueScore.algo_b_value_score
    conf_col = ValueScore.algo_a_confidence if algorithm == "a" else ValueScore.algo_b_confidence
    conds: list[Any] = []
    if as_of is None:
        conds.append(ValueScore.is_current.is_(True))
    else:
        ranked = _slate_as_of(as_of, slate_date)
        conds.append(ValueScore.id.in_(select(ranked.c.id).where(ranked.c.rank == 1)))
    if slate_date is not None:
        conds.append(ValueScore.slate_date == slate_date)
    game_conds: list[Any] = []
    if tip_window is not None:  # live: games not yet started, within the window
        game_conds = [Game.tip_time > tip_window[0], Game.tip_time <= tip_window[1]]
        conds += game_conds
    if market_type is not None:
        conds.append(Market.market_type == market_type)
    if market_types is not None:
        conds.append(Market.market_type.in_(market_types))
    if min_value_score is not None:
        conds.append(score_col >= min_value_score)
    if min_confidence is not None:
        conds.append(conf_col >= min_confidence)
    total_q = (
        select(func.count())
        .select_from(ValueScore)
        .join(Outcome, Outcome.id == ValueScore.outcome_id)
        .join(Market, Market.id == Outcome.market_id)
        .join(Game, Game.id == Market.game_id)
        .where(*conds)
    )
    total = int((await session.execute(total_q)).scalar_one())
    rows = await session.execute(
        _base_query()
        .where(*conds)
        .order_by(score_col.desc(), ValueScore.outcome_id)
        .limit(limit)
        .offset(offset)
    )
    return [_scored(r) for r in rows.all()], total


async def current_score(session: AsyncSession, market_id: str) -> ScoredOutcome:
    row = (
        await session.execute(
            _base_query()
            .where(ValueScore.outcome_id == market_id)
            .order_by(ValueScore.is_current.desc(), ValueScore.computed_at.desc())
            .limit(1)
        )
    ).first()
    if row is None:
        if await session.get(Outcome, market_id) is None:
            raise NotFoundError(f"No market with id '{market_id}'.", code=errors.MARKET_NOT_FOUND)
        raise NotFoundError(
            f"Market '{market_id}' has not been scored yet: run `edgelab score`.",
            code=errors.MARKET_NOT_SCORED,
        )
    return _scored(row)


async def score_as_of(
    session: AsyncSession, market_id: str, model_version: str, as_of: dt.datetime
) -> ScoredOutcome | None:
    """The outcome's score as of `as_of` under `model_version` (as `list_markets` picks it),
    or None when it has no score that old."""
    ranked = (
        select(ValueScore.id, _as_of_rank().label("rank"))
        .where(
            ValueScore.outcome_id == market_id,
            ValueScore.model_version == model_version,
            ValueScore.calc_time <= as_of,
        )
        .subquery()
    )
    row = (
        await session.execute(
            _base_query().where(ValueScore.id.in_(select(ranked.c.id).where(ranked.c.rank == 1)))
        )
    ).first()
    return None if row is None else _scored(row)


async def model_fit(session: AsyncSession, version: str) -> ModelFit:
    fit = await session.get(ModelFit, version)
    if fit is None:  # foreign key makes this unreachable unless rows were edited by hand
        raise NotFoundError(f"Model version '{version}' is missing.", code=errors.MODEL_NOT_FOUND)
    return fit


async def score_history(session: AsyncSession, market_id: str) -> tuple[str, list[ValueScore]]:
    """All scores of the current model version for this outcome, oldest odds first."""
    current = await current_score(session, market_id)
    version = current.score.model_version
    rows = await session.execute(
        select(ValueScore)
        .where(ValueScore.outcome_id == market_id, ValueScore.model_version == version)
        .order_by(ValueScore.calc_time, ValueScore.bookmaker, ValueScore.id)
    )
    return version, list(rows.scalars())


async def data_freshness(session: AsyncSession) -> dict[str, Any]:
    last_game = (
        await session.execute(select(func.max(Game.game_date)).where(Game.home_score.is_not(None)))
    ).scalar_one_or_none()
    last_odds = (
        await session.execute(select(func.max(OddsSnapshot.captured_at)))
    ).scalar_one_or_none()
    last_calc = (
        await session.execute(select(func.max(ValueScore.computed_at)))
    ).scalar_one_or_none()
    games = (await session.execute(select(func.count()).select_from(Game))).scalar_one()
    return {
        "games": int(games),
        "latest_result_date": last_game.isoformat() if last_game else None,
        "latest_odds_at": last_odds.isoformat() if last_odds else None,
        "latest_scored_at": last_calc.isoformat() if last_calc else None,
    }


async def has_live_markets(session: AsyncSession, start: dt.datetime, end: dt.datetime) -> bool:
    """Whether live odds are scored for some game tipping off in (start, end]."""
    stmt = (
        select(ValueScore.id)
        .join(Outcome, Outcome.id == ValueScore.outcome_id)
        .join(Market, Market.id == Outcome.market_id)
        .join(Game, Game.id == Market.game_id)
        .where(
            ValueScore.is_current.is_(True),
            ValueScore.odds_kind == "live",
            Game.tip_time > start,
            Game.tip_time <= end,
        )
        .limit(1)
    )
    return (await session.execute(stmt)).first() is not None
