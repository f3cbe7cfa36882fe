"""The one "now" of the app: wall-clock UTC time and a monotonic clock, injectable in tests.

Every product reads time through `utcnow()` (timezone-aware UTC, for what is stored and shown)
or `monotonic()` (seconds, for TTLs, deadlines and back-off), never `datetime.now()` or
`time.monotonic()` directly, so a test (or a replay running on simulated time) can move time
with `use_clock(ManualClock(...))` instead of sleeping.

The clock is process-wide, not per app: the in-process job runner, caches and schedules run
outside any request, and a replay drives them all together.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol


class Clock(Protocol):
    def now(self) -> dt.datetime:
        """Timezone-aware UTC."""
        ...

    def monotonic(self) -> float:
        """Seconds from an arbitrary origin; never goes back."""
        ...


class SystemClock:
    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)

    def monotonic(self) -> float:
        return time.monotonic()


class ManualClock:
    """A clock that moves only when told to: `advance(seconds)` or `set(when)`.

    `monotonic()` advances with it (by the same seconds), so TTLs and deadlines expire as the
    wall clock moves; `set()` to an earlier time moves `now()` back but never `monotonic()`.
    """

    def __init__(self, start: dt.datetime | None = None) -> None:
        start = start or dt.datetime(2024, 1, 1, 12, tzinfo=dt.UTC)
        if start.tzinfo is None:
            raise ValueError("ManualClock needs a timezone-aware start")
        self._now = start.astimezone(dt.UTC)
        self._mono = 1_000.0

    def now(self) -> dt.datetime:
        return self._now

    def monotonic(self) -> float:
        return self._mono

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("time only moves forward; use set() to jump")
        self._now += dt.timedelta(seconds=seconds)
        self._mono += seconds

    def set(self, when: dt.datetime) -> None:
        if when.tzinfo is None:
            raise ValueError("naive datetime: pass UTC with an offset")
        delta = (when - self._now).total_seconds()
        self._now = when.astimezone(dt.UTC)
        self._mono += max(delta, 0.0)


_clock: Clock = SystemClock()


def utcnow() -> dt.datetime:
    """Now, timezone-aware UTC, from the current clock."""
    return _clock.now()


def monotonic() -> float:
    return _clock.monotonic()


def current_clock() -> Clock:
    return _clock


def set_clock(clock: Clock) -> Clock:
    """Install `clock` process-wide; returns the one it replaced (for restoring it)."""
    global _clock
    previous, _clock = _clock, clock
    return previous


@contextmanager
def use_clock(clock: Clock) -> Iterator[Clock]:
    """Run a block (a test, a replay) on `clock`, restoring the previous one after."""
    previous = set_clock(clock)
    try:
        yield clock
    finally:
        set_clock(previous)
