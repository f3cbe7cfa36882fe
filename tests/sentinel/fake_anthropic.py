"""A local stand-in for Anthropic's Messages API (`POST /v1/messages`), on a real socket.

It speaks the documented contract (`/work/shared/reference/APIS.md` section 7): `x-api-key`
(missing or wrong: 401 `authentication_error`), `anthropic-version`, a JSON body with `model`,
`max_tokens`, `messages` and a top-level `system`; answers shaped like the recorded response
and errors as `{"type": "error", "error": {"type", "message"}, "request_id"}` with a
`request-id` header. `PAYLOADS` are verbatim copies of `/work/shared/reference/payloads/
anthropic/` (a test checks they still match). Tests steer it with `plan(...)`: the next
requests get a chosen status and body, a delay (a timeout) or a wait for a gate the test opens
(a Claude call still in flight while the test does something else), then it answers normally.
`reply_when` picks the reply text by a phrase of the request's system prompt (the analyst
explanation and the player's nudge are asked at the same time, in either order).
"""

from __future__ import annotations

import asyncio
import copy
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.loopback import serve  # noqa: F401  (re-exported for the tests)

VALID_KEY = "sk-ant-test-0123456789abcdef-DO-NOT-LOG"
VERSION = "2023-06-01"

PAYLOADS: dict[str, Any] = {
    "message_response_recorded": {
        "model": "claude-sonnet-4-5-20250929",
        "id": "msg_01T4jd6NyD9xGGtTPDC4ogy5",
        "type": "message",
        "role": "assistant",
        "content": [
            {
                "type": "text",
                "text": '{"items":[{"product_name":"Green Tea","price":5.50,"quantity":2},'
                '{"product_name":"Coffee","price":3.00,"quantity":1}],"total":14.0}',
            }
        ],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {
            "input_tokens": 406,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
            "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
            "output_tokens": 50,
            "service_tier": "standard",
            "inference_geo": "not_available",
        },
    },
    "error_429_rate_limit_recorded": {
        "type": "error",
        "error": {
            "type": "rate_limit_error",
            "message": "This request would exceed your organization's rate limit of 20,000,000 "
            "prompt bytes per hour (org: 5576611f-a1ee-427c-9800-298d9579899c, model: "
            "claude-sonnet-4-5-20250929). For details, refer to: "
            "https://docs.claude.com/en/api/rate-limits. You can see the response headers for "
            "current usage. Please reduce the prompt length or the maximum tokens requested, or "
            "try again later. You may also contact sales at "
            "https://www.anthropic.com/contact-sales to discuss your options for a rate limit "
            "increase.",
        },
        "request_id": "req_011CYK5mje9HkutJtmfPzzNC",
    },
    "error_529_overloaded": {
        "type": "error",
        "error": {"type": "overloaded_error", "message": "Overloaded"},
        "request_id": "req_011CYK5mje9HkutJtmfPzzNC",
    },
}


@dataclass
class Planned:
    status: int = 200
    body: Any = None
    delay: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)
    gate: threading.Event | None = None  # answer only once the test sets it (at most 30 s)


@dataclass
class FakeAnthropic:
    reply_text: str = "Risk is driven by rising stakes and late-night play."
    reply_when: dict[str, str] = field(default_factory=dict)  # system-prompt phrase -> reply
    requests: list[dict[str, Any]] = field(default_factory=list)
    headers_seen: list[dict[str, str]] = field(default_factory=list)
    _plan: deque[Planned] = field(default_factory=deque)

    def plan(self, *answers: Planned) -> None:
        self._plan.extend(answers)

    def app(self) -> Starlette:
        async def messages(request: Request) -> JSONResponse:
            self.headers_seen.append(dict(request.headers))
            rid = {"request-id": "req_fake_0001"}
            if request.headers.get("x-api-key") != VALID_KEY:
                return JSONResponse(
                    {
                        "type": "error",
                        "error": {"type": "authentication_error", "message": "invalid x-api-key"},
                        "request_id": "req_fake_0001",
                    },
                    status_code=401,
                    headers=rid,
                )
            body = await request.json()
            self.requests.append(body)
            planned = self._plan.popleft() if self._plan else Planned()
            if planned.delay:
                await asyncio.sleep(planned.delay)
            if planned.gate is not None:
                await asyncio.to_thread(planned.gate.wait, 30)
            if planned.status != 200 or planned.body is not None:
                return JSONResponse(
                    planned.body, status_code=planned.status, headers={**rid, **planned.headers}
                )
            answer = copy.deepcopy(PAYLOADS["message_response_recorded"])
            answer["model"] = body["model"]
            system = str(body.get("system", ""))
            text = next((t for k, t in self.reply_when.items() if k in system), self.reply_text)
            answer["content"] = [{"type": "text", "text": text}]
            return JSONResponse(answer, headers=rid)

        return Starlette(routes=[Route("/v1/messages", messages, methods=["POST"])])


def rate_limited() -> Planned:
    return Planned(
        status=429,
        body=PAYLOADS["error_429_rate_limit_recorded"],
        headers={"retry-after": "30", "x-should-retry": "true"},
    )


def overloaded() -> Planned:
    return Planned(status=529, body=PAYLOADS["error_529_overloaded"])
