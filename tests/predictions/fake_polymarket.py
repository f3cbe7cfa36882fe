"""A local stand-in for Polymarket (Gamma + CLOB) and NewsAPI, over a real socket.

It speaks the documented contracts (the shared APIS.md, sections 1 and 2) with the recorded
payloads in `fixtures/`: market rows are the recorded Gamma row with another id, question,
prices and token ids, JSON-string fields intact; Gamma's listing hides closed markets unless
`closed` is sent (the silent default), offset paging on `/markets`, keyset paging on
`/markets/keyset` (`next_cursor` / `after_cursor`, `offset` refused); the CLOB's
`/prices-history` (`market` = a token id, never a condition id; `startTs`/`endTs` answer only
the points in that range, `interval` the whole path), `/midpoint`, `/book`;
NewsAPI's `/v2/everything` (key in `X-Api-Key`, `{"status":"error","code"}` bodies).

Tests steer it with `plan(...)`: the next N requests (to paths starting with `path`) get a
chosen status, body, headers or delay (a delay alone: the normal answer, late). `keyset` is
"on", "missing" (404) or "ignores_cursor" (the reported bug: the first page again and again).
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fixtures.fake_server import FakeServer

FIXTURES = Path(__file__).parent / "fixtures"
NEWS_KEY = "news-test-key"


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


RECORDED_ROW: dict[str, Any] = load("gamma_markets_list_recorded.json")[0]


def token_for(market_id: str, index: int) -> str:
    """A ~77-digit decimal token id, as on the wire, unique per market and outcome."""
    return str(10**76 + int(market_id) * 10 + index)


def make_market(i: int, **overrides: Any) -> dict[str, Any]:
    """The recorded row as market `i`: id 2000000+i, prices and volumes varying with `i`."""
    row = copy.deepcopy(RECORDED_ROW)
    mid = str(2_000_000 + i)
    yes = round(0.05 + (i * 37 % 90) / 100, 3)
    row.update(
        id=mid,
        question=f"Will test market number {i} resolve Yes?",
        slug=f"test-market-{i}",
        conditionId="0x" + format(i, "064x"),
        outcomes=json.dumps(["Yes", "No"]),
        outcomePrices=json.dumps([str(yes), str(round(1 - yes, 3))]),
        clobTokenIds=json.dumps([token_for(mid, 0), token_for(mid, 1)]),
        volume=str(1000.0 + i * 10),
        volumeNum=1000.0 + i * 10,
        volume24hr=float(i % 17) * 100,
        liquidity=str(500.0 + (i * 7 % 50) * 10),
        liquidityNum=500.0 + (i * 7 % 50) * 10,
        oneDayPriceChange=round(((i % 11) - 5) / 100, 3),
        bestBid=round(yes - 0.005, 3),
        bestAsk=round(yes + 0.005, 3),
        endDate=f"2027-{1 + i % 12:02d}-15T12:00:00Z",
        updatedAt="2026-12-01T10:00:00Z",
        active=True,
        closed=False,
    )
    row.update(overrides)
    return row


@dataclass
class Recorded:
    path: str
    params: dict[str, list[str]]
    headers: dict[str, str]


class FakePolymarket(FakeServer):
    text_media_type = "application/json"  # a broken body still claims to be JSON

    def __init__(self) -> None:
        super().__init__()
        self.app = Starlette(
            routes=[
                Route("/markets", self._markets),
                Route("/markets/keyset", self._keyset),
                Route("/markets/{market_id}", self._market),
                Route("/events", self._events),
                Route("/tags", self._tags),
                Route("/prices-history", self._history),
                Route("/batch-prices-history", self._batch_history, methods=["POST"]),
                Route("/midpoint", self._midpoint),
                Route("/book", self._book),
                Route("/v2/everything", self._everything),
            ]
        )

    def reset(self) -> None:
        super().reset()
        self.markets: list[dict[str, Any]] = []
        self.histories: dict[str, list[dict[str, Any]]] = {}
        self.history_as_strings = False
        self.keyset = "on"
        self.batch = True  # False: no /batch-prices-history (404), as on an older CLOB
        self.requests: list[Recorded] = []
        self.news_body: Any = load("everything_recorded_trimmed.json")

    def calls(self, path: str) -> list[Recorded]:
        return [r for r in self.requests if r.path == path]

    # ------------------------------------------------------------ plumbing

    async def _intercept(self, request: Request) -> Response | None:
        path = request.url.path
        params: dict[str, list[str]] = {}
        for k, v in request.query_params.multi_items():
            params.setdefault(k, []).append(v)
        self.requests.append(Recorded(path, params, dict(request.headers)))
        planned = await self.take_plan(request)
        if planned is None or planned.answers_normally:
            return None
        return self.render(planned, {"error": f"HTTP {planned.status}"})

    def _listed(self, request: Request) -> list[dict[str, Any]]:
        q = request.query_params
        closed = q.get("closed", "false") == "true"  # omitted = closed=false (the trap)

        def flag(m: Any, name: str) -> bool:
            return bool(m.get(name)) if isinstance(m, dict) else False  # junk rows: listed

        rows = [m for m in self.markets if flag(m, "closed") == closed]
        if "active" in q:
            wanted = q["active"] == "true"
            rows = [m for m in rows if not isinstance(m, dict) or flag(m, "active") == wanted]
        if q.get("order") == "volume24hr":
            rows.sort(
                key=lambda m: (m.get("volume24hr") or 0) if isinstance(m, dict) else 0,
                reverse=q.get("ascending") != "true",
            )
        return rows

    # ------------------------------------------------------------ Gamma

    async def _markets(self, request: Request) -> Response:
        if (early := await self._intercept(request)) is not None:
            return early
        q = request.query_params
        limit, offset = int(q.get("limit", "100")), int(q.get("offset", "0"))
        if "id" in q:
            ids = set(q.getlist("id"))
            rows = self._listed(request)
            return JSONResponse([m for m in rows if isinstance(m, dict) and m.get("id") in ids])
        return JSONResponse(self._listed(request)[offset : offset + limit])

    async def _keyset(self, request: Request) -> Response:
        if (early := await self._intercept(request)) is not None:
            return early
        if self.keyset == "missing":
            return JSONResponse({"error": "not found"}, status_code=404)
        q = request.query_params
        if "offset" in q:
            return JSONResponse({"error": "offset is not supported"}, status_code=400)
        limit = int(q.get("limit", "100"))
        start = 0 if self.keyset == "ignores_cursor" else int(q.get("after_cursor") or 0)
        rows = self._listed(request)
        page = rows[start : start + limit]
        nxt = str(start + limit) if start + limit < len(rows) else ""
        return JSONResponse({"markets": page, "next_cursor": nxt})

    async def _market(self, request: Request) -> Response:
        if (early := await self._intercept(request)) is not None:
            return early
        wanted = request.path_params["market_id"]
        for m in self.markets:
            if isinstance(m, dict) and m.get("id") == wanted:
                return JSONResponse(m)
        return JSONResponse({"error": "market not found"}, status_code=404)

    async def _events(self, request: Request) -> Response:
        if (early := await self._intercept(request)) is not None:
            return early
        events = [{"id": "9001", "slug": "test-event", "title": "Test event", "volume": 12.5}]
        return JSONResponse(events)

    async def _tags(self, request: Request) -> Response:
        if (early := await self._intercept(request)) is not None:
            return early
        return JSONResponse([{"id": "745", "label": "NBA", "slug": "nba"}, {"label": "no id"}])

    # ------------------------------------------------------------ CLOB

    async def _history(self, request: Request) -> Response:
        if (early := await self._intercept(request)) is not None:
            return early
        token = request.query_params.get("market")
        if not token:
            return JSONResponse({"error": "market is required"}, status_code=400)
        points = self._points(token)
        q = request.query_params
        if "startTs" in q or "endTs" in q:  # a range: only its points, as the CLOB answers
            lo, hi = int(q.get("startTs", "0")), int(q.get("endTs", str(2**62)))
            points = [p for p in points if lo <= int(p["t"]) <= hi]
        if self.history_as_strings:
            points = [{"t": p["t"], "p": str(p["p"])} for p in points]
        return JSONResponse({"history": points})

    def _points(self, token: str) -> list[dict[str, Any]]:
        points = self.histories.get(token)
        if points is None:
            points = load("clob_prices_history.json")["history"]
        return list(points)

    async def _batch_history(self, request: Request) -> Response:
        if (early := await self._intercept(request)) is not None:
            return early
        if not self.batch:
            return JSONResponse({"error": "not found"}, status_code=404)
        body = await request.json()
        tokens = body.get("markets") if isinstance(body, dict) else None
        if not isinstance(tokens, list) or not 0 < len(tokens) <= 20:
            return JSONResponse({"error": "markets: 1-20 asset ids"}, status_code=400)
        return JSONResponse({"history": {t: self._points(t) for t in tokens}})

    async def _midpoint(self, request: Request) -> Response:
        if (early := await self._intercept(request)) is not None:
            return early
        return JSONResponse(load("clob_midpoint.json"))

    async def _book(self, request: Request) -> Response:
        if (early := await self._intercept(request)) is not None:
            return early
        return JSONResponse(load("clob_book.json"))

    # ------------------------------------------------------------ NewsAPI

    async def _everything(self, request: Request) -> Response:
        if (early := await self._intercept(request)) is not None:
            return early
        errors = load("errors.json")
        key = request.headers.get("x-api-key")
        if not key:
            return JSONResponse(errors["apiKeyMissing_401"], status_code=401)
        if key != NEWS_KEY:
            return JSONResponse(errors["apiKeyInvalid_401"], status_code=401)
        if not request.query_params.get("q"):
            return JSONResponse(errors["parametersMissing_400_everything"], status_code=400)
        return JSONResponse(self.news_body)
