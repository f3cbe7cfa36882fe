"""Recorded events rendered as The Odds API v4 sends them (APIS.md section 9).

Prices are held as decimal odds (the parser converts recorded American prices once); they leave
in the format asked: decimal rounded to 2 places as the API sends them (1.91), or American as
whole numbers (-110, 195), so a recorded American price comes back exactly as recorded. Times
are ISO 8601 UTC with `Z`, or epoch seconds for `dateFormat=unix`. Optional fields the
recording lacks (`point`, `description`, `last_update`) are left out rather than sent as null.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from typing import Any, Literal

from edgelab.betting.odds.oddsapi_payload import (
    OddsBookmaker,
    OddsEvent,
    OddsFormat,
    OddsOutcome,
    decimal_price_to_american,
)

DateFormat = Literal["iso", "unix"]
MIN_DECIMAL = 1.01  # the shortest price sent: 2-place rounding never reaches a stake-back 1.00


def wire_time(when: dt.datetime, date_format: DateFormat) -> str | int:
    if date_format == "unix":
        return int(when.timestamp())
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def wire_price(decimal: float, odds_format: OddsFormat) -> float | int:
    if odds_format == "american":
        return decimal_price_to_american(decimal)
    return max(round(decimal, 2), MIN_DECIMAL)


def _outcome(o: OddsOutcome, odds_format: OddsFormat) -> dict[str, Any]:
    out: dict[str, Any] = {"name": o.name}
    if o.description is not None:
        out["description"] = o.description
    out["price"] = wire_price(o.price, odds_format)
    if o.point is not None:
        out["point"] = o.point
    return out


def _bookmaker(
    book: OddsBookmaker,
    markets: Collection[str] | None,
    odds_format: OddsFormat,
    date_format: DateFormat,
) -> dict[str, Any] | None:
    kept = [m for m in book.markets if markets is None or m.key in markets]
    if not kept:
        return None
    rendered = []
    for m in kept:
        market: dict[str, Any] = {"key": m.key}
        if m.last_update is not None:
            market["last_update"] = wire_time(m.last_update, date_format)
        market["outcomes"] = [_outcome(o, odds_format) for o in m.outcomes]
        rendered.append(market)
    out: dict[str, Any] = {"key": book.key, "title": book.title}
    updates = [m.last_update for m in kept if m.last_update is not None]
    last_update = book.last_update or max(updates, default=None)
    if last_update is not None:
        out["last_update"] = wire_time(last_update, date_format)
    out["markets"] = rendered
    return out


def event_header(event: OddsEvent, date_format: DateFormat) -> dict[str, Any]:
    """The fields every endpoint shares (`/events` sends only these)."""
    return {
        "id": event.id,
        "sport_key": event.sport_key,
        "sport_title": event.sport_title or event.sport_key,
        "commence_time": wire_time(event.commence_time, date_format),
        "home_team": event.home_team,
        "away_team": event.away_team,
    }


def wire_event(
    event: OddsEvent,
    *,
    markets: Collection[str] | None = None,
    bookmakers: Collection[str] | None = None,
    odds_format: OddsFormat = "decimal",
    date_format: DateFormat = "iso",
) -> dict[str, Any]:
    """One event with its bookmakers, only the `markets` and `bookmakers` asked (None: all);
    a bookmaker left with no market is left out, as the API does."""
    books = []
    for book in event.bookmakers:
        if bookmakers is not None and book.key not in bookmakers:
            continue
        rendered = _bookmaker(book, markets, odds_format, date_format)
        if rendered is not None:
            books.append(rendered)
    return {**event_header(event, date_format), "bookmakers": books}


def markets_returned(events: list[dict[str, Any]]) -> set[str]:
    """The distinct market keys in rendered events (an event-odds call costs these)."""
    return {m["key"] for e in events for b in e["bookmakers"] for m in b["markets"]}
