"""A cap on every request body, counted as it arrives (413 `payload_too_large`).

Without it a route that takes JSON buffers whatever a client sends before validating it, so one
chunked request of gigabytes fills the memory. This pure ASGI middleware counts the bytes the
app receives: a declared `Content-Length` over the cap is refused before a byte is read, and a
chunked body is cut off at the first chunk that passes it; the app's own answer to the cut-off
read (FastAPI's 400, a handler's error) is dropped and the envelope's 413 is sent instead. A
body the app never reads is never read here either.

The 413 says `Connection: close`: the server stops taking the rest of the body instead of
draining it. A client that writes its whole body before reading (httpx, requests) may then see
the connection reset rather than the 413; curl and browsers read the early answer.

The cap is `EDGELAB_MAX_BODY_BYTES`; `overrides` gives exact paths their own (larger or
smaller) cap, e.g. `POST /uploads`, whose route then enforces its per-kind limits itself.
"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from edgelab.core import error_codes as codes
from edgelab.core.errors import AppError, envelope


class BodyTooLargeError(AppError):
    """Raised from `receive` when the body passes its cap; answered 413 wherever it surfaces."""

    code = codes.PAYLOAD_TOO_LARGE


def _declared_length(scope: Scope) -> int | None:
    for key, value in scope.get("headers", ()):
        if key == b"content-length":
            text = value.decode("latin-1").strip()
            return int(text) if text.isdigit() else None
    return None


class BodyLimitMiddleware:
    def __init__(
        self, app: ASGIApp, *, max_bytes: int, overrides: Mapping[str, int] | None = None
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.overrides = dict(overrides or {})

    def limit_for(self, path: str) -> int:
        return self.overrides.get(path, self.max_bytes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        declared = _declared_length(scope)
        if declared is not None and declared > limit:
            await self._refuse(scope, receive, send, limit)
            return
        received = 0
        over = False
        started = False

        async def capped_receive() -> Message:
            nonlocal received, over
            if over:  # the app asks again after the cut: the body is over for it
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    over = True
                    raise BodyTooLargeError(_message(limit), details={"limit_bytes": limit})
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if over and not started:  # the app's answer to the cut-off body: ours replaces it
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, capped_receive, guarded_send)
        except Exception:
            if not over or started:
                raise
        if over and not started:
            await self._refuse(scope, receive, send, limit)

    @staticmethod
    async def _refuse(scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        response = envelope(
            Request(scope),
            codes.PAYLOAD_TOO_LARGE.status,
            codes.PAYLOAD_TOO_LARGE,
            _message(limit),
            {"limit_bytes": limit},
            # the rest of the body is not read: the connection cannot carry another request
            {"Connection": "close"},
        )
        await response(scope, receive, send)


def _message(limit: int) -> str:
    return f"The request body may be at most {limit} bytes."
