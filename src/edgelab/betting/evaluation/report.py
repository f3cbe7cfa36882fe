"""What the backtest says, as plain JSON-ready dicts: algorithm A vs B, reliability curves, and
the per-season tables. Pure (no I/O): slices a `BacktestResult` and calls `evaluation`.

Which probability is each algorithm's forecast: algorithm A ranks by p_true itself (its
confidence and market quality scale the score, not the probability), so its forecast is
p_true; algorithm B's is p_true shrunk toward the market by the model's reliability
(`p_shrunk`). Forecasts are scored on every settled market at its closing line, where every
market type has a price (the opening lines are scored separately, spreads and totals only).
Bets are each algorithm's sides with value score >= 50 and >= 70 at the price a bet is taken
at (the opening line where the data has one, else the closing line).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import numpy as np
from numpy.typing import NDArray

from edgelab.betting.evaluation import metrics as ev
from edgelab.betting.evaluation.backtest import BacktestResult

ALGORITHMS = ("a", "b")
THRESHOLDS = (50, 70)
PROBABILITY_OF = {"a": "p_true", "b": "p_shrunk"}
SEED = 20240611
MIN_BETS_TO_TEST = 30  # per algorithm: below it a difference is reported but never "significant"
ROI_NOTE = (
    "ROI alone cannot settle A vs B here: at prices near -110 one bet's profit has a standard "
    "deviation of about 1 unit, so n bets give ROI a 95% interval of about +-2/sqrt(n) "
    "(+-6 points for 1,000 bets); an edge of 2 points needs about 10,000 bets to show. Read "
    "closing-line value and the Brier score first: they measure skill per bet and per "
    "forecast with far less noise."
)
CLV_NOTE = (
    "Closing-line value is in probability points, as the bet tracker reports it: the closing "
    "de-vigged probability of the side at the line taken minus 1/odds taken (margin included). "
    "Bets at the closing line (every moneyline: the data has no opening moneylines) score "
    "minus their share of the closing margin; `n_at_open` counts the bets struck before the "
    "close."
)
PUSH_NOTE = "Pushes (a spread or total landing on the line) are neither won nor lost: left out."
Mask = NDArray[np.bool_]


def select(
    result: BacktestResult, *, season: int | None = None, market_type: str | None = None
) -> Mask:
    mask: Mask = np.ones(result.game.size, dtype=bool)
    if season is not None:
        mask &= result.season == season
    if market_type is not None:
        mask &= result.market_type == market_type
    return mask


def _settled(result: BacktestResult, mask: Mask, kind: str) -> Mask:
    ok = (result.kind == kind) & np.isfinite(result.outcome) & np.isfinite(result.p_true)
    return np.asarray(mask & ok, dtype=bool)


def forecast_probabilities(result: BacktestResult, name: str) -> NDArray[np.float64]:
    """First-side probability of a named forecast: p_true, p_shrunk or market[:method]."""
    if name == "p_true":
        return result.p_true
    if name == "p_shrunk":
        return result.p_shrunk
    method = name.partition(":")[2] or result.devig_method
    return result.p_market[:, result.methods.index(method)]


def forecast_scores(
    result: BacktestResult, mask: Mask, kind: str, name: str, n_bins: int = ev.DEFAULT_BINS
) -> ev.ForecastScores:
    m = _settled(result, mask, kind)
    return ev.score_forecast(result.outcome[m], forecast_probabilities(result, name)[m], n_bins)


def _forecast_dict(result: BacktestResult, mask: Mask, kind: str, name: str) -> dict[str, Any]:
    return forecast_scores(result, mask, kind, name).to_dict(with_bins=False)


class _Bets:
    """Each side an algorithm scores >= threshold, at the price a bet is taken at, settled."""

    def __init__(self, result: BacktestResult, mask: Mask, algorithm: str, threshold: float):
        rows = mask & result.entry & np.isfinite(result.outcome)
        score = result.score_a if algorithm == "a" else result.score_b
        parts: list[tuple[Any, ...]] = []
        for side in (0, 1):
            at = np.flatnonzero(rows & (score[:, side] >= threshold))
            won = result.outcome[at] if side == 0 else 1.0 - result.outcome[at]
            clv = result.clv[at, side]
            parts.append((result.game[at], won, result.odds[at, side], clv, result.kind[at]))
        self.game = np.concatenate([p[0] for p in parts])
        self.won = np.concatenate([p[1] for p in parts])
        self.odds = np.concatenate([p[2] for p in parts])
        self.clv = np.concatenate([p[3] for p in parts])
        self.at_open = np.concatenate([p[4] for p in parts]) == "open"
        self.profit = ev.flat_stake_profit(self.won, self.odds)


class _Stats:
    """Ratio statistics over units clustered by game, bootstrapped together (paired)."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self._parts: list[tuple[Any, Any, Any]] = []  # (clusters, num, den) per statistic

    def add(self, name: str, clusters: Any, num: Any, den: Any | None = None) -> None:
        self._parts.append((clusters, num, np.ones(len(num)) if den is None else den))
        self.names.append(name)

    def run(self, n_boot: int, seed: int) -> dict[str, tuple[float, NDArray[np.float64]]]:
        codes = np.unique(np.concatenate([p[0] for p in self._parts]))
        g = codes.size
        num_c = np.zeros((len(self.names), g))
        den_c = np.zeros((len(self.names), g))
        for i, (clusters, num, den) in enumerate(self._parts):
            at = np.searchsorted(codes, clusters)
            num_c[i] = np.bincount(at, weights=np.nan_to_num(num), minlength=g)
            den_c[i] = np.bincount(at, weights=den, minlength=g)
        points, draws = ev.bootstrap_cluster_sums(num_c, den_c, n_boot=n_boot, seed=seed)
        return {name: (float(points[i]), draws[:, i]) for i, name in enumerate(self.names)}


