"""The calibration map of p_true: fitting it, choosing its method, measuring it honestly (pure).

The map (`CalibrationMap`) turns the rating model's first-side probability of a market type
(home for moneylines and spreads, over for totals) into a calibrated one; the second side gets
one minus it, so the two sides always sum to 1. Per market type it is one of:

- `isotonic`: scikit-learn's `IsotonicRegression(out_of_bounds="clip")`, stored as its
  thresholds (x, y) and applied by linear interpolation between them (what `predict` does),
  clipped at the ends;
- `platt`: logistic regression on logit(p), stored as slope `a` and intercept `b`
  (p' = expit(a logit(p) + b)); the slope is kept >= 0 so the map never reverses an order;
- `none`: the identity.

Outputs stay in [EPS, 1 - EPS]. A map is fitted on the walk-forward backtest's out-of-sample
closing-line predictions (`backtest.run_backtest`: each season predicted by a model fitted only
on earlier seasons), so it learns how the deployed model errs on games it has not seen.

Honest before/after (`calibrate`): seasons are split in time. With three or more evaluable
seasons the method is chosen on the second-latest season (candidates fitted on the seasons
before it), then the chosen method is refitted on every season before the latest and measured
on the latest, which neither choice nor fit has seen. With two seasons choice and measurement
share the latest season (noted in the result), with one the season's last third by date is
held out. The stored map is then refitted on every season. `metrics_before` is the current
model (the last job's map, or none) on the same held-out rows.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray
from scipy.special import expit, logit

from edgelab.betting.markets.forecast import FIRST_SIDE, MARKET_TYPES

if TYPE_CHECKING:
    from edgelab.betting.evaluation.backtest import BacktestData

FloatArray = NDArray[np.float64]
EPS = 1e-3  # calibrated probabilities stay in [EPS, 1 - EPS]
METHODS = ("isotonic", "platt", "none")
MIN_FIT = 200  # settled out-of-sample markets of a type needed to fit its map
MIN_HELD_OUT = 100  # ... and to compare or measure one


@dataclass(frozen=True)
class TypeMap:
    """The map of one market type's first-side probability (see the module docstring)."""

    method: str = "none"
    x: tuple[float, ...] = ()  # isotonic thresholds, increasing
    y: tuple[float, ...] = ()  # isotonic values at them, non-decreasing
    a: float = 1.0  # Platt slope on logit(p), >= 0
    b: float = 0.0  # Platt intercept

    def apply(self, p: FloatArray) -> FloatArray:
        p = np.asarray(p, dtype=np.float64)
        if self.method == "isotonic" and self.x:
            out = np.interp(p, np.array(self.x), np.array(self.y))
        elif self.method == "platt":
            out = expit(self.a * logit(np.clip(p, EPS, 1 - EPS)) + self.b)
        else:
            return p.copy()
        return np.asarray(np.where(np.isfinite(p), np.clip(out, EPS, 1 - EPS), np.nan))

    def to_dict(self) -> dict[str, Any]:
        if self.method == "isotonic":
            return {"method": "isotonic", "x": list(self.x), "y": list(self.y)}
        if self.method == "platt":
            return {"method": "platt", "a": self.a, "b": self.b}
        return {"method": "none"}

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> TypeMap:
        method = str(doc.get("method", "none"))
        if method == "isotonic":
            x = tuple(float(v) for v in doc["x"])
            y = tuple(float(v) for v in doc["y"])
            if len(x) != len(y) or not x:
                raise ValueError("an isotonic map needs as many x as y thresholds, at least one")
            return cls("isotonic", x=x, y=y)
        if method == "platt":
            return cls("platt", a=float(doc["a"]), b=float(doc["b"]))
        if method != "none":
            raise ValueError(f"unknown calibration method {method!r}")
        return cls()


@dataclass(frozen=True)
class CalibrationMap:
    """One `TypeMap` per market type (missing = identity); what `score_slate` applies."""

    by_type: dict[str, TypeMap] = field(default_factory=dict)

    @property
    def active(self) -> bool:
        return any(m.method != "none" for m in self.by_type.values())

    def first_side(self, market_type: NDArray[np.str_], p_first: FloatArray) -> FloatArray:
        mtype = np.asarray(market_type)
        out = np.asarray(p_first, dtype=np.float64).copy()
        for name, m in self.by_type.items():
            at = mtype == name
            if at.any() and m.method != "none":
                out[at] = m.apply(out[at])
        return out

    def sides(
        self, market_type: NDArray[np.str_], side: NDArray[np.str_], p_side: FloatArray
    ) -> FloatArray:
        """Each outcome's own probability through the map of its market's first side."""
        mtype, side = np.asarray(market_type), np.asarray(side)
        p = np.asarray(p_side, dtype=np.float64)
        first = np.array(
            [FIRST_SIDE.get(str(t)) == str(s) for t, s in zip(mtype, side, strict=True)],
            dtype=bool,
        )
        p_first = np.where(first, p, 1.0 - p)
        mapped = self.first_side(mtype, p_first)
        return np.asarray(np.where(first, mapped, 1.0 - mapped))

    def to_dict(self) -> dict[str, Any]:
        return {name: m.to_dict() for name, m in sorted(self.by_type.items())}

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> CalibrationMap:
        return cls({str(k): TypeMap.from_dict(v) for k, v in doc.items()})


