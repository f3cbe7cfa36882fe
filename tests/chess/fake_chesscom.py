"""A local stand-in for Chess.com's Published-Data API, over a real socket.

It speaks the documented contract (the shared APIS.md, section 4) with the recorded payloads in
`fixtures/`: a User-Agent without contact details is refused with 403; the archives list holds
absolute `https://api.chess.com/pub/...` URLs (the client must rebase them); every 200 carries
a weak `ETag` and a non-RFC `Last-Modified`, and a matching `If-None-Match` is a 304; an unknown
player is the recorded 404; a month can be `gone` (410).

Player `fabianocaruana` has three months: 2020/05 (the recorded 17 games), 2020/04 (410 gone)
and 2020/03 (the same games a month earlier, new ids). Tests steer it with `plan(path, status,
headers)` (the next request to that path) and read `hits` (requests per path) and
`conditional` (paths asked with If-None-Match).
"""

from __future__ import annotations

import asyncio
import copy
import json
import threading
from collections import Counter, deque
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

DATA = Path(__file__).parent / "fixtures"  # recorded Chess.com pages and PGN files
UA = "edgelab-tests/1.0 (contact: tests@edgelab.invalid)"  # the User-Agent the fake demands

FIXTURES = Path(__file__).parent / "fixtures"
MONTH = json.loads((FIXTURES / "player_games_2020_05_fabianocaruana.json").read_text())
NOT_FOUND = json.loads((FIXTURES / "error_404_user_not_found.json").read_text())["body"]
PLAYER = "fabianocaruana"
MONTH_SECONDS = 31 * 86_400


def earlier_month(data: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(data)
    for i, g in enumerate(out["games"]):
        g["end_time"] -= MONTH_SECONDS
        g["url"] = f"https://www.chess.com/game/live/9000000{i:03d}"
        g["uuid"] = f"earlier-{i}"
        g["pgn"] = g["pgn"].replace('[UTCDate "2020.05.', '[UTCDate "2020.04.')
    return out


class FakeChesscom:
    def __init__(self) -> None:
        self.app = Starlette(
            routes=[
                Route("/pub/player/{user}/games/archives", self.archives),
                Route("/pub/player/{user}/games/{year}/{month}", self.month),
            ]
        )
        self.reset()

    def reset(self) -> None:
        self.hits: Counter[str] = Counter()
        self.conditional: Counter[str] = Counter()
        self.planned: dict[str, deque[tuple[int, dict[str, str]]]] = {}
        self.version = 1
        self.months: dict[str, dict[str, Any]] = {
            "2020/05": MONTH,
            "2020/03": earlier_month(MONTH),
        }
        self.gone = {"2020/04"}
        # a slow Chess.com: `hold()` makes requests wait (after `entered` is set) until
        # `release()`
        self.gate: threading.Event | None = None
        self.entered = threading.Event()

    def hold(self) -> None:
        self.gate = threading.Event()
        self.entered.clear()

    def release(self) -> None:
        if self.gate is not None:
            self.gate.set()

    def plan(self, path: str, status: int, headers: dict[str, str] | None = None) -> None:
        self.planned.setdefault(path, deque()).append((status, headers or {}))

    async def _wait(self) -> None:
        gate = self.gate
        if gate is not None:
            self.entered.set()
            await asyncio.to_thread(gate.wait, 30)

    def _pre(self, request: Request) -> Response | None:
        path = request.url.path
        self.hits[path] += 1
        agent = request.headers.get("user-agent", "")
        if "contact" not in agent and "@" not in agent:
            return JSONResponse({"code": 0, "message": "Forbidden"}, status_code=403)
        queue = self.planned.get(path)
        if queue:
            status, headers = queue.popleft()
            return JSONResponse({"code": 0, "message": "planned"}, status, headers=headers)
        return None

    def _answer(self, request: Request, body: Any) -> Response:
        etag = f'W/"v{self.version}-{abs(hash(request.url.path)) % 10**8}"'
        if request.headers.get("if-none-match") is not None:
            self.conditional[request.url.path] += 1
            if request.headers["if-none-match"] == etag:
                return Response(status_code=304, headers={"ETag": etag})
        return JSONResponse(
            body,
            headers={
                "ETag": etag,
                "Last-Modified": "Friday, 25-Oct-2024 02:32:13 GMT+0000",
                "Cache-Control": "public, max-age=5",
            },
        )

    async def archives(self, request: Request) -> Response:
        await self._wait()
        early = self._pre(request)
        if early is not None:
            return early
        user = request.path_params["user"]
        if user != PLAYER:
            return JSONResponse(NOT_FOUND, status_code=404)
        urls = [
            f"https://api.chess.com/pub/player/{PLAYER}/games/{m}"
            for m in ("2020/03", "2020/04", "2020/05")
        ]
        return self._answer(request, {"archives": urls})

    async def month(self, request: Request) -> Response:
        early = self._pre(request)
        if early is not None:
            return early
        key = f"{request.path_params['year']}/{request.path_params['month']}"
        if key in self.gone:
            return JSONResponse({"code": 0, "message": "gone"}, status_code=410)
        if request.path_params["user"] != PLAYER or key not in self.months:
            return JSONResponse(NOT_FOUND, status_code=404)
        return self._answer(request, self.months[key])