def _opt(x: float) -> float | None:
    return float(x) if np.isfinite(x) else None


def compare(
    result: BacktestResult,
    *,
    season: int | None = None,
    market_type: str | None = None,
    n_boot: int = ev.DEFAULT_BOOTSTRAP,
    seed: int = SEED,
    with_methods: bool = True,
) -> dict[str, Any]:
    """Algorithm A vs B (and p_true vs the market) on one season (None = all) and market type
    (None = all), with paired cluster-bootstrap intervals of every difference."""
    mask = select(result, season=season, market_type=market_type)
    close = _settled(result, mask, "close")
    stats = _Stats()
    y = result.outcome[close]
    games = result.game[close]
    for name in ("p_true", "p_shrunk", "market"):
        p = forecast_probabilities(result, name)[close]
        stats.add(f"brier:{name}", games, ev.pointwise_brier(y, p))
        stats.add(f"log_loss:{name}", games, ev.pointwise_log_loss(y, p))
    bets: dict[tuple[str, int], _Bets] = {}
    for algo in ALGORITHMS:
        for t in THRESHOLDS:
            b = bets[(algo, t)] = _Bets(result, mask, algo, t)
            has = np.isfinite(b.clv).astype(np.float64)
            stats.add(f"roi:{algo}{t}", b.game, b.profit)
            stats.add(f"hit_rate:{algo}{t}", b.game, b.won)
            stats.add(f"mean_clv:{algo}{t}", b.game, b.clv, has)
            stats.add(f"positive_clv_share:{algo}{t}", b.game, (b.clv > 0).astype(float), has)
    boot = stats.run(n_boot, seed)

    def diff(a: str, b: str) -> dict[str, Any]:
        return asdict(ev.paired_difference(boot[a][0], boot[b][0], boot[a][1], boot[b][1]))

    algorithms: dict[str, Any] = {}
    for algo in ALGORITHMS:
        prob = PROBABILITY_OF[algo]
        per_threshold: dict[str, Any] = {}
        for t in THRESHOLDS:
            b = bets[(algo, t)]
            roi_ci = ev.percentile_interval(boot[f"roi:{algo}{t}"][1])
            has = np.isfinite(b.clv)
            per_threshold[str(t)] = {
                "n": int(b.won.size),
                "n_at_open": int(b.at_open.sum()),
                "wins": int(b.won.sum()),
                "hit_rate": _opt(boot[f"hit_rate:{algo}{t}"][0]),
                "mean_odds": _opt(float(b.odds.mean())) if b.odds.size else None,
                "roi": _opt(boot[f"roi:{algo}{t}"][0]),
                "roi_ci_low": roi_ci.low,
                "roi_ci_high": roi_ci.high,
                "mean_clv": _opt(boot[f"mean_clv:{algo}{t}"][0]),
                "mean_clv_at_open": _opt(float(b.clv[b.at_open & has].mean()))
                if (b.at_open & has).any()
                else None,
                "positive_clv_share": _opt(boot[f"positive_clv_share:{algo}{t}"][0]),
            }
        algorithms[algo] = {
            "probability": prob,
            "forecast": _forecast_dict(result, mask, "close", prob),
            "bets": per_threshold,
        }

    a_vs_b: list[dict[str, Any]] = []
    for metric, lower_better in (
        ("mean_clv", False),
        ("brier", True),
        ("log_loss", True),
        ("positive_clv_share", False),
        ("hit_rate", False),
        ("roi", False),
    ):
        cuts: tuple[int | None, ...] = (None,) if metric in ("brier", "log_loss") else THRESHOLDS
        for cut in cuts:
            if cut is None:
                row = diff(f"{metric}:p_true", f"{metric}:p_shrunk")
                enough = True
            else:
                row = diff(f"{metric}:a{cut}", f"{metric}:b{cut}")
                sizes = (bets[("a", cut)].won.size, bets[("b", cut)].won.size)
                enough = min(sizes) >= MIN_BETS_TO_TEST
            row["significant"] = bool(row["significant"] and enough)
            better = None
            if row["significant"]:
                a_wins = (row["difference"] < 0) == lower_better
                better = "a" if a_wins else "b"
            a_vs_b.append(
                {
                    "metric": metric,
                    "threshold": cut,
                    "lower_is_better": lower_better,
                    "enough_data": enough,
                    **row,
                    "better": better,
                }
            )

    model_vs_market = {
        "brier": diff("brier:p_true", "brier:market"),
        "log_loss": diff("log_loss:p_true", "log_loss:market"),
    }
    open_mask = _settled(result, mask, "open")
    doc: dict[str, Any] = {
        "season": season,
        "seasons": sorted({int(s) for s in result.season[mask]}),
        "market_type": market_type,
        "devig_method": result.devig_method,
        "model_version": result.model_version,
        "data_fingerprint": result.fingerprint,
        "p_true": _forecast_dict(result, mask, "close", "p_true"),
        "market_close": _forecast_dict(result, mask, "close", "market"),
        "p_true_open": _forecast_dict(result, mask, "open", "p_true") if open_mask.any() else None,
        "market_open": _forecast_dict(result, mask, "open", "market") if open_mask.any() else None,
        "market_close_by_method": {
            m: _forecast_dict(result, mask, "close", f"market:{m}") for m in result.methods
        }
        if with_methods
        else {},
        "p_true_minus_market_close": model_vs_market,
        "algorithms": algorithms,
        "a_vs_b": a_vs_b,
        "bootstrap": {"resamples": n_boot, "seed": seed, "unit": "game", "level": 0.95},
    }
    doc["summary"] = _summary(doc)
    doc["notes"] = [ROI_NOTE, CLV_NOTE, PUSH_NOTE]
    return doc


