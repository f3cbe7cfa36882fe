"""Client for The Odds API v4: live sportsbook odds, the app's only paid upstream.

* The key is optional: without one every fetch raises :class:`OddsApiNotConfigured` before any
  request, so the app keeps running on the shipped historical data instead of failing calls.
* Every call costs credits (markets x regions), so quota headers are parsed and logged after
  each call, and a 429 saying the quota is spent (``x-requests-remaining: 0``) is not retried:
  waiting seconds cannot bring credits back. A spent month is really answered 401
  ``OUT_OF_USAGE_CREDITS`` (not 429): that is ``odds_api_out_of_credits``, not a bad key.
* Prices leave this module as DECIMAL odds only, parsed leniently (``oddsapi_payload``): a
  malformed piece is dropped and counted rather than failing a mostly good call.
* The key travels in the query string (the API's only auth), so it is masked in the log lines
  that httpx and ``edgelab.core.http`` write with request URLs, and kept out of messages
  (``edgelab.core.http.redaction``, and the upstream layer's masking of echoed secrets).
"""

from __future__ import annotations

import logging
import re
from functools import partial
from typing import Any

import httpx

from edgelab.betting import errors
from edgelab.betting.odds.oddsapi_payload import (
    Malformed,
    OddsBookmaker,
    OddsEvent,
    OddsFormat,
    OddsMarket,
    OddsOutcome,
    OddsQuota,
    OddsResponse,
    OddsScore,
    parse_event,
    parse_quota,
    parse_score,
)
from edgelab.core.errors import AppError, InvalidInputError, NotFoundError, UpstreamError
from edgelab.core.http import Verdict, make_http_client, retry_after_header
from edgelab.core.http.redaction import mask_query_param
from edgelab.core.http.upstream import Refusal, Unreachable, Upstream, service_error
from edgelab.core.settings import Settings

__all__ = [
    "OddsApiClient",
    "OddsApiNotConfigured",
    "OddsBookmaker",
    "OddsEvent",
    "OddsFormat",
    "OddsMarket",
    "OddsOutcome",
    "OddsQuota",
    "OddsResponse",
    "OddsScore",
    "parse_event",
    "parse_quota",
]

log = logging.getLogger(__name__)

SERVICE = "The Odds API"
DEFAULT_RETRY_AFTER_SECONDS = 60
LOW_QUOTA_WARNING = 25
OUT_OF_USAGE_CREDITS = "OUT_OF_USAGE_CREDITS"  # the error_code of a spent month (HTTP 401)
_SAFE_SEGMENT = re.compile(r"[A-Za-z0-9_-]{1,128}")  # sport keys and 32-hex event ids


class OddsApiNotConfigured(AppError):
    """No key: live odds are off by configuration, a normal state rather than a failure."""

    status_code = 503
    code = errors.ODDS_API_NOT_CONFIGURED

    def __init__(self, message: str | None = None) -> None:
        super().__init__(
            message
            or "Live odds are off because no Odds API key is set. Set EDGELAB_ODDS_API_KEY "
            "(a key from https://the-odds-api.com) and restart to enable them; without it the "
            "app keeps running on the shipped historical NBA data."
        )


def _csv(value: str | None) -> str | None:
    """Normalise a comma list ("h2h, spreads" -> "h2h,spreads"); empty means not given."""
    items = [part.strip() for part in (value or "").split(",") if part.strip()]
    return ",".join(items) or None


def _segment(value: str, what: str) -> str:
    """A path segment, checked so an id taken from a request cannot reach another path."""
    if not _SAFE_SEGMENT.fullmatch(value):
        raise InvalidInputError(f"{what} must be letters, digits, '_' or '-', not {value!r}.")
    return value


def _parse_or_fail(raw: Any, odds_format: OddsFormat, sport: str) -> tuple[OddsEvent, int]:
    try:
        return parse_event(raw, odds_format, sport)
    except Malformed as exc:
        text = "The Odds API sent an unusable event."
        raise service_error(errors.ODDS_API_BAD_RESPONSE, text, details=str(exc)) from exc


def _quota_spent(response: httpx.Response) -> Verdict | None:
    """A 429 with no credits left is final: waiting seconds cannot bring credits back."""
    if response.status_code == 429 and parse_quota(response.headers).remaining == 0:
        return "final"
    return None


