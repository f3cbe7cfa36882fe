"""The query parameters of the replayed endpoints, checked as The Odds API checks them: a bad
value is refused with the API's own error code (APIS.md section 9), never silently ignored."""

from __future__ import annotations

import datetime as dt
import math

from starlette.requests import Request

from edgelab.betting.odds.oddsapi_payload import OddsEvent, OddsFormat
from edgelab.betting.odds.replay.wire import DateFormat

REGIONS = frozenset({"us", "us2", "us_dfs", "us_ex", "uk", "eu", "fr", "se", "au"})
FEATURED_MARKETS = frozenset({"h2h", "spreads", "totals", "outrights", "h2h_lay", "outrights_lay"})
BOOKS_PER_REGION = 10  # a bookmakers list is priced as one region per 10 books


class Refused(Exception):
    """An answer other than the normal one: the API's error body with its status."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def comma_list(request: Request, name: str) -> list[str]:
    """A comma-list parameter, blanks and repeats dropped ("h2h, ,h2h" -> ["h2h"])."""
    raw = request.query_params.get(name, "")
    return list(dict.fromkeys(part.strip() for part in raw.split(",") if part.strip()))


def _choice(request: Request, name: str, allowed: tuple[str, ...], code: str) -> str:
    value = request.query_params.get(name) or allowed[0]
    if value not in allowed:
        raise Refused(422, code, f"Invalid {name} '{value}'. Use one of: {', '.join(allowed)}.")
    return value


def odds_format(request: Request) -> OddsFormat:
    fmt = _choice(request, "oddsFormat", ("decimal", "american"), "INVALID_ODDS_FORMAT")
    return "american" if fmt == "american" else "decimal"


def date_format(request: Request) -> DateFormat:
    fmt = _choice(request, "dateFormat", ("iso", "unix"), "INVALID_DATE_FORMAT")
    return "unix" if fmt == "unix" else "iso"


def _instant(request: Request, name: str, code: str) -> dt.datetime | None:
    raw = request.query_params.get(name)
    if not raw:
        return None
    try:
        when = dt.datetime.fromisoformat(raw)
    except ValueError:
        when = None
    if when is None or when.tzinfo is None:
        raise Refused(
            422, code, f"Invalid {name} '{raw}': use ISO 8601, e.g. 2023-03-15T00:00:00Z."
        )
    return when


def regions_cost(request: Request) -> tuple[list[str] | None, int]:
    """(bookmakers asked, or None for all; how many regions the call is priced at)."""
    books, regions = comma_list(request, "bookmakers"), comma_list(request, "regions")
    if books:
        return books, math.ceil(len(books) / BOOKS_PER_REGION)  # bookmakers replace regions
    if not regions:
        raise Refused(422, "MISSING_REGION", "Missing regions (or bookmakers) parameter.")
    if bad := [r for r in regions if r not in REGIONS]:
        raise Refused(422, "INVALID_REGION", f"Invalid regions: {', '.join(bad)}")
    return None, len(regions)


def markets(request: Request, allowed: frozenset[str] | None) -> list[str]:
    """The market keys asked (`h2h` when none, as the API); `allowed` None takes any key."""
    keys = comma_list(request, "markets") or ["h2h"]
    if allowed is not None and (bad := [m for m in keys if m not in allowed]):
        raise Refused(422, "INVALID_MARKET", f"Invalid markets: {', '.join(bad)}")
    return keys


def event_filter(request: Request, events: list[OddsEvent]) -> list[OddsEvent]:
    """`eventIds` and `commenceTimeFrom/To`, shared by the listing endpoints."""
    ids = set(comma_list(request, "eventIds"))
    since = _instant(request, "commenceTimeFrom", "INVALID_COMMENCE_TIME_FROM")
    until = _instant(request, "commenceTimeTo", "INVALID_COMMENCE_TIME_TO")
    return [
        e
        for e in events
        if (not ids or e.id in ids)
        and (since is None or e.commence_time >= since)
        and (until is None or e.commence_time <= until)
    ]
