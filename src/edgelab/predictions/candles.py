"""Price points to TradingView Lightweight Charts series (pure NumPy, no I/O).

Lightweight Charts' `setData` wants `time` in UNIX *seconds*, strictly ascending and unique
(it asserts "data must be asc ordered by time"). Points are therefore sorted and, where two
share a second, the later-given one kept; then bucketed by the fidelity (minutes):

* line: the last point of each bucket, at its own time ({time, value});
* candles: one per non-empty bucket at the bucket's start (a multiple of the bucket length
  since the epoch, UTC): open = first point, close = last, high/low = max/min of the points in
  it. A bucket without points has no candle (a gap), rather than a made-up flat one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

# interval -> the window it covers (None = everything) and its default fidelity in minutes
INTERVAL_SECONDS: dict[str, int | None] = {
    "1h": 3600,
    "6h": 6 * 3600,
    "1d": 86_400,
    "1w": 7 * 86_400,
    "1m": 30 * 86_400,
    "max": None,
    "all": None,
}
DEFAULT_FIDELITY_MINUTES: dict[str, int] = {
    "1h": 1,
    "6h": 5,
    "1d": 15,
    "1w": 60,
    "1m": 240,
    "max": 60,
    "all": 60,
}

Times = npt.NDArray[np.int64]
Prices = npt.NDArray[np.float64]


def as_arrays(points: Sequence[tuple[int, float]]) -> tuple[Times, Prices]:
    """Sorted by time, one point per second (the last given wins)."""
    if not points:
        return np.empty(0, np.int64), np.empty(0, np.float64)
    ts = np.fromiter((p[0] for p in points), np.int64, len(points))
    ps = np.fromiter((p[1] for p in points), np.float64, len(points))
    order = np.argsort(ts, kind="stable")
    ts, ps = ts[order], ps[order]
    last_of_each = np.append(ts[1:] != ts[:-1], True)
    return ts[last_of_each], ps[last_of_each]


def _bucket_starts(ts: Times, bucket_seconds: int) -> Times:
    return ts - np.mod(ts, bucket_seconds)


def line(ts: Times, ps: Prices, bucket_seconds: int = 1) -> list[dict[str, Any]]:
    if ts.size == 0:
        return []
    if bucket_seconds > 1:
        starts = _bucket_starts(ts, bucket_seconds)
        keep = np.append(starts[1:] != starts[:-1], True)
        ts, ps = ts[keep], ps[keep]
    return [{"time": t, "value": p} for t, p in zip(ts.tolist(), ps.tolist(), strict=True)]


def candles(ts: Times, ps: Prices, bucket_seconds: int) -> list[dict[str, Any]]:
    if ts.size == 0:
        return []
    starts = _bucket_starts(ts, max(1, bucket_seconds))
    first = np.flatnonzero(np.insert(starts[1:] != starts[:-1], 0, True))
    last = np.append(first[1:] - 1, ts.size - 1)
    highs = np.maximum.reduceat(ps, first)
    lows = np.minimum.reduceat(ps, first)
    return [
        {"time": t, "open": o, "high": h, "low": lo, "close": c}
        for t, o, h, lo, c in zip(
            starts[first].tolist(),
            ps[first].tolist(),
            highs.tolist(),
            lows.tolist(),
            ps[last].tolist(),
            strict=True,
        )
    ]
