"""Parsing Polymarket payloads (Gamma market rows, CLOB price history and books), leniently.

Every Gamma field may be missing or null; `outcomes`, `outcomePrices`, `clobTokenIds` and
`umaResolutionStatuses` are JSON arrays encoded as strings; market `volume`/`liquidity` are
decimal strings. A row without an id or question is unusable (None); a bad field becomes None.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass, field
from typing import Any

import orjson

from edgelab.core import error_codes as codes
from edgelab.core.http.upstream import upstream_error

SERVICE = "Polymarket"
_SLUG = re.compile(r"[^a-z0-9]+")


# ---------------------------------------------------------------- lenient field parsing


def text(value: Any) -> str | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return value.strip() if isinstance(value, str) and value.strip() else None


def number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            return None
    if not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _flag(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return None


def _when(value: Any) -> dt.datetime | None:
    """ISO 8601 (`2025-12-31T17:15:00Z`, microseconds, `2025-01-15 00:00:00+00`) or a date."""
    raw = text(value)
    if raw is None:
        return None
    raw = raw.replace(" ", "T", 1)
    if raw.endswith("Z"):
        raw = raw[:-1] + "+00:00"
    if re.fullmatch(r".*[+-]\d\d", raw):  # "+00" -> "+00:00"
        raw += ":00"
    try:
        parsed = dt.datetime.fromisoformat(raw)
    except ValueError:
        return None
    return parsed.replace(tzinfo=dt.UTC) if parsed.tzinfo is None else parsed.astimezone(dt.UTC)


def json_list(value: Any) -> list[Any] | None:
    """A list, or a JSON array encoded in a string (Gamma's `outcomes` etc.); else None."""
    if isinstance(value, list):
        return value
    if isinstance(value, str) and value.strip():
        try:
            decoded = orjson.loads(value)
        except orjson.JSONDecodeError:
            return None
        return decoded if isinstance(decoded, list) else None
    return None


def tag_slug(label: str) -> str:
    return _SLUG.sub("-", label.lower()).strip("-")


# ---------------------------------------------------------------- parsed shapes


@dataclass(slots=True)
class GammaOutcome:
    token_id: str
    name: str
    price: float | None


@dataclass(slots=True)
class GammaMarket:
    id: str
    question: str
    condition_id: str | None = None
    slug: str | None = None
    description: str | None = None
    category: str | None = None
    event_id: str | None = None
    event_slug: str | None = None
    event_title: str | None = None
    tags: list[str] = field(default_factory=list)
    active: bool | None = None
    closed: bool | None = None
    archived: bool | None = None
    start_date: dt.datetime | None = None
    end_date: dt.datetime | None = None
    game_start_time: dt.datetime | None = None
    volume: float | None = None
    volume_24h: float | None = None
    liquidity: float | None = None
    best_bid: float | None = None
    best_ask: float | None = None
    spread: float | None = None
    last_trade_price: float | None = None
    tick_size: float | None = None
    price_change_24h: float | None = None
    resolution_status: str | None = None
    resolved_outcome: str | None = None
    updated_at: dt.datetime | None = None
    outcomes: list[GammaOutcome] = field(default_factory=list)
    dropped_outcomes: int = 0  # names without a token id, or lists that do not align


@dataclass(slots=True)
class Book:
    token_id: str
    best_bid: float | None
    best_ask: float | None
    bids: list[tuple[float, float]]  # (price, size), best first
    asks: list[tuple[float, float]]
    timestamp: dt.datetime | None  # the book's own time (epoch milliseconds on the wire)
    tick_size: float | None


@dataclass
class MarketPages:
    """What a listing run saw besides the markets: rows dropped, and how it paged."""

    dropped: int = 0
    paging: str = "keyset"
    pages: int = 0


def _tags(raw: dict[str, Any], event: dict[str, Any] | None) -> list[str]:
    labels: list[str] = []
    for source in (raw.get("tags"), (event or {}).get("tags")):
        for tag in source if isinstance(source, list) else []:
            label = text(tag.get("label") or tag.get("slug")) if isinstance(tag, dict) else None
            if label and label not in labels:
                labels.append(label)
    category = text(raw.get("category"))
    if category and category not in labels:
        labels.append(category)
    return labels


def _resolution(raw: dict[str, Any]) -> str | None:
    status = text(raw.get("umaResolutionStatus"))
    if status is None:
        statuses = json_list(raw.get("umaResolutionStatuses")) or []
        status = next((s for s in reversed(statuses) if isinstance(s, str) and s), None)
    return status


def parse_market(raw: Any) -> GammaMarket | None:
    """One Gamma market row, or None when it has no id or question (unusable)."""
    if not isinstance(raw, dict):
        return None
    market_id, question = text(raw.get("id")), text(raw.get("question"))
    if market_id is None or question is None:
        return None
    events = raw.get("events")
    event = (
        events[0] if isinstance(events, list) and events and isinstance(events[0], dict) else None
    )
    market = GammaMarket(
        id=market_id,
        question=question,
        condition_id=text(raw.get("conditionId")),
        slug=text(raw.get("slug")),
        description=text(raw.get("description")),
        category=text(raw.get("category")),
        event_id=text(event.get("id")) if event else None,
        event_slug=text(event.get("slug")) if event else None,
        event_title=text(event.get("title")) if event else None,
        tags=_tags(raw, event),
        active=_flag(raw.get("active")),
        closed=_flag(raw.get("closed")),
        archived=_flag(raw.get("archived")),
        start_date=_when(raw.get("startDate")) or _when(raw.get("startDateIso")),
        end_date=_when(raw.get("endDate")) or _when(raw.get("endDateIso")),
        game_start_time=_when(raw.get("gameStartTime")),
        volume=number(raw.get("volumeNum")) if "volumeNum" in raw else number(raw.get("volume")),
        volume_24h=number(raw.get("volume24hr")),
        liquidity=number(raw.get("liquidityNum"))
        if "liquidityNum" in raw
        else number(raw.get("liquidity")),
        best_bid=number(raw.get("bestBid")),
        best_ask=number(raw.get("bestAsk")),
        spread=number(raw.get("spread")),
        last_trade_price=number(raw.get("lastTradePrice")),
        tick_size=number(raw.get("orderPriceMinTickSize")),
        price_change_24h=number(raw.get("oneDayPriceChange")),
        resolution_status=_resolution(raw),
        updated_at=_when(raw.get("updatedAt")),
    )
    if market.volume is None:
        market.volume = number(raw.get("volume"))
    if market.liquidity is None:
        market.liquidity = number(raw.get("liquidity"))
    names = json_list(raw.get("outcomes")) or []
    prices = json_list(raw.get("outcomePrices")) or []
    tokens = json_list(raw.get("clobTokenIds")) or []
    for i, name in enumerate(names):
        token = text(tokens[i]) if i < len(tokens) else None
        label = text(name)
        if token is None or label is None:
            market.dropped_outcomes += 1
            continue
        price = number(prices[i]) if i < len(prices) else None
        if price is not None and not 0.0 <= price <= 1.0:
            price = None
        market.outcomes.append(GammaOutcome(token, label, price))
    if market.closed:
        winners = [o.name for o in market.outcomes if o.price is not None and o.price >= 0.99]
        market.resolved_outcome = winners[0] if len(winners) == 1 else None
    return market


def parse_history(body: Any) -> list[tuple[int, float]]:
    """`{"history": [{"t", "p"}]}` -> [(t, p)], bad points dropped (p outside 0..1 too)."""
    items = body.get("history") if isinstance(body, dict) else None
    if not isinstance(items, list):
        upstream_error(SERVICE, codes.UPSTREAM_BAD_RESPONSE, "Polymarket sent no price history.")
    points: list[tuple[int, float]] = []
    for item in items:
        if not isinstance(item, dict):
            continue
        t, p = number(item.get("t")), number(item.get("p"))
        if t is None or p is None or not 0.0 <= p <= 1.0:
            continue
        points.append((int(t), p))
    return points


def _levels(value: Any) -> list[tuple[float, float]]:
    out = []
    for level in value if isinstance(value, list) else []:
        if isinstance(level, dict):
            price, size = number(level.get("price")), number(level.get("size"))
            if price is not None and size is not None:
                out.append((price, size))
    return out


def parse_book(body: Any, token_id: str) -> Book:
    if not isinstance(body, dict):
        upstream_error(SERVICE, codes.UPSTREAM_BAD_RESPONSE, "Polymarket sent no order book.")
    bids = sorted(_levels(body.get("bids")), key=lambda lv: -lv[0])
    asks = sorted(_levels(body.get("asks")), key=lambda lv: lv[0])
    millis = number(body.get("timestamp"))
    when = dt.datetime.fromtimestamp(millis / 1000, dt.UTC) if millis is not None else None
    return Book(
        token_id=text(body.get("asset_id")) or token_id,
        best_bid=bids[0][0] if bids else None,
        best_ask=asks[0][0] if asks else None,
        bids=bids,
        asks=asks,
        timestamp=when,
        tick_size=number(body.get("tick_size")),
    )
