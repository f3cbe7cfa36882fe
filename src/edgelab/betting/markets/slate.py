"""Scoring a slate (one date's games): the market's fair price at every moment, the best price
and line per side across books, its value, and p_true where the rating model has earned a say.

Per market and moment (`quotes.market_moments`): each book's latest quote is de-vigged and the
books combined into the consensus (`pricing`); per side the best book and line is found and its
expected value scored by algorithms A and B. p_true is that consensus, blended with the rating
model only by the weight it has earned walk-forward (`pricing.blend`; zero until then). Every
moment is a `ValueScore` row (the history); the slate's "current" row per outcome is the latest
pre-tip moment, else the close. The rating model is still fitted on every game before the slate:
its numbers are shown with each bet, and it is what a blend weight would use.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from edgelab.betting.markets import ratings
from edgelab.betting.markets.models import ValueScore
from edgelab.betting.markets.quotes import (
    MarketMoment,
    book_quotes,
    load_snapshot_rows,
    market_moments,
)
from edgelab.betting.markets.rating_blend import BLEND_KIND, ModelView, fit_blend
from edgelab.betting.markets.service import resolve_slate_date
from edgelab.betting.model.models import ModelFit
from edgelab.betting.model.recalibration import CalibrationMap, current_calibration
from edgelab.betting.odds.models import Game, Market
from edgelab.betting.pricing import blend as B
from edgelab.betting.pricing import params as P
from edgelab.betting.pricing.consensus import DEVIG_METHODS
from edgelab.betting.pricing.lines import line_probs
from edgelab.betting.pricing.moments import Priced, SidePrice, confidence, market_quality
from edgelab.betting.pricing.moments import price_moments as price
from edgelab.betting.pricing.value import score_a, score_b
from edgelab.core.clock import utcnow
from edgelab.core.settings import Settings

MODEL_NAME = "consensus1"
KIND_PRIORITY = {"live": 0, "open": 0, "close": 1}  # the current row: latest pre-tip, else close
LINE_TYPES = ("spread", "total")
Progress = Callable[[str], None]


@dataclass
class SlateResult:
    slate_date: dt.date
    model_version: str
    games: int
    scored: int
    fit: dict[str, Any] = field(default_factory=dict)


def _to_row(g: Game, slate_date: dt.date) -> ratings.GameRow:
    played = g.game_date < slate_date  # never let the slate's own results in
    return ratings.GameRow(
        day=g.game_date.toordinal(),
        season=g.season,
        home=g.home_team,
        away=g.away_team,
        neutral=bool(g.neutral_site),
        home_score=g.home_score if played else None,
        away_score=g.away_score if played else None,
    )


def _version(slate_date: dt.date, params: dict[str, Any]) -> str:
    digest = hashlib.sha1(json.dumps(params, sort_keys=True).encode()).hexdigest()[:8]
    return f"{MODEL_NAME}-{slate_date.isoformat()}-{digest}"


async def score_slate(
    session: AsyncSession,
    settings: Settings,
    slate_date: dt.date | None = None,
    progress: Progress | None = None,
    calibration: CalibrationMap | None = None,
) -> SlateResult:
    """`calibration`: the map the rating model's probabilities pass through before a blend (a
    model update passes its new one); default the last model update's, none before any."""
    say = progress or (lambda _msg: None)
    slate_date = slate_date or await resolve_slate_date(session, settings)
    if slate_date is None:
        raise LookupError("no games imported: run `edgelab import nba-csv` first")
    say("loading games")
    games = list(
        (
            await session.execute(
                select(Game).where(Game.game_date <= slate_date).order_by(Game.game_date, Game.id)
            )
        ).scalars()
    )
    slate_games = [g for g in games if g.game_date == slate_date]
    if not slate_games:
        raise LookupError(f"no games on {slate_date.isoformat()}")
    rows = [_to_row(g, slate_date) for g in games]
    history = [r for r, g in zip(rows, games, strict=True) if g.game_date < slate_date]
    say(f"fitting the rating model on {len(history)} past games")
    # Seconds of CPU: off the event loop, so an app running this as an in-process job keeps
    # answering requests meanwhile.
    fit = await asyncio.to_thread(ratings.fit_model, history)
    res = await asyncio.to_thread(ratings.rating_pass, rows, fit.params)
    models = {
        g.id: ModelView(float(res.mu_margin[i]), float(res.mu_total[i]), fit.params)
        for i, g in enumerate(games)
    }
    sharp = frozenset(settings.sharp_books)
    if calibration is None:
        calibration = await current_calibration(session)
    fit_doc: dict[str, Any] = {
        "rating": fit.params.to_dict(),
        "value_model": MODEL_NAME,
        "sharp_books": sorted(sharp),
        "devig_method": P.DEVIG,
    }
    if calibration is not None:  # in the version's hash too: a new map is a new model
        fit_doc["calibration"] = calibration.to_dict()
    version = _version(slate_date, fit_doc)
    model_fit = await session.get(ModelFit, version)
    if model_fit is None:
        say("measuring what the rating model adds to the market, walk-forward")
        season = slate_games[0].season
        fit_doc["blend"] = await fit_blend(session, games, models, slate_date, season, sharp)
        model_fit = ModelFit(
            version=version,
            trained_through=max(
                (g.game_date for g in games if g.game_date < slate_date),
                default=slate_date - dt.timedelta(days=1),  # no history: defaults only
            ),
            n_games=fit.n_games,
            params=fit_doc,
            metrics=fit.metrics,
        )
        session.add(model_fit)
        await session.flush()
    weights = {t: float(b["weight"]) for t, b in model_fit.params.get("blend", {}).items()}

    say(f"pricing {len(slate_games)} games across books")
    game_of = {g.id: g for g in slate_games}
    snapshot_rows = await load_snapshot_rows(session, list(game_of))
    market_game = await _market_games(session, list(game_of))
    tips = {mid: game_of[gid].tip_time for mid, gid in market_game.items()}
    moments = market_moments(book_quotes(snapshot_rows), tips)
    new_rows: list[ValueScore] = []
    now = utcnow()
    for mtype in ("moneyline", "spread", "total", "prop"):
        of_type = [m for m in moments if m.market_type == mtype]
        as_moments = [m.to_moment() for m in of_type]
        by_method = {d: price(as_moments, sharp, d) for d in DEVIG_METHODS}
        for k, (m, priced) in enumerate(zip(of_type, by_method[P.DEVIG], strict=True)):
            if priced is None:
                continue
            g = game_of[market_game[m.market_id]]
            others = {d: by_method[d][k] for d in DEVIG_METHODS}
            new_rows += _rows(m, priced, g, models[g.id], weights.get(mtype, 0.0), version,
                              slate_date, settings, now, calibration, others)  # fmt: skip
    scored = await _store(session, new_rows, [g.id for g in slate_games], version)
    return SlateResult(slate_date, version, len(slate_games), scored, fit.to_dict())


