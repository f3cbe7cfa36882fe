"""Client for The Odds API v4: live sportsbook odds, the app's only paid upstream.

* The key is optional: without one every fetch raises :class:`OddsApiNotConfigured` before any
  request, so the app keeps running on the shipped historical data instead of failing calls.
* Every call costs credits (markets x regions), so quota headers are parsed and logged after
  each call, and a 429 saying the quota is spent (``x-requests-remaining: 0``) is not retried:
  waiting seconds cannot bring credits back.
* Prices leave this module as DECIMAL odds only; American prices are converted here, once, so
  no caller can mix the formats up.
* Payloads are parsed by hand, defensively: a malformed bookmaker, market or outcome is dropped
  and counted (``OddsResponse.dropped``) rather than failing a mostly good call. A bad outcome
  takes its whole *book* with it (the market for game lines, that player's lines for props),
  because a one-sided book de-vigs to false certainty.
* The key travels in the query string (the API's only auth), so it is masked in the log lines
  that httpx and ``edgelab.core.http`` write with request URLs, and kept out of messages.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Literal, NoReturn, TypeVar

import httpx
from pydantic import BaseModel, TypeAdapter, ValidationError

from edgelab.core.errors import AppError, InvalidInputError, NotFoundError, UpstreamError
from edgelab.core.http import json_or_none, make_http_client, send_with_retries
from edgelab.core.settings import Settings

log = logging.getLogger(__name__)

OddsFormat = Literal["decimal", "american"]
DEFAULT_RETRY_AFTER_SECONDS = 60
LOW_QUOTA_WARNING = 25
_KEY_IN_URL = re.compile(r"(apiKey=)[^&\s\"'#]+", re.IGNORECASE)
_SAFE_SEGMENT = re.compile(r"[A-Za-z0-9_-]{1,128}")  # sport keys and 32-hex event ids
_DATETIME: TypeAdapter[datetime] = TypeAdapter(datetime)
_T = TypeVar("_T")
_TRANSIENT_CODES = frozenset({"odds_api_rate_limited", "odds_api_unavailable"})  # -> 503


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


class OddsApiNotConfigured(AppError):
    """No key: live odds are off by configuration, a normal state rather than a failure."""

    status_code = 503
    code = "odds_api_not_configured"

    def __init__(self, message: str | None = None) -> None:
        super().__init__(
            message
            or "Live odds are off because no Odds API key is set. Set EDGELAB_ODDS_API_KEY "
            "(a key from https://the-odds-api.com) and restart to enable them; without it the "
            "app keeps running on the shipped historical NBA data."
        )


class _Malformed(ValueError):
    """The payload breaks the documented shape so badly that nothing of it can be kept."""


class _QuotaSpent(Exception):
    """Raised inside the retry loop so a quota-spent 429 leaves it at once (not retryable)."""

    def __init__(self, response: httpx.Response) -> None:
        super().__init__("quota spent")
        self.response = response


class _RedactApiKey(logging.Filter):
    """Masks ``apiKey=...`` in records of the loggers that print request URLs."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken record is the handler's business, not a reason to raise
            return True
        if "apikey=" in message.lower():
            record.msg, record.args = _KEY_IN_URL.sub(r"\1***", message), None
        return True


def _install_key_redaction() -> None:
    for name in ("httpx", "edgelab.http", __name__):
        logger = logging.getLogger(name)
        if not any(isinstance(f, _RedactApiKey) for f in logger.filters):
            logger.addFilter(_RedactApiKey())


def _upstream(code: str, message: str, details: Any, retry_after: int | None = None) -> NoReturn:
    status = 503 if code in _TRANSIENT_CODES else 502  # 503: worth retrying later
    raise UpstreamError(
        message, code=code, status_code=status, retry_after=retry_after, details=details
    )


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


def _retry_after(response: httpx.Response) -> int:
    try:
        seconds = float(response.headers.get("Retry-After", ""))
    except ValueError:  # absent, or an HTTP date we do not bother with
        return DEFAULT_RETRY_AFTER_SECONDS
    return max(1, math.ceil(seconds)) if math.isfinite(seconds) else DEFAULT_RETRY_AFTER_SECONDS


def _csv(value: str | None) -> str | None:
    """Normalise a comma list ("h2h, spreads" -> "h2h,spreads"); empty means not given."""
    items = [part.strip() for part in (value or "").split(",") if part.strip()]
    return ",".join(items) or None


def _segment(value: str, what: str) -> str:
    """A path segment, checked so an id taken from a request cannot reach another path."""
    if not _SAFE_SEGMENT.fullmatch(value):
        raise InvalidInputError(f"{what} must be letters, digits, '_' or '-', not {value!r}.")
    return value


