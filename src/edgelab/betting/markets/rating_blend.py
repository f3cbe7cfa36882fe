"""The rating model beside the market: its numbers for a game (`ModelView`), and the past
multi-book games a blend weight is fitted on (`blend_history`, `fit_blend`; the rule is
`pricing.blend`)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from edgelab.betting.markets import ratings
from edgelab.betting.markets.quotes import (
    MarketMoment,
    book_quotes,
    load_snapshot_rows,
    market_moments,
)
from edgelab.betting.odds.models import Game, Market, OddsSnapshot, Outcome
from edgelab.betting.pricing import blend as B
from edgelab.betting.pricing import params as P
from edgelab.betting.pricing.moments import price_moments as price

BLEND_KIND = {"moneyline": "probability", "spread": "mean", "total": "mean"}


@dataclass(frozen=True)
class ModelView:
    """The rating model's numbers for one game."""

    mu_margin: float
    mu_total: float
    params: ratings.RatingParams

    def p_home(self) -> float:
        return float(ratings.p_home_win(np.array([self.mu_margin]), self.params.sd_margin)[0])

    def mean(self, market_type: str) -> float:
        return self.mu_margin if market_type == "spread" else self.mu_total


async def _multi_book_games(session: AsyncSession, before: dt.date) -> list[str]:
    """Past games quoted before tip-off by at least `MIN_BOOKS_TO_FLAG` books."""
    stmt = (
        select(Market.game_id)
        .join(Outcome, Outcome.market_id == Market.id)
        .join(OddsSnapshot, OddsSnapshot.outcome_id == Outcome.id)
        .join(Game, Game.id == Market.game_id)
        .where(Game.game_date < before, OddsSnapshot.kind.in_(("live", "open")))
        .group_by(Market.game_id)
        .having(func.count(func.distinct(OddsSnapshot.bookmaker)) >= P.MIN_BOOKS_TO_FLAG)
    )
    return list((await session.execute(stmt)).scalars())


async def blend_history(
    session: AsyncSession,
    games: list[Game],
    models: dict[str, ModelView],
    before: dt.date,
    sharp: frozenset[str],
) -> dict[str, B.History]:
    """Per market type, past multi-book games: the consensus at the last pre-tip moment, the
    rating model's estimate and the result (`pricing.blend.History`)."""
    by_id = {g.id: g for g in games}
    ids = [gid for gid in await _multi_book_games(session, before) if gid in by_id]
    rows = await load_snapshot_rows(session, ids, BLEND_KIND)
    tips = {r.market_id: by_id[r.market_id.rsplit("-", 1)[0]].tip_time for r in rows}
    last: dict[str, MarketMoment] = {}
    for m in market_moments(book_quotes(rows), tips):
        if m.kind == "pre" and (m.market_id not in last or m.at > last[m.market_id].at):
            last[m.market_id] = m
    out: dict[str, B.History] = {}
    for mtype in BLEND_KIND:
        moments = [m for m in last.values() if m.market_type == mtype]
        priced = price([m.to_moment() for m in moments], sharp)
        seasons, cons, model, outcome = [], [], [], []
        for m, p in zip(moments, priced, strict=True):
            g = by_id[m.market_id.rsplit("-", 1)[0]]
            if p is None or g.home_score is None or g.away_score is None:
                continue
            mv = models[g.id]
            seasons.append(g.season)
            cons.append(p.fair)
            if mtype == "moneyline":
                model.append(mv.p_home())
                outcome.append(1.0 if g.home_score > g.away_score else 0.0)
            else:
                model.append(mv.mean(mtype))
                margin, total = g.home_score - g.away_score, g.home_score + g.away_score
                outcome.append(float(margin if mtype == "spread" else total))
        out[mtype] = B.History(
            np.array(seasons, dtype=np.int64), np.array(cons), np.array(model), np.array(outcome)
        )
    return out


async def fit_blend(
    session: AsyncSession,
    games: list[Game],
    models: dict[str, ModelView],
    slate_date: dt.date,
    season: int,
    sharp: frozenset[str],
) -> dict[str, dict[str, Any]]:
    history = await blend_history(session, games, models, slate_date, sharp)
    out: dict[str, dict[str, Any]] = {}
    for mtype, kind in BLEND_KIND.items():
        h = history[mtype]
        earned = B.earned_weight(kind, h, season)
        out[mtype] = {
            "weight": earned.weight,
            "fitted": round(earned.fitted, 4),
            "evidence": earned.evidence,
            "games": int((h.season < season).sum()),
        }
    out["prop"] = {"weight": 0.0, "fitted": 0.0, "evidence": "no rating model for players"}
    return out
