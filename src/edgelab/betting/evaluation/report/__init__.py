"""What the walk-forward evaluation says, as JSON-ready dicts: pure, no I/O.

This module is the stored report; beside it `summary` (the verdict in sentences), `export` (the
`edgelab backtest --json` layout) and `a_vs_b` (that layout's older comparison of the two
algorithms).

`build_document` turns an `Evaluation` into the stored report: per season (and every season
pooled, key "all") and market type, the forecasts (Brier, log loss, ECE of p_true, of the
consensus at the bet moment and of the close, each on the markets it exists for, and the three
on the games they share), the bets each rule flags and each baseline takes (count, hit rate,
ROI and closing-line value, each with a 95 % cluster-bootstrap interval over games, the share
that beat the close), the blend weight the rating model earned, and the books behind it; plus
every flagged bet. `forecast_arrays` are the per-market forecasts the reliability curves are
binned from (`calibration`), any number of bins, at serving time.

The seasons the value model was tuned on (`TUNED_ON`) are reported on their own, marked
`in_sample`, and left out of the pooled figures (key "all"), which are the default answer.

Closing-line value is in points, price included, for spreads and totals (and the key
"spread+total" pools them) and in points of probability for moneylines (`settle`); the two
never pool.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from edgelab.betting.evaluation import metrics as ev
from edgelab.betting.evaluation.engine import SIDE_NAMES
from edgelab.betting.evaluation.report.summary import summary as verdict
from edgelab.betting.evaluation.walkforward import (
    BASELINES,
    FORECAST_TYPES,
    LISTED_RULES,
    RULES,
    BetTable,
    Evaluation,
)
from edgelab.betting.pricing import params as P

DEFAULT_BOOTSTRAP = 2000
SEED = 20241206
TUNED_ON: tuple[int, ...] = (2022,)
"""Seasons (ending years) the value model was tuned on: every parameter in
`betting/pricing/params.py` (book weights, sigmas, taus, the de-vig method) and the default
rules' thresholds (`params.DEFAULT_RULES`) were fitted on the 2021-22 multi-book odds. Those
seasons are in sample: reported per season with `in_sample: true`, never pooled into "all".
Add a season here when the parameters are refitted on it."""
TYPE_KEYS = ("moneyline", "spread", "total", "prop", "spread+total")
FORECASTS = ("p_true", "consensus", "close")
RULE_TEXT = {
    "a>=50": "value score A >= 50",
    "a>=70": "value score A >= 70",
    "b>=50": "value score B >= 50",
    "b>=70": "value score B >= 70",
    "ev>=1%": "EV at p_true >= 1%",
    "ev>=2%": "EV at p_true >= 2%",
    "ev>=3%": "EV at p_true >= 3%",
    "default": "the default rule of the market type: "
    + ", ".join(
        f"{t} {r.algorithm.upper()} >= {r.threshold:g}" for t, r in P.DEFAULT_RULES.items()
    ),
    "kaunitz_0": "Kaunitz: best price > 1 / (1/mean odds)",
    "kaunitz_0.02": "Kaunitz: best price > 1 / (1/mean odds - 0.02)",
    "kaunitz_0.05": "Kaunitz: best price > 1 / (1/mean odds - 0.05)",
    "line_shopping": "line shopping: best number at >= 1.80, >= 1 point better than the median "
    "book's, >= 3 books",
}
PARAMS_NOTE = (
    "The value model's parameters (weights, sigmas, taus, thresholds) were fitted on the "
    "2021-22 multi-book odds: that season is in sample for them (reported on its own, marked "
    "in_sample, and left out of the pooled figures), later ones out of sample. The rating "
    "model's blend weight is earned walk-forward (never on the season it is used for)."
)
CLV_NOTE = (
    "Closing-line value: spreads and totals in points, price included (the number taken vs the "
    "closing number from the bettor's side, plus the price in points vs -110); moneylines in "
    "points of probability (the de-vigged closing probability minus 1/odds taken: +0.02 is two "
    "points), where a close exists."
)
SAME_GAMES_NOTE = (
    "p_true and the morning consensus are scored on the same markets (those quoted before "
    "tip-off); the close on the markets that have one, which may be other games: compare it "
    "through `same_games` (all three on the games they share)."
)
CLV_UNIT = {"moneyline": "probability", "spread": "points", "total": "points", "prop": None}
CLV_UNIT["spread+total"] = "points"
Mask = NDArray[np.bool_]


def _opt(x: Any) -> float | None:
    return float(x) if x is not None and np.isfinite(x) else None


def _forecast(y: NDArray[np.float64], p: NDArray[np.float64]) -> dict[str, Any]:
    ok = np.isfinite(y) & np.isfinite(p)
    return ev.score_forecast(y[ok], np.clip(p[ok], 0.0, 1.0)).to_dict(with_bins=False)


def _forecasts(e: Evaluation, rows: Mask) -> dict[str, Any]:
    """p_true and the consensus on the markets both exist for, the close on its own, and the
    three on the markets all three exist for (`same_games`)."""
    f = e.forecasts
    morning = rows & np.isfinite(f.p_true) & np.isfinite(f.consensus)
    out: dict[str, Any] = {
        "p_true": _forecast(f.y[morning], f.p_true[morning]),
        "consensus": _forecast(f.y[morning], f.consensus[morning]),
        "close": _forecast(f.y[rows], f.close[rows]),
    }
    both = morning & np.isfinite(f.y) & np.isfinite(f.close)
    same: dict[str, Any] = {"n": int(both.sum())}
    for name in FORECASTS:
        s = _forecast(f.y[both], getattr(f, name)[both])
        same[name] = {"brier": s["brier"], "log_loss": s["log_loss"]}
    out["same_games"] = same
    return out


def bet_stats(e: Evaluation, rows: Mask, n_boot: int, seed: int) -> dict[str, Any]:
    """Count, results, ROI and CLV of the bets in `rows`, intervals resampling games."""
    b = e.bets
    idx = np.flatnonzero(rows)
    won, settled, profit, clv = b.won[idx], b.settled[idx], b.profit[idx], b.clv[idx]
    has_clv = np.isfinite(clv)
    clv_points = b.clv_points[idx]
    has_points = np.isfinite(clv_points)
    decided = np.isfinite(won)
    games = e.markets.game[b.market[idx]]
    codes, at = np.unique(games, return_inverse=True)
    g = codes.size
    num = np.zeros((2, g))
    den = np.zeros((2, g))
    if g:
        num[0] = np.bincount(at, weights=np.where(settled, profit, 0.0), minlength=g)
        den[0] = np.bincount(at, weights=settled.astype(float), minlength=g)
        num[1] = np.bincount(at, weights=np.where(has_clv, clv, 0.0), minlength=g)
        den[1] = np.bincount(at, weights=has_clv.astype(float), minlength=g)
    points, draws = ev.bootstrap_cluster_sums(num, den, n_boot=n_boot, seed=seed)
    roi_ci = ev.percentile_interval(draws[:, 0])
    clv_ci = ev.percentile_interval(draws[:, 1])
    return {
        "n": int(idx.size),
        "settled": int(settled.sum()),
        "wins": int(np.nansum(won)),
        "pushes": int((settled & ~decided).sum()),
        "hit_rate": _opt(won[decided].mean()) if decided.any() else None,
        "mean_odds": _opt(b.odds[idx].mean()) if idx.size else None,
        "mean_ev": _opt(np.nanmean(b.ev[idx])) if np.isfinite(b.ev[idx]).any() else None,
        "roi": _opt(points[0]) if settled.any() else None,
        "roi_ci_low": roi_ci.low,
        "roi_ci_high": roi_ci.high,
        "n_clv": int(has_clv.sum()),
        "clv": _opt(points[1]) if has_clv.any() else None,
        "clv_ci_low": clv_ci.low,
        "clv_ci_high": clv_ci.high,
        "clv_points": _opt(np.mean(clv_points[has_points])) if has_points.any() else None,
        "beat_close": _opt((clv[has_clv] > 0).mean()) if has_clv.any() else None,
    }


def _type_rows(e: Evaluation, key: str) -> tuple[Mask, Mask]:
    """(bet rows, forecast rows) of a market-type key."""
    types = ("spread", "total") if key == "spread+total" else (key,)
    bets = np.isin(e.markets.market_type[e.bets.market], types)
    return bets, np.isin(e.forecasts.market_type, types)


def _type_doc(
    e: Evaluation, key: str, seasons: list[int], n_boot: int, seed: int
) -> dict[str, Any] | None:
    in_seasons = np.isin(e.markets.season[e.bets.market], seasons)
    bet_rows, forecast_rows = _type_rows(e, key)
    bet_rows &= in_seasons
    forecast_rows &= np.isin(e.forecasts.season, seasons)
    types = ("spread", "total") if key == "spread+total" else (key,)
    books = [r for r in e.books if r["season"] in seasons and r["market_type"] in types]
    if not books:
        return None
    doc: dict[str, Any] = {
        "clv_unit": CLV_UNIT.get(key),
        "markets": sum(r["markets"] for r in books),
        "pre_tip": sum(r["pre_tip"] for r in books),
        "books_median": float(np.median([r["books_median"] for r in books])),
        "books_max": max(r["books_max"] for r in books),
    }
    if key in FORECAST_TYPES:
        doc.update(_forecasts(e, forecast_rows))
        doc["blend"] = [
            {k: v for k, v in r.items() if k != "market_type"}
            for r in e.blend
            if r["season"] in seasons and r["market_type"] == key
        ]
    doc["bets"] = {
        r.name: bet_stats(e, bet_rows & e.bets.masks[r.name], n_boot, seed) for r in RULES
    }
    names = [n for n in BASELINES if key != "moneyline" or n != "line_shopping"]
    doc["baselines"] = (
        {n: bet_stats(e, bet_rows & e.bets.masks[n], n_boot, seed) for n in names}
        if key != "prop"
        else {}
    )
    return doc


def season_doc(
    e: Evaluation,
    season: int | None,
    n_boot: int = DEFAULT_BOOTSTRAP,
    seed: int = SEED,
    tuned_on: tuple[int, ...] | None = None,
) -> dict[str, Any]:
    """One season's figures, or (`season` None) every evaluated season's pooled but those
    the value model was tuned on (`TUNED_ON`)."""
    tuned = TUNED_ON if tuned_on is None else tuned_on
    left_out = [s for s in e.seasons if s in tuned] if season is None else []
    seasons = [s for s in e.seasons if s not in tuned] if season is None else [season]
    books = [r for r in e.books if r["season"] in seasons and r["market_type"] != "prop"]
    most = max((r["books_max"] for r in books), default=0)
    markets = {}
    for key in TYPE_KEYS:
        d = _type_doc(e, key, seasons, n_boot, seed)
        if d is not None:
            markets[key] = d
    doc: dict[str, Any] = {
        "season": season,
        "seasons": seasons,
        "in_sample": season in tuned,
        "left_out": left_out,
        "single_book": most < P.MIN_BOOKS_TO_FLAG,
        "books_max": most,
        "markets": markets,
    }
    doc["summary"] = verdict(doc)
    return doc


def season_row(doc: dict[str, Any]) -> dict[str, Any]:
    """One line of the per-season table (pooled answers list them)."""
    row: dict[str, Any] = {
        "season": doc["season"],
        "in_sample": doc["in_sample"],
        "single_book": doc["single_book"],
        "books_max": doc["books_max"],
        "forecasts": {},
        "default_bets": {},
    }
    for key, m in doc["markets"].items():
        if "p_true" in m:
            same = m["same_games"]
            row["forecasts"][key] = {
                "n": m["p_true"]["n"],
                "n_close": m["close"]["n"],
                **{f: m[f]["brier"] for f in FORECASTS},
                "same_games": {"n": same["n"], **{f: same[f]["brier"] for f in FORECASTS}},
            }
        b = m["bets"]["default"]
        row["default_bets"][key] = {k: b[k] for k in ("n", "clv", "beat_close", "roi")}
    return row


BET_FIELDS = (
    "season",
    "game_date",
    "home",
    "away",
    "market_type",
    "side",
    "line",
    "odds",
    "bookmaker",
    "value_score_a",
    "value_score_b",
    "ev",
    "p_true",
    "flagged_by",
)  # a flagged bet in `bets`, exactly the contract (scripts rely on these names)


def _result(b: BetTable, i: int) -> str | None:
    if not b.settled[i]:
        return None
    return "push" if np.isnan(b.won[i]) else "won" if b.won[i] == 1 else "lost"


def flagged_bets(e: Evaluation) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Every bet a listed rule flags, with the rules that flag it (`BET_FIELDS`), and beside
    it, in the same order, what became of it: its market, result and closing-line value
    (`bet_outcomes`)."""
    b, pm, games = e.bets, e.markets, e.games
    listed = np.zeros(len(b), bool)
    for name in LISTED_RULES:
        listed |= b.masks[name]
    rows = []
    for i in np.flatnonzero(listed):
        k, side = int(b.market[i]), int(b.side[i])
        g = int(pm.game[k])
        mtype = str(pm.market_type[k])
        own = pm.line[k, side]
        bet = {
            "season": int(pm.season[k]),
            "game_date": games.date[g].isoformat(),
            "home": games.home[g],
            "away": games.away[g],
            "market_type": mtype,
            "side": SIDE_NAMES[mtype][side],
            "line": None if np.isnan(own) else float(own),
            "odds": round(float(b.odds[i]), 4),
            "bookmaker": b.book[i],
            "value_score_a": round(float(b.score_a[i]), 2),
            "value_score_b": round(float(b.score_b[i]), 2),
            "ev": round(float(b.ev[i]), 5),
            "p_true": round(float(b.p_win[i]), 5),
            "flagged_by": [n for n in LISTED_RULES if b.masks[n][i]],
        }
        outcome = {
            "market_id": pm.market_id[k],
            "side": bet["side"],
            "result": _result(b, int(i)),
            "clv": _opt(b.clv[i]),
            "clv_unit": CLV_UNIT[mtype],
        }
        rows.append((bet, outcome))
    rows.sort(key=lambda r: (r[0]["game_date"], r[1]["market_id"], r[0]["side"]))
    return [r[0] for r in rows], [r[1] for r in rows]