def _collect(
    items: list[Any], parse: Callable[[Any, OddsFormat], tuple[_T | None, int]], fmt: OddsFormat
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
    return OddsOutcome(name=name, price=price, point=point, description=player)


def _parse_market(raw: Any, odds_format: OddsFormat) -> tuple[OddsMarket | None, int]:
    if not isinstance(raw, dict) or _text(raw.get("key")) is None:
        return None, 1
    if not isinstance(items := raw.get("outcomes"), list):
        return None, 1
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
    if odds_format == "american":
        from edgelab.betting.devig import american_to_decimal

        prices = american_to_decimal([o.price for o in kept])
        kept = [o.model_copy(update={"price": float(p)}) for o, p in zip(kept, prices, strict=True)]
    when = _when(raw.get("last_update"))
    return OddsMarket(key=raw["key"], last_update=when, outcomes=kept), dropped


def _parse_bookmaker(raw: Any, odds_format: OddsFormat) -> tuple[OddsBookmaker | None, int]:
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


def parse_event(raw: Any, odds_format: OddsFormat, sport: str) -> tuple[OddsEvent, int]:
    """One upstream event and how many of its pieces were dropped; `_Malformed` if unusable."""
    if not isinstance(raw, dict):
        raise _Malformed("an event is not a JSON object")
    event_id, home, away = (_text(raw.get(k)) for k in ("id", "home_team", "away_team"))
    commence = _when(raw.get("commence_time"))
    if event_id is None or home is None or away is None or commence is None:
        fields = {"id": event_id, "home_team": home, "away_team": away, "commence_time": commence}
        missing = ", ".join(name for name, value in fields.items() if value is None)
        raise _Malformed(f"event {event_id or '?'} lacks a valid {missing}")
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


def _parse_or_fail(raw: Any, odds_format: OddsFormat, sport: str) -> tuple[OddsEvent, int]:
    try:
        return parse_event(raw, odds_format, sport)
    except _Malformed as exc:
        _upstream("odds_api_bad_response", "The Odds API sent an unusable event.", str(exc))


def _raise_for_status(
    response: httpx.Response, quota: OddsQuota, key: str, event_id: str | None
) -> None:
    """Map a final non-2xx answer (retries are over) to the app's error codes."""
    status = response.status_code
    if 200 <= status < 300:
        return
    body = json_or_none(response)
    body = body if isinstance(body, dict) else {}
    message = body.get("message")
    message = message if isinstance(message, str) else response.text[:300]
    details = {
        "upstream_status": status,
        "upstream_message": message.replace(key, "***"),  # some APIs echo the key back
        "upstream_error_code": body.get("error_code"),
    }
    if status in (401, 403):
        text = f"The Odds API rejected the API key (HTTP {status}); check EDGELAB_ODDS_API_KEY."
        _upstream("odds_api_auth_failed", text, details)
    if status == 429:
        spent = quota.remaining == 0
        text = (
            "The Odds API usage quota is spent (x-requests-remaining: 0); live odds return when "
            "the plan's credits renew."
            if spent
            else "The Odds API is rate limiting these requests; retry later."
        )
        details["quota_spent"] = spent
        _upstream("odds_api_rate_limited", text, details, _retry_after(response))
    if status >= 500:
        text = f"The Odds API is unavailable (HTTP {status} after retries)."
        _upstream("odds_api_unavailable", text, details)
    if status == 404 and event_id is not None:
        raise NotFoundError(
            f"The Odds API has no odds for event {event_id!r} (unknown, started or over).",
            code="odds_event_not_found",
            details=details,
        )
    if status >= 400:
        text = f"The Odds API refused the request (HTTP {status}): {details['upstream_message']}"
        _upstream("odds_api_bad_request", text, details)
    _upstream("odds_api_bad_response", f"The Odds API answered HTTP {status}.", details)


# ---------------------------------------------------------------- the client


class OddsApiClient:
    """One instance per app (the lifespan owns it); safe to share between requests."""

    def __init__(
        self,
        settings: Settings,
        *,
        client: httpx.AsyncClient | None = None,
        retry_initial_wait: float = 0.5,
    ) -> None:
        self._settings = settings
        self._owns_client = client is None
        self._client = client or make_http_client(settings, base_url=settings.odds_api_url)
        self._base = settings.odds_api_url.rstrip("/")  # absolute URLs: a shared client works
        self._initial_wait = max(0.0, retry_initial_wait)
        _install_key_redaction()

    @property
    def configured(self) -> bool:
        key = self._settings.odds_api_key
        return key is not None and bool(key.get_secret_value().strip())

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()

    async def fetch_odds(
        self,
        *,
        sport: str | None = None,
        regions: str | None = None,
        markets: str | None = None,
        odds_format: OddsFormat = "decimal",
        bookmakers: str | None = None,
    ) -> OddsResponse:
        """Odds for every upcoming event of a sport: one call, markets x regions credits."""
        sport_key = sport or self._settings.odds_api_sport
        params = self._odds_params(regions, markets, odds_format, bookmakers)
        body, quota = await self._get(f"/v4/sports/{_segment(sport_key, 'sport')}/odds", params)
        if not isinstance(body, list):
            _upstream("odds_api_bad_response", "The Odds API sent no event list.", None)
        parsed = [_parse_or_fail(raw, odds_format, sport_key) for raw in body]
        dropped = sum(bad for _, bad in parsed)
        if dropped:
            log.warning("odds api: dropped %d malformed bookmaker/market/outcome pieces", dropped)
        events = [event for event, _ in parsed]
        return OddsResponse(events=events, quota=quota, odds_format=odds_format, dropped=dropped)

    async def fetch_event_odds(
        self,
        event_id: str,
        *,
        markets: str,
        sport: str | None = None,
        regions: str | None = None,
        odds_format: OddsFormat = "decimal",
        bookmakers: str | None = None,
    ) -> tuple[OddsEvent, OddsQuota]:
        """One event's odds: the only route to player props (``player_points`` ...)."""
        sport_key = sport or self._settings.odds_api_sport
        if _csv(markets) is None:
            raise InvalidInputError("markets must name at least one market, e.g. player_points.")
        params = self._odds_params(regions, markets, odds_format, bookmakers)
        sport_part, event_part = _segment(sport_key, "sport"), _segment(event_id, "event_id")
        path = f"/v4/sports/{sport_part}/events/{event_part}/odds"
        body, quota = await self._get(path, params, event_id=event_id)
        if not isinstance(body, dict):
            _upstream("odds_api_bad_response", "The Odds API sent no event object.", None)
        event, dropped = _parse_or_fail(body, odds_format, sport_key)
        if dropped:
            log.warning("odds api: dropped %d malformed pieces of event %s", dropped, event.id)
        return event, quota

    async def list_events(self, *, sport: str | None = None) -> tuple[list[OddsEvent], OddsQuota]:
        """Upcoming events without odds (costs no credits): the ids `fetch_event_odds` needs."""
        sport_key = sport or self._settings.odds_api_sport
        path = f"/v4/sports/{_segment(sport_key, 'sport')}/events"
        body, quota = await self._get(path, {"dateFormat": "iso"})
        if not isinstance(body, list):
            _upstream("odds_api_bad_response", "The Odds API sent no event list.", None)
        return [_parse_or_fail(raw, "decimal", sport_key)[0] for raw in body], quota

    def _odds_params(
        self, regions: str | None, markets: str | None, odds_format: str, bookmakers: str | None
    ) -> dict[str, str]:
        """Arguments beat settings; bookmakers replace regions (the API's own rule)."""
        if odds_format not in ("decimal", "american"):
            raise InvalidInputError("odds_format must be 'decimal' or 'american'.")
        markets = _csv(markets) or self._settings.odds_api_markets
        params = {"markets": markets, "oddsFormat": odds_format, "dateFormat": "iso"}
        books, areas = _csv(bookmakers), _csv(regions)
        if books is None and areas is None:
            books = _csv(self._settings.odds_api_bookmakers)
        if books is not None:
            params["bookmakers"] = books
        else:
            params["regions"] = areas or self._settings.odds_api_regions
        return params

    async def _get(
        self, path: str, params: dict[str, str], *, event_id: str | None = None
    ) -> tuple[Any, OddsQuota]:
        """GET with retries (429/5xx/timeouts), quota logging and error mapping."""
        secret = self._settings.odds_api_key
        if secret is None or not (key := secret.get_secret_value().strip()):
            raise OddsApiNotConfigured()
        url, query = self._base + path, {**params, "apiKey": key}

        async def send() -> httpx.Response:
            response = await self._client.get(url, params=query)
            if response.status_code == 429 and parse_quota(response.headers).remaining == 0:
                raise _QuotaSpent(response)
            return response

        attempts = self._settings.http_max_retries + 1
        wait = self._initial_wait  # the backoff ceiling scales with it: 8 s by default, 0 = none
        try:
            response = await send_with_retries(
                send, attempts=attempts, initial_wait=wait, max_wait=16 * wait
            )
        except _QuotaSpent as spent:
            response = spent.response
        except httpx.TransportError as exc:  # includes every timeout
            details = {"path": path, "error": type(exc).__name__, "attempts": attempts}
            if isinstance(exc, httpx.TimeoutException):
                seconds = self._settings.http_timeout_seconds
                text = f"The Odds API timed out (no answer within {seconds:g} s, {attempts} tries)."
            else:
                text = f"The Odds API could not be reached ({type(exc).__name__})."
            _upstream("odds_api_unavailable", text, details)
        quota = parse_quota(response.headers)
        log.info("odds api %s -> HTTP %d; quota %s", path, response.status_code, quota)
        if quota.remaining is not None and quota.remaining < LOW_QUOTA_WARNING:
            log.warning("odds api quota nearly spent: %d requests remaining", quota.remaining)
        _raise_for_status(response, quota, key, event_id)
        if (body := json_or_none(response)) is None:
            _upstream("odds_api_bad_response", "The Odds API sent a body that is not JSON.", None)
        return body, quota
