"""The dashboard's one way to data: the API itself, called in-process with the caller's session.

Every page asks the same routes a script would (`GET /markets`, `POST /sentinel/interventions`,
...) through an ASGI call to this very app, with the signed-in user's access token as the
bearer. So the pages cannot drift from the API: gating, Sentinel restrictions, A/B arms,
validation and rate limits are the routes' own, counted against the same user and endpoint,
and no rule exists twice. The call runs the route in this process (no socket, no second app):
the cost is one extra pass through the middleware, well under a millisecond.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
from fastapi import Request

from edgelab.betting.ab.assignment import CLIENT_ID_COOKIE
from edgelab.core.error_codes import VALIDATION_ERROR
from edgelab.core.observability import request_id_of

INTERNAL_BASE = "http://edgelab.internal"


@dataclass
class ApiAnswer:
    """An API answer as a page sees it: status, parsed JSON (None for an empty or non-JSON
    body), the raw bytes (a PNG plot) and the headers."""

    status: int
    data: Any
    content: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def error(self) -> dict[str, Any]:
        """The envelope's `error` ({code, message, details}); {} on success."""
        if self.ok or not isinstance(self.data, dict):
            return {}
        err = self.data.get("error")
        return err if isinstance(err, dict) else {}

    @property
    def code(self) -> str | None:
        return self.error.get("code")

    @property
    def message(self) -> str:
        return str(self.error.get("message") or f"The service answered {self.status}.")

    def field_errors(self) -> dict[str, str]:
        """422 details by field name (the last part of each location): for errors shown next
        to the form field they concern."""
        out: dict[str, str] = {}
        details = self.error.get("details")
        if self.code == VALIDATION_ERROR.code and isinstance(details, list):
            for item in details:
                loc = item.get("loc") or item.get("location") or []
                name = str(loc[-1]) if loc else "_"
                out.setdefault(name, str(item.get("msg") or item.get("message") or "invalid"))
        return out

    def form_errors(self, fields: tuple[str, ...]) -> tuple[dict[str, str], list[str]]:
        """A 422's messages by form field, and those that name no field (shown above the form).

        A location inside a field (`market_types.0`) belongs to that field, and a check across
        fields (a timeout without its duration, reported by the API at the body) is shown next
        to the field its message names.
        """
        by_field = {k: v for k, v in self.field_errors().items() if k in fields}
        general: list[str] = []
        details = self.error.get("details")
        for item in details if isinstance(details, list) else []:
            loc = [str(part) for part in item.get("loc") or item.get("location") or []]
            message = str(item.get("message") or item.get("msg") or "invalid")
            named = next((part for part in loc[1:] if part in fields), None)
            if named is None:
                named = next((f for f in fields if f in message), None)
            if named is not None:
                by_field.setdefault(named, message)
            else:
                general.append(f"{'.'.join(loc[1:]) or 'request'}: {message}")
        if not by_field and not general:
            general.append(self.message)
        return by_field, general


def _client_ip(request: Request) -> tuple[str, int]:
    """The browser's address, so per-IP limits count the person, not the dashboard."""
    client = request.client
    return (client.host, client.port) if client is not None else ("127.0.0.1", 0)


async def call_api(
    request: Request,
    method: str,
    path: str,
    *,
    params: dict[str, Any] | None = None,
    json: Any = None,
    token: str | None = None,
) -> ApiAnswer:
    """Call this app's API as the page's caller (`token`: their access token; default the one
    the session resolved on `request.state.web_token`). None-valued params are left out."""
    bearer = token if token is not None else getattr(request.state, "web_token", None)
    headers = {"accept": "application/json"}
    if bearer:
        headers["authorization"] = f"Bearer {bearer}"
    for name in ("x-forwarded-for", "user-agent"):
        value = request.headers.get(name)
        if value:
            headers[name] = value
    request_id = request_id_of(request)
    if request_id:  # the page's id: its log lines and the API call's read as one request
        headers["x-request-id"] = request_id
    cookies = {}
    ab_client = request.cookies.get(CLIENT_ID_COOKIE)
    if ab_client:
        cookies[CLIENT_ID_COOKIE] = ab_client
    if cookies:
        headers["cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
    query = {k: v for k, v in (params or {}).items() if v is not None and v != ""}
    transport = httpx.ASGITransport(app=request.app, client=_client_ip(request))
    async with httpx.AsyncClient(transport=transport, base_url=INTERNAL_BASE) as client:
        response = await client.request(method, path, params=query, json=json, headers=headers)
    data: Any = None
    if response.content and response.headers.get("content-type", "").startswith("application/json"):
        data = orjson.loads(response.content)
    answer = ApiAnswer(response.status_code, data, response.content, dict(response.headers))
    new_ab = response.cookies.get(CLIENT_ID_COOKIE)
    if new_ab:  # the arm sticks to this browser, as it does for API clients
        request.state.web_set_cookies = [
            *getattr(request.state, "web_set_cookies", []),
            (CLIENT_ID_COOKIE, new_ab),
        ]
    return answer
