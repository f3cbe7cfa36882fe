"""A local stand-in for The Odds API v4, served over a real socket for the client's tests.

Why a server and not a mocked transport: the client's timeouts, retries, connection handling
and query encoding are only proven when bytes cross a real HTTP connection.

It speaks the documented contract (``/work/shared/reference/APIS.md`` section 9): the
``apiKey`` query parameter, ``regions`` or ``bookmakers`` (the latter replaces the former),
``markets`` (``h2h`` alone when none is asked), ``oddsFormat``, ``dateFormat``, quota headers
(``x-requests-remaining/used/last``, one credit per market x region) and JSON error bodies with
a ``message``. Payloads come from ``fixtures/oddsapi/``: NBA events priced by DraftKings,
FanDuel and BetMGM in American odds, with the decimal files derived as the API does (rounded
to 2 places); the props file carries ``player_points``/``player_rebounds`` with ``description``.
Only ``dateFormat=iso`` payloads are served (the client never asks for unix times).

Tests steer it with :meth:`FakeOddsApi.plan`: the next N requests get a chosen status, body,
headers or delay (a delay alone means "the normal answer, late"), then it answers normally.
"""

from __future__ import annotations

import copy
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fixtures.fake_server import FakeServer
from tests.loopback import serve  # noqa: F401  (re-exported for the tests)

FIXTURES = Path(__file__).parent / "fixtures" / "oddsapi"
VALID_KEY = "test-key"
SPORT = "basketball_nba"
REGIONS = frozenset({"us", "us2", "uk", "eu", "au"})
GAME_MARKETS = frozenset({"h2h", "spreads", "totals"})
PROP_MARKETS = frozenset({"player_points", "player_rebounds", "player_assists"})
DOCS = "https://the-odds-api.com/liveapi/guides/v4/api-error-codes.html"


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


@dataclass
class Recorded:
    path: str
    params: dict[str, str]


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
    body = {"message": message, "error_code": code, "details_url": f"{DOCS}#{code.lower()}"}
    return JSONResponse(body, status_code=status, headers=headers)


class FakeOddsApi(FakeServer):
    def __init__(self, quota_total: int = 500) -> None:
        self.quota_total = quota_total
        super().__init__()
        self.app = Starlette(
            routes=[
                Route("/v4/sports/{sport}/odds", self._odds),
                Route("/v4/sports/{sport}/events", self._events),
                Route("/v4/sports/{sport}/events/{event_id}/odds", self._event_odds),
            ]
        )

    def reset(self) -> None:
        super().reset()
        self.requests: list[Recorded] = []
        self.used = 0
        self.quota_as_float = False  # send "499.0" style counts, as the live API has been seen to

    # ------------------------------------------------------------ plumbing

    async def _intercept(self, request: Request) -> Response | None:
        """Record the request; answer from the plan if one is queued, else fall through."""
        self.requests.append(Recorded(request.url.path, dict(request.query_params)))
        planned = await self.take_plan(request)
        if planned is None or planned.answers_normally:
            return None
        return self.render(planned, {"message": f"HTTP {planned.status}", "error_code": "PLANNED"})

    def _refuse(self, request: Request) -> Response | None:
        """The checks every endpoint shares: the key, then the sport."""
        key = request.query_params.get("apiKey")
        if not key:
            return _error(401, "MISSING_KEY", "API key is missing. Add apiKey=... to the URL.")
        if key != VALID_KEY:
            return _error(401, "INVALID_KEY", "API key is not valid or has no subscription.")
        if request.path_params["sport"] != SPORT:
            return _error(404, "UNKNOWN_SPORT", "Unknown sport. Check the list of sports.")
        return None

    def _quota_headers(self, cost: int) -> dict[str, str]:
        self.used += cost
        numbers = (self.quota_total - self.used, self.used, cost)
        render = (lambda n: f"{n:.1f}") if self.quota_as_float else str
        names = ("x-requests-remaining", "x-requests-used", "x-requests-last")
        return {name: render(n) for name, n in zip(names, numbers, strict=True)}

    def _priced(self, request: Request, allowed: frozenset[str], payload: Any) -> Response:
        """Validate odds parameters like the API, then filter `payload` to what was asked."""
        q = request.query_params
        markets = [m for m in q.get("markets", "h2h").split(",") if m]
        books = [b for b in q.get("bookmakers", "").split(",") if b]
        regions = [r for r in q.get("regions", "").split(",") if r]
        if not books and not regions:
            return _error(422, "MISSING_REGION", "Missing regions (or bookmakers) parameter.")
        if not books and set(regions) - REGIONS:
            return _error(422, "INVALID_REGION", f"Invalid regions: {q['regions']}")
        if bad := [m for m in markets if m not in allowed]:
            return _error(422, "INVALID_MARKET", f"Markets not supported here: {','.join(bad)}")
        if q.get("oddsFormat", "decimal") not in ("decimal", "american"):
            return _error(422, "INVALID_ODDS_FORMAT", "oddsFormat must be decimal or american.")
        if q.get("dateFormat", "iso") not in ("iso", "unix"):
            return _error(422, "INVALID_DATE_FORMAT", "dateFormat must be iso or unix.")
        events = payload if isinstance(payload, list) else [payload]
        for event in events:
            kept = []
            for book in event.get("bookmakers", []):
                if books and book["key"] not in books:
                    continue
                book["markets"] = [m for m in book["markets"] if m["key"] in markets]
                if book["markets"]:
                    kept.append(book)
            event["bookmakers"] = kept
        region_count = math.ceil(len(books) / 10) if books else len(regions)
        headers = self._quota_headers(len(markets) * region_count)
        return JSONResponse(payload, headers=headers)

    # ------------------------------------------------------------ endpoints

    async def _odds(self, request: Request) -> Response:
        if (early := await self._intercept(request) or self._refuse(request)) is not None:
            return early
        fmt = request.query_params.get("oddsFormat", "decimal")
        return self._priced(request, GAME_MARKETS, load(f"nba_odds_{fmt}.json"))

    async def _events(self, request: Request) -> Response:
        if (early := await self._intercept(request) or self._refuse(request)) is not None:
            return early
        return JSONResponse(load("nba_events.json"), headers=self._quota_headers(0))

    async def _event_odds(self, request: Request) -> Response:
        if (early := await self._intercept(request) or self._refuse(request)) is not None:
            return early
        event_id = request.path_params["event_id"]
        fmt = request.query_params.get("oddsFormat", "decimal")
        props = load(f"nba_event_props_{fmt}.json")
        if event_id == props["id"]:
            event = props
        else:
            known = {e["id"]: e for e in load("nba_events.json")}
            if event_id not in known:
                return _error(404, "EVENT_NOT_FOUND", "Event not found. It may have expired.")
            event = {**copy.deepcopy(known[event_id]), "bookmakers": []}
        return self._priced(request, GAME_MARKETS | PROP_MARKETS, event)
