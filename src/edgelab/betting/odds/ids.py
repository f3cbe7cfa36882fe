"""Stable string ids and labels for games, markets and outcomes, plus estimated times.

The shipped data has dates but no tip-off or line times. Tip-off is estimated as
`EDGELAB_DEFAULT_TIP_TIME` in `EDGELAB_TIP_TIMEZONE` (19:30 New York); an opening line is
taken as captured at 10:00 local on game day and a closing line five minutes before tip.
Every such time is flagged `estimated` in the API.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

OPENING_LINE_LOCAL_TIME = dt.time(10, 0)
CLOSING_LINE_BEFORE_TIP = dt.timedelta(minutes=5)
SIDES = {"moneyline": ("home", "away"), "spread": ("home", "away"), "total": ("over", "under")}
TYPE_SLUG = {"moneyline": "ml", "spread": "spread", "total": "total", "prop": "prop"}


def game_id(date: dt.date, home: str, away: str) -> str:
    return f"nba-{date.isoformat()}-{home.lower()}-{away.lower()}"


def market_id(game: str, market_type: str) -> str:
    return f"{game}-{TYPE_SLUG[market_type]}"


def outcome_id(game: str, market_type: str, side: str) -> str:
    return f"{market_id(game, market_type)}-{side}"


def outcome_label(market_type: str, side: str, home: str, away: str) -> str:
    if market_type == "total":
        return "Over" if side == "over" else "Under"
    team = home if side == "home" else away
    return f"{team} {'moneyline' if market_type == 'moneyline' else 'spread'}"


def estimated_tip(date: dt.date, tip_time: dt.time, tz: str) -> dt.datetime:
    return dt.datetime.combine(date, tip_time, tzinfo=ZoneInfo(tz)).astimezone(dt.UTC)


def estimated_line_time(date: dt.date, kind: str, tip: dt.datetime, tz: str) -> dt.datetime:
    if kind == "open":
        local = dt.datetime.combine(date, OPENING_LINE_LOCAL_TIME, tzinfo=ZoneInfo(tz))
        return min(local.astimezone(dt.UTC), tip - dt.timedelta(hours=1))
    return tip - CLOSING_LINE_BEFORE_TIP