async def _market_games(session: AsyncSession, game_ids: list[str]) -> dict[str, str]:
    rows = await session.execute(
        select(Market.id, Market.game_id).where(Market.game_id.in_(game_ids))
    )
    return {mid: gid for mid, gid in rows.all()}


def _p_true(
    m: MarketMoment,
    side: int,
    sp: SidePrice,
    priced: Priced,
    model: ModelView,
    w: float,
    calibration: CalibrationMap | None,
) -> tuple[float, float, float]:
    """(p_true of a win, its push probability, the EV at p_true) at the side's best price."""
    if w <= 0 or m.market_type not in BLEND_KIND:
        return sp.p_win, sp.p_push, sp.ev
    if m.market_type == "moneyline":
        p_model = model.p_home()
        if calibration is not None:
            p_model = float(calibration.first_side(np.array(["moneyline"]), np.array([p_model]))[0])
        p_home = float(B.blend_probability(np.array([priced.fair]), np.array([p_model]), w)[0])
        p = p_home if side == 0 else 1.0 - p_home
        return p, 0.0, p * sp.odds - 1.0
    mu = float(B.blend_mean(np.array([priced.fair]), np.array([model.mean(m.market_type)]), w)[0])
    tp = P.TYPE_PARAMS[m.market_type]
    assert tp.sigma is not None and sp.line is not None
    x_line = -sp.line if m.market_type == "spread" and side == 0 else sp.line
    over, push, under = (float(v) for v in line_probs(x_line, mu, tp.sigma, True, tp.no_zero))
    win, lose = (over, under) if side == 0 else (under, over)
    return win, push, win * (sp.odds - 1.0) - lose


SIDE_NAMES = {
    "moneyline": ("home", "away"),
    "spread": ("home", "away"),
    "total": ("over", "under"),
    "prop": ("over", "under"),
}


