"""A bettor's record in numbers: ROI with its interval, CLV, breakdowns, charts' series.

Pure functions over the bets (anything with the `BetFacts` attributes): no I/O. Amounts are
minor units (cents); CLV is in probability points (0.01 = one point); ROI is profit / staked
over settled bets (won, lost, push; a void or open bet stakes nothing yet).

A bet without a closing-line value (no book closed at its line, or an imported bet whose
close we never saw) counts in every ROI figure and in none of the CLV ones: `clv_bets` says
how many bets the CLV figures rest on, beside `settled` for the ROI ones.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import numpy as np

BOOTSTRAP_DRAWS = 2000
SETTLED = ("won", "lost", "push")
Z95 = 1.959964
CLV_BIN = 0.01  # the CLV histogram's bins: one probability point
CLV_RANGE = 0.10  # CLVs beyond +-10 points fall in the outermost bins
MIN_EDGE = 0.02  # the smallest ROI edge worth detecting, for "bets needed" when ROI is ~0
NO_BOOK = "unknown"
ROUGH_BELOW = 30  # a bootstrap interval over fewer bets is too narrow to lean on


class BetFacts(Protocol):
    status: str
    stake_minor: int
    payout_minor: int | None
    clv: float | None
    placed_at: dt.datetime
    market_type: str
    bookmaker: str | None
    currency: str


def _utc(moment: dt.datetime) -> dt.datetime:
    """Stored times are UTC; a naive one (SQLite without its type) is read as UTC."""
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


def roi_with_interval(
    stakes: np.ndarray[Any, Any], profits: np.ndarray[Any, Any], *, seed: int
) -> dict[str, Any]:
    """Flat ROI (profit / staked) with a 95% percentile bootstrap interval over bets.

    The interval is the honest part: a few dozen bets rarely tell skill from luck.
    """
    n = len(stakes)
    staked = float(stakes.sum())
    roi = float(profits.sum() / staked) if staked > 0 else None
    low = high = None
    if n >= 2 and staked > 0:
        rng = np.random.default_rng(seed)
        idx = rng.integers(0, n, size=(BOOTSTRAP_DRAWS, n))
        s, p = stakes[idx].sum(axis=1), profits[idx].sum(axis=1)
        draws = p / np.where(s > 0, s, np.nan)
        low, high = (float(x) for x in np.nanpercentile(draws, [2.5, 97.5]))
    return {"roi": roi, "roi_ci95": None if low is None else [low, high]}


def mean_with_interval(values: Sequence[float]) -> tuple[float | None, list[float] | None]:
    """Mean and its normal-approximation 95% interval (mean +- 1.96 s / sqrt(n)); the
    interval needs two values."""
    if not values:
        return None, None
    arr = np.asarray(values, dtype=float)
    mean = float(arr.mean())
    if len(arr) < 2:
        return mean, None
    half = Z95 * float(arr.std(ddof=1)) / math.sqrt(len(arr))
    return mean, [mean - half, mean + half]


def summary(bets: Sequence[BetFacts], seed: int) -> dict[str, Any]:
    """One group's counts, ROI with its interval, and CLV (mean, its interval, share > 0)."""
    settled = [b for b in bets if b.status in SETTLED]
    stakes = np.array([b.stake_minor for b in settled], dtype=float)
    profits = np.array([(b.payout_minor or 0) - b.stake_minor for b in settled], dtype=float)
    clvs = [float(b.clv) for b in settled if b.clv is not None]
    decided = [b for b in settled if b.status != "push"]
    mean_clv, clv_ci95 = mean_with_interval(clvs)
    return {
        "bets": len(bets),
        "settled": len(settled),
        "open": sum(1 for b in bets if b.status == "open"),
        "won": sum(1 for b in settled if b.status == "won"),
        "lost": sum(1 for b in settled if b.status == "lost"),
        "push": sum(1 for b in settled if b.status == "push"),
        "hit_rate": (
            sum(1 for b in decided if b.status == "won") / len(decided) if decided else None
        ),
        "staked_minor": int(stakes.sum()),
        "profit_minor": int(profits.sum()),
        **roi_with_interval(stakes, profits, seed=seed),
        "clv_bets": len(clvs),
        "mean_clv": mean_clv,
        "mean_clv_ci95": clv_ci95,
        "positive_clv_share": (sum(1 for c in clvs if c > 0) / len(clvs)) if clvs else None,
    }


def grouped(
    bets: Sequence[BetFacts], key: Callable[[BetFacts], str], seed: int
) -> dict[str, dict[str, Any]]:
    groups: dict[str, list[BetFacts]] = {}
    for b in bets:
        groups.setdefault(key(b), []).append(b)
    return {k: summary(v, seed) for k, v in sorted(groups.items())}


def cumulative_profit(bets: Sequence[BetFacts]) -> list[dict[str, Any]]:
    """Running profit over settled bets in the order they were placed, one point per bet
    (`placed_at`, the running profit after it, the settled bets so far): a chart's series."""
    settled = sorted((b for b in bets if b.status in SETTLED), key=lambda b: _utc(b.placed_at))
    points: list[dict[str, Any]] = []
    running = 0
    for n, b in enumerate(settled, start=1):
        running += (b.payout_minor or 0) - b.stake_minor
        points.append({"placed_at": _utc(b.placed_at), "profit_minor": running, "bets": n})
    return points


