"""Following a replay's simulated clock (`EDGELAB_CLOCK_URL`).

`edgelab replay odds-api` serves recorded prices on a simulated clock. The app that polls it must
live on the same time, or every recorded game would already have started. At start-up the app
reads the replay's `/replay/clock` once (`now`, `speed`) and installs a `ScaledClock` from that
instant at that speed; both then run on the same monotonic real time, so they stay together
(within the request's round trip). Security times (token expiry, signatures) stay on the real
clock (`clock.real_utcnow`).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

import httpx

from edgelab.core import clock

log = logging.getLogger("edgelab.clock")
READ_TIMEOUT_SECONDS = 5.0


@dataclass(frozen=True)
class FollowedClock:
    url: str
    speed: float
    started_at: dt.datetime  # the simulated instant the app started on


class ClockUrlError(RuntimeError):
    """The configured clock could not be read: the app refuses to start on the wrong time."""


async def follow(url: str) -> tuple[FollowedClock, clock.Clock]:
    """Read `url` and install its clock process-wide; returns what was followed and the clock
    it replaced (to restore on shutdown)."""
    try:
        async with httpx.AsyncClient(timeout=READ_TIMEOUT_SECONDS) as client:
            response = await client.get(url)
        response.raise_for_status()
        body = response.json()
        now = dt.datetime.fromisoformat(str(body["now"]).replace("Z", "+00:00"))
        speed = float(body.get("speed") or 1.0)
    except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
        raise ClockUrlError(f"EDGELAB_CLOCK_URL={url} could not be read: {exc}") from exc
    if now.tzinfo is None or speed <= 0:
        raise ClockUrlError(f"EDGELAB_CLOCK_URL={url} answered no usable now/speed: {body}")
    previous = clock.set_clock(clock.ScaledClock(now, speed))
    log.info("running on %s's clock: %s at %gx real time", url, now.isoformat(), speed)
    return FollowedClock(url, speed, now), previous