def _rows(
    m: MarketMoment,
    priced: Priced,
    g: Game,
    model: ModelView,
    w: float,
    version: str,
    slate_date: dt.date,
    settings: Settings,
    now: dt.datetime,
    calibration: CalibrationMap | None,
    by_method: dict[str, Priced | None],
) -> list[ValueScore]:
    rule = P.DEFAULT_RULES[m.market_type]
    out: list[ValueScore] = []
    for side, sp in enumerate(priced.sides):
        if sp is None:
            continue
        quote = m.quotes[sp.quote]
        p_win, p_push, ev = _p_true(m, side, sp, priced, model, w, calibration)
        a = float(score_a(ev, sp.se_ev_dispersion))
        b = float(score_b(ev, sp.se_ev))
        age = (m.at - quote.at).total_seconds() / 60.0
        quality = market_quality(priced.books_effective, age)
        chosen = a if rule.algorithm == "a" else b
        flagged = (
            chosen >= rule.threshold
            and sp.ev > 0
            and ev > 0
            and priced.books >= P.MIN_BOOKS_TO_FLAG
        )  # the consensus alone must see value too: the model never flags a bet by itself
        common = {
            "ev": ev,
            "ev_consensus": sp.ev,
            "books": priced.books,
            "books_effective": round(priced.books_effective, 3),
            "dispersion": priced.dispersion,
            "fair": priced.fair,
            "fair_se": priced.fair_se,
            "p_push": p_push,
        }
        out.append(
            ValueScore(
                outcome_id=f"{m.market_id}-{SIDE_NAMES[m.market_type][side]}",
                snapshot_id=quote.snapshot_over if side == 0 else quote.snapshot_under,
                model_version=version,
                slate_date=slate_date,
                is_current=False,
                calc_time=m.at,
                computed_at=now,
                odds_kind=quote.kind,
                bookmaker=sp.book,
                odds_decimal=sp.odds,
                line=sp.line,
                margin=sp.overround,
                devig_method=P.DEVIG,
                p_true=min(max(p_win, 0.0), 1.0),
                p_market=min(max(sp.p_win, 0.0), 1.0),
                p_market_methods=_by_method(m, side, sp, by_method),
                raw_edge=ev,
                time_to_tip_minutes=int((g.tip_time - m.at).total_seconds() // 60),
                algo_a_value_score=a,
                algo_a_confidence=confidence(sp.se_p_dispersion),
                algo_a_market_quality=quality,
                algo_a_components={
                    **common,
                    "se_ev": sp.se_ev_dispersion,
                    "k": 1.0,
                    "scale": 0.02,
                    "se_p": sp.se_p_dispersion,
                },
                algo_b_value_score=b,
                algo_b_confidence=confidence(sp.se_p),
                algo_b_market_quality=quality,
                algo_b_components={
                    **common,
                    "se_ev": sp.se_ev,
                    "tau": P.TYPE_PARAMS[m.market_type].tau,
                    "se_p": sp.se_p,
                    "p_shrunk": p_win / max(1.0 - p_push, 1e-9),
                },
                model_components={
                    "expected_margin_home": model.mu_margin,
                    "expected_total": model.mu_total,
                    "sd_margin": model.params.sd_margin,
                    "sd_total": model.params.sd_total,
                    "blend_weight": w,
                    # market numbers the API shows as their own fields
                    "consensus_books": sorted(priced.used_books),
                    "best_price": {"odds": sp.odds, "bookmaker": sp.book, "line": sp.line},
                    "flagged": flagged,
                    "flag_rule": f"{rule.algorithm}>={rule.threshold:g}",
                },
            )
        )
    return out


async def _store(
    session: AsyncSession, new_rows: list[ValueScore], game_ids: list[str], version: str
) -> int:
    """Replace this version's rows of the slate's outcomes; the newest pre-tip row of each
    outcome (else its close) is the current one."""
    outcome_ids = sorted({r.outcome_id for r in new_rows})
    if not outcome_ids:
        return 0
    await session.execute(
        delete(ValueScore).where(
            ValueScore.model_version == version, ValueScore.outcome_id.in_(outcome_ids)
        )
    )
    await session.execute(
        update(ValueScore).where(ValueScore.outcome_id.in_(outcome_ids)).values(is_current=False)
    )
    best: dict[str, tuple[tuple[int, float], int]] = {}
    for n, row in enumerate(new_rows):
        rank = (KIND_PRIORITY.get(row.odds_kind, 2), -row.calc_time.timestamp())
        if row.outcome_id not in best or rank < best[row.outcome_id][0]:
            best[row.outcome_id] = (rank, n)
    for _rank, n in best.values():
        new_rows[n].is_current = True
    session.add_all(new_rows)
    await session.flush()
    return len(new_rows)


def _by_method(
    m: MarketMoment, side: int, sp: SidePrice, by_method: dict[str, Priced | None]
) -> dict[str, float]:
    """The consensus probability of a win at this row's price and line under each de-vig
    method (how much the choice of method matters here)."""
    tp = P.TYPE_PARAMS[m.market_type]
    out: dict[str, float] = {}
    for method, priced in by_method.items():
        if priced is None:
            continue
        if sp.line is None:
            out[method] = priced.fair if side == 0 else 1.0 - priced.fair
            continue
        x_line = -sp.line if m.market_type == "spread" and side == 0 else sp.line
        sigma = tp.sigma if tp.sigma is not None else P.prop_sigma(sp.line)
        over, _push, under = line_probs(x_line, priced.fair, sigma, True, tp.no_zero)
        out[method] = float(over if side == 0 else under)
    return out
