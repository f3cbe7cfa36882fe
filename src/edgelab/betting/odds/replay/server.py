"""The replay's HTTP face: The Odds API v4 endpoints over a `Recording`, on an injected clock.

Contract (APIS.md section 9), as far as a recording can honour it:

* `apiKey` on every call: missing -> 401 `MISSING_KEY`; any non-empty key works unless the
  replay was given one (then another is 401 `INVALID_KEY`). Key errors carry no quota headers
  (as observed live); every other answer carries `x-requests-remaining/used/last` as strings.
* Credits: a pool (`ReplayConfig.credits`) spent per call as documented: `/odds` markets x
  regions (10 bookmakers count as one region; an answer without events is free), event odds
  the distinct markets *returned* x regions, `/scores` 1, or 2 with `daysFrom`, `/events` 0.
  With the pool empty, or short of a call's cost, the call is refused with 401
  `OUT_OF_USAGE_CREDITS` and nothing is charged.
* `/odds`: the latest snapshot at or before the simulated now, its events not yet started,
  featured markets only (a prop market is 422 `INVALID_MARKET`, as live). Regions are checked
  and priced but do not filter: the recording holds the books it was recorded with.
* `/events/{id}/odds`: one event, any market the recording has (props included), 404
  `EVENT_NOT_FOUND` once it has started or if it was never recorded by now.
* `/scores`: events recorded by now, completed `game_length` after tip-off *if* the results
  file has the game's final score; a game past its end without a known result (postponed, or
  no results file) is left out, as the API drops a game that was not played.
* `GET /replay/clock` (not the API's): the simulated now, speed, start and credits.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from edgelab.betting.odds.oddsapi_payload import OddsEvent
from edgelab.betting.odds.replay import params
from edgelab.betting.odds.replay.params import Refused
from edgelab.betting.odds.replay.recording import Recording
from edgelab.betting.odds.replay.results import FinalScore, FinalScores
from edgelab.betting.odds.replay.wire import (
    DateFormat,
    event_header,
    markets_returned,
    wire_event,
    wire_time,
)
from edgelab.core.clock import Clock, ScaledClock

GAME_LENGTH = dt.timedelta(hours=2, minutes=15)  # tip-off to final whistle, a typical NBA game
DOCS = "https://the-odds-api.com/liveapi/guides/v4/api-error-codes.html"
UPCOMING = "upcoming"  # the sport key meaning "the next games of every sport"
UPCOMING_LIMIT = 8


@dataclass(frozen=True)
class ReplayConfig:
    sport: str = "basketball_nba"  # served even when the recording holds no event of it
    credits: int = 20_000  # the month's pool at start
    game_length: dt.timedelta = GAME_LENGTH
    api_key: str | None = None  # None: any non-empty key is accepted


class Credits:
    def __init__(self, total: int) -> None:
        self.total, self.used = total, 0

    @property
    def remaining(self) -> int:
        return max(self.total - self.used, 0)

    def headers(self, last: int) -> dict[str, str]:
        return {
            "x-requests-remaining": str(self.remaining),
            "x-requests-used": str(self.used),
            "x-requests-last": str(last),
        }

    def check(self, cost: int = 0) -> None:
        if self.remaining == 0 or cost > self.remaining:
            raise Refused(
                401,
                "OUT_OF_USAGE_CREDITS",
                "Usage quota has been reached. See usage plans at https://the-odds-api.com",
            )

    def charge(self, cost: int) -> dict[str, str]:
        self.check(cost)
        self.used += cost
        return self.headers(cost)


# ---------------------------------------------------------------- the replay


class OddsApiReplay:
    """The state behind the app: the recording, its clock, the results and the credits."""

    def __init__(
        self,
        recording: Recording,
        clock: Clock,
        *,
        results: FinalScores | None = None,
        config: ReplayConfig | None = None,
    ) -> None:
        self.recording, self.clock, self.results = recording, clock, results
        self.config = config or ReplayConfig()
        self.credits = Credits(self.config.credits)
        self.started_at = clock.start if isinstance(clock, ScaledClock) else clock.now()
        self.sports = recording.sports | {self.config.sport}

    def now(self) -> dt.datetime:
        return self.clock.now()

    def app(self) -> Starlette:
        def endpoint(handler: Callable[[Request], Awaitable[Response]]) -> Any:
            async def guarded(request: Request) -> Response:
                try:
                    return await handler(request)
                except Refused as refused:
                    return self._error(refused)

            return guarded

        return Starlette(
            routes=[
                Route("/v4/sports/{sport}/odds", endpoint(self.odds), methods=["GET"]),
                Route("/v4/sports/{sport}/events", endpoint(self.events), methods=["GET"]),
                Route(
                    "/v4/sports/{sport}/events/{event_id}/odds",
                    endpoint(self.event_odds),
                    methods=["GET"],
                ),
                Route("/v4/sports/{sport}/scores", endpoint(self.scores), methods=["GET"]),
                Route("/replay/clock", self.clock_info, methods=["GET"]),
            ]
        )

    # ------------------------------------------------------------ plumbing

    def _error(self, refused: Refused) -> Response:
        anchor = refused.code.lower().replace("_", "-")
        body = {
            "message": refused.message,
            "error_code": refused.code,
            "details_url": f"{DOCS}#{anchor}",
        }
        key_error = refused.code in ("MISSING_KEY", "INVALID_KEY")
        headers = None if key_error else self.credits.headers(0)
        return JSONResponse(body, status_code=refused.status, headers=headers)

    def _admit(self, request: Request, *, upcoming: bool = False) -> str:
        """The checks every endpoint starts with: the key, the sport, credits left."""
        key = request.query_params.get("apiKey", "").strip()
        if not key:
            raise Refused(401, "MISSING_KEY", "API key is missing. Add apiKey=... to the URL.")
        if self.config.api_key is not None and key != self.config.api_key:
            raise Refused(
                401,
                "INVALID_KEY",
                "API key is not valid. Get an API key at https://the-odds-api.com",
            )
        sport = str(request.path_params["sport"])
        if sport not in self.sports and not (upcoming and sport == UPCOMING):
            raise Refused(404, "UNKNOWN_SPORT", f"Unknown sport '{sport}'.")
        self.credits.check()
        return sport

    def _upcoming(self, sport: str, now: dt.datetime) -> list[OddsEvent]:
        """The latest snapshot's events not started by `now`, of `sport` (or the next few of
        every sport for `upcoming`), by tip-off."""
        snapshot = self.recording.snapshot_at(now)
        events = [] if snapshot is None else list(snapshot.events.values())
        events = [e for e in events if e.commence_time > now]
        events.sort(key=lambda e: (e.commence_time, e.id))
        if sport == UPCOMING:
            return events[:UPCOMING_LIMIT]
        return [e for e in events if e.sport_key == sport]

    # ------------------------------------------------------------ endpoints

    async def odds(self, request: Request) -> Response:
        sport = self._admit(request, upcoming=True)
        markets = params.markets(request, params.FEATURED_MARKETS)
        books, regions = params.regions_cost(request)
        odds_format, date_format = params.odds_format(request), params.date_format(request)
        events = params.event_filter(request, self._upcoming(sport, self.now()))
        body = [
            wire_event(
                e,
                markets=markets,
                bookmakers=books,
                odds_format=odds_format,
                date_format=date_format,
            )
            for e in events
        ]
        cost = len(markets) * regions if body else 0  # an answer without events is free
        return JSONResponse(body, headers=self.credits.charge(cost))

    async def event_odds(self, request: Request) -> Response:
        sport = self._admit(request)
        markets = params.markets(request, None)
        books, regions = params.regions_cost(request)
        odds_format, date_format = params.odds_format(request), params.date_format(request)
        now, event_id = self.now(), str(request.path_params["event_id"])
        event = self.recording.event_at(event_id, now)
        if event is None or event.sport_key != sport or event.commence_time <= now:
            raise Refused(404, "EVENT_NOT_FOUND", "Event not found. The event may have expired.")
        body = wire_event(
            event,
            markets=markets,
            bookmakers=books,
            odds_format=odds_format,
            date_format=date_format,
        )
        cost = len(markets_returned([body])) * regions
        return JSONResponse(body, headers=self.credits.charge(cost))

    async def events(self, request: Request) -> Response:
        sport = self._admit(request)
        date_format = params.date_format(request)
        events = params.event_filter(request, self._upcoming(sport, self.now()))
        body = [event_header(e, date_format) for e in events]
        return JSONResponse(body, headers=self.credits.charge(0))

    async def scores(self, request: Request) -> Response:
        sport = self._admit(request)
        raw_days = request.query_params.get("daysFrom")
        days: int | None = None
        if raw_days:
            days = int(raw_days) if raw_days.isdigit() else 0
            if not 1 <= days <= 3:
                raise Refused(
                    422, "INVALID_SCORES_DAYS_FROM", "daysFrom must be an integer from 1 to 3."
                )
        date_format = params.date_format(request)
        ids = set(params.comma_list(request, "eventIds"))
        now, length = self.now(), self.config.game_length
        body: list[tuple[OddsEvent, FinalScore | None]] = []
        for event in self.recording.events_known(now):
            if event.sport_key != sport or (ids and event.id not in ids):
                continue
            over = event.commence_time + length <= now
            final = self.results.final_of(event) if self.results is not None and over else None
            if over and final is None:
                continue  # not played (postponed) or no result to show: not listed
            if days is not None and event.commence_time < now - dt.timedelta(days=days):
                continue
            if days is None and final is not None:
                continue  # without daysFrom: live and upcoming games only
            body.append((event, final))
        body.sort(key=lambda item: (item[0].commence_time, item[0].id))
        rendered = [_score_row(event, final, length, date_format) for event, final in body]
        return JSONResponse(rendered, headers=self.credits.charge(1 if days is None else 2))

    async def clock_info(self, request: Request) -> Response:
        now = self.now()
        snapshot = self.recording.snapshot_at(now)
        speed = self.clock.speed if isinstance(self.clock, ScaledClock) else None
        first, last = self.recording.first_taken, self.recording.last_taken
        return JSONResponse(
            {
                "now": wire_time(now, "iso"),
                "start": wire_time(self.started_at, "iso"),
                "speed": speed,
                "snapshot": None if snapshot is None else wire_time(snapshot.taken_at, "iso"),
                "recorded_from": None if first is None else wire_time(first, "iso"),
                "recorded_to": None if last is None else wire_time(last, "iso"),
                "credits": {"remaining": self.credits.remaining, "used": self.credits.used},
            }
        )


def _score_row(
    event: OddsEvent, final: FinalScore | None, length: dt.timedelta, date_format: DateFormat
) -> dict[str, Any]:
    """One `/scores` entry: upcoming or live until a final score is known, then completed with
    the score of each team by full name (strings, home first as the docs list them)."""
    head = event_header(event, date_format)
    scores = None
    if final is not None:
        scores = [
            {"name": event.home_team, "score": str(final.home)},
            {"name": event.away_team, "score": str(final.away)},
        ]
    return {
        **{k: head[k] for k in ("id", "sport_key", "sport_title", "commence_time")},
        "completed": final is not None,
        "home_team": event.home_team,
        "away_team": event.away_team,
        "scores": scores,
        "last_update": None
        if final is None
        else wire_time(event.commence_time + length, date_format),
    }


def create_replay_app(
    recording: Recording,
    clock: Clock,
    *,
    results: FinalScores | None = None,
    config: ReplayConfig | None = None,
) -> Starlette:
    """The replay as an ASGI app; its state is at `app.state.replay`."""
    replay = OddsApiReplay(recording, clock, results=results, config=config)
    app = replay.app()
    app.state.replay = replay
    return app
