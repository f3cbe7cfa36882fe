"""The Odds API v4 payloads: the models callers get, and the lenient parsing that makes them.

Payloads are parsed by hand, defensively: a malformed bookmaker, market or outcome is dropped
and counted (``OddsResponse.dropped``) rather than failing a mostly good call. A bad outcome
takes its whole *book* with it (the market for game lines, that player's lines for props),
because a one-sided book de-vigs to false certainty. Prices leave as DECIMAL odds only;
American prices are converted here, once, so no caller can mix the formats up.

Files saved by others (`edgelab import odds-api`) do not say which format they asked for, so
`"auto"` decides per bookmaker market (see `price_format_of`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar

import httpx
from pydantic import BaseModel, TypeAdapter, ValidationError

OddsFormat = Literal["decimal", "american"]
PriceFormat = Literal["decimal", "american", "auto"]  # what a payload's prices are, if known
_DATETIME: TypeAdapter[datetime] = TypeAdapter(datetime)
_T = TypeVar("_T")


class OddsOutcome(BaseModel):
    name: str
    price: float  # always decimal odds once parsed
    point: float | None = None
    description: str | None = None  # the player, on prop markets


class OddsMarket(BaseModel):
    key: str
    last_update: datetime | None = None
    outcomes: list[OddsOutcome]


class OddsBookmaker(BaseModel):
    key: str
    title: str
    last_update: datetime | None = None
    markets: list[OddsMarket]


class OddsEvent(BaseModel):
    id: str
    sport_key: str
    sport_title: str | None = None
    commence_time: datetime
    home_team: str
    away_team: str
    bookmakers: list[OddsBookmaker] = []


class OddsQuota(BaseModel):
    remaining: int | None = None
    used: int | None = None
    last: int | None = None


class OddsResponse(BaseModel):
    events: list[OddsEvent]
    quota: OddsQuota
    odds_format: OddsFormat  # what was asked of the upstream; the prices above are decimal
    dropped: int = 0  # malformed bookmakers/markets/outcomes discarded while parsing


class OddsScore(BaseModel):
    """One `/scores` entry: upcoming (no scores), live (scores, not completed) or final."""

    id: str
    sport_key: str
    commence_time: datetime
    home_team: str
    away_team: str
    completed: bool
    home_score: int | None = None  # matched to the team by name, never by list position
    away_score: int | None = None
    last_update: datetime | None = None


class Malformed(ValueError):
    """The payload breaks the documented shape so badly that nothing of it can be kept."""


# ---------------------------------------------------------------- lenient scalar parsing


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _when(value: Any) -> datetime | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        parsed = _DATETIME.validate_python(value)
    except ValidationError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _count(value: str | None) -> int | None:
    """Quota headers are counts but have been seen as float strings ("499.0")."""
    try:
        number = float(value.strip()) if value is not None else math.nan
    except ValueError:
        return None
    return int(number) if math.isfinite(number) else None


def parse_quota(headers: httpx.Headers) -> OddsQuota:
    return OddsQuota(
        remaining=_count(headers.get("x-requests-remaining")),
        used=_count(headers.get("x-requests-used")),
        last=_count(headers.get("x-requests-last")),
    )


def _collect(
    items: list[Any], parse: Callable[[Any, PriceFormat], tuple[_T | None, int]], fmt: PriceFormat
) -> tuple[list[_T], int]:
    """Parse children, keeping the good ones and summing what was dropped on the way."""
    kept: list[_T] = []
    dropped = 0
    for item in items:
        value, bad = parse(item, fmt)
        dropped += bad
        if value is not None:
            kept.append(value)
    return kept, dropped


def price_format_of(prices: list[float]) -> OddsFormat:
    """American when any price is negative, or every price is at least 100 in absolute value;
    decimal otherwise.

    Sound because the formats barely overlap: decimal prices are positive, and a decimal
    market whose every price is >= 100 gives each side at most a 1% implied probability, which
    no book offers on a market whose sides cover every result; an American price lies outside
    (-100, +100), and any American market with a favourite has a negative price. Decided per
    bookmaker market (the unit a book prices at once), so one market's format never decides
    another's.
    """
    if any(p < 0 for p in prices) or (prices and all(abs(p) >= 100 for p in prices)):
        return "american"
    return "decimal"


def american_price_to_decimal(american: float) -> float:
    """One American price (|x| >= 100) as decimal odds: +150 -> 2.5, -200 -> 1.5, +-100 -> 2.

    `markets.devig.american_to_decimal` for a single number: a payload holds tens of thousands
    of two-price markets, and an array call per market costs more than the parse itself."""
    return 1.0 + american / 100.0 if american > 0 else 1.0 - 100.0 / american


def decimal_price_to_american(decimal: float) -> int:
    """One decimal price (> 1) as the whole American number the API sends: 2.5 -> +150,
    1.5 -> -200, 2 -> +100. The inverse of `american_price_to_decimal` for whole American
    prices (a recorded -230 comes back as -230), for serving recorded prices (a replay)."""
    if not decimal > 1.0:
        raise ValueError(f"decimal odds must exceed 1, not {decimal}")
    if decimal >= 2.0:
        return round(100.0 * (decimal - 1.0))
    return round(-100.0 / (decimal - 1.0))


# ---------------------------------------------------------------- payload parsing


def _parse_outcome(raw: Any, odds_format: OddsFormat) -> OddsOutcome | None:
    if not isinstance(raw, dict):
        return None
    name, price, point, player = (raw.get(k) for k in ("name", "price", "point", "description"))
    price = _number(price)
    if _text(name) is None or price is None:
        return None
    if odds_format == "american" and abs(price) < 100:  # -100 < x < +100 is no American line
        return None
    if odds_format == "decimal" and price <= 1.0:  # a decimal price returns more than the stake
        return None
    if (point is not None and _number(point) is None) or not isinstance(player, str | None):
        return None
    if odds_format == "american":
        price = american_price_to_decimal(price)
    return OddsOutcome(name=name, price=price, point=point, description=player)


def _parse_market(raw: Any, price_format: PriceFormat) -> tuple[OddsMarket | None, int]:
    if not isinstance(raw, dict) or _text(raw.get("key")) is None:
        return None, 1
    if not isinstance(items := raw.get("outcomes"), list):
        return None, 1
    odds_format: OddsFormat
    if price_format == "auto":
        prices = [_number(i.get("price")) if isinstance(i, dict) else None for i in items]
        odds_format = price_format_of([p for p in prices if p is not None])
    else:
        odds_format = price_format
    good: list[OddsOutcome] = []
    bad_players: set[str] = set()
    dropped, whole_book_bad = 0, False
    for item in items:
        if (outcome := _parse_outcome(item, odds_format)) is not None:
            good.append(outcome)
            continue
        dropped += 1
        player = item.get("description") if isinstance(item, dict) else None
        if isinstance(player, str):
            bad_players.add(player)  # a prop: only this player's book is lost
        else:
            whole_book_bad = True  # a game line (or an unknowable player): one book per market
    kept = [o for o in good if o.description not in bad_players]
    if whole_book_bad or not kept:
        return None, dropped
    when = _when(raw.get("last_update"))
    return OddsMarket(key=raw["key"], last_update=when, outcomes=kept), dropped


def _parse_bookmaker(raw: Any, odds_format: PriceFormat) -> tuple[OddsBookmaker | None, int]:
    if not isinstance(raw, dict) or _text(key := raw.get("key")) is None:
        return None, 1
    if not isinstance(items := raw.get("markets"), list):
        return None, 1
    markets, dropped = _collect(items, _parse_market, odds_format)
    if not markets:  # nothing usable left: not worth a row downstream
        return None, dropped
    title = _text(raw.get("title")) or key
    when = _when(raw.get("last_update"))
    return OddsBookmaker(key=key, title=title, last_update=when, markets=markets), dropped


def parse_event(raw: Any, odds_format: PriceFormat, sport: str) -> tuple[OddsEvent, int]:
    """One upstream event and how many of its pieces were dropped; `Malformed` if unusable.

    `odds_format` is what the prices are: what the call asked for, or `"auto"` for a payload
    of unknown origin (decided per bookmaker market, `price_format_of`)."""
    if not isinstance(raw, dict):
        raise Malformed("an event is not a JSON object")
    event_id, home, away = (_text(raw.get(k)) for k in ("id", "home_team", "away_team"))
    commence = _when(raw.get("commence_time"))
    if event_id is None or home is None or away is None or commence is None:
        fields = {"id": event_id, "home_team": home, "away_team": away, "commence_time": commence}
        missing = ", ".join(name for name, value in fields.items() if value is None)
        raise Malformed(f"event {event_id or '?'} lacks a valid {missing}")
    books, dropped = raw.get("bookmakers") or [], 0
    if not isinstance(books, list):
        books, dropped = [], 1
    bookmakers, bad = _collect(books, _parse_bookmaker, odds_format)
    event = OddsEvent(
        id=event_id,
        sport_key=_text(raw.get("sport_key")) or sport,
        sport_title=_text(raw.get("sport_title")),
        commence_time=commence,
        home_team=home,
        away_team=away,
        bookmakers=bookmakers,
    )
    return event, dropped + bad


def _score_points(value: Any) -> int | None:
    """A team's points: documented as a string ("113"); a bare number is taken too."""
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    number = _number(value)
    return int(number) if number is not None and number >= 0 and number == int(number) else None