def fit_isotonic(p: FloatArray, y: FloatArray) -> TypeMap:
    from sklearn.isotonic import IsotonicRegression

    iso = IsotonicRegression(y_min=EPS, y_max=1 - EPS, out_of_bounds="clip", increasing=True)
    iso.fit(np.asarray(p, dtype=np.float64), np.asarray(y, dtype=np.float64))
    x = tuple(round(float(v), 8) for v in iso.X_thresholds_)
    v = tuple(round(float(v), 8) for v in iso.y_thresholds_)
    return TypeMap("isotonic", x=x, y=v)


def fit_platt(p: FloatArray, y: FloatArray) -> TypeMap:
    from sklearn.linear_model import LogisticRegression

    z = logit(np.clip(np.asarray(p, dtype=np.float64), EPS, 1 - EPS)).reshape(-1, 1)
    model = LogisticRegression(C=1e6, max_iter=1000).fit(z, np.asarray(y, dtype=np.float64))
    a = max(float(model.coef_[0, 0]), 0.0)  # a negative slope would reverse the model's order
    b = float(model.intercept_[0])
    if a == 0.0:  # the constant that fits best: the base rate
        rate = float(np.clip(np.mean(y), EPS, 1 - EPS))
        b = float(logit(rate))
    return TypeMap("platt", a=round(a, 8), b=round(b, 8))


def fit_method(method: str, p: FloatArray, y: FloatArray) -> TypeMap:
    if method == "isotonic":
        return fit_isotonic(p, y)
    if method == "platt":
        return fit_platt(p, y)
    return TypeMap()


def _scores(y: FloatArray, p: FloatArray) -> dict[str, Any]:
    from edgelab.betting.evaluation import (
        metrics as evaluation,  # scikit-learn: imported on first use
    )

    return evaluation.score_forecast(y, p).to_dict(with_bins=False)


def choose_method(
    p_fit: FloatArray, y_fit: FloatArray, p_check: FloatArray, y_check: FloatArray, setting: str
) -> tuple[str, dict[str, dict[str, Any]]]:
    """The method to use and every candidate's scores on the check rows.

    `auto` fits isotonic and Platt on the fit rows and takes the lowest log loss on the check
    rows among them and the identity (ties go to the simpler map: none, then Platt); any other
    setting is taken as given (its scores still reported).
    """
    candidates = ("none", "platt", "isotonic") if setting == "auto" else ("none", setting)
    scores: dict[str, dict[str, Any]] = {}
    for name in dict.fromkeys(candidates):
        m = fit_method(name, p_fit, y_fit)
        scores[name] = _scores(y_check, m.apply(p_check))
    if setting != "auto":
        return setting, scores
    best = min(scores, key=lambda k: (scores[k]["log_loss"], candidates.index(k)))
    return best, scores


@dataclass
class OutOfSample:
    """Walk-forward predictions at the closing line, settled: one row per two-way market."""

    market_type: NDArray[np.str_]
    season: NDArray[np.int64]
    day: NDArray[np.int64]
    p: FloatArray  # the model's first-side probability (uncalibrated)
    y: FloatArray  # 1 first side won, 0 lost

    def take(self, mask: NDArray[np.bool_]) -> OutOfSample:
        return OutOfSample(
            self.market_type[mask], self.season[mask], self.day[mask], self.p[mask], self.y[mask]
        )

    def __len__(self) -> int:
        return int(self.p.size)


@dataclass
class Calibration:
    """What `calibrate` found: the map to deploy, how it was chosen, and before/after."""

    map: CalibrationMap
    report: dict[str, Any]
    metrics_before: dict[str, Any] | None
    metrics_after: dict[str, Any] | None


