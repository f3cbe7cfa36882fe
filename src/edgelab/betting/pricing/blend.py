"""How far the rating model may move the market's fair price: a blend weight per market type,
used only as far as the model has earned it walk-forward. Pure (no I/O).

p_true blends the consensus with the rating model's estimate:

- moneylines: logit p = (1 - w) logit p_consensus + w logit p_model; w minimises the log loss
  of the results;
- spreads and totals: mu = (1 - w) mu_consensus + w mu_model (points); w minimises the squared
  error of the final margin or total (closed form, clipped to [0, 1]).

"Earned" (`earned_weights`): for the season being scored, w is fitted on every earlier season,
but used only when the same procedure one season earlier, fitted on the seasons before the last
and scored on the last, beat the consensus alone (log loss or squared error lower by at least
0.1 %) on at least `MIN_GAMES` games. Otherwise w = 0 and p_true is the consensus. A rating
model that merely disagrees with every book never moves a price it has not shown it can improve.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import minimize_scalar
from scipy.special import expit, logit

F = NDArray[np.float64]
MIN_GAMES = 200
MIN_IMPROVEMENT = 0.001  # relative: a gain smaller than this is noise, not evidence
EPS = 1e-6


@dataclass(frozen=True)
class History:
    """One market type's past games: the consensus, the model and what happened.

    For moneylines `consensus`/`model` are P(home) and `outcome` 1/0; for spreads and totals
    they are the expected margin (or total) in points and `outcome` the actual one."""

    season: NDArray[np.int64]
    consensus: F
    model: F
    outcome: F


def blend_probability(p_consensus: F, p_model: F, w: float) -> F:
    pc = np.clip(p_consensus, EPS, 1 - EPS)
    pm = np.clip(p_model, EPS, 1 - EPS)
    out: F = expit((1 - w) * logit(pc) + w * logit(pm))
    return out


def blend_mean(mu_consensus: F, mu_model: F, w: float) -> F:
    out: F = (1 - w) * mu_consensus + w * mu_model
    return out


def _log_loss(p: F, y: F) -> float:
    p = np.clip(p, EPS, 1 - EPS)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def fit_weight(kind: str, consensus: F, model: F, outcome: F) -> float:
    """The weight in [0, 1] that best fits these games (`kind`: "probability" or "mean")."""
    ok = ~(np.isnan(consensus) | np.isnan(model) | np.isnan(outcome))
    c, m, y = consensus[ok], model[ok], outcome[ok]
    if c.size == 0:
        return 0.0
    if kind == "mean":
        d = m - c
        denom = float(np.sum(d * d))
        return 0.0 if denom == 0 else float(np.clip(np.sum((y - c) * d) / denom, 0.0, 1.0))
    res = minimize_scalar(
        lambda w: _log_loss(blend_probability(c, m, float(w)), y), bounds=(0.0, 1.0),
        method="bounded",
    )  # fmt: skip
    return float(res.x)


def loss(kind: str, consensus: F, model: F, outcome: F, w: float) -> float:
    ok = ~(np.isnan(consensus) | np.isnan(model) | np.isnan(outcome))
    c, m, y = consensus[ok], model[ok], outcome[ok]
    if kind == "mean":
        return float(np.mean((y - blend_mean(c, m, w)) ** 2))
    return _log_loss(blend_probability(c, m, w), y)


@dataclass(frozen=True)
class Earned:
    weight: float  # what p_true uses (0 unless earned)
    fitted: float  # fitted on every season before the scored one
    evidence: str  # why it is used or not, in words


def earned_weight(kind: str, history: History, season: int) -> Earned:
    """The blend weight for `season` (see the module docstring)."""
    before = history.season < season
    if int(before.sum()) < MIN_GAMES:
        return Earned(0.0, 0.0, f"fewer than {MIN_GAMES} past games with odds from many books")
    fitted = fit_weight(kind, history.consensus[before], history.model[before],
                        history.outcome[before])  # fmt: skip
    last = int(history.season[before].max())
    train = history.season < last
    test = history.season == last
    if int(train.sum()) < MIN_GAMES or int(test.sum()) < MIN_GAMES:
        return Earned(
            0.0, fitted, f"not yet earned: no walk-forward test (needs {MIN_GAMES} games in the "
            f"season before {last} and in {last})",
        )  # fmt: skip
    w_prev = fit_weight(kind, history.consensus[train], history.model[train],
                        history.outcome[train])  # fmt: skip
    args = (history.consensus[test], history.model[test], history.outcome[test])
    with_model, without = loss(kind, *args, w_prev), loss(kind, *args, 0.0)
    if with_model < without * (1 - MIN_IMPROVEMENT):
        return Earned(
            fitted, fitted,
            f"earned: fitted before {last} it improved {last} ({with_model:.4f} vs {without:.4f})",
        )  # fmt: skip
    return Earned(
        0.0, fitted,
        f"not earned: fitted before {last} it did not improve {last} "
        f"({with_model:.4f} vs {without:.4f})",
    )  # fmt: skip
