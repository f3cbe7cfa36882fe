"""A local stand-in for the Vercel Blob API, served over a real socket for the store's tests.

It speaks the wire protocol of the official ``@vercel/blob`` SDK as recorded in
``/work/shared/reference/APIS.md`` section 8: ``authorization: Bearer <token>`` and
``x-api-version`` on every API call; ``PUT /api/blob/?pathname=`` with the raw body and the
``x-vercel-blob-access``, ``x-content-type``, ``x-add-random-suffix``, ``x-allow-overwrite``
headers, answering ``{url, downloadUrl, pathname, contentType, contentDisposition, etag}``;
``GET /api/blob?limit&prefix&cursor`` answering ``{blobs, cursor, hasMore}`` (and ``?url=`` for
head); ``POST /api/blob/delete`` with ``{"urls": [...]}`` answering 200 with a null body; errors
as ``{"error": {"code", "message"}}``. Blob content is served at ``/blobs/<pathname>``; a private
blob needs the token there too, as a private store does.

``PAYLOADS`` are verbatim copies of ``/work/shared/reference/payloads/vercel_blob/`` (a test
checks they still match). Tests steer the fake with :meth:`FakeBlob.plan`: the next N requests
get a chosen status, body, headers or delay (a delay alone means "the normal answer, late").
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fixtures.fake_server import FakeServer
from tests.loopback import serve  # noqa: F401  (re-exported for the tests)

VALID_TOKEN = "vercel_blob_rw_12345fakeStoreId_30FakeRandomCharacters12345678"
_BEARER = f"Bearer {VALID_TOKEN}"

PAYLOADS: dict[str, Any] = {
    "delete_request": {
        "request": {
            "method": "POST",
            "url": "https://vercel.com/api/blob/delete",
            "headers": {
                "content-type": "application/json",
                "authorization": _BEARER,
                "x-api-version": "12",
            },
            "body": {
                "urls": [
                    "https://storeId.public.blob.vercel-storage.com/foo-id1.txt",
                    "https://storeId.public.blob.vercel-storage.com/foo-id2.txt",
                ]
            },
        },
        "response": {"status": 200, "body": None},
    },
    "errors": {
        "not_found_404": {"error": {"code": "not_found", "message": "Not found"}},
        "forbidden_403": {"error": {"code": "forbidden"}},
        "store_suspended_403": {"error": {"code": "store_suspended"}},
        "codes_handled_by_sdk": [
            "store_suspended",
            "forbidden",
            "oidc_environment_not_allowed",
            "not_found",
            "unknown_error",
            "bad_request",
            "store_not_found",
            "not_allowed",
            "client_token_not_allowed",
            "service_unavailable",
            "rate_limited",
            "content_type_not_allowed",
            "client_token_pathname_mismatch",
            "client_token_expired",
            "file_too_large",
            "precondition_failed",
        ],
    },
    "head_request_response": {
        "request": {
            "method": "GET",
            "url": "https://vercel.com/api/blob?url=https%3A%2F%2FstoreId.public.blob.vercel-storage.com%2Ffoo-id.txt",
            "headers": {
                "authorization": _BEARER,
                "x-api-version": "12",
            },
        },
        "response": {
            "status": 200,
            "body": {
                "url": "https://storeId.public.blob.vercel-storage.com/foo-id.txt",
                "downloadUrl": "https://storeId.public.blob.vercel-storage.com/foo-id.txt?download=1",
                "size": 12345,
                "uploadedAt": "2023-05-04T15:12:07.818Z",
                "pathname": "foo.txt",
                "contentType": "text/plain",
                "contentDisposition": 'attachment; filename="foo.txt"',
                "etag": '"abc123"',
            },
        },
    },
    "list_request_response": {
        "request": {
            "method": "GET",
            "url": "https://vercel.com/api/blob?limit=10&prefix=test-prefix&cursor=cursor-abc",
            "headers": {
                "authorization": _BEARER,
                "x-api-version": "12",
            },
        },
        "response": {
            "status": 200,
            "body": {
                "blobs": [
                    {
                        "url": "https://storeId.public.blob.vercel-storage.com/foo-id.txt",
                        "downloadUrl": "https://storeId.public.blob.vercel-storage.com/foo-id.txt?download=1",
                        "pathname": "foo.txt",
                        "size": 12345,
                        "uploadedAt": "2023-05-04T15:12:07.818Z",
                        "etag": '"abc123"',
                    },
                    {
                        "url": "https://storeId.public.blob.vercel-storage.com/foo-id.txt",
                        "downloadUrl": "https://storeId.public.blob.vercel-storage.com/foo-id.txt?download=1",
                        "pathname": "foo.txt",
                        "size": 12345,
                        "uploadedAt": "2023-05-04T15:12:07.818Z",
                        "etag": '"abc123"',
                    },
                ],
                "cursor": "cursor-123",
                "hasMore": True,
            },
        },
    },
    "put_request_response": {
        "request": {
            "method": "PUT",
            "url": "https://vercel.com/api/blob/?pathname=foo.txt",
            "headers": {
                "authorization": _BEARER,
                "x-api-version": "12",
                "x-vercel-blob-access": "public",
                "x-content-type": "text/plain",
                "x-add-random-suffix": "0",
            },
            "body": "Test Body",
        },
        "response": {
            "status": 200,
            "body": {
                "url": "https://storeId.public.blob.vercel-storage.com/foo-id.txt",
                "downloadUrl": "https://storeId.public.blob.vercel-storage.com/foo-id.txt?download=1",
                "pathname": "foo.txt",
                "contentType": "text/plain",
                "contentDisposition": 'attachment; filename="foo.txt"',
                "etag": '"abc123"',
            },
        },
    },
}


def load(name: str) -> Any:
    return copy.deepcopy(PAYLOADS[name])


def error(status: int, code: str, message: str | None = None, **headers: str) -> Response:
    body: dict[str, Any] = {"code": code}
    if message is not None:
        body["message"] = message
    return JSONResponse({"error": body}, status_code=status, headers=headers or None)


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    body: bytes
    status: int = 0


@dataclass
class Blob:
    pathname: str
    data: bytes
    content_type: str
    access: str
    uploaded_at: dt.datetime

    def listing(self, base: str) -> dict[str, Any]:
        url = f"{base}/blobs/{self.pathname}"
        return {
            "url": url,
            "downloadUrl": f"{url}?download=1",
            "pathname": self.pathname,
            "size": len(self.data),
            "uploadedAt": self.uploaded_at.isoformat(timespec="milliseconds").replace(
                "+00:00", "Z"
            ),
            "etag": f'"{hashlib.md5(self.data).hexdigest()}"',
        }


class FakeBlob(FakeServer):
    def __init__(self) -> None:
        super().__init__()
        self.app = Starlette(
            routes=[
                Route("/api/blob/", self._put, methods=["PUT"]),
                Route("/api/blob", self._get, methods=["GET"]),
                Route("/api/blob/delete", self._delete, methods=["POST"]),
                Route("/blobs/{pathname:path}", self._content, methods=["GET"]),
            ]
        )

    def reset(self) -> None:
        super().reset()
        self.requests: list[Recorded] = []
        self.blobs: dict[str, Blob] = {}

    @property
    def statuses(self) -> list[int]:
        return [r.status for r in self.requests]

    def api_calls(self, method: str | None = None) -> list[Recorded]:
        return [
            r
            for r in self.requests
            if r.path.startswith("/api/blob") and (method is None or r.method == method)
        ]

    # ------------------------------------------------------------ plumbing

    async def _record(self, request: Request) -> Recorded:
        record = Recorded(
            request.method,
            request.url.path,
            dict(request.query_params),
            {k.lower(): v for k, v in request.headers.items()},
            await request.body(),
        )
        self.requests.append(record)
        return record

    async def _planned(self, request: Request) -> Response | None:
        planned = await self.take_plan(request)
        if planned is None or planned.answers_normally:
            return None
        return self.render(planned, {"error": {"code": "unknown_error", "message": "planned"}})

    def _check_auth(self, record: Recorded) -> Response | None:
        scheme, _, token = record.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or token != VALID_TOKEN:
            return JSONResponse(load("errors")["forbidden_403"], status_code=403)
        return None

    def _check_api(self, record: Recorded) -> Response | None:
        refused = self._check_auth(record)
        if refused is None and record.headers.get("x-api-version") != "12":
            refused = error(400, "bad_request", "Missing or unsupported x-api-version.")
        return refused

    async def _answer(self, request: Request, handler: Any) -> Response:
        generation = self.generation
        record = await self._record(request)
        response = await self._planned(request)
        if response is None and not self.is_current(generation):
            response = error(503, "service_unavailable", "answered after a reset")
        if response is None:
            response = handler(request, record)
        record.status = response.status_code
        return response

    def _base(self, request: Request) -> str:
        return str(request.base_url).rstrip("/")

    # ------------------------------------------------------------ operations

    async def _put(self, request: Request) -> Response:
        def handle(request: Request, record: Recorded) -> Response:
            refused = self._check_api(record)
            if refused is not None:
                return refused
            pathname = record.query.get("pathname", "")
            if not pathname:
                return error(400, "bad_request", "pathname is required")
            access = record.headers.get("x-vercel-blob-access")
            if access not in ("public", "private"):
                return error(400, "bad_request", "access must be public or private")
            if pathname in self.blobs and record.headers.get("x-allow-overwrite") != "1":
                return error(400, "bad_request", "This blob already exists.")
            content_type = record.headers.get("x-content-type", "application/octet-stream")
            blob = Blob(pathname, record.body, content_type, access, dt.datetime.now(dt.UTC))
            self.blobs[pathname] = blob
            listing = blob.listing(self._base(request))
            return JSONResponse(
                {
                    "url": listing["url"],
                    "downloadUrl": listing["downloadUrl"],
                    "pathname": pathname,
                    "contentType": content_type,
                    "contentDisposition": f'attachment; filename="{pathname.rsplit("/", 1)[-1]}"',
                    "etag": listing["etag"],
                }
            )

        return await self._answer(request, handle)

    async def _get(self, request: Request) -> Response:
        def handle(request: Request, record: Recorded) -> Response:
            refused = self._check_api(record)
            if refused is not None:
                return refused
            base = self._base(request)
            if "url" in record.query:
                pathname = record.query["url"].removeprefix(f"{base}/blobs/")
                blob = self.blobs.get(pathname)
                if blob is None:
                    return JSONResponse(load("errors")["not_found_404"], status_code=404)
                return JSONResponse({**blob.listing(base), "contentType": blob.content_type})
            prefix = record.query.get("prefix", "")
            limit = int(record.query.get("limit", "1000"))
            names = sorted(p for p in self.blobs if p.startswith(prefix))
            cursor = record.query.get("cursor")
            start = int(cursor) if cursor else 0
            page = names[start : start + limit]
            more = start + limit < len(names)
            body: dict[str, Any] = {
                "blobs": [self.blobs[p].listing(base) for p in page],
                "hasMore": more,
            }
            if more:
                body["cursor"] = str(start + limit)
            return JSONResponse(body)

        return await self._answer(request, handle)

    async def _delete(self, request: Request) -> Response:
        def handle(request: Request, record: Recorded) -> Response:
            refused = self._check_api(record)
            if refused is not None:
                return refused
            try:
                urls = json.loads(record.body)["urls"]
            except (ValueError, KeyError, TypeError):
                return error(400, "bad_request", "Expected {urls: [...]}")
            base = self._base(request)
            for url in urls:
                self.blobs.pop(str(url).removeprefix(f"{base}/blobs/"), None)
            return JSONResponse(None)

        return await self._answer(request, handle)

    async def _content(self, request: Request) -> Response:
        def handle(request: Request, record: Recorded) -> Response:
            blob = self.blobs.get(request.path_params["pathname"])
            if blob is None:
                return Response("Not found", 404, media_type="text/plain")
            if blob.access == "private" and self._check_auth(record) is not None:
                return Response("Forbidden", 403, media_type="text/plain")
            return Response(blob.data, 200, media_type=blob.content_type)

        return await self._answer(request, handle)
