"""Fitting the model on the past and scoring a slate (one date's games) at every snapshot.

The slate's "current" row per outcome is what `/markets` ranks: the latest live price when
live odds were ingested, else the opening line (the morning view a bettor could act on in a
replay), else the closing line. Older model versions' rows stay as history but lose
`is_current`. Where several books quote a market, p_market is the sharp books' consensus and
each row records the best price across books (`market_views`).
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

from edgelab.betting.markets import forecast, ratings
from edgelab.betting.markets.devig import METHODS, devig
from edgelab.betting.markets.models import ValueScore
from edgelab.betting.markets.scoring import TYPE_WEIGHTS, score_outcomes
from edgelab.betting.markets.service import resolve_slate_date
from edgelab.betting.model.models import ModelFit
from edgelab.betting.model.recalibration import CalibrationMap, current_calibration
from edgelab.betting.odds.models import Game, Market, OddsSnapshot, Outcome
from edgelab.core.clock import utcnow
from edgelab.core.settings import Settings

MODEL_NAME = "elo1"
KIND_PRIORITY = {"live": 0, "open": 1, "close": 2}
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


def _p_true(
    mtype: str, side: str, line: float | None, mu_m: float, mu_t: float, p: ratings.RatingParams
) -> float:
    return forecast.p_side(mtype, side, line, mu_m, mu_t, p)


async def _closing_pairs(session: AsyncSession, before: dt.date) -> list[tuple[Any, ...]]:
    """Closing two-way prices of past games: (game id, type, side, odds, line) rows."""
    stmt = (
        select(
            Market.game_id,
            Market.market_type,
            Outcome.side,
            OddsSnapshot.bookmaker,
            OddsSnapshot.odds_decimal,
            OddsSnapshot.line,
        )
        .join(Outcome, Outcome.id == OddsSnapshot.outcome_id)
        .join(Market, Market.id == Outcome.market_id)
        .join(Game, Game.id == Market.game_id)
        .where(
            Game.game_date < before,
            OddsSnapshot.kind == "close",
            Market.market_type.in_(("moneyline", "spread", "total")),
        )
    )
    return [tuple(r) for r in (await session.execute(stmt)).all()]


def _reliability(
    pairs: list[tuple[Any, ...]],
    games: list[Game],
    res: ratings.PassResult,
    params: ratings.RatingParams,
    index: dict[str, int],
    first_season: int,
    method: str,
    calibration: CalibrationMap | None = None,
) -> dict[str, float]:
    """The model's reliability per market type on past two-way closing markets (the first
    season is burn-in and left out), of p_true through the calibration map when there is one;
    the maths is `forecast.reliability_by_type`."""
    book: dict[tuple[str, str, str], dict[str, tuple[float, float | None]]] = {}
    for gid, mtype, side, bk, odds, line in pairs:
        book.setdefault((gid, mtype, bk), {})[side] = (odds, line)
    types: list[str] = []
    lines: list[float] = []
    rows: list[int] = []
    odds_rows: list[tuple[float, float]] = []
    for (gid, mt, _bk), sides in book.items():
        if len(sides) != 2 or gid not in index or games[index[gid]].season <= first_season:
            continue
        s1 = forecast.FIRST_SIDE[mt]
        s2 = next(s for s in sides if s != s1)
        odds1, line1 = sides[s1]
        types.append(mt)
        lines.append(np.nan if line1 is None else line1)
        rows.append(index[gid])
        odds_rows.append((odds1, sides[s2][0]))
    if not rows:
        return {**dict.fromkeys(forecast.MARKET_TYPES, 0.0), "prop": 0.0}
    mtype, line_arr, at = np.array(types), np.array(lines, dtype=float), np.array(rows)
    scores = [(games[i].home_score, games[i].away_score) for i in rows]
    home = np.array([np.nan if h is None else h for h, _a in scores], dtype=float)
    away = np.array([np.nan if a is None else a for _h, a in scores], dtype=float)
    p_model = forecast.p_first_side(mtype, line_arr, res.mu_margin[at], res.mu_total[at], params)
    if calibration is not None:
        p_model = calibration.first_side(mtype, p_model)
    y = forecast.settle_first_side(mtype, line_arr, home, away)
    return forecast.reliability_by_type(mtype, p_model, np.array(odds_rows), y, method)


@dataclass(frozen=True)
class MarketView:
    """What the other books say when one two-way price (a group) is scored.

    `consensus`: the groups whose de-vigged prices are averaged into p_market, the sharp
    books' latest quotes of the same line at or before this price's time (this group alone
    when no sharp book quotes it). `best`: per side, the best decimal price and its book among
    every book's latest quote of the same line at or before that time.
    """

    consensus: list[int]
    best: dict[str, tuple[float, str]]


def market_views(
    keys: list[tuple[str, str, str, dt.datetime]],
    prices: list[dict[str, tuple[float, float | None]]],
    sharp_books: list[str],
) -> list[MarketView]:
    """One `MarketView` per group. `keys[k]` is (market id, bookmaker, kind, time) and
    `prices[k]` maps each side to (decimal odds, line).

    Only quotes of the same kind (live, open, close) and the same lines count: averaging a
    -5.5 spread's probability with a -6.5 one's would price neither line. A book whose latest
    quote is on another line is left out rather than reaching back to a stale quote. One sweep
    over each market's groups in time order, so many snapshots per market stay cheap.
    """
    sharp = set(sharp_books)
    views: list[MarketView | None] = [None] * len(keys)
    by_market: dict[tuple[str, str], list[int]] = {}
    for k, (mid, _book, kind, _at) in enumerate(keys):
        by_market.setdefault((mid, kind), []).append(k)
    for members in by_market.values():
        members.sort(key=lambda k: keys[k][3])
        latest: dict[str, int] = {}  # book -> its newest group so far
        start = 0
        while start < len(members):
            at = keys[members[start]][3]
            stop = start
            while stop < len(members) and keys[members[stop]][3] == at:
                latest[keys[members[stop]][1]] = members[stop]
                stop += 1
            for k in members[start:stop]:
                lines = {side: line for side, (_odds, line) in prices[k].items()}
                pool = [
                    c
                    for c in latest.values()
                    if {side: line for side, (_o, line) in prices[c].items()} == lines
                ]
                consensus = sorted(
                    (c for c in pool if keys[c][1] in sharp),
                    key=lambda c: sharp_books.index(keys[c][1]),
                )
                best: dict[str, tuple[float, str]] = {}
                for side in prices[k]:
                    # the own book first: it keeps a tie
                    for c in [k, *sorted(c for c in pool if c != k)]:
                        odds = prices[c][side][0]
                        if side not in best or odds > best[side][0]:
                            best[side] = (odds, keys[c][1])
                views[k] = MarketView(consensus or [k], best)
            start = stop
    return [v for v in views if v is not None]


async def score_slate(
    session: AsyncSession,
    settings: Settings,
    slate_date: dt.date | None = None,
    progress: Progress | None = None,
    calibration: CalibrationMap | None = None,
) -> SlateResult:
    """`calibration`: the map p_true passes through (a model update passes its new one);
    default the last model update's (`recalibration.current_calibration`), none before any."""
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
    # Seconds of CPU: off the event loop, so an app running this as an in-process job (the
    # recalibration job) keeps answering requests meanwhile.
    fit = await asyncio.to_thread(ratings.fit_model, history)
    params = fit.params
    res = await asyncio.to_thread(ratings.rating_pass, rows, params)
    index = {g.id: i for i, g in enumerate(games)}
    say("measuring the model's reliability against closing lines")
    first_season = games[0].season
    if calibration is None:
        calibration = await current_calibration(session)
    reliability = _reliability(
        await _closing_pairs(session, slate_date),
        games,
        res,
        params,
        index,
        first_season,
        settings.devig_method,
        calibration,
    )
    fit_doc: dict[str, Any] = {
        "rating": params.to_dict(),
        "reliability": reliability,
        "devig_method": settings.devig_method,
    }
    if calibration is not None:  # in the version's hash too: a new map is a new model
        fit_doc["calibration"] = calibration.to_dict()
    version = _version(slate_date, fit_doc)
    if await session.get(ModelFit, version) is None:
        session.add(
            ModelFit(
                version=version,
                trained_through=max(
                    (g.game_date for g in games if g.game_date < slate_date),
                    default=slate_date - dt.timedelta(days=1),  # no history: defaults only
                ),
                n_games=fit.n_games,
                params=fit_doc,
                metrics=fit.metrics,
            )
        )
        await session.flush()

    say(f"scoring {len(slate_games)} games")
    snap_rows = (
        await session.execute(
            select(OddsSnapshot, Outcome.side, Market.market_type, Market.game_id, Market.id)
            .join(Outcome, Outcome.id == OddsSnapshot.outcome_id)
            .join(Market, Market.id == Outcome.market_id)
            .where(
                Market.game_id.in_([g.id for g in slate_games]),
                Market.market_type.in_(("moneyline", "spread", "total")),
            )
        )
    ).all()
    groups: dict[tuple[str, str, str, dt.datetime], list[tuple[OddsSnapshot, str, str, str]]] = {}
    for snap, side, mtype, gid, mid in snap_rows:
        groups.setdefault((mid, snap.bookmaker, snap.kind, snap.captured_at), []).append(
            (snap, side, mtype, gid)
        )
    items = [grp for grp in groups.values() if len(grp) == 2]
    if not items:
        return SlateResult(slate_date, version, len(slate_games), 0, fit.to_dict())
    odds = np.array([[grp[0][0].odds_decimal, grp[1][0].odds_decimal] for grp in items])
    by_method = {m: devig(odds, m) for m in METHODS}
    chosen = by_method[settings.devig_method]

    flat: list[tuple[OddsSnapshot, str, str, str, int, int]] = []
    for k, grp in enumerate(items):
        for j, (snap, side, mtype, gid) in enumerate(grp):
            flat.append((snap, side, mtype, gid, k, j))
    game_by_id = {g.id: g for g in slate_games}
    p_true = np.array(
        [
            _p_true(
                mt, side, snap.line, res.mu_margin[index[gid]], res.mu_total[index[gid]], params
            )
            for snap, side, mt, gid, _k, _j in flat
        ]
    )
    if calibration is not None:
        p_true = calibration.sides(
            np.array([f[2] for f in flat]), np.array([f[1] for f in flat]), p_true
        )
    # p_market: the mean de-vigged probability of the side over the sharp books' consensus
    # (`market_views`); with one book, or no sharp book quoting, the price's own book alone
    sides_of = [{snap_side: j for j, (_s, snap_side, _t, _g) in enumerate(grp)} for grp in items]
    views = market_views(
        [key for key, grp in groups.items() if len(grp) == 2],
        [{side: (snap.odds_decimal, snap.line) for snap, side, _t, _g in grp} for grp in items],
        settings.sharp_books,
    )
    methods = np.array(
        [
            [
                sum(by_method[m].probabilities[c, sides_of[c][side]] for c in views[k].consensus)
                / len(views[k].consensus)
                for m in METHODS
            ]
            for _snap, side, _mt, _gid, k, _j in flat
        ]
    )
    p_mkt = methods[:, METHODS.index(settings.devig_method)]
    min_games = np.array(
        [
            min(res.games_home[index[gid]], res.games_away[index[gid]])
            for _s, _sd, _mt, gid, _k, _j in flat
        ],
        dtype=float,
    )
    scores = score_outcomes(
        odds=np.array([f[0].odds_decimal for f in flat]),
        p_true=p_true,
        p_market=p_mkt,
        overround=np.array([chosen.margin[k] for *_x, k, _j in flat]),
        method_spread=methods.max(axis=1) - methods.min(axis=1),
        type_weight=np.array([TYPE_WEIGHTS[f[2]] for f in flat]),
        min_games=min_games,
        reliability=np.array([reliability[f[2]] for f in flat]),
    )

    outcome_ids = sorted({f[0].outcome_id for f in flat})
    await session.execute(
        delete(ValueScore).where(
            ValueScore.model_version == version, ValueScore.outcome_id.in_(outcome_ids)
        )
    )
    await session.execute(
        update(ValueScore).where(ValueScore.outcome_id.in_(outcome_ids)).values(is_current=False)
    )
    now = utcnow()
    best: dict[str, tuple[tuple[int, float], int]] = {}
    new_rows: list[ValueScore] = []
    for n, (snap, side, mtype, gid, k, _j) in enumerate(flat):
        g = game_by_id[gid]
        i = index[gid]
        row = ValueScore(
            outcome_id=snap.outcome_id,
            snapshot_id=snap.id,
            model_version=version,
            slate_date=slate_date,
            is_current=False,
            calc_time=snap.captured_at,
            computed_at=now,
            odds_kind=snap.kind,
            bookmaker=snap.bookmaker,
            odds_decimal=snap.odds_decimal,
            line=snap.line,
            margin=float(chosen.margin[k]),
            devig_method=settings.devig_method,
            p_true=float(p_true[n]),
            p_market=float(p_mkt[n]),
            p_market_methods={m: float(methods[n, q]) for q, m in enumerate(METHODS)},
            raw_edge=float(scores.raw_edge[n]),
            time_to_tip_minutes=int((g.tip_time - snap.captured_at).total_seconds() // 60),
            algo_a_value_score=float(scores.a_value_score[n]),
            algo_a_confidence=float(scores.a_confidence[n]),
            algo_a_market_quality=float(scores.a_market_quality[n]),
            algo_a_components={
                "raw_edge": float(scores.raw_edge[n]),
                "sample_factor": float(scores.a_sample[n]),
                "agreement_factor": float(scores.a_agreement[n]),
                "overround": float(chosen.margin[k]),
                "type_weight": TYPE_WEIGHTS[mtype],
            },
            algo_b_value_score=float(scores.b_value_score[n]),
            algo_b_confidence=float(scores.b_confidence[n]),
            algo_b_market_quality=float(scores.b_market_quality[n]),
            algo_b_components={
                "reliability": reliability[mtype],
                "p_shrunk": float(scores.b_p_shrunk[n]),
                "edge_shrunk": float(scores.b_edge[n]),
                "kelly_fraction_full": float(scores.b_kelly[n]),
                "stake_fraction": float(scores.b_stake[n]),
                "method_spread": float(methods[n].max() - methods[n].min()),
            },
            model_components={
                "expected_margin_home": float(res.mu_margin[i]),
                "expected_total": float(res.mu_total[i]),
                "sd_margin": params.sd_margin,
                "sd_total": params.sd_total,
                "elo_home": float(res.elo_home[i]),
                "elo_away": float(res.elo_away[i]),
                "rest_days_home": int(res.rest_home[i]),
                "rest_days_away": int(res.rest_away[i]),
                "games_played_home": int(res.games_home[i]),
                "games_played_away": int(res.games_away[i]),
                # not model numbers: which books formed p_market, and the best price of the side
                # across books at this time (the API shows them as `p_market_books`, `best_price`)
                "consensus_books": [items[c][0][0].bookmaker for c in views[k].consensus],
                "best_price": {
                    "odds": views[k].best[side][0],
                    "bookmaker": views[k].best[side][1],
                },
            },
        )
        new_rows.append(row)
        rank = (
            KIND_PRIORITY.get(snap.kind, 3),
            -snap.captured_at.timestamp() if snap.kind == "live" else 0.0,
        )
        if snap.outcome_id not in best or rank < best[snap.outcome_id][0]:
            best[snap.outcome_id] = (rank, n)
    for _rank, n in best.values():
        new_rows[n].is_current = True
    session.add_all(new_rows)
    await session.flush()
    return SlateResult(slate_date, version, len(slate_games), len(new_rows), fit.to_dict())
