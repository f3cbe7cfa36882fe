"""Algorithm A vs B on one season (or several pooled) and market type, in the layout
`edgelab backtest --json` wrote before the value model (`by_season.<season>.<type>`): pure, no
I/O, over an `Evaluation`.

The forecasts (`p_true`; `market_close`, the de-vigged close; `market_open`, the morning
consensus where the old report had the opening line; `p_true_open`), p_true minus the close on
the games both exist for, each algorithm's forecast and its bets at value score >= 50 and >= 70
(count, hit rate, ROI with a paired cluster-bootstrap interval over games, closing-line value in
points of probability and the share above zero, pushes left out), and every A-vs-B difference
with its paired interval. Both algorithms rank by p_true now (they differ in how they treat its
uncertainty), so their forecast rows agree exactly.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import numpy as np
from numpy.typing import NDArray

from edgelab.betting.evaluation import metrics as ev
from edgelab.betting.evaluation.report.summary import MIN_SAME_GAMES
from edgelab.betting.evaluation.walkforward import FORECAST_TYPES, Evaluation
from edgelab.betting.pricing import params as P

ALGORITHMS = ("a", "b")
THRESHOLDS = (50, 70)
MIN_BETS_TO_TEST = 30  # per algorithm: below it a difference is reported but never "significant"
ALGORITHM_TEXT = {
    "a": "Value Score A: 100 / (1 + exp(-(EV - SE) / 0.02)), the EV of the best price at p_true "
    "shrunk by its standard error from the books' dispersion",
    "b": "Value Score B: 100 * Phi(EV / SE), the confidence that the best price is +EV, with "
    "the consensus's error floor tau in SE",
}
MODEL_TEXT = (
    "The value model: p_true is the de-vigged consensus of the books at the last pre-tip "
    f"moment ({P.DEVIG} de-vig, sharp books weighted up), blended with the rating model only "
    "by the weight it earned on earlier seasons (`reliability`); value is the EV of the best "
    "price and line across books at p_true."
)
ROI_NOTE = (
    "ROI alone settles little: at prices near -110 one bet's profit has a standard deviation "
    "of about 1 unit, so n bets give ROI a 95% interval of about +-2/sqrt(n). Read closing-line "
    "value and the Brier score first."
)
CLV_NOTE = (
    "Closing-line value here (`mean_clv`, `positive_clv_share`) is in points of probability for "
    "every market type: the closing consensus probability of the side at the line taken "
    "(pushes left out) minus 1/odds taken. Every flagged bet is taken at the last pre-tip "
    "moment, so `n_at_open` is `n`."
)
PUSH_NOTE = "Pushes (a spread or total landing on the line) are neither won nor lost: left out."
OPEN_NOTE = (
    "`market_open` is the morning consensus (the last pre-tip moment, where the old report had "
    "the opening line) and `p_true_open` p_true on the same markets: p_true is priced there too, "
    "so it equals `p_true`. `market_close` is the de-vigged close on the markets that have one; "
    "`p_true_minus_market_close` compares the two on the games both exist for."
)


def _opt(x: Any) -> float | None:
    return float(x) if x is not None and np.isfinite(x) else None


class _Stats:
    """Ratio statistics over units clustered by game, bootstrapped together (paired)."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self._parts: list[tuple[Any, Any, Any]] = []  # (clusters, num, den) per statistic

    def add(self, name: str, clusters: Any, num: Any, den: Any | None = None) -> None:
        self._parts.append((clusters, num, np.ones(len(num)) if den is None else den))
        self.names.append(name)

    def run(self, n_boot: int, seed: int) -> dict[str, tuple[float, NDArray[np.float64]]]:
        codes = np.unique(np.concatenate([np.asarray(p[0], np.int64) for p in self._parts]))
        g = codes.size
        num_c = np.zeros((len(self.names), g))
        den_c = np.zeros((len(self.names), g))
        for i, (clusters, num, den) in enumerate(self._parts):
            at = np.searchsorted(codes, clusters)
            num_c[i] = np.bincount(at, weights=np.nan_to_num(num), minlength=g)
            den_c[i] = np.bincount(at, weights=den, minlength=g)
        points, draws = ev.bootstrap_cluster_sums(num_c, den_c, n_boot=n_boot, seed=seed)
        return {name: (float(points[i]), draws[:, i]) for i, name in enumerate(self.names)}


