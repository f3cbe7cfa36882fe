"""Benchmark of the value model's vectorised scoring: 1,000,000 multi-book markets, 10 books.

Target (issue 14): score 1M markets quoted by 10 books each in <= 2 s on one core. Scoring is
the whole per-market pipeline of `betting.pricing.value`: each book de-vigged (odds ratio),
each book's implied mean from its line and price, the consensus (weighted mean, or the sharp
lean for totals), every book's EV at its own line, the best book per side, the standard errors
and both Value Scores. Run in chunks of 32k markets (`value.chunked`), which keeps the
temporaries in cache.

Inputs come from a seeded NumPy RNG: spread-like markets (the home margin around a mean drawn
N(0, 7)), each book's line within a point or so of it (half the lines integers, so pushes are
priced), prices from -125 to +105, 10 % of quotes missing. Moneylines (line-free) are timed
too. numpy's elementwise work is single-threaded, so this is one core.

Run: ``.venv/bin/python benchmarks/bench_scoring.py [--markets N] [--runs R]``.
It prints figures; it never fails on a missed target.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from edgelab.betting.pricing import params as P
from edgelab.betting.pricing.value import chunked, score_line_markets, score_prob_markets

TARGET_S = 2.0


def _american_to_decimal(a: np.ndarray) -> np.ndarray:
    return np.where(a > 0, 1.0 + a / 100.0, 1.0 + 100.0 / np.abs(a))


def inputs(markets: int, books: int, seed: int = 1) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    mu = rng.normal(0.0, 7.0, (markets, 1))
    line = np.round((mu + rng.normal(0.0, 1.0, (markets, books))) * 2.0) / 2.0
    prices = np.array([-125, -120, -115, -110, -105, 100, 105])
    d_over = _american_to_decimal(rng.choice(prices, (markets, books)))
    d_under = _american_to_decimal(rng.choice(prices, (markets, books)))
    missing = rng.random((markets, books)) < 0.1
    for a in (line, d_over, d_under):
        a[missing] = np.nan
    return {"line": line, "d_over": d_over, "d_under": d_under}


def timed(fn: Callable[[], Any], runs: int) -> tuple[float, float]:
    walls, cpus = [], []
    for _ in range(runs):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    return min(walls), statistics.median(walls)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--markets", type=int, default=1_000_000)
    ap.add_argument("--books", type=int, default=10)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    data = inputs(args.markets, args.books)
    weights = np.ones(args.books)
    sharp = np.zeros(args.books, dtype=bool)
    sharp[:2] = True
    spread, total, ml = P.TYPE_PARAMS["spread"], P.TYPE_PARAMS["total"], P.TYPE_PARAMS["moneyline"]
    cases: list[tuple[str, Callable[[], Any]]] = [
        (
            "spreads (weighted mean, no-tie margin)",
            lambda: chunked(score_line_markets, data, w=weights, sigma=spread.sigma,
                            tau=spread.tau, devig=P.DEVIG, no_zero=True),
        ),
        (
            "totals (sharp lean 2.5)",
            lambda: chunked(score_line_markets, data, w=weights, sigma=total.sigma,
                            tau=total.tau, devig=P.DEVIG, sharp=sharp, gamma=2.5),
        ),
        (
            "moneylines (weighted median of probabilities)",
            lambda: chunked(score_prob_markets, {"d_a": data["d_over"], "d_b": data["d_under"]},
                            w=weights, tau=ml.tau, devig=P.DEVIG, space=ml.space, how=ml.how),
        ),
    ]  # fmt: skip
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"{args.markets:,} markets x {args.books} books, 10 % of quotes missing; load {load}")
    print(f"target: <= {TARGET_S:.1f} s on one core; best and median of {args.runs} runs")
    for name, fn in cases:
        best, median = timed(fn, args.runs)
        verdict = "meets" if best <= TARGET_S else "misses"
        print(f"  {name:48s} best {best:5.2f} s  median {median:5.2f} s  ({verdict} the target)")


if __name__ == "__main__":
    main()