def parse_score(raw: Any, sport: str) -> OddsScore:
    """One `/scores` entry; `Malformed` without an id, teams or tip-off. Scores are matched to
    `home_team`/`away_team` by `name` (the API promises no order); a completed game must carry
    both teams' points."""
    if not isinstance(raw, dict):
        raise Malformed("a score entry is not a JSON object")
    event_id, home, away = (_text(raw.get(k)) for k in ("id", "home_team", "away_team"))
    commence = _when(raw.get("commence_time"))
    if event_id is None or home is None or away is None or commence is None:
        raise Malformed(f"score entry {event_id or '?'} lacks an id, its teams or commence_time")
    points: dict[str, int | None] = {}
    for item in raw.get("scores") or []:
        if isinstance(item, dict) and isinstance(name := item.get("name"), str):
            points[name] = _score_points(item.get("score"))
    completed = raw.get("completed") is True
    home_score, away_score = points.get(home), points.get(away)
    if completed and (home_score is None or away_score is None):
        raise Malformed(f"score entry {event_id} is completed without both teams' points")
    return OddsScore(
        id=event_id,
        sport_key=_text(raw.get("sport_key")) or sport,
        commence_time=commence,
        home_team=home,
        away_team=away,
        completed=completed,
        home_score=home_score,
        away_score=away_score,
        last_update=_when(raw.get("last_update")),
    )
