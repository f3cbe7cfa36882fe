"""Lightweight Charts series from price points: ordering, uniqueness and OHLC by hand."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from edgelab.predictions import candles


def test_candles_by_hand() -> None:
    # two 5-minute buckets starting at 1200 and 1500; 1800 alone in the third
    points = [(1290, 0.4), (1210, 0.5), (1499, 0.45), (1350, 0.7), (1500, 0.2), (1800, 0.9)]
    ts, ps = candles.as_arrays(points)
    assert candles.candles(ts, ps, 300) == [
        {"time": 1200, "open": 0.5, "high": 0.7, "low": 0.4, "close": 0.45},
        {"time": 1500, "open": 0.2, "high": 0.2, "low": 0.2, "close": 0.2},
        {"time": 1800, "open": 0.9, "high": 0.9, "low": 0.9, "close": 0.9},
    ]
    assert candles.line(ts, ps, 300) == [
        {"time": 1499, "value": 0.45},
        {"time": 1500, "value": 0.2},
        {"time": 1800, "value": 0.9},
    ]


def test_duplicate_seconds_keep_the_last_given() -> None:
    ts, ps = candles.as_arrays([(10, 0.1), (5, 0.2), (10, 0.3)])
    assert candles.line(ts, ps) == [{"time": 5, "value": 0.2}, {"time": 10, "value": 0.3}]
    assert candles.line(*candles.as_arrays([])) == []


@given(
    st.lists(st.tuples(st.integers(0, 10**9), st.floats(0, 1, allow_nan=False)), max_size=200),
    st.integers(1, 10_000),
)
def test_series_times_are_strictly_ascending(points: list[tuple[int, float]], bucket: int) -> None:
    ts, ps = candles.as_arrays(points)
    for series in (candles.line(ts, ps, bucket), candles.candles(ts, ps, bucket)):
        times = [p["time"] for p in series]
        assert all(a < b for a, b in itertools.pairwise(times))
    for c in candles.candles(ts, ps, bucket):
        assert c["low"] <= min(c["open"], c["close"]) <= max(c["open"], c["close"]) <= c["high"]
        assert c["time"] % bucket == 0
