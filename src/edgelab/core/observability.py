"""Request ids (on every response and every log line) and logging setup.

The id is taken from an incoming `X-Request-ID` when it is sane (so a gateway's id carries
through), otherwise made here; it lives in the ASGI scope's state and in a context variable
that a logging filter copies onto every record.
"""

from __future__ import annotations

import contextvars
import itertools
import logging
import os
import re

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

REQUEST_ID_HEADER = "X-Request-ID"
_HEADER_KEY = REQUEST_ID_HEADER.lower().encode()
_SANE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
# Unique without a syscall per request: a random per-process prefix and a counter.
_ID_PREFIX = os.urandom(6).hex()
_ID_COUNTER = itertools.count(1)
request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "request_id", default=None
)


def request_id_of(request: Request) -> str | None:
    state = request.scope.get("state") or {}
    rid = state.get("request_id") if isinstance(state, dict) else None
    return rid if isinstance(rid, str) else request_id_var.get()


class RequestIdMiddleware:
    """Pure ASGI middleware (no BaseHTTPMiddleware overhead on the hot path)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = None
        for key, value in scope.get("headers", ()):
            if key == _HEADER_KEY:
                candidate = value.decode("latin-1")
                rid = candidate if _SANE_ID.match(candidate) else None
                break
        rid = rid or f"{_ID_PREFIX}{next(_ID_COUNTER):020x}"  # 32 hex digits
        scope.setdefault("state", {})["request_id"] = rid
        token = request_id_var.set(rid)
        raw = rid.encode()

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [h for h in message.get("headers", []) if h[0] != _HEADER_KEY]
                headers.append((_HEADER_KEY, raw))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            request_id_var.reset(token)


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get() or "-"
        return True


def configure_logging(level: str = "INFO") -> None:
    """Log lines carry the request id; idempotent so tests and the CLI can call it freely."""
    root = logging.getLogger()
    root.setLevel(level.upper())
    for handler in root.handlers:
        if getattr(handler, "_edgelab", False):
            return
    handler = logging.StreamHandler()
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s")
    )
    handler.addFilter(RequestIdFilter())
    handler._edgelab = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        for h in logging.getLogger(name).handlers:
            h.addFilter(RequestIdFilter())
