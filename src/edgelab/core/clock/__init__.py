"""The one "now" of the app: wall-clock UTC time, a monotonic clock and sleeping, injectable.

Every product reads time through `utcnow()` (timezone-aware UTC, for what is stored and shown),
`time()` (epoch seconds, for slots and stamps shared between processes) or `monotonic()`
(seconds, for TTLs, deadlines and back-off), and waits for time to pass with `sleep()`, never
`datetime.now()`, `time.time()` or `asyncio.sleep()` for a wait on the calendar. So a test can
move time with `use_clock(ManualClock(...))` instead of sleeping, and a replay can run the app
on simulated time (`ScaledClock`: N times real time from a chosen instant).

The clock is process-wide, not per app: the in-process job runner, caches and schedules run
outside any request, and a replay drives them all together.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time as _time
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

    async def sleep(self, seconds: float) -> None:
        """Wait until `seconds` of this clock's time have passed."""
        ...


class SystemClock:
    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)

    def monotonic(self) -> float:
        return _time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


class ScaledClock:
    """Time from `start`, running `speed` times faster than the real clock (a replay at 1,440x
    runs a day a minute). Sleeps are real sleeps of `seconds / speed`."""

    def __init__(self, start: dt.datetime, speed: float) -> None:
        if start.tzinfo is None:
            raise ValueError("ScaledClock needs a timezone-aware start")
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.start, self.speed = start.astimezone(dt.UTC), speed
        self._origin = _time.monotonic()

    def elapsed(self) -> float:
        """Simulated seconds since `start`."""
        return (_time.monotonic() - self._origin) * self.speed

    def now(self) -> dt.datetime:
        return self.start + dt.timedelta(seconds=self.elapsed())

    def monotonic(self) -> float:
        return self.elapsed()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds) / self.speed)


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
        self._sleepers: list[tuple[float, asyncio.Future[None]]] = []

    def now(self) -> dt.datetime:
        return self._now

    def monotonic(self) -> float:
        return self._mono

    @property
    def sleepers(self) -> int:
        """Tasks waiting on this clock (a test waits for a loop to be asleep before advancing)."""
        return sum(1 for _, f in self._sleepers if not f.done())

    async def sleep(self, seconds: float) -> None:
        """Wait until `advance()` (or `set()`) has moved the clock `seconds` on."""
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        wake = asyncio.get_running_loop().create_future()
        self._sleepers.append((self._mono + seconds, wake))
        await wake

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("time only moves forward; use set() to jump")
        self._now += dt.timedelta(seconds=seconds)
        self._mono += seconds
        self._wake()

    def set(self, when: dt.datetime) -> None:
        if when.tzinfo is None:
            raise ValueError("naive datetime: pass UTC with an offset")
        delta = (when - self._now).total_seconds()
        self._now = when.astimezone(dt.UTC)
        self._mono += max(delta, 0.0)
        self._wake()

    def _wake(self) -> None:
        due = [(at, f) for at, f in self._sleepers if at <= self._mono]
        self._sleepers = [(at, f) for at, f in self._sleepers if at > self._mono]
        for _, future in due:
            if not future.done():
                future.set_result(None)


_clock: Clock = SystemClock()


def utcnow() -> dt.datetime:
    """Now, timezone-aware UTC, from the current clock."""
    return _clock.now()


def time() -> float:
    """Epoch seconds (UTC), from the current clock: slots and stamps other processes read."""
    return _clock.now().timestamp()


def monotonic() -> float:
    return _clock.monotonic()


def real_utcnow() -> dt.datetime:
    """The system's wall clock whatever clock is installed: for security times (token and link
    expiry, signature windows), which must never follow a test's or a replay's simulated time."""
    return dt.datetime.now(dt.UTC)


async def sleep(seconds: float) -> None:
    """Wait `seconds` of the current clock's time (a manual clock waits for `advance`)."""
    await _clock.sleep(seconds)


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
