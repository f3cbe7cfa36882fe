"""Client of Vercel Blob, the `vercel_blob` upload store (a private store, one per deployment).

Vercel Blob has no Python SDK: this speaks the wire protocol of the official ``@vercel/blob``
SDK (``/work/shared/reference/APIS.md`` section 8): ``authorization: Bearer <token>`` and
``x-api-version: 12`` on every call, ``PUT /?pathname=`` with the raw body, ``GET ?prefix&cursor``
to list, ``POST /delete {"urls": [...]}``, errors as ``{"error": {"code", "message"}}``.

Blobs are written with ``x-vercel-blob-access: private`` (bet histories are personal data, so
the store must be a private one) and read with the token; clients never see a blob URL, only
our signed ``/files/...`` links. Puts allow overwriting the same pathname so that a retry after a
lost answer succeeds instead of failing on the blob its first attempt wrote.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any, NoReturn

import httpx
from pydantic import SecretStr

from edgelab.accounts.blob_store import CHUNK_BYTES, BlobNotFoundError, BlobReader, StoredBlob
from edgelab.core.errors import UpstreamError
from edgelab.core.http import (
    json_or_none,
    make_http_client,
    retry_after_seconds,
    send_with_retries,
)
from edgelab.core.settings import Settings

log = logging.getLogger("edgelab.uploads")

API_VERSION = "12"  # the `x-api-version` the SDK sends (@vercel/blob 2.x)
BLOB_PREFIX = "uploads/"  # every blob this app writes lives under it; the sweep lists only it
LIST_PAGE_SIZE = 1000  # the API's default and maximum page
DELETE_BATCH = 100
MAX_INLINE_RETRY_AFTER = 5.0  # a longer Retry-After is answered to the client, not waited out
_FORBIDDEN_CODES = frozenset(
    {
        "forbidden",
        "store_suspended",
        "store_not_found",
        "not_allowed",
        "oidc_environment_not_allowed",
        "client_token_not_allowed",
        "client_token_pathname_mismatch",
        "client_token_expired",
    }
)


class _AnswerNow(Exception):
    """Leaves the retry loop with this answer (a 429 asking for a long wait)."""

    def __init__(self, response: httpx.Response) -> None:
        super().__init__(f"HTTP {response.status_code}")
        self.response = response


def _unavailable(message: str, details: dict[str, Any], retry_after: int | None = None) -> NoReturn:
    raise UpstreamError(
        message,
        code="vercel_blob_unavailable",
        status_code=503,
        retry_after=retry_after,
        details=details,
    )


def _error_code(response: httpx.Response) -> tuple[str | None, str | None]:
    body = json_or_none(response)
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return None, None
    code, message = error.get("code"), error.get("message")
    return (
        code if isinstance(code, str) else None,
        message if isinstance(message, str) else None,
    )


def _raise_for_status(response: httpx.Response, what: str, token: str) -> None:
    """Map a final answer (retries are over) to our errors; a 404 is BlobNotFoundError."""
    status = response.status_code
    if 200 <= status < 300:
        return
    code, text = _error_code(response)
    text = (text or "").replace(token, "***")[:300]
    details: dict[str, Any] = {"upstream_status": status, "upstream_code": code}
    if text:
        details["upstream_message"] = text
    if status == 404 or code == "not_found":
        raise BlobNotFoundError(what)
    if status == 429 or code == "rate_limited":
        hinted = retry_after_seconds(response)
        seconds = max(1, math.ceil(hinted)) if hinted is not None else 1
        raise UpstreamError(
            f"Vercel Blob is rate limiting this store; retry in {seconds} s.",
            code="vercel_blob_rate_limited",
            status_code=503,
            retry_after=seconds,
            details=details,
        )
    if status >= 500 or code in ("service_unavailable", "unknown_error"):
        _unavailable(f"Vercel Blob is unavailable (HTTP {status} on {what}).", details)
    if status in (401, 403) or code in _FORBIDDEN_CODES:
        raise UpstreamError(
            f"Vercel Blob refused the token or the store ({code or status}); check "
            "EDGELAB_VERCEL_BLOB_TOKEN and that the store is private and active.",
            code="vercel_blob_forbidden",
            details=details,
        )
    said = f"HTTP {status} {code}" if code else f"HTTP {status}"
    raise UpstreamError(
        f"Vercel Blob refused {what} ({said}).",
        code="vercel_blob_rejected",
        details=details,
    )


def _bad_response(what: str, reason: str) -> NoReturn:
    raise UpstreamError(
        f"Vercel Blob answered {what} with {reason}.",
        code="vercel_blob_bad_response",
        details={"reason": reason},
    )


def _parse_time(value: Any) -> dt.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.astimezone(dt.UTC) if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


class VercelBlobStore:
    """A client of one private Vercel Blob store; one per app (the lifespan owns it).

    Retries (``EDGELAB_HTTP_MAX_RETRIES``) cover timeouts, connection errors, 5xx and a 429
    whose ``Retry-After`` is short; what is left is an :class:`UpstreamError` naming the
    service: ``vercel_blob_unavailable`` or ``vercel_blob_rate_limited`` (503, with
    ``Retry-After``), ``vercel_blob_forbidden``, ``vercel_blob_rejected`` and
    ``vercel_blob_bad_response`` (502). The token travels only in ``Authorization`` headers,
    and only to the API and to blob URLs the store itself answered.
    """

    name = "vercel_blob"

    def __init__(
        self,
        settings: Settings,
        *,
        token: str,
        base_url: str,
        client: httpx.AsyncClient | None = None,
        retry_initial_wait: float = 0.5,
        page_size: int = LIST_PAGE_SIZE,
    ) -> None:
        if not token.strip():
            raise ValueError("A Vercel Blob read-write token is required.")
        self._settings = settings
        self._token = SecretStr(token.strip())
        self._base = base_url.rstrip("/")
        self._owns_client = client is None
        self._client = client or make_http_client(settings, base_url=self._base)
        self._initial_wait = max(0.0, retry_initial_wait)
        self._page_size = page_size

    def __repr__(self) -> str:
        return f"VercelBlobStore(url={self._base!r})"

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()

    async def _call(
        self, what: str, build: Callable[[], httpx.Request], *, stream: bool = False
    ) -> httpx.Response:
        """Send with retries; answers the final response (streamed only when 2xx)."""
        request_id = uuid.uuid4().hex
        attempt_no = 0

        async def attempt() -> httpx.Response:
            nonlocal attempt_no
            request = build()
            request.headers["authorization"] = f"Bearer {self._token.get_secret_value()}"
            request.headers["x-api-version"] = API_VERSION
            request.headers["x-api-blob-request-id"] = request_id
            request.headers["x-api-blob-request-attempt"] = str(attempt_no)
            attempt_no += 1
            response = await self._client.send(request, stream=stream)
            if stream and response.status_code >= 300:
                await response.aread()  # errors are small; this also closes the stream
            if response.status_code == 429:
                hinted = retry_after_seconds(response)
                if hinted is not None and hinted > MAX_INLINE_RETRY_AFTER:
                    raise _AnswerNow(response)
            return response

        attempts = self._settings.http_max_retries + 1
        wait = self._initial_wait
        try:
            return await send_with_retries(
                attempt, attempts=attempts, initial_wait=wait, max_wait=16 * wait
            )
        except _AnswerNow as final:
            return final.response
        except httpx.TransportError as exc:  # every timeout included
            details = {"error": type(exc).__name__, "attempts": attempts}
            if isinstance(exc, httpx.TimeoutException):
                seconds = self._settings.http_timeout_seconds
                text = f"Vercel Blob timed out on {what} (no answer within {seconds:g} s)."
            else:
                text = f"Vercel Blob could not be reached on {what} ({type(exc).__name__})."
            log.warning("vercel blob: %s", text)
            _unavailable(text, details)

    async def put(self, pathname: str, data: bytes, content_type: str) -> str:
        full = BLOB_PREFIX + pathname.lstrip("/")

        def build() -> httpx.Request:
            return self._client.build_request(
                "PUT",
                self._base + "/",
                params={"pathname": full},
                content=data,
                headers={
                    "x-vercel-blob-access": "private",
                    "x-content-type": content_type,
                    "x-add-random-suffix": "0",
                    "x-allow-overwrite": "1",
                },
            )

        response = await self._call("put", build)
        _raise_for_status(response, "put", self._token.get_secret_value())
        body = json_or_none(response)
        url = body.get("url") if isinstance(body, dict) else None
        if not isinstance(url, str) or not url.startswith(("https://", "http://")):
            _bad_response("put", "no blob url" if body is not None else "a body that is not JSON")
        log.info("vercel blob: stored %s (%d bytes)", full, len(data))
        return url

    async def open(self, key: str) -> BlobReader:
        def build() -> httpx.Request:
            return self._client.build_request("GET", key)

        response = await self._call("get", build, stream=True)
        try:
            _raise_for_status(response, "get", self._token.get_secret_value())
        except BaseException:
            await response.aclose()
            raise
        length = response.headers.get("content-length")
        size = int(length) if length and length.isdigit() else None
        return BlobReader(response.aiter_bytes(CHUNK_BYTES), size=size, close=response.aclose)

    async def delete(self, keys: Sequence[str]) -> None:
        for start in range(0, len(keys), DELETE_BATCH):
            batch = list(keys[start : start + DELETE_BATCH])

            def build(batch: list[str] = batch) -> httpx.Request:
                return self._client.build_request(
                    "POST", self._base + "/delete", json={"urls": batch}
                )

            response = await self._call("delete", build)
            try:
                _raise_for_status(response, "delete", self._token.get_secret_value())
            except BlobNotFoundError:
                continue  # already gone is what we wanted

    async def list(self) -> AsyncIterator[StoredBlob]:
        cursor: str | None = None
        while True:
            params: dict[str, str | int] = {"limit": self._page_size, "prefix": BLOB_PREFIX}
            if cursor:
                params["cursor"] = cursor

            def build(params: dict[str, str | int] = params) -> httpx.Request:
                return self._client.build_request("GET", self._base, params=params)

            response = await self._call("list", build)
            _raise_for_status(response, "list", self._token.get_secret_value())
            body = json_or_none(response)
            blobs = body.get("blobs") if isinstance(body, dict) else None
            if not isinstance(body, dict) or not isinstance(blobs, list):
                _bad_response("list", "no blob list")
            for blob in blobs:
                url = blob.get("url") if isinstance(blob, dict) else None
                uploaded = _parse_time(blob.get("uploadedAt")) if isinstance(blob, dict) else None
                if not isinstance(url, str) or uploaded is None:
                    _bad_response("list", "a blob without url or uploadedAt")
                size = blob.get("size")
                yield StoredBlob(url, size if isinstance(size, int) else None, uploaded)
            cursor = body.get("cursor") if isinstance(body.get("cursor"), str) else None
            if not body.get("hasMore") or not cursor:
                return