class Scope:
    """The forecast rows and the decided bet rows of some seasons and market types."""

    def __init__(self, e: Evaluation, seasons: list[int], market_type: str | None) -> None:
        types = FORECAST_TYPES if market_type is None else (market_type,)
        f, b, pm = e.forecasts, e.bets, e.markets
        self.e = e
        self.forecast = np.isin(f.season, seasons) & np.isin(f.market_type, types)
        self.bet = np.isin(pm.season[b.market], seasons) & np.isin(pm.market_type[b.market], types)
        self.bet &= np.isfinite(b.won)  # decided: pushes and unsettled bets left out

    def scores(self, name: str, market: str | None = None) -> ev.ForecastScores:
        """`name`'s scores where it (and `market`, if given) and the result exist."""
        f = self.e.forecasts
        rows = self.forecast & np.isfinite(f.y) & np.isfinite(getattr(f, name))
        if market is not None:
            rows &= np.isfinite(getattr(f, market))
        if name == "p_true" or market == "p_true":
            rows &= np.isfinite(f.consensus)  # p_true is scored where the consensus is
        p = np.clip(getattr(f, name)[rows], 0.0, 1.0)
        return ev.score_forecast(f.y[rows], p)

    def rule(self, algorithm: str, threshold: int) -> NDArray[np.int64]:
        return np.flatnonzero(self.bet & self.e.bets.masks[f"{algorithm}>={threshold}"])


def bet_row(e: Evaluation, at: NDArray[np.int64]) -> dict[str, Any]:
    b = e.bets
    clv = b.clv_probability[at]
    has = np.isfinite(clv)
    return {
        "n": int(at.size),
        "hit_rate": _opt(b.won[at].mean()) if at.size else None,
        "roi": _opt(b.profit[at].mean()) if at.size else None,
        "mean_clv": _opt(clv[has].mean()) if has.any() else None,
    }


def _fmt(x: float | None, scale: float = 1.0, digits: int = 4) -> str:
    return "n/a" if x is None else f"{x * scale:+.{digits}f}" if scale != 1.0 else f"{x:.{digits}f}"