def clv_histogram(clvs: Sequence[float]) -> list[dict[str, Any]]:
    """Counts of CLV in one-point bins from -10 to +10 points (values beyond go to the end
    bins); empty without CLVs. `low` is inclusive, `high` exclusive (the last bin closed)."""
    if not clvs:
        return []
    edges = np.linspace(-CLV_RANGE, CLV_RANGE, round(2 * CLV_RANGE / CLV_BIN) + 1)
    clipped = np.clip(np.asarray(clvs, dtype=float), -CLV_RANGE, CLV_RANGE)
    counts, _ = np.histogram(clipped, bins=edges)
    return [
        {"low": round(float(lo), 4), "high": round(float(hi), 4), "n": int(c)}
        for lo, hi, c in zip(edges[:-1], edges[1:], counts, strict=True)
    ]


def bets_needed(bets: Sequence[BetFacts], roi: float | None) -> int | None:
    """About how many settled bets a 95% interval needs to exclude 0 at this ROI (or at a
    2% edge when the ROI is smaller): (1.96 s / edge)^2, s the spread of per-bet returns
    (profit / stake). None with fewer than two settled bets."""
    returns = [
        ((b.payout_minor or 0) - b.stake_minor) / b.stake_minor
        for b in bets
        if b.status in SETTLED and b.stake_minor > 0
    ]
    if len(returns) < 2:
        return None
    spread = float(np.std(returns, ddof=1))
    edge = max(abs(roi or 0.0), MIN_EDGE)
    return max(math.ceil((Z95 * spread / edge) ** 2), len(returns))


def _pct(x: float) -> str:
    return f"{100 * x:+.1f}%"


def _points(x: float) -> str:
    return f"{100 * x:+.2f} points"


def verdict(overall: dict[str, Any], needed: int | None) -> str:
    """A plain sentence (or three) on what the numbers can and cannot say yet."""
    settled, clv_n = overall["settled"], overall["clv_bets"]
    if settled == 0:
        if overall["open"]:
            return (
                f"{overall['open']} open bet(s), none settled yet: there is nothing to measure "
                "until results arrive."
            )
        return "No bets yet: track a few and the numbers will start here."
    roi, ci = overall["roi"], overall["roi_ci95"]
    parts = [f"After {settled} settled bet{'s' if settled != 1 else ''} your ROI is {_pct(roi)}"]
    if ci is None:
        parts[0] += ", from too few bets for an interval."
    elif ci[0] > 0 or ci[1] < 0:
        parts[0] += f" (95% interval {_pct(ci[0])} to {_pct(ci[1])}): the interval excludes zero"
        parts[0] += (
            f", but under {ROUGH_BELOW} bets the interval itself is rough: keep tracking."
            if settled < ROUGH_BELOW
            else ", rarer luck but still possible over one sample."
        )
    else:
        parts[0] += (
            f" (95% interval {_pct(ci[0])} to {_pct(ci[1])}): consistent with luck either way."
        )
        if needed is not None and needed > settled:
            parts.append(
                f"An edge of this size takes roughly {needed:,} bets before ROI alone can tell "
                "it from luck."
            )
    if clv_n == 0:
        parts.append(
            "None of your settled bets has a closing-line value yet (no close at your line), "
            "so the faster signal, CLV, cannot help yet."
        )
    else:
        mean, clv_ci = overall["mean_clv"], overall["mean_clv_ci95"]
        text = (
            f"CLV, the faster signal, averages {_points(mean)} over {clv_n} bet"
            f"{'s' if clv_n != 1 else ''} with a closing line"
        )
        if clv_ci is not None and (clv_ci[0] > 0 or clv_ci[1] < 0):
            side = "beating" if clv_ci[0] > 0 else "losing to"
            text += f" and its interval excludes zero: you are {side} the closing line."
        else:
            text += ": not yet clear of zero."
        parts.append(text)
    return " ".join(parts)


def report(bets: Sequence[BetFacts], seed: int) -> dict[str, Any]:
    """The figures of `GET /me/performance` (the service adds the ids, currencies, notes);
    `seed` makes the bootstrap intervals repeatable for one user."""
    overall = summary(bets, seed)
    clvs = [float(b.clv) for b in bets if b.status in SETTLED and b.clv is not None]
    needed = bets_needed(bets, overall["roi"])
    return {
        "overall": overall,
        "by_market_type": grouped(bets, lambda b: b.market_type, seed),
        "by_month": grouped(bets, lambda b: _utc(b.placed_at).strftime("%Y-%m"), seed),
        "by_book": grouped(bets, lambda b: b.bookmaker or NO_BOOK, seed),
        "cumulative_profit": cumulative_profit(bets),
        "clv_histogram": clv_histogram(clvs),
        "bets_needed": needed,
        "verdict": verdict(overall, needed),
    }