def build_document(
    e: Evaluation,
    *,
    sharp: frozenset[str],
    engine: str,
    n_boot: int = DEFAULT_BOOTSTRAP,
    seed: int = SEED,
    tuned_on: tuple[int, ...] | None = None,
) -> dict[str, Any]:
    tuned = TUNED_ON if tuned_on is None else tuned_on
    docs = {str(s): season_doc(e, s, n_boot, seed, tuned) for s in e.seasons}
    docs["all"] = season_doc(e, None, n_boot, seed, tuned)
    bets, outcomes = flagged_bets(e)
    return {
        "engine": engine,
        "devig_method": P.DEVIG,
        "sharp_books": sorted(sharp),
        "seasons": list(e.seasons),
        "tuned_on": sorted(tuned),
        "in_sample_seasons": [s for s in e.seasons if s in tuned],
        "rules": [{"name": n, "description": RULE_TEXT[n]} for n in [r.name for r in RULES]],
        "baselines": [{"name": n, "description": RULE_TEXT[n]} for n in BASELINES],
        "bootstrap": {"resamples": n_boot, "seed": seed, "unit": "game", "level": 0.95},
        "notes": [PARAMS_NOTE, CLV_NOTE, SAME_GAMES_NOTE],
        "by_season": docs,
        "season_rows": [season_row(docs[str(s)]) for s in e.seasons],
        "bets": bets,
        "bet_outcomes": outcomes,
        "compute_seconds": round(e.seconds, 3),
    }


