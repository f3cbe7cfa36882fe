"""The app's one clock: a manual clock moves only when told, and wakes what sleeps on it."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest

from edgelab.core import clock
from edgelab.core.clock import ManualClock, ScaledClock, SystemClock, use_clock

pytestmark = pytest.mark.asyncio(loop_scope="session")
START = dt.datetime(2030, 1, 1, 12, tzinfo=dt.UTC)


async def test_a_manual_clock_moves_only_when_advanced() -> None:
    with use_clock(ManualClock(START)) as c:
        assert clock.utcnow() == START and clock.time() == START.timestamp()
        before = clock.monotonic()
        c.advance(90)
        assert clock.utcnow() == START + dt.timedelta(seconds=90)
        assert clock.monotonic() - before == 90
    assert isinstance(clock.current_clock(), SystemClock)  # restored after the block


async def test_a_sleeper_wakes_when_the_clock_passes_its_time_and_not_before() -> None:
    manual = ManualClock(START)
    with use_clock(manual):
        woke: list[int] = []

        async def sleeper(seconds: int) -> None:
            await clock.sleep(seconds)
            woke.append(seconds)

        tasks = [asyncio.create_task(sleeper(s)) for s in (10, 30)]
        await asyncio.sleep(0)
        assert manual.sleepers == 2
        manual.advance(9)
        await asyncio.sleep(0)
        assert woke == []
        manual.advance(1)
        await asyncio.sleep(0)
        assert woke == [10]
        manual.set(START + dt.timedelta(minutes=5))
        await asyncio.gather(*tasks)
        assert woke == [10, 30] and manual.sleepers == 0


async def test_setting_the_clock_back_never_moves_monotonic_time_back() -> None:
    manual = ManualClock(START)
    before = manual.monotonic()
    manual.set(START - dt.timedelta(hours=1))
    assert manual.now() == START - dt.timedelta(hours=1) and manual.monotonic() == before
    with pytest.raises(ValueError):
        manual.advance(-1)
    with pytest.raises(ValueError):
        ManualClock(dt.datetime(2030, 1, 1))  # naive


async def test_a_scaled_clock_runs_faster_than_real_time() -> None:
    scaled = ScaledClock(START, speed=3600)  # an hour a second
    await scaled.sleep(36)  # 10 ms of real time
    assert scaled.now() >= START + dt.timedelta(seconds=36)
    assert scaled.now() < START + dt.timedelta(hours=1)