def _split(oos: OutOfSample) -> tuple[NDArray[np.bool_], ...]:
    """(choose-fit, choose-check, measure-fit, held-out) row masks; see the module docstring."""
    seasons = sorted({int(s) for s in oos.season})
    if len(seasons) >= 3:
        last, prev = seasons[-1], seasons[-2]
        held = oos.season == last
        return oos.season < prev, oos.season == prev, oos.season < last, held
    if len(seasons) == 2:
        held = oos.season == seasons[-1]
        return ~held, held, ~held, held
    if not seasons:
        none = np.zeros(0, dtype=bool)
        return none, none, none, none
    cut = np.quantile(oos.day, 2 / 3) if len(oos) else 0
    held = oos.day > cut
    return ~held, held, ~held, held


def _describe(oos: OutOfSample, held: NDArray[np.bool_]) -> dict[str, Any]:
    seasons = sorted({int(s) for s in oos.season})
    if len(seasons) == 1 and held.any():
        first = dt.date.fromordinal(int(oos.day[held].min())).isoformat()
        return {"seasons": seasons, "from": first, "note": "the season's last third by date"}
    return {"seasons": sorted({int(s) for s in oos.season[held]})}


def calibrate(
    oos: OutOfSample,
    setting: str,
    current: CalibrationMap | None = None,
) -> Calibration:
    """Fit, choose and measure the calibration map (pure; see the module docstring)."""
    choose_fit, choose_check, fit_before_held, held = _split(oos)
    same = bool(np.array_equal(choose_check, held))
    by_type: dict[str, TypeMap] = {}
    types_report: dict[str, Any] = {}
    p_after = oos.p.copy()
    for name in MARKET_TYPES:
        t = oos.market_type == name
        n_all = int(t.sum())
        entry: dict[str, Any] = {"n": n_all}
        enough = (
            (t & choose_fit).sum() >= MIN_FIT
            and (t & choose_check).sum() >= MIN_HELD_OUT
            and (t & fit_before_held).sum() >= MIN_FIT
            and (t & held).sum() >= MIN_HELD_OUT
        )
        if setting == "none" or not enough:
            entry["method"] = "none"
            if setting != "none":
                entry["reason"] = "too few settled out-of-sample markets to fit and check a map"
            types_report[name] = entry
            by_type[name] = TypeMap()
            continue
        a, b = t & choose_fit, t & choose_check
        method, scores = choose_method(oos.p[a], oos.y[a], oos.p[b], oos.y[b], setting)
        measured = fit_method(method, oos.p[t & fit_before_held], oos.y[t & fit_before_held])
        p_after[t & held] = measured.apply(oos.p[t & held])
        by_type[name] = fit_method(method, oos.p[t], oos.y[t])
        entry.update(method=method, candidates=scores)
        types_report[name] = entry
    report = {
        "setting": setting,
        "by_type": types_report,
        "held_out": _describe(oos, held),
        "chosen_on_held_out": same,
        "fitted_on_seasons": sorted({int(s) for s in oos.season}),
    }
    if not held.any():
        return Calibration(CalibrationMap(by_type), report, None, None)
    current = current or CalibrationMap()
    p_before = current.first_side(oos.market_type, oos.p)
    return Calibration(
        CalibrationMap(by_type),
        report,
        _metrics(oos, held, p_before, {"calibration": current.to_dict() or "none"}),
        _metrics(oos, held, p_after, {"calibration": CalibrationMap(by_type).to_dict()}),
    )


def _metrics(
    oos: OutOfSample, held: NDArray[np.bool_], p: FloatArray, extra: dict[str, Any]
) -> dict[str, Any]:
    doc = {**_describe(oos, held), **_scores(oos.y[held], p[held])}
    doc["by_type"] = {
        name: _scores(oos.y[held & (oos.market_type == name)], p[held & (oos.market_type == name)])
        for name in MARKET_TYPES
    }
    if "calibration" in extra:  # only the method names: the full maps are in the ModelFit
        cal = extra["calibration"]
        doc["calibration"] = (
            {k: v["method"] for k, v in cal.items()} if isinstance(cal, dict) else cal
        )
    return doc


def out_of_sample(data: BacktestData, results: list[Any]) -> OutOfSample:
    """The settled closing-line rows of backtest results (one per season) as one table."""
    parts = []
    for r in results:
        ok = (r.kind == "close") & np.isfinite(r.outcome) & np.isfinite(r.p_true)
        parts.append(
            (r.market_type[ok], r.season[ok], data.day[r.game[ok]], r.p_true[ok], r.outcome[ok])
        )
    if not parts:
        empty = np.zeros(0)
        return OutOfSample(
            np.zeros(0, dtype="<U9"), empty.astype(np.int64), empty.astype(np.int64), empty, empty
        )
    return OutOfSample(*(np.concatenate([p[i] for p in parts]) for i in range(5)))
