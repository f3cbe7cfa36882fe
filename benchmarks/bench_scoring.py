"""Benchmark of the vectorised scoring pipeline over synthetic two-way markets.

Pipeline (the part with a target, <= 1 s for 1,000,000 markets = 2,000,000 outcomes):

1. de-vig with the default method (``devig.devig(odds)``, multiplicative);
2. p_true from the model's expected home margins (``ratings.p_home_win``), for both outcomes;
3. both value-score algorithms (``scoring.score_outcomes``).

Also timed, outside the target: every method in ``devig.METHODS``. Algorithm B takes the
spread of the de-vigged probability across those methods as an input; it is computed from that
every-method run before the pipeline is timed and is not counted in the pipeline's time.

Inputs come from a seeded NumPy RNG: true home-win probabilities from a normal model of the
home margin, a bookmaker margin (overround) drawn uniformly in [2 %, 8 %] and spread equally
over the two outcomes, decimal odds = 1 / marked-up probability (about 1.01 to 17).

Run: ``.venv/bin/python benchmarks/bench_scoring.py [--markets N] [--runs R] [--seed S]``.
It prints figures; it never fails on a missed target.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.stats import norm

from edgelab.betting.markets import devig, ratings, scoring

TARGET_PIPELINE_S = 1.0
SD_MARGIN = 12.5  # points; the model's default spread of the home margin
RELIABILITY = 0.35  # a plausible measured reliability for moneylines


@dataclass
class Inputs:
    odds: np.ndarray  # (n, 2) decimal odds: home, away
    mu_model: np.ndarray  # (n,) the model's expected home margin, points
    min_games: np.ndarray  # (2n,) games played by the less experienced team, per outcome
    type_weight: np.ndarray  # (2n,)
    reliability: np.ndarray  # (2n,)


def make_inputs(n: int, seed: int) -> Inputs:
    rng = np.random.default_rng(seed)
    true_margin = rng.normal(2.5, 6.5, n)  # home court is worth ~2.5 points
    p_home = np.clip(norm.cdf(true_margin / SD_MARGIN), 0.05, 0.94)
    overround = rng.uniform(0.02, 0.08, n)
    marked_up = np.column_stack((p_home, 1.0 - p_home)) + (overround / 2.0)[:, None]
    odds = 1.0 / marked_up  # sum(1 / odds) - 1 == overround exactly
    mu_model = true_margin + rng.normal(0.0, 1.5, n)  # the model is close to, not at, the truth
    min_games = np.repeat(rng.integers(0, 82, n).astype(np.float64), 2)
    return Inputs(
        odds=np.ascontiguousarray(odds),
        mu_model=mu_model,
        min_games=min_games,
        type_weight=np.full(2 * n, scoring.TYPE_WEIGHTS["moneyline"]),
        reliability=np.full(2 * n, RELIABILITY),
    )


def best_of(runs: int, fn: Callable[[], Any]) -> tuple[float, float]:
    """(best, median) wall time in seconds of ``runs`` calls of ``fn``."""
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times), statistics.median(times)


def every_method(inp: Inputs, runs: int) -> tuple[dict[str, tuple[float, float]], np.ndarray]:
    """Time every de-vig method; return the timings and the per-outcome method spread."""
    timings: dict[str, tuple[float, float]] = {}
    lo = hi = None
    for method in devig.METHODS:
        timings[method] = best_of(runs, lambda m=method: devig.devig(inp.odds, m))
        p = devig.devig(inp.odds, method).probabilities.ravel()
        lo = p if lo is None else np.minimum(lo, p)
        hi = p if hi is None else np.maximum(hi, p)
    assert lo is not None and hi is not None
    return timings, hi - lo


def pipeline(inp: Inputs, method_spread: np.ndarray) -> dict[str, float]:
    """One run of the targeted pipeline; returns each stage's wall time in seconds."""
    t0 = time.perf_counter()
    fair = devig.devig(inp.odds)  # default method
    t1 = time.perf_counter()
    p_home = ratings.p_home_win(inp.mu_model, SD_MARGIN)
    p_true = np.column_stack((p_home, 1.0 - p_home)).ravel()
    t2 = time.perf_counter()
    scores = scoring.score_outcomes(
        odds=inp.odds.ravel(),
        p_true=p_true,
        p_market=fair.probabilities.ravel(),
        overround=np.repeat(fair.margin, 2),
        method_spread=method_spread,
        type_weight=inp.type_weight,
        min_games=inp.min_games,
        reliability=inp.reliability,
    )
    t3 = time.perf_counter()
    assert scores.a_value_score.shape == p_true.shape
    return {
        "de-vig (default)": t1 - t0,
        "p_true": t2 - t1,
        "both algorithms": t3 - t2,
        "pipeline total": t3 - t0,
    }


def reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS counter (Linux >= 4.0); False where that is not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def peak_rss_mb() -> float:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def verdict(value: float, target: float) -> str:
    return "MET" if value <= target else "NOT MET"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--markets", type=int, default=1_000_000, help="two-way markets")
    ap.add_argument("--runs", type=int, default=5, help="runs per timing; the best is reported")
    ap.add_argument("--seed", type=int, default=20240611)
    args = ap.parse_args()
    n, runs = args.markets, args.runs

    print(
        f"edgelab scoring benchmark: {n:,} two-way markets ({2 * n:,} outcomes), "
        f"best of {runs} runs"
    )
    print(
        f"python {platform.python_version()}, numpy {np.__version__}, "
        f"{platform.machine()}, {platform.processor() or platform.system()}, "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}"
    )
    t0 = time.perf_counter()
    inp = make_inputs(n, args.seed)
    margin = (1.0 / inp.odds).sum(axis=1) - 1.0
    print(
        f"inputs made in {time.perf_counter() - t0:.2f} s: odds {inp.odds.min():.2f}"
        f"..{inp.odds.max():.2f}, overround {margin.min():.1%}..{margin.max():.1%}, "
        f"mean {margin.mean():.2%}"
    )

    print("\nde-vig, every method (not part of the target):")
    timings, method_spread = every_method(inp, runs)
    for method, (best, median) in timings.items():
        default = "  (default)" if method == "multiplicative" else ""
        print(
            f"  {method:<16} best {best * 1e3:8.1f} ms   median {median * 1e3:8.1f} ms"
            f"   {n / best / 1e6:6.2f} M markets/s{default}"
        )
    print(f"  peak RSS so far: {peak_rss_mb():.0f} MB")

    clean_peak = reset_peak_rss()
    pipeline(inp, method_spread)  # warm-up: first-call costs (scipy ufunc set-up, page faults)
    results = [pipeline(inp, method_spread) for _ in range(runs)]
    print(f"\npipeline (best and median of {runs} runs after one warm-up):")
    for stage in results[0]:
        values = [r[stage] for r in results]
        print(
            f"  {stage:<18} best {min(values) * 1e3:8.1f} ms   "
            f"median {statistics.median(values) * 1e3:8.1f} ms"
        )
    best_total = min(r["pipeline total"] for r in results)
    scope = "during the pipeline runs" if clean_peak else "whole process"
    print(f"  peak RSS ({scope}): {peak_rss_mb():.0f} MB")

    print("\ntarget:")
    print(
        f"  de-vig (default) + p_true + both algorithms, {n:,} markets: "
        f"{best_total:.3f} s   target <= {TARGET_PIPELINE_S:.0f} s   "
        f"{verdict(best_total, TARGET_PIPELINE_S)}"
    )
    print(f"  throughput: {2 * n / best_total / 1e6:.2f} M outcomes/s")


if __name__ == "__main__":
    main()