def forecast_arrays(e: Evaluation) -> dict[str, NDArray[Any]]:
    f = e.forecasts
    code = np.array([FORECAST_TYPES.index(str(t)) for t in f.market_type], dtype=np.int8)
    return {
        "season": f.season.astype(np.int32),
        "market_type": code,
        "y": f.y,
        "p_true": f.p_true,
        "consensus": f.consensus,
        "close": f.close,
    }


def calibration(
    arrays: dict[str, NDArray[Any]],
    *,
    season: int | None,
    market_type: str | None,
    market: str,
    n_bins: int,
    left_out: Sequence[int] = (),
) -> tuple[ev.ForecastScores, ev.ForecastScores]:
    """The reliability curves of p_true and of a market forecast (`close` or `consensus`) on
    the markets both exist for; pooled (`season` None) over every season but `left_out` (the
    in-sample ones)."""
    rows = np.isfinite(arrays["y"]) & np.isfinite(arrays["p_true"])
    rows &= np.isfinite(arrays[market])
    if season is not None:
        rows &= arrays["season"] == season
    else:
        rows &= ~np.isin(arrays["season"], list(left_out))
    if market_type is not None:
        rows &= arrays["market_type"] == FORECAST_TYPES.index(market_type)
    y = arrays["y"][rows]
    model = ev.score_forecast(y, np.clip(arrays["p_true"][rows], 0, 1), n_bins)
    return model, ev.score_forecast(y, np.clip(arrays[market][rows], 0, 1), n_bins)