def _fmt(x: float | None, scale: float = 1.0, digits: int = 4) -> str:
    return "n/a" if x is None else f"{x * scale:+.{digits}f}" if scale != 1.0 else f"{x:.{digits}f}"


def _summary(doc: dict[str, Any]) -> list[str]:
    """The verdict in sentences, CLV and Brier first."""
    lines = []
    rows = {(r["metric"], r["threshold"]): r for r in doc["a_vs_b"]}
    for t in THRESHOLDS:
        r = rows[("mean_clv", t)]
        na = doc["algorithms"]["a"]["bets"][str(t)]["n"]
        nb = doc["algorithms"]["b"]["bets"][str(t)]["n"]
        verdict = f"significant, {r['better'].upper()} better" if r["better"] else "not significant"
        if not r["enough_data"]:
            verdict = f"too few bets to test (fewer than {MIN_BETS_TO_TEST} on one side)"
        lines.append(
            f"Mean CLV of bets scored >= {t}: A {_fmt(r['a'], 100, 2)} points (n={na}), "
            f"B {_fmt(r['b'], 100, 2)} points (n={nb}); difference {_fmt(r['difference'], 100, 2)} "
            f"(95% CI {_fmt(r['ci_low'], 100, 2)}..{_fmt(r['ci_high'], 100, 2)}), {verdict}."
        )
    r = rows[("brier", None)]
    verdict = f"significant, {r['better'].upper()} better" if r["better"] else "not significant"
    lines.append(
        f"Brier at the closing line: A (p_true) {_fmt(r['a'])}, B (p_shrunk) {_fmt(r['b'])}; "
        f"difference {_fmt(r['difference'])} (95% CI {_fmt(r['ci_low'])}..{_fmt(r['ci_high'])}), "
        f"{verdict}."
    )
    m = doc["p_true_minus_market_close"]["brier"]
    lines.append(
        f"p_true vs the de-vigged closing market: Brier {_fmt(m['a'])} vs {_fmt(m['b'])} "
        f"(difference {_fmt(m['difference'])}, 95% CI {_fmt(m['ci_low'])}..{_fmt(m['ci_high'])})."
    )
    return lines


