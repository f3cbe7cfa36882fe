"""Request ids (on every response and every log line), logging setup, and `Degradation`: which
backends are down and what fell back (`/health`, `edgelab_degraded_total`).

The id is taken from an incoming `X-Request-ID` when it is sane (so a gateway's id carries
through), otherwise made here; it lives in the ASGI scope's state and in a context variable
that a logging filter copies onto every record.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import itertools
import logging
import os
import re
import time
from typing import Any

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

_log = logging.getLogger("edgelab.degraded")
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


class Degradation:
    """Which backends (Redis, the database) are failing, since when, and what fell back.

    Each component that can serve without a backend (the cache, the rate limiter, the job
    sender, the schedules) reports here: `failed` when a call to the backend raised, `fell_back`
    for each call answered without it, `succeeded` when a call worked again. `/health` shows
    `report()`; Prometheus counts every fallback in `edgelab_degraded_total{backend,what}`.

    It is also a circuit breaker: while a backend is down, `available()` lets one caller try it
    per `retry_seconds` and sends the rest straight to their fallback, so an outage costs no
    connection timeouts on the hot path and recovery is noticed within `retry_seconds`.
    """

    def __init__(self, registry: Any = None, *, retry_seconds: float = 1.0) -> None:
        from prometheus_client import Counter

        self.retry_seconds = retry_seconds
        self._counter = Counter(
            "edgelab_degraded",
            "Calls served by a fallback because a backend failed, by backend and what fell back.",
            ["backend", "what"],
            registry=registry,
        )
        self._down_since: dict[str, dt.datetime] = {}
        self._last_error: dict[str, str] = {}
        self._next_try: dict[str, float] = {}
        self._known: set[str] = set()

    def watch(self, backend: str) -> None:
        """Report `backend` in `/health` (as up) before anything has used it."""
        self._known.add(backend)

    def available(self, backend: str) -> bool:
        """Whether to call `backend` now: always when up; while down, one caller per
        `retry_seconds` (that call is the probe), the others use their fallback."""
        if backend not in self._down_since:
            return True
        now = time.monotonic()
        if now < self._next_try.get(backend, 0.0):
            return False
        self._next_try[backend] = now + self.retry_seconds
        return True

    def is_down(self, backend: str) -> bool:
        return backend in self._down_since

    def failed(self, backend: str, what: str, exc: BaseException) -> None:
        """A call to `backend` failed and `what` fell back; the first failure logs a warning."""
        self._known.add(backend)
        self._counter.labels(backend, what).inc()
        while isinstance(exc, BaseExceptionGroup) and exc.exceptions:  # a TaskGroup's: its cause
            exc = exc.exceptions[0]
        self._last_error[backend] = f"{type(exc).__name__}: {exc}"[:200]
        self._next_try[backend] = time.monotonic() + self.retry_seconds
        if backend not in self._down_since:
            self._down_since[backend] = dt.datetime.now(dt.UTC)
            _log.warning("%s is down (%s): %s falls back until it is back", backend, exc, what)

    def fell_back(self, backend: str, what: str) -> None:
        """`what` used its fallback without calling `backend` (known down)."""
        self._counter.labels(backend, what).inc()

    def succeeded(self, backend: str) -> None:
        since = self._down_since.pop(backend, None)
        if since is not None:
            self._next_try.pop(backend, None)
            down_for = (dt.datetime.now(dt.UTC) - since).total_seconds()
            _log.warning("%s is back after %.1f s down", backend, down_for)

    def count(self, backend: str, what: str) -> float:
        """How many fallbacks were counted (tests, benchmarks)."""
        return float(self._counter.labels(backend, what)._value.get())

    def report(self) -> dict[str, str]:
        """`{"redis": "up"}` or `{"redis": "down since 2026-12-10T18:00:00Z (ConnectionError:
        ...)"}` for every backend watched or seen failing."""
        out: dict[str, str] = {}
        for backend in sorted(self._known | set(self._down_since)):
            since = self._down_since.get(backend)
            if since is None:
                out[backend] = "up"
            else:
                stamp = since.isoformat(timespec="seconds").replace("+00:00", "Z")
                out[backend] = f"down since {stamp} ({self._last_error.get(backend, '?')})"
        return out