def _refused(refusal: Refusal, event_id: str | None = None) -> Exception:
    """A final failed answer in the ``odds_api_*`` codes (404 is ours only for an event)."""
    status = refusal.status
    details: dict[str, Any] = {
        "upstream_status": status,
        "upstream_message": refusal.said("message"),  # the key masked: some APIs echo it
        "upstream_error_code": refusal.field("error_code"),
    }
    if status in (401, 403) and refusal.field("error_code") == OUT_OF_USAGE_CREDITS:
        # a 401, yet not a bad key: the month's credits are spent (APIS.md section 9)
        text = (
            "The Odds API usage credits are spent (OUT_OF_USAGE_CREDITS); live odds return when "
            "the plan's credits renew at the start of the next month."
        )
        return service_error(errors.ODDS_API_OUT_OF_CREDITS, text, details=details)
    if status in (401, 403):
        text = f"The Odds API rejected the API key (HTTP {status}); check EDGELAB_ODDS_API_KEY."
        return service_error(errors.ODDS_API_AUTH_FAILED, text, details=details)
    if status == 429:
        spent = parse_quota(refusal.response.headers).remaining == 0
        text = (
            "The Odds API usage quota is spent (x-requests-remaining: 0); live odds return when "
            "the plan's credits renew."
            if spent
            else "The Odds API is rate limiting these requests; retry later."
        )
        details["quota_spent"] = spent
        retry_after = retry_after_header(refusal.response, DEFAULT_RETRY_AFTER_SECONDS)
        return service_error(
            errors.ODDS_API_RATE_LIMITED, text, details=details, retry_after=retry_after
        )
    if status >= 500:
        text = f"The Odds API is unavailable (HTTP {status} after retries)."
        return service_error(errors.ODDS_API_UNAVAILABLE, text, details=details)
    if status == 404 and event_id is not None:
        return NotFoundError(
            f"The Odds API has no odds for event {event_id!r} (unknown, started or over).",
            code=errors.ODDS_EVENT_NOT_FOUND,
            details=details,
        )
    if status >= 400:
        text = f"The Odds API refused the request (HTTP {status}): {details['upstream_message']}"
        return service_error(errors.ODDS_API_BAD_REQUEST, text, details=details)
    return service_error(
        errors.ODDS_API_BAD_RESPONSE, f"The Odds API answered HTTP {status}.", details=details
    )


def _unreachable(failure: Unreachable, path: str) -> UpstreamError:
    details = {"path": path, "error": failure.kind, "attempts": failure.attempts}
    return service_error(errors.ODDS_API_UNAVAILABLE, failure.message, details=details)


def _not_json(response: httpx.Response) -> UpstreamError:
    return service_error(errors.ODDS_API_BAD_RESPONSE, "The Odds API sent a body that is not JSON.")


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
        key = settings.odds_api_key
        self._upstream = Upstream(
            SERVICE,
            settings,
            refused=_refused,
            not_json=_not_json,
            classify=_quota_spent,
            initial_wait=retry_initial_wait,
            secrets=[key.get_secret_value().strip()] if key is not None else [],
        )
        mask_query_param("apiKey", __name__)

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
            raise service_error(errors.ODDS_API_BAD_RESPONSE, "The Odds API sent no event list.")
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
            raise service_error(errors.ODDS_API_BAD_RESPONSE, "The Odds API sent no event object.")
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
            raise service_error(errors.ODDS_API_BAD_RESPONSE, "The Odds API sent no event list.")
        return [_parse_or_fail(raw, "decimal", sport_key)[0] for raw in body], quota

    async def fetch_scores(
        self, *, sport: str | None = None, days_from: int | None = None
    ) -> tuple[list[OddsScore], OddsQuota]:
        """Live and upcoming games with their scores, plus the games completed in the last
        `days_from` days (1..3): 1 credit, 2 with `days_from`. Scores matched by team name; a
        malformed entry is dropped and logged."""
        sport_key = sport or self._settings.odds_api_sport
        params = {"dateFormat": "iso"}
        if days_from is not None:
            if not 1 <= days_from <= 3:
                raise InvalidInputError("days_from must be 1, 2 or 3.")
            params["daysFrom"] = str(days_from)
        path = f"/v4/sports/{_segment(sport_key, 'sport')}/scores"
        body, quota = await self._get(path, params)
        if not isinstance(body, list):
            raise service_error(errors.ODDS_API_BAD_RESPONSE, "The Odds API sent no score list.")
        scores = []
        for raw in body:  # a malformed entry is dropped, not the call: the others still settle
            try:
                scores.append(parse_score(raw, sport_key))
            except Malformed as exc:
                log.warning("odds api: dropped a malformed score entry (%s)", exc)
        return scores, quota

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
        response = await self._upstream.send(
            lambda: self._client.get(url, params=query),
            unreachable=partial(_unreachable, path=path),
        )
        quota = parse_quota(response.headers)
        log.info("odds api %s -> HTTP %d; quota %s", path, response.status_code, quota)
        if quota.remaining is not None and quota.remaining < LOW_QUOTA_WARNING:
            log.warning("odds api quota nearly spent: %d requests remaining", quota.remaining)
        self._upstream.raise_for_status(response, refused=partial(_refused, event_id=event_id))
        return self._upstream.json(response), quota
