"""Typed application errors and the one error envelope every route answers with.

`{"error": {"code", "message", "details"}, "request_id"}`: `code` is a stable snake_case string
clients switch on, one of the catalogue's (`edgelab.core.error_codes`), raised by its constant.
422 is for payload validation only; an unhandled exception is logged with the request id and
answered as 500 `internal_error` without internals.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import BaseRoute, Match, Mount

from edgelab.core import error_codes as codes
from edgelab.core.error_codes import ErrorCode
from edgelab.core.observability import REQUEST_ID_HEADER, request_id_of, request_id_var

log = logging.getLogger("edgelab.errors")


class AppError(Exception):
    """Base of every error a route may answer with; subclasses fix code and status.

    A code from the catalogue (an `ErrorCode`, as the class's `code` or given when raised)
    brings its status: the error answers with the catalogue's, and a class declaring another
    `status_code` than its code's fails at import. A plain string code (tests) keeps the
    class's status. On an instance, `code` is always the string the envelope renders.
    """

    status_code: int = 400
    code: str | ErrorCode = codes.BAD_REQUEST

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if isinstance(cls.code, ErrorCode):
            if "status_code" in cls.__dict__ and cls.status_code != cls.code.status:
                raise TypeError(
                    f"{cls.__name__}: status_code {cls.status_code} but {cls.code.code!r} is "
                    f"{cls.code.status} in the error catalogue"
                )
            cls.status_code = cls.code.status

    def __init__(
        self,
        message: str,
        *,
        code: str | ErrorCode | None = None,
        details: Any = None,
        headers: dict[str, str] | None = None,
        persist_changes: bool = False,
    ) -> None:
        super().__init__(message)
        self.message = message
        # True when what the request recorded must survive the refusal (an audit entry of a
        # failed sign-in, the revocation of a stolen token family): the unit of work commits.
        self.persist_changes = persist_changes
        if isinstance(code, ErrorCode):
            self.status_code = code.status
        self.code = str(self.code if code is None else code)
        self.details = details
        self.headers = headers or {}


class NotFoundError(AppError):
    status_code = 404
    code = codes.NOT_FOUND


class ConflictError(AppError):
    status_code = 409
    code = codes.CONFLICT


class InvalidInputError(AppError):
    """A request that parsed but makes no sense (not a schema violation: those are 422)."""

    status_code = 400
    code = codes.INVALID_INPUT


class RateLimitedError(AppError):
    status_code = 429
    code = codes.RATE_LIMITED

    def __init__(
        self, message: str, *, retry_after: int, code: str | ErrorCode | None = None
    ) -> None:
        super().__init__(message, code=code, headers={"Retry-After": str(max(1, retry_after))})
        self.retry_after = retry_after


class UpstreamError(AppError):
    """An external service failed; `code` names it (e.g. `odds_api_unavailable`) and, from the
    catalogue, brings its status (502, or 503 when waiting may help); `status_code` overrides."""

    status_code = 502
    code = codes.UPSTREAM_ERROR

    def __init__(
        self,
        message: str,
        *,
        code: str | ErrorCode | None = None,
        status_code: int | None = None,
        retry_after: int | None = None,
        details: Any = None,
    ) -> None:
        headers = {"Retry-After": str(retry_after)} if retry_after else None
        super().__init__(message, code=code, details=details, headers=headers)
        if status_code is not None:
            self.status_code = status_code
        self.retry_after = retry_after


class ErrorBody(BaseModel):
    code: str
    message: str
    details: Any = None


class ErrorEnvelope(BaseModel):
    """The shape of every error response (documented on every operation in OpenAPI)."""

    error: ErrorBody
    request_id: str | None = None


def error_responses(*answers: int | ErrorCode) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` entries declaring that an operation may answer with the envelope:
    a status, or a catalogued code (its status, the code named in the description), so a 503
    reads `Service Unavailable: billing_not_configured` rather than a bare status."""
    named: dict[int, list[str]] = {}
    for answer in answers:
        status = answer.status if isinstance(answer, ErrorCode) else answer
        named.setdefault(status, [])
        if isinstance(answer, ErrorCode):
            named[status].append(answer.code)
    return {
        status: {
            "model": ErrorEnvelope,
            "description": HTTPStatus(status).phrase
            + (": " + ", ".join(f"`{c}`" for c in found) if found else ""),
        }
        for status, found in named.items()
    }


def envelope(
    request: Request,
    status: int,
    code: str | ErrorCode,
    message: str,
    details: Any = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    rid = request_id_of(request)
    error = {"code": str(code), "message": message, "details": details}
    body = {"error": error, "request_id": rid}
    out_headers = dict(headers or {})
    if rid:
        out_headers[REQUEST_ID_HEADER] = rid
    return JSONResponse(body, status_code=status, headers=out_headers)


_STATUS_CODES = {
    entry.status: entry
    for entry in (
        codes.BAD_REQUEST,
        codes.UNAUTHORIZED,
        codes.FORBIDDEN,
        codes.NOT_FOUND,
        codes.METHOD_NOT_ALLOWED,
        codes.NOT_ACCEPTABLE,
        codes.PAYLOAD_TOO_LARGE,
        codes.UNSUPPORTED_MEDIA_TYPE,
        codes.RATE_LIMITED,
    )
}


async def _app_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AppError)
    return envelope(request, exc.status_code, exc.code, exc.message, exc.details, exc.headers)


def _clean_ctx(value: Any) -> Any:
    return value if isinstance(value, str | int | float | bool | type(None)) else str(value)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    details = [
        {
            "loc": [str(part) for part in err.get("loc", ())],
            "message": err.get("msg", ""),
            "type": err.get("type", ""),
            **({"ctx": {k: _clean_ctx(v) for k, v in err["ctx"].items()}} if "ctx" in err else {}),
        }
        for err in exc.errors()
    ]
    fields = ", ".join(".".join(d["loc"]) for d in details[:5])
    invalid = codes.VALIDATION_ERROR
    return envelope(request, invalid.status, invalid, f"Invalid request: {fields}.", details)


# FastAPI's 400 for a body it could not decode (not UTF-8, a broken multipart form); JSON that
# does not parse is its 422 `json_invalid`. Both are the payload's fault: one answer, 422.
_UNREADABLE_BODY = "There was an error parsing the body"


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 400 and exc.detail == _UNREADABLE_BODY:
        invalid = codes.VALIDATION_ERROR
        problem = "The body could not be read (not UTF-8 JSON, or a malformed form)."
        detail = {"loc": ["body"], "message": problem, "type": "body_unreadable"}
        return envelope(request, invalid.status, invalid, f"Invalid request: {problem}", [detail])
    known = _STATUS_CODES.get(exc.status_code)
    code = known.code if known is not None else f"http_{exc.status_code}"  # not catalogued
    if exc.status_code == 404 and exc.detail == "Not Found":
        message = f"No route for {request.method} {request.url.path}."
    elif exc.status_code == 405:
        message = f"Method {request.method} is not allowed on {request.url.path}."
    else:
        message = str(exc.detail)
    headers = dict(exc.headers or {})
    if exc.status_code == 405 and (methods := allowed_methods(request)):
        headers["Allow"] = ", ".join(methods)
    return envelope(request, exc.status_code, code, message, None, headers)


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def _leaf_routes(routes: Iterable[BaseRoute]) -> Iterator[BaseRoute]:
    """The app's routes one by one: FastAPI (0.16x) keeps an included router as one entry
    whose `effective_candidates()` are its routes; older versions listed them flat."""
    for route in routes:
        if isinstance(route, Mount):
            continue
        inner = getattr(route, "effective_candidates", None)
        if callable(inner):
            yield from _leaf_routes(inner())
        else:
            yield route


def allowed_methods(request: Request) -> list[str]:
    """Every method some route of the app serves at this request's path (mounts aside).

    Starlette's 405 names the methods of the one route it matched (`GET` for `/me`, though
    `PATCH` and `DELETE` are routes of the same path): RFC 9110 wants them all in `Allow`.
    Each method is asked of the app's own router, so nested routers count as they route.
    A path that a route names literally belongs to that route: `POST /api/analyze/review`
    is not also `GET /api/analyze/{job_id}` with the id "review", so when routes without
    parameters match the path, only their methods are listed.
    """
    routes = list(_leaf_routes(request.app.router.routes))
    on_path = [r for r in routes if r.matches(request.scope)[0] != Match.NONE]
    literal = [r for r in on_path if not getattr(r, "param_convertors", None)]
    candidates = literal or on_path
    return [
        method
        for method in _METHODS
        if any(r.matches({**request.scope, "method": method})[0] == Match.FULL for r in candidates)
    ]


DATABASE_RETRY_AFTER_SECONDS = 5  # the pool reconnects by itself as soon as it answers again


async def _unhandled(request: Request, exc: Exception) -> JSONResponse:
    from edgelab.core.db import is_database_unavailable, is_sqlite_busy

    if is_database_unavailable(exc):  # an outage is a 503 the client may retry, never a 500
        log.warning("database unavailable on %s %s: %s", request.method, request.url.path, exc)
        resources = getattr(request.app.state, "resources", None)
        degradation = getattr(resources, "degradation", None)
        if degradation is not None:
            degradation.failed("database", "request", exc)
        down = codes.DATABASE_UNAVAILABLE
        return envelope(
            request,
            down.status,
            down,
            "The database is not available right now; try again shortly.",
            headers={"Retry-After": str(DATABASE_RETRY_AFTER_SECONDS)},
        )
    if is_sqlite_busy(exc):  # SQLite's one writer was busy: the unit rolled back, try again
        log.warning("SQLite busy on %s %s", request.method, request.url.path)
        busy = codes.DATABASE_BUSY
        return envelope(
            request,
            busy.status,
            busy,
            "The database is busy with another write; nothing was written. Try again.",
            headers={"Retry-After": "1"},
        )
    # Starlette runs this outside the request-id middleware: restore the id for the log line
    token = request_id_var.set(request_id_of(request))
    try:
        log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    finally:
        request_id_var.reset(token)
    internal = codes.INTERNAL_ERROR
    return envelope(request, internal.status, internal, "Internal server error.")


def document_database_unavailable(app: FastAPI) -> None:
    """Declare on every operation of the OpenAPI document that it may answer 503
    `database_unavailable` (any route that reads or writes the database can meet an outage);
    an operation that already declares a 503 gets the code added to its description."""
    code = f"`{codes.DATABASE_UNAVAILABLE.code}`"
    schema = {"$ref": "#/components/schemas/ErrorEnvelope"}
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = build()
        for operations in document.get("paths", {}).values():
            for operation in operations.values():
                responses = operation.get("responses") if isinstance(operation, dict) else None
                if responses is None:
                    continue
                entry = responses.get("503")
                if entry is None:
                    responses["503"] = {
                        "description": f"{HTTPStatus(503).phrase}: {code}",
                        "content": {"application/json": {"schema": schema}},
                    }
                elif code not in str(entry.get("description", "")):
                    entry["description"] = f"{entry.get('description', '')}, {code}"
        components = document.setdefault("components", {}).setdefault("schemas", {})
        components.setdefault(
            "ErrorEnvelope",
            ErrorEnvelope.model_json_schema(ref_template="#/components/schemas/{model}"),
        )
        app.openapi_schema = document
        return document

    app.openapi = openapi  # type: ignore[method-assign]


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AppError, _app_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unhandled)
