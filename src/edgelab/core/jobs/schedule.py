"""Interval schedules: an asyncio loop per schedule, and a Redis lock so one instance fires.

Why not taskiq's `TaskiqScheduler` + `LabelScheduleSource`: it is meant to run as its own
single process (`taskiq scheduler`; its docs say to run only one instance, since each keeps its
own last-run times in memory and two would both fire), its intervals are whole seconds on a
one-second tick, and the embedded default has no second process to run it in. Here every
app instance (and worker) may run the loops:

- Firings are aligned on wall-clock slots: slot `k` of a schedule every `s` seconds (offset
  `o`) fires at `k * s + o` seconds since the epoch, so every instance agrees which firing is
  which.
- With Redis, each firing first claims `SET <queue>:schedule:<id>:<k> NX PX`: whichever
  instance claims slot `k` sends the job, the others skip it. It holds as long as clocks
  agree to better than the lock's lifetime (two intervals, at least a second); no leader to
  elect, renew or fail over.
- In memory there is one process, so every slot is claimed.

A slot missed while the process was busy or asleep is not replayed: the loop fires once for
the latest slot and moves on. The first firing is at the first slot after start-up.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from edgelab.core import clock

log = logging.getLogger("edgelab.jobs")


@dataclass(frozen=True)
class Schedule:
    name: str
    every_seconds: float
    payload: dict[str, Any] = field(default_factory=dict)
    # fire at `k * every_seconds + offset_seconds` (an hourly job at minute 5: offset 300)
    offset_seconds: float = 0.0

    @property
    def key(self) -> str:
        """Stable across instances: the same job, interval, offset and payload share one lock."""
        parts: list[Any] = [self.name, self.every_seconds, self.payload]
        if self.offset_seconds:  # kept out when 0: existing locks keep their keys
            parts.append(self.offset_seconds)
        spec = json.dumps(parts, sort_keys=True)
        return f"{self.name}:{hashlib.sha256(spec.encode()).hexdigest()[:16]}"

    @property
    def lock_ms(self) -> int:
        return max(1000, math.ceil(self.every_seconds * 2000))


Claim = Callable[[Schedule, int], Awaitable[bool]]
Fire = Callable[[Schedule], Awaitable[None]]


async def run_schedule(schedule: Schedule, claim: Claim, fire: Fire) -> None:
    """Fire `schedule` at each slot boundary it claims, until cancelled (on `core.clock`'s
    time: a manual clock in tests, simulated time in a replay)."""
    every, offset = schedule.every_seconds, schedule.offset_seconds

    def slot_now() -> int:
        return math.floor((clock.time() - offset) / every)

    last_slot = slot_now()
    while True:
        await clock.sleep(max(0.0, (last_slot + 1) * every + offset - clock.time()))
        slot = slot_now()
        if slot <= last_slot:  # woke a hair early: the boundary is not reached yet
            continue
        last_slot = slot
        try:
            if await claim(schedule, slot):
                await fire(schedule)
        except Exception:  # one failed firing must not end the schedule
            log.exception("schedule %s (every %ss) failed to fire", schedule.name, every)


def always_claim() -> Claim:
    async def claim(_schedule: Schedule, _slot: int) -> bool:
        return True

    return claim


def redis_claim(redis: Any, namespace: str, owner: str) -> Claim:
    """Claim a slot with `SET NX PX`; `redis` is a `redis.asyncio.Redis`."""

    async def claim(schedule: Schedule, slot: int) -> bool:
        key = f"{namespace}:schedule:{schedule.key}:{slot}"
        return bool(await redis.set(key, owner, nx=True, px=schedule.lock_ms))

    return claim