def calibration(
    result: BacktestResult,
    *,
    algorithm: str = "a",
    season: int | None = None,
    market_type: str | None = None,
    line: str = "close",
    n_bins: int = ev.DEFAULT_BINS,
) -> dict[str, Any]:
    """The reliability curve of an algorithm's probability beside the de-vigged market's."""
    mask = select(result, season=season, market_type=market_type)
    prob = PROBABILITY_OF[algorithm]
    model = forecast_scores(result, mask, line, prob, n_bins)
    market = forecast_scores(result, mask, line, "market", n_bins)
    notes = [PUSH_NOTE]
    if model.n == 0:
        notes.append(
            "No settled markets here"
            + (
                ": the data has opening lines for spreads and totals only."
                if line == "open"
                else "."
            )
        )
    return {
        "algorithm": algorithm,
        "probability": prob,
        "season": season,
        "market_type": market_type,
        "line": line,
        "devig_method": result.devig_method,
        "n_bins": n_bins,
        "model_version": result.model_version,
        "model": model.to_dict(),
        "market": market.to_dict(),
        "notes": notes,
    }


FORECAST_COLUMNS = (
    ("moneyline", "close"),
    ("spread", "close"),
    ("spread", "open"),
    ("total", "close"),
    ("total", "open"),
)


def season_rows(result: BacktestResult) -> list[dict[str, Any]]:
    """Per season (and "all"): p_true's and the de-vigged market's Brier and log loss per market
    type and line, and the bets >= 50 / >= 70 of both algorithms (no intervals: fast)."""
    out = []
    for season in [*result.seasons, None]:
        mask = select(result, season=season)
        row: dict[str, Any] = {"season": "all" if season is None else season}
        for mtype, kind in FORECAST_COLUMNS:
            sub = mask & (result.market_type == mtype)
            pt = forecast_scores(result, sub, kind, "p_true")
            mk = forecast_scores(result, sub, kind, "market")
            row[f"{mtype}_{kind}"] = {
                "n": pt.n,
                "p_true_brier": pt.brier,
                "market_brier": mk.brier,
                "p_true_log_loss": pt.log_loss,
                "market_log_loss": mk.log_loss,
            }
        for algo in ALGORITHMS:
            for t in THRESHOLDS:
                b = _Bets(result, mask, algo, t)
                has = np.isfinite(b.clv)
                row[f"bets_{algo}{t}"] = {
                    "n": int(b.won.size),
                    "hit_rate": _opt(float(b.won.mean())) if b.won.size else None,
                    "roi": _opt(float(b.profit.mean())) if b.won.size else None,
                    "mean_clv": _opt(float(b.clv[has].mean())) if has.any() else None,
                }
        out.append(row)
    return out


def full_report(
    result: BacktestResult,
    *,
    n_boot: int = ev.DEFAULT_BOOTSTRAP,
    algorithms: tuple[str, ...] = ALGORITHMS,
) -> dict[str, Any]:
    """Everything, for `edgelab backtest --json`: per season (and all seasons), per market type
    (and all types), the comparison `compare` gives the API, plus the per-season table. With one
    algorithm, the other's figures and the A-vs-B rows are left out."""
    dropped = [a for a in ALGORITHMS if a not in algorithms]

    def keep(doc: dict[str, Any]) -> dict[str, Any]:
        if dropped:
            doc["algorithms"] = {a: v for a, v in doc["algorithms"].items() if a in algorithms}
            doc["a_vs_b"] = []
            doc["summary"] = doc["summary"][-1:]
        return doc

    by_season: dict[str, Any] = {}
    for season in [*result.seasons, None]:
        key = "all" if season is None else str(season)
        by_season[key] = {
            "all" if mtype is None else mtype: keep(
                compare(result, season=season, market_type=mtype, n_boot=n_boot)
            )
            for mtype in (None, "moneyline", "spread", "total")
        }
    table = season_rows(result)
    for row in table:
        for a in dropped:
            for t in THRESHOLDS:
                row.pop(f"bets_{a}{t}", None)
    return {
        "model_version": result.model_version,
        "devig_method": result.devig_method,
        "seasons": result.seasons,
        "algorithms": list(algorithms),
        "backtest_seconds": round(result.seconds, 3),
        "fits": [asdict(f) for f in result.fits],
        "table": table,
        "by_season": by_season,
    }
