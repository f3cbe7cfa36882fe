"""The `edgelab backtest --json` layout: pure, no I/O.

The value model's keys (`seasons.<year>.<market type>`: forecasts, bets and baselines by rule,
blend; `all_seasons`, the pooled figures; `season_rows`; `bets`, every flagged bet with exactly
the issue's fields, and `bet_outcomes`, what became of each, in the same order), beside the keys
the command wrote before the value model existed, in the same shapes (scripts read them):

* `algorithms`: the algorithms reported (`["a", "b"]`, or the one asked for);
* `fits`: per season what the model was, now the value model's: `history_games` (settled games
  before the season), `params` (the consensus's sigmas and taus, the default thresholds, the
  blend weights fitted before the season), `reliability` (the rating model's earned say in
  p_true per market type, the blend weight used), `in_sample` and `model` (in words);
* `table`: per season (and "all"), p_true against the market on the same markets, at the close
  (`<type>_close`: the de-vigged close) and at the bet moment (`<type>_open`: the morning
  consensus, the last pre-tip moment, where the old report had the opening line), and the bets
  of value scores A and B >= 50 and >= 70 (`bets_a50` ...);
* `by_season.<year or "all">.<"all" or market type>`: the old comparison of A and B: the
  forecasts (`p_true`, `market_close`, `p_true_open`, `market_open`), p_true minus the close on
  the games both exist for with a paired bootstrap interval, each algorithm's forecast and bets
  per threshold, and the A-vs-B differences. Both algorithms now rank by p_true (they differ in
  how they treat its uncertainty), so their forecast rows agree exactly.

"all" pools every season but those the value model was tuned on (`report.TUNED_ON`, marked
`in_sample`). The legacy bet figures leave pushes out and give closing-line value in points of
probability for every market type (`settle.line_clv_probability`), as the old report did; the
value model's keys keep points incl. price for spreads and totals.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from edgelab.betting.evaluation.report.a_vs_b import (
    ALGORITHMS,
    MODEL_TEXT,
    THRESHOLDS,
    Scope,
    bet_row,
    compare,
)
from edgelab.betting.evaluation.report.summary import season_label
from edgelab.betting.evaluation.walkforward import FORECAST_TYPES, Evaluation
from edgelab.betting.pricing import params as P

TABLE_COLUMNS = (
    ("moneyline", "close"),
    ("moneyline", "open"),
    ("spread", "close"),
    ("spread", "open"),
    ("total", "close"),
    ("total", "open"),
)


def _history_games(e: Evaluation, season: int) -> int:
    g = e.games
    days = g.day
    first = days[g.season == season].min(initial=np.iinfo(np.int64).max)
    return int(np.sum(g.played & (days < first)))


def fits(e: Evaluation, tuned: tuple[int, ...]) -> list[dict[str, Any]]:
    """Per evaluated season, what the model was (see the module docstring)."""
    out = []
    for season in e.seasons:
        blend = {r["market_type"]: r for r in e.blend if r["season"] == season}
        params: dict[str, float] = {}
        for t, tp in P.TYPE_PARAMS.items():
            if tp.sigma is not None:
                params[f"{t}_sigma"] = tp.sigma
            params[f"{t}_tau"] = tp.tau
            params[f"{t}_default_threshold"] = P.DEFAULT_RULES[t].threshold
        for t, r in blend.items():
            params[f"{t}_blend_fitted"] = float(r["fitted"])
        reliability = {t: float(r["weight"]) for t, r in blend.items()}
        reliability.setdefault("prop", 0.0)
        out.append(
            {
                "season": season,
                "history_games": _history_games(e, season),
                "params": params,
                "reliability": reliability,
                "in_sample": season in tuned,
                "model": MODEL_TEXT,
            }
        )
    return out


def table(
    e: Evaluation, tuned: tuple[int, ...], algorithms: tuple[str, ...]
) -> list[dict[str, Any]]:
    """Per season and "all" (out of sample only): p_true vs the market on the same markets,
    and the bets of A and B at 50 and 70 (no intervals)."""
    pooled = [s for s in e.seasons if s not in tuned]
    out = []
    for key, seasons in [*((s, [s]) for s in e.seasons), ("all", pooled)]:
        row: dict[str, Any] = {"season": key, "in_sample": key in tuned}
        for mtype, kind in TABLE_COLUMNS:
            scope = Scope(e, seasons, mtype)
            market = "close" if kind == "close" else "consensus"
            pt, mk = scope.scores("p_true", market), scope.scores(market, "p_true")
            row[f"{mtype}_{kind}"] = {
                "n": pt.n,
                "p_true_brier": pt.brier,
                "market_brier": mk.brier,
                "p_true_log_loss": pt.log_loss,
                "market_log_loss": mk.log_loss,
            }
        scope = Scope(e, seasons, None)
        for algo in algorithms:
            for t in THRESHOLDS:
                row[f"bets_{algo}{t}"] = bet_row(e, scope.rule(algo, t))
        out.append(row)
    return out


def by_season(
    e: Evaluation,
    tuned: tuple[int, ...],
    algorithms: tuple[str, ...],
    *,
    n_boot: int,
    seed: int,
    fingerprint: str,
    model_version: str,
) -> dict[str, Any]:
    pooled = [s for s in e.seasons if s not in tuned]
    out: dict[str, Any] = {}
    for key, seasons, season in [*((str(s), [s], s) for s in e.seasons), ("all", pooled, None)]:
        docs = {}
        for mtype in (None, *FORECAST_TYPES):
            doc = compare(
                e,
                seasons,
                mtype,
                season=season,
                in_sample=season in tuned,
                algorithms=algorithms,
                n_boot=n_boot,
                seed=seed,
                fingerprint=fingerprint,
                model_version=model_version,
            )
            docs["all" if mtype is None else mtype] = doc
        out[key] = docs
    return out


def export(
    doc: dict[str, Any],
    e: Evaluation,
    *,
    algorithms: tuple[str, ...] = ALGORITHMS,
    fingerprint: str = "",
) -> dict[str, Any]:
    """The whole `--json` document from the stored report `doc` and its `Evaluation`."""

    def flat(sd: dict[str, Any]) -> dict[str, Any]:
        keep = ("single_book", "books_max", "summary", "in_sample")
        return {**sd["markets"], **{k: sd[k] for k in keep}}

    tuned = tuple(doc["tuned_on"])
    boot = doc["bootstrap"]
    docs = doc["by_season"]
    return {
        "model_version": doc["engine"],
        "devig_method": doc["devig_method"],
        "sharp_books": doc["sharp_books"],
        "backtest_seconds": doc["compute_seconds"],
        "tuned_on": doc["tuned_on"],
        "seasons": {str(s): flat(docs[str(s)]) for s in doc["seasons"]},
        "all_seasons": {
            **flat(docs["all"]),
            "seasons": docs["all"]["seasons"],
            "left_out": docs["all"]["left_out"],
            "label": season_label(None, docs["all"]["left_out"], docs["all"]["seasons"]),
        },
        "season_rows": doc["season_rows"],
        "rules": doc["rules"],
        "baselines": doc["baselines"],
        "bootstrap": boot,
        "notes": doc["notes"],
        "bets": doc["bets"],
        "bet_outcomes": doc["bet_outcomes"],
        # the keys of the report before the value model, in their old shapes
        "algorithms": list(algorithms),
        "fits": fits(e, tuned),
        "table": table(e, tuned, algorithms),
        "by_season": by_season(
            e,
            tuned,
            algorithms,
            n_boot=boot["resamples"],
            seed=boot["seed"],
            fingerprint=fingerprint,
            model_version=doc["engine"],
        ),
    }
