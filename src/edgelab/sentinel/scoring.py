"""From raw features to component scores, a composite and a category: pure NumPy, no I/O.

1. Each feature becomes a 0-1 score relative to the population: its mid-rank percentile `p`
   among the reference population's values (quantiles stored with each full scoring run), then
   `max(0, 2p - 1)`: nothing at or below the population median, 1 at the very top. Rare values
   of markers most players never show (a reversed withdrawal) therefore score high, as in the
   literature's "top 1-5 %" definitions (SENTINEL §1.4). External scores that are already risk
   probabilities (`ba_gamalyze`) are used as they are.
2. A component is the weighted mean of its defined features (undefined ones are left out and
   the rest re-weighted); it is absent (None) when none is defined.
3. The composite is the weighted mean of the present components, re-weighted over them; the
   result says which were absent. Weights (sum 1):

       loss_chase 0.30   the DSM-5 criterion most directly visible in account data [16][17]
       bet_escalation 0.25   the most replicated markers: trajectory, intensity, variability [1-4]
       market_drift 0.15   live share and breadth [10][11][12]
       temporal_risk 0.15   night play and session length [19][38]
       behavioural 0.15   limits, time-outs, self-assessment [20][27] (mostly absent today)

4. Category by the cut-offs in settings (`EDGELAB_SENTINEL_CUTOFF_*`): CRITICAL >= critical,
   HIGH >= high, MEDIUM >= medium, else LOW. The defaults flag about the volumes SENTINEL §5
   suggests (CRITICAL ~0.5 %, HIGH ~2 %, MEDIUM ~7 %) on the simulated population; an operator
   tunes them to what their RG team can review.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]
QUANTILES = 201  # reference resolution: 0.5 % steps, interpolated between
COMPONENTS = ("loss_chase", "bet_escalation", "market_drift", "temporal_risk", "behavioural")
COMPONENT_WEIGHTS = {
    "loss_chase": 0.30,
    "bet_escalation": 0.25,
    "market_drift": 0.15,
    "temporal_risk": 0.15,
    "behavioural": 0.15,
}


@dataclass(frozen=True)
class FeatureSpec:
    name: str
    component: str
    weight: float  # within its component
    label: str  # what a high value means, for explanations
    absolute: bool = False  # already a 0-1 risk score: not ranked against the population


FEATURES: tuple[FeatureSpec, ...] = (
    FeatureSpec("lc_rebet_speedup", "loss_chase", 0.30, "bets again faster after losses"),
    FeatureSpec("lc_return_after_losing_day", "loss_chase", 0.20, "returns the day after losing"),
    FeatureSpec("lc_deposits_after_loss", "loss_chase", 0.25, "deposits soon after losses"),
    FeatureSpec("lc_withdrawal_reversals", "loss_chase", 0.15, "reverses withdrawals"),
    FeatureSpec("lc_declined_deposit_share", "loss_chase", 0.05, "has deposits declined"),
    FeatureSpec("lc_stake_after_loss", "loss_chase", 0.05, "stakes more after losses"),
    FeatureSpec("be_stake_trajectory", "bet_escalation", 0.25, "daily stakes are rising"),
    FeatureSpec("be_recent_vs_baseline", "bet_escalation", 0.20, "stakes up on own baseline"),
    FeatureSpec("be_stake_variability", "bet_escalation", 0.15, "stakes vary widely day to day"),
    FeatureSpec("be_intensity", "bet_escalation", 0.10, "many bets per betting day"),
    FeatureSpec("be_frequency", "bet_escalation", 0.10, "bets on most days"),
    FeatureSpec("be_net_loss_per_day", "bet_escalation", 0.10, "loses a lot per betting day"),
    FeatureSpec("be_deposits_per_day", "bet_escalation", 0.10, "deposits often"),
    FeatureSpec("md_live_share", "market_drift", 0.35, "bets mostly in-play"),
    FeatureSpec("md_live_shift", "market_drift", 0.20, "moved toward in-play betting"),
    FeatureSpec("md_breadth", "market_drift", 0.25, "bets on many kinds of market"),
    FeatureSpec("md_new_markets", "market_drift", 0.20, "moved into new markets"),
    FeatureSpec("tr_night_play", "temporal_risk", 0.35, "bets at night"),
    FeatureSpec("tr_session_minutes", "temporal_risk", 0.15, "plays long sessions"),
    FeatureSpec("tr_binge_share", "temporal_risk", 0.20, "has binge sessions"),
    FeatureSpec("tr_consecutive_days", "temporal_risk", 0.20, "bets many days in a row"),
    FeatureSpec("tr_session_growth", "temporal_risk", 0.10, "sessions are getting longer"),
    FeatureSpec("ba_gamalyze", "behavioural", 0.50, "self-assessment shows risk", absolute=True),
    FeatureSpec("ba_limit_increases", "behavioural", 0.30, "raised or removed limits"),
    FeatureSpec("ba_prior_timeouts", "behavioural", 0.20, "took time-outs before"),
)
SPECS = {f.name: f for f in FEATURES}


@dataclass(frozen=True)
class Cutoffs:
    critical: float
    high: float
    medium: float

    def __post_init__(self) -> None:
        if not 0 <= self.medium <= self.high <= self.critical <= 1:
            raise ValueError("cut-offs must satisfy 0 <= medium <= high <= critical <= 1")


@dataclass
class Scored:
    feature_scores: dict[str, FloatArray]  # 0-1, NaN = undefined
    components: dict[str, FloatArray]  # 0-1, NaN = absent
    composite: FloatArray  # 0-1
    categories: NDArray[np.str_]
    effective_weights: NDArray[np.float64]  # players x components, re-weighted, rows sum to 1


def build_reference(values: dict[str, FloatArray]) -> dict[str, list[float]]:
    """Quantiles of each ranked feature over the population (features nobody has are left out)."""
    ref: dict[str, list[float]] = {}
    levels = np.linspace(0.0, 1.0, QUANTILES)
    for spec in FEATURES:
        if spec.absolute or spec.name not in values:
            continue
        col = values[spec.name]
        col = col[np.isfinite(col)]
        if len(col):
            ref[spec.name] = [float(v) for v in np.quantile(col, levels)]
    return ref


def percentile_rank(quantiles: FloatArray, x: FloatArray) -> FloatArray:
    """Mid-rank percentile of x among a distribution given by its quantiles, 0-1 (NaN stays).

    Where x equals quantile values (a mass point such as "no reversals"), the middle of their
    levels; between two quantiles, linear interpolation; outside them, 0 or 1.
    """
    q = np.asarray(quantiles, dtype=np.float64)
    k = len(q)
    levels = np.linspace(0.0, 1.0, k)
    out = np.full(x.shape, np.nan)
    ok = np.isfinite(x)
    xv = x[ok]
    lo = np.searchsorted(q, xv, side="left")
    hi = np.searchsorted(q, xv, side="right")
    res = np.empty(len(xv))
    tie = hi > lo
    res[tie] = (levels[lo[tie]] + levels[hi[tie] - 1]) / 2.0
    gap = ~tie
    below, above = gap & (lo == 0), gap & (lo == k)
    mid = gap & ~below & ~above
    res[below], res[above] = 0.0, 1.0
    i = lo[mid]
    frac = (xv[mid] - q[i - 1]) / (q[i] - q[i - 1])
    res[mid] = levels[i - 1] + frac * (levels[i] - levels[i - 1])
    out[ok] = res
    return out


def feature_scores(
    values: dict[str, FloatArray], reference: dict[str, list[float]]
) -> dict[str, FloatArray]:
    """Each feature as a 0-1 score: above-median distance in the population, or as given."""
    out: dict[str, FloatArray] = {}
    for spec in FEATURES:
        x = values[spec.name]
        if spec.absolute:
            out[spec.name] = np.clip(x, 0.0, 1.0)
        elif spec.name in reference:
            p = percentile_rank(np.asarray(reference[spec.name]), x)
            out[spec.name] = np.clip(2.0 * p - 1.0, 0.0, 1.0)
        else:
            out[spec.name] = np.full(x.shape, np.nan)
    return out


def _weighted_mean(columns: list[FloatArray], weights: list[float]) -> FloatArray:
    m = np.vstack(columns)
    w = np.asarray(weights)[:, None] * np.isfinite(m)
    total = w.sum(axis=0)
    num = (np.nan_to_num(m) * w).sum(axis=0)
    out = np.full(m.shape[1], np.nan)
    ok = total > 0
    out[ok] = num[ok] / total[ok]
    return out


def categorize(composite: FloatArray, cutoffs: Cutoffs) -> NDArray[np.str_]:
    return np.select(
        [composite >= cutoffs.critical, composite >= cutoffs.high, composite >= cutoffs.medium],
        ["CRITICAL", "HIGH", "MEDIUM"],
        default="LOW",
    )


def score(
    values: dict[str, FloatArray], reference: dict[str, list[float]], cutoffs: Cutoffs
) -> Scored:
    """Components, composite and category for every player (see the module docstring)."""
    fs = feature_scores(values, reference)
    components: dict[str, FloatArray] = {}
    for comp in COMPONENTS:
        specs = [f for f in FEATURES if f.component == comp]
        components[comp] = _weighted_mean([fs[f.name] for f in specs], [f.weight for f in specs])
    cm = np.vstack([components[c] for c in COMPONENTS]).T  # players x components
    w = np.array([COMPONENT_WEIGHTS[c] for c in COMPONENTS])[None, :] * np.isfinite(cm)
    total = w.sum(axis=1, keepdims=True)
    eff = np.divide(w, total, out=np.zeros_like(w), where=total > 0)
    composite = np.clip((np.nan_to_num(cm) * eff).sum(axis=1), 0.0, 1.0)
    return Scored(fs, components, composite, categorize(composite, cutoffs), eff)


def top_features(
    scored: Scored, values: dict[str, FloatArray], i: int, k: int = 3
) -> list[dict[str, Any]]:
    """The k features that added most to player i's composite (contribution > 0), largest first.

    contribution = effective component weight x the feature's share of its component x score.
    """
    out: list[dict[str, Any]] = []
    for ci, comp in enumerate(COMPONENTS):
        ew = float(scored.effective_weights[i, ci])
        if ew <= 0:
            continue
        specs = [f for f in FEATURES if f.component == comp]
        defined = [f for f in specs if np.isfinite(scored.feature_scores[f.name][i])]
        total = sum(f.weight for f in defined)
        for f in defined:
            s = float(scored.feature_scores[f.name][i])
            contribution = ew * f.weight / total * s
            if contribution > 0:
                out.append(
                    {
                        "feature": f.name,
                        "component": comp,
                        "label": f.label,
                        "value": round(float(values[f.name][i]), 6),
                        "score": round(s, 4),
                        "contribution": round(contribution, 4),
                    }
                )
    out.sort(key=lambda d: (-d["contribution"], d["feature"]))
    return out[:k]
