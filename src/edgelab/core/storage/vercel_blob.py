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
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from functools import partial
from typing import Any

import httpx
from pydantic import SecretStr

from edgelab.core import error_codes as codes
from edgelab.core.errors import UpstreamError
from edgelab.core.http import Verdict, make_http_client, retry_after_header, retry_after_seconds
from edgelab.core.http.upstream import Refusal, Unreachable, Upstream, service_error
from edgelab.core.settings import Settings
from edgelab.core.storage.store import CHUNK_BYTES, BlobNotFoundError, BlobReader, StoredBlob

log = logging.getLogger("edgelab.uploads")

SERVICE = "Vercel Blob"
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


def _long_wait(response: httpx.Response) -> Verdict | None:
    """A 429 asking for more than a short wait is answered to our client, not waited out."""
    if response.status_code == 429:
        hinted = retry_after_seconds(response)
        if hinted is not None and hinted > MAX_INLINE_RETRY_AFTER:
            return "final"
    return None


def _refused(refusal: Refusal, what: str) -> Exception:
    """A final failed answer in the ``vercel_blob_*`` codes; a 404 is BlobNotFoundError."""
    status = refusal.status
    code, said = refusal.text("error", "code"), refusal.text("error", "message")
    text = refusal.redact(said or "")[:300]
    details: dict[str, Any] = {"upstream_status": status, "upstream_code": code}
    if text:
        details["upstream_message"] = text
    if status == 404 or code == "not_found":
        return BlobNotFoundError(what)
    if status == 429 or code == "rate_limited":
        seconds = retry_after_header(refusal.response, 1)
        return service_error(
            codes.VERCEL_BLOB_RATE_LIMITED,
            f"Vercel Blob is rate limiting this store; retry in {seconds} s.",
            details=details,
            retry_after=seconds,
        )
    if status >= 500 or code in ("service_unavailable", "unknown_error"):
        text = f"Vercel Blob is unavailable (HTTP {status} on {what})."
        return service_error(codes.VERCEL_BLOB_UNAVAILABLE, text, details=details)
    if status in (401, 403) or code in _FORBIDDEN_CODES:
        return service_error(
            codes.VERCEL_BLOB_FORBIDDEN,
            f"Vercel Blob refused the token or the store ({code or status}); check "
            "EDGELAB_VERCEL_BLOB_TOKEN and that the store is private and active.",
            details=details,
        )
    answered = f"HTTP {status} {code}" if code else f"HTTP {status}"
    text = f"Vercel Blob refused {what} ({answered})."
    return service_error(codes.VERCEL_BLOB_REJECTED, text, details=details)


def _unreachable(failure: Unreachable, what: str) -> UpstreamError:
    if failure.timed_out:
        seconds = failure.timeout_seconds
        text = f"Vercel Blob timed out on {what} (no answer within {seconds:g} s)."
    else:
        text = f"Vercel Blob could not be reached on {what} ({failure.kind})."
    details = {"error": failure.kind, "attempts": failure.attempts}
    return service_error(codes.VERCEL_BLOB_UNAVAILABLE, text, details=details)


def _bad_response(what: str, reason: str) -> UpstreamError:
    return service_error(
        codes.VERCEL_BLOB_BAD_RESPONSE,
        f"Vercel Blob answered {what} with {reason}.",
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
        self._token = SecretStr(token.strip())
        self._base = base_url.rstrip("/")
        self._owns_client = client is None
        self._client = client or make_http_client(settings, base_url=self._base)
        self._upstream = Upstream(
            SERVICE,
            settings,
            refused=partial(_refused, what="a request"),
            classify=_long_wait,
            initial_wait=retry_initial_wait,
            secrets=[self._token.get_secret_value()],
        )
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
            return response

        return await self._upstream.send(attempt, unreachable=partial(_unreachable, what=what))

    def _raise_for_status(self, response: httpx.Response, what: str) -> None:
        self._upstream.raise_for_status(response, refused=partial(_refused, what=what))

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
        self._raise_for_status(response, "put")
        body = self._upstream.json(
            response, not_json=lambda _: _bad_response("put", "a body that is not JSON")
        )
        url = body.get("url") if isinstance(body, dict) else None
        if not isinstance(url, str) or not url.startswith(("https://", "http://")):
            raise _bad_response("put", "no blob url")
        log.info("vercel blob: stored %s (%d bytes)", full, len(data))
        return url

    async def open(self, key: str) -> BlobReader:
        def build() -> httpx.Request:
            return self._client.build_request("GET", key)

        response = await self._call("get", build, stream=True)
        try:
            self._raise_for_status(response, "get")
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
                self._raise_for_status(response, "delete")
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
            self._raise_for_status(response, "list")
            body = self._upstream.json(
                response, not_json=lambda _: _bad_response("list", "no blob list")
            )
            blobs = body.get("blobs") if isinstance(body, dict) else None
            if not isinstance(body, dict) or not isinstance(blobs, list):
                raise _bad_response("list", "no blob list")
            for blob in blobs:
                url = blob.get("url") if isinstance(blob, dict) else None
                uploaded = _parse_time(blob.get("uploadedAt")) if isinstance(blob, dict) else None
                if not isinstance(url, str) or uploaded is None:
                    raise _bad_response("list", "a blob without url or uploadedAt")
                size = blob.get("size")
                yield StoredBlob(url, size if isinstance(size, int) else None, uploaded)
            cursor = body.get("cursor") if isinstance(body.get("cursor"), str) else None
            if not body.get("hasMore") or not cursor:
                return
