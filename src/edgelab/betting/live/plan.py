"""The live loop's plan, as pure functions: what a call to The Odds API costs, when the next
fetch is due, and how far to stretch the intervals so the month's credits last.

The Odds API prices (APIS.md section 9): `/odds` costs markets x regions (a `bookmakers` list
counts one region per 10 books), an event-odds call the markets it returns x regions (at most
the markets asked), `/scores?daysFrom=` 2; an empty answer is free. Credits are monthly: a spent
month (401 `OUT_OF_USAGE_CREDITS`) is waited out until the first day of the next month (UTC),
when the plan's credits renew.

The pace: the credits the loop used over the trailing day (at least one poll interval, so a
single first call is not read as a burst), extrapolated to the end of the month. When that would
spend more than the credits left above the reserve, every interval is stretched by the ratio;
as the loop slows the observed pace falls and the stretch with it, so the plan settles where
the month's credits just last.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

BOOKS_PER_REGION = 10
PROP_PREFIX = "player_"
SCORES_DAYS_FROM = 3
SCORES_COST = 2  # `/scores` with daysFrom
MAX_STRETCH = 144.0  # a 10-minute poll stretched at most to once a day
PACE_WINDOW = dt.timedelta(hours=24)
NEAR_TIP = dt.timedelta(hours=1)


def comma_list(text: str | None) -> list[str]:
    return list(dict.fromkeys(p.strip() for p in (text or "").split(",") if p.strip()))


def split_markets(markets: str) -> tuple[list[str], list[str]]:
    """(featured markets for `/odds`, player-prop markets for the event-odds endpoint)."""
    keys = comma_list(markets)
    return (
        [k for k in keys if not k.startswith(PROP_PREFIX)],
        [k for k in keys if k.startswith(PROP_PREFIX)],
    )


def regions_priced(regions: str, bookmakers: str | None) -> int:
    """How many regions a call is priced at: a bookmakers list replaces regions, 10 books each."""
    books = comma_list(bookmakers)
    if books:
        return math.ceil(len(books) / BOOKS_PER_REGION)
    return max(len(comma_list(regions)), 1)


def call_cost(markets: int, regions: int) -> int:
    return markets * regions


def month_start(now: dt.datetime) -> dt.datetime:
    utc = now.astimezone(dt.UTC)
    return dt.datetime(utc.year, utc.month, 1, tzinfo=dt.UTC)


def next_month_start(now: dt.datetime) -> dt.datetime:
    utc = now.astimezone(dt.UTC)
    year, month = (utc.year + 1, 1) if utc.month == 12 else (utc.year, utc.month + 1)
    return dt.datetime(year, month, 1, tzinfo=dt.UTC)


def keeps_reserve(remaining: int | None, cost: int, reserve: int) -> bool:
    """Whether a call of `cost` leaves at least `reserve` credits (unknown remaining: yes, the
    first answer will tell)."""
    return remaining is None or remaining - cost >= reserve


def stretch(
    *,
    now: dt.datetime,
    remaining: int | None,
    reserve: int,
    used_recently: int,
    recent_since: dt.datetime | None,
    min_span_seconds: float,
) -> float:
    """The factor (>= 1) every interval is multiplied by so the credits left above the reserve
    last until the month ends at the recent pace (see the module docstring)."""
    if remaining is None or recent_since is None or used_recently <= 0:
        return 1.0
    budget = remaining - reserve
    if budget <= 0:
        return MAX_STRETCH
    span = max((now - recent_since).total_seconds(), min_span_seconds, 1.0)
    needed = used_recently / span * (next_month_start(now) - now).total_seconds()
    return min(max(needed / budget, 1.0), MAX_STRETCH)


def backoff_seconds(failures: int, first: float, cap: float) -> float:
    """Wait after `failures` consecutive failed runs: `first`, doubling, at most `cap`."""
    if failures <= 0:
        return 0.0
    return float(min(first * 2.0 ** (failures - 1), max(cap, first)))


@dataclass(frozen=True)
class Decision:
    fetch: bool
    reason: str
    interval_seconds: float = 0.0


@dataclass(frozen=True)
class JobView:
    """What a decision needs to know of a job's past runs."""

    last_ok: dt.datetime | None  # start of the latest run that fetched without failing
    failures: int  # failed runs since then
    last_failed: dt.datetime | None


def decide(
    *,
    now: dt.datetime,
    job: JobView,
    interval_seconds: float,
    firing_seconds: float,
    stopped_until: dt.datetime | None,
    remaining: int | None,
    cost: int,
    reserve: int,
) -> Decision:
    """Whether a firing of a job fetches now.

    Firings come every `firing_seconds` on slot boundaries, so a fetch is due once the last one
    is older than the interval less half a firing (a run starts a moment after its boundary);
    a failed run is retried at the next firings, backing off from one firing up to the interval.
    """
    if stopped_until is not None and now < stopped_until:
        return Decision(False, f"out of usage credits until {stopped_until.isoformat()}")
    slack = firing_seconds / 2
    if job.failures and job.last_failed is not None:
        wait = backoff_seconds(job.failures, firing_seconds, interval_seconds)
        if (now - job.last_failed).total_seconds() + slack < wait:
            return Decision(False, f"backing off after {job.failures} failed runs")
    elif job.last_ok is not None and (now - job.last_ok).total_seconds() + slack < interval_seconds:
        return Decision(False, "not due", interval_seconds)
    if not keeps_reserve(remaining, cost, reserve):
        return Decision(False, f"keeping the reserve of {reserve} credits ({remaining} left)")
    return Decision(True, "due", interval_seconds)