def compare(
    e: Evaluation,
    seasons: list[int],
    market_type: str | None,
    *,
    season: int | None,
    in_sample: bool,
    algorithms: tuple[str, ...],
    n_boot: int,
    seed: int,
    fingerprint: str,
    model_version: str,
) -> dict[str, Any]:
    """The old `by_season.<season>.<market type>` document (see the module docstring)."""
    scope = Scope(e, seasons, market_type)
    f, b = e.forecasts, e.bets
    stats = _Stats()
    same = scope.forecast & np.isfinite(f.y) & np.isfinite(f.p_true) & np.isfinite(f.close)
    same &= np.isfinite(f.consensus)
    y, games = f.y[same], f.game[same]
    for name in ("p_true", "close"):
        p = np.clip(getattr(f, name)[same], 0.0, 1.0)
        stats.add(f"brier:{name}", games, ev.pointwise_brier(y, p))
        stats.add(f"log_loss:{name}", games, ev.pointwise_log_loss(y, p))
    bet_games = e.markets.game[b.market]
    for algo in ALGORITHMS:
        for t in THRESHOLDS:
            at = scope.rule(algo, t)
            clv = b.clv_probability[at]
            has = np.isfinite(clv).astype(np.float64)
            stats.add(f"roi:{algo}{t}", bet_games[at], b.profit[at])
            stats.add(f"hit_rate:{algo}{t}", bet_games[at], b.won[at])
            stats.add(f"mean_clv:{algo}{t}", bet_games[at], clv, has)
            stats.add(f"positive_clv_share:{algo}{t}", bet_games[at], (clv > 0) * 1.0, has)
    boot = stats.run(n_boot, seed)

    def diff(a: str, b_: str) -> dict[str, Any]:
        return asdict(ev.paired_difference(boot[a][0], boot[b_][0], boot[a][1], boot[b_][1]))

    p_true = scope.scores("p_true").to_dict(with_bins=False)
    consensus = scope.scores("consensus", "p_true")
    algos: dict[str, Any] = {}
    sizes: dict[tuple[str, int], int] = {}
    for algo in ALGORITHMS:
        per_threshold: dict[str, Any] = {}
        for t in THRESHOLDS:
            at = scope.rule(algo, t)
            sizes[(algo, t)] = int(at.size)
            clv = b.clv_probability[at]
            has = np.isfinite(clv)
            roi_ci = ev.percentile_interval(boot[f"roi:{algo}{t}"][1])
            mean_clv = _opt(boot[f"mean_clv:{algo}{t}"][0]) if has.any() else None
            per_threshold[str(t)] = {
                "n": int(at.size),
                "n_at_open": int(at.size),
                "wins": int(np.sum(b.won[at] == 1)),
                "hit_rate": _opt(boot[f"hit_rate:{algo}{t}"][0]),
                "mean_odds": _opt(b.odds[at].mean()) if at.size else None,
                "roi": _opt(boot[f"roi:{algo}{t}"][0]),
                "roi_ci_low": roi_ci.low,
                "roi_ci_high": roi_ci.high,
                "mean_clv": mean_clv,
                "mean_clv_at_open": mean_clv,
                "positive_clv_share": _opt(boot[f"positive_clv_share:{algo}{t}"][0])
                if has.any()
                else None,
            }
        algos[algo] = {
            "probability": "p_true",
            "description": ALGORITHM_TEXT[algo],
            "forecast": p_true,
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
            if cut is None:  # both algorithms forecast with p_true
                row = diff(f"{metric}:p_true", f"{metric}:p_true")
                enough = True
            else:
                row = diff(f"{metric}:a{cut}", f"{metric}:b{cut}")
                enough = min(sizes[("a", cut)], sizes[("b", cut)]) >= MIN_BETS_TO_TEST
            row["significant"] = bool(row["significant"] and enough)
            better = None
            if row["significant"]:
                better = "a" if (row["difference"] < 0) == lower_better else "b"
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

    has_consensus = consensus.n > 0
    doc: dict[str, Any] = {
        "season": season,
        "seasons": list(seasons),
        "in_sample": in_sample,
        "market_type": market_type,
        "devig_method": P.DEVIG,
        "model_version": model_version,
        "data_fingerprint": fingerprint,
        "p_true": p_true,
        "market_close": scope.scores("close").to_dict(with_bins=False),
        "p_true_open": p_true if has_consensus else None,
        "market_open": consensus.to_dict(with_bins=False) if has_consensus else None,
        "market_close_by_method": {P.DEVIG: scope.scores("close").to_dict(with_bins=False)},
        "p_true_minus_market_close": {
            "n": int(same.sum()),
            "brier": diff("brier:p_true", "brier:close"),
            "log_loss": diff("log_loss:p_true", "log_loss:close"),
        },
        "algorithms": {a: v for a, v in algos.items() if a in algorithms},
        "a_vs_b": a_vs_b if len(algorithms) == 2 else [],
        "bootstrap": {"resamples": n_boot, "seed": seed, "unit": "game", "level": 0.95},
    }
    lines = _summary(doc, algos)
    doc["summary"] = lines if len(algorithms) == 2 else lines[-2:]
    doc["notes"] = [ROI_NOTE, CLV_NOTE, PUSH_NOTE, OPEN_NOTE, MODEL_TEXT]
    return doc


def _summary(doc: dict[str, Any], algos: dict[str, Any]) -> list[str]:
    """The old verdict in sentences: CLV of A vs B, then the forecasts."""
    lines = []
    rows = {(r["metric"], r["threshold"]): r for r in doc["a_vs_b"]}
    for t in THRESHOLDS:
        r = rows.get(("mean_clv", t))
        if r is None:
            continue
        na, nb = algos["a"]["bets"][str(t)]["n"], algos["b"]["bets"][str(t)]["n"]
        verdict = f"significant, {r['better'].upper()} better" if r["better"] else "not significant"
        if not r["enough_data"]:
            verdict = f"too few bets to test (fewer than {MIN_BETS_TO_TEST} on one side)"
        lines.append(
            f"Mean CLV of bets scored >= {t}: A {_fmt(r['a'], 100, 2)} points of probability "
            f"(n={na}), B {_fmt(r['b'], 100, 2)} (n={nb}); difference "
            f"{_fmt(r['difference'], 100, 2)} (95% CI {_fmt(r['ci_low'], 100, 2)}.."
            f"{_fmt(r['ci_high'], 100, 2)}), {verdict}."
        )
    p = doc["p_true"]
    lines.append(
        f"Both algorithms forecast with p_true: Brier {_fmt(p['brier'])}, log loss "
        f"{_fmt(p['log_loss'])} (n={p['n']})."
    )
    m = doc["p_true_minus_market_close"]
    if m["n"] >= MIN_SAME_GAMES:
        b = m["brier"]
        lines.append(
            f"p_true vs the de-vigged close on the same {m['n']} markets: Brier {_fmt(b['a'])} "
            f"vs {_fmt(b['b'])} (difference {_fmt(b['difference'])}, 95% CI "
            f"{_fmt(b['ci_low'])}..{_fmt(b['ci_high'])})."
        )
    else:
        lines.append(
            f"p_true vs the de-vigged close: cannot be compared, only {m['n']} markets have "
            f"both (fewer than {MIN_SAME_GAMES})."
        )
    return lines
