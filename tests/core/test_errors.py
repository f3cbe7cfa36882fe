"""Every error, from every route, answers with the one envelope and the right status.

A small app is built with `create_app` and given test-only routes that raise; its lifespan
runs for real (engine on a temp SQLite file) and requests go over ASGI.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any

import httpx
import pytest
from fastapi import FastAPI, Query

from edgelab.app import create_app
from edgelab.core.errors import AppError, ConflictError, RateLimitedError, UpstreamError
from edgelab.core.observability import REQUEST_ID_HEADER
from tests.fixtures.database import make_settings

pytestmark = pytest.mark.asyncio(loop_scope="session")

SECRET = "s3cr3t-db-password-in-exception-text"


class PaymentRequiredError(AppError):
    status_code = 402
    code = "payment_required"


def _add_test_routes(app: FastAPI) -> None:
    @app.get("/_test/app-error")
    async def app_error() -> None:
        raise PaymentRequiredError("Upgrade to see this.", details={"tier": "pro"})

    @app.get("/_test/conflict")
    async def conflict() -> None:
        raise ConflictError("Already exists.", code="bet_already_logged")

    @app.get("/_test/upstream")
    async def upstream() -> None:
        raise UpstreamError(
            "Odds feed down.", code="odds_api_unavailable", status_code=503, retry_after=7
        )

    @app.get("/_test/rate-limited")
    async def rate_limited() -> None:
        raise RateLimitedError("Slow down.", retry_after=42)

    @app.get("/_test/boom")
    async def boom() -> None:
        raise RuntimeError(f"connection to postgres failed: password={SECRET}")

    @app.get("/_test/items")
    async def items(
        limit: Annotated[int, Query(ge=1, le=100)] = 10,
        day: Annotated[str | None, Query(pattern=r"^\d{4}-\d{2}-\d{2}$")] = None,
    ) -> dict[str, Any]:
        return {"limit": limit, "day": day}


@pytest.fixture
async def app_client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(make_settings(f"sqlite+aiosqlite:///{tmp_path / 'errors.db'}"))
    _add_test_routes(app)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            yield c


def _assert_envelope(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error", "request_id"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    assert body["request_id"]
    assert response.headers[REQUEST_ID_HEADER] == body["request_id"]
    return body


async def test_unknown_path_answers_404_not_found_envelope(app_client: httpx.AsyncClient) -> None:
    response = await app_client.get("/no/such/thing")
    body = _assert_envelope(response, 404, "not_found")
    assert "/no/such/thing" in body["error"]["message"]
    assert body["error"]["details"] is None


async def test_wrong_method_answers_405_method_not_allowed(app_client: httpx.AsyncClient) -> None:
    response = await app_client.delete("/health")
    body = _assert_envelope(response, 405, "method_not_allowed")
    assert "DELETE" in body["error"]["message"]
    assert "GET" in response.headers.get("allow", "")


async def test_a_body_that_is_not_utf8_is_a_422_not_an_undocumented_400(
    app_client: httpx.AsyncClient,
) -> None:
    response = await app_client.post(
        "/auth/magic-link",
        content=b'{"email": "\xff@example.com"}',
        headers={"Content-Type": "application/json"},
    )
    body = _assert_envelope(response, 422, "validation_error")
    assert body["error"]["details"][0]["loc"] == ["body"]


@pytest.mark.parametrize(
    ("method", "path", "code"),
    [
        ("post", "/billing/checkout", "billing_not_configured"),
        ("post", "/webhooks/paddle", "billing_not_configured"),
        ("post", "/api/analyze", "upstream_unavailable"),
        ("post", "/api/analyze/review", "upstream_unavailable"),
        ("post", "/api/analyze/review", "engine_unavailable"),
    ],
)
async def test_a_503_is_documented_with_the_code_it_answers(
    app_client: httpx.AsyncClient, method: str, path: str, code: str
) -> None:
    responses = (await app_client.get("/openapi.json")).json()["paths"][path][method]["responses"]
    assert f"`{code}`" in responses["503"]["description"]
    assert responses["503"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ErrorEnvelope"
    }


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("PUT", "/alerts/rules", "GET, POST"),  # two routes: GET and POST
        ("OPTIONS", "/alerts/rules", "GET, POST"),
        ("DELETE", "/markets", "GET"),  # GET only
        ("OPTIONS", "/me", "GET, PATCH, DELETE"),  # three routes on one path
        ("PUT", "/alerts/rules/alr_x", "GET, PATCH, DELETE"),  # a path parameter
        # a literal path is its own route's, not also `GET /api/analyze/{job_id}` = "review"
        ("OPTIONS", "/api/analyze/review", "POST"),
        ("PUT", "/api/analyze/job_x", "GET"),
    ],
)
async def test_a_405_allows_every_method_the_path_serves(
    app_client: httpx.AsyncClient, method: str, path: str, allow: str
) -> None:
    """Starlette's 405 names only the methods of the route it matched first (`GET` for `/me`)."""
    response = await app_client.request(method, path)
    _assert_envelope(response, 405, "method_not_allowed")
    assert response.headers["allow"] == allow


async def test_query_validation_answers_422_listing_each_field(
    app_client: httpx.AsyncClient,
) -> None:
    response = await app_client.get("/_test/items", params={"limit": "0", "day": "yesterday"})
    body = _assert_envelope(response, 422, "validation_error")
    details = body["error"]["details"]
    assert isinstance(details, list) and len(details) == 2
    by_loc = {tuple(d["loc"]): d for d in details}
    assert set(by_loc) == {("query", "limit"), ("query", "day")}
    for detail in details:
        assert isinstance(detail["message"], str) and detail["message"]
    assert "greater than or equal to 1" in by_loc[("query", "limit")]["message"]
    assert "query.limit" in body["error"]["message"]
    assert "query.day" in body["error"]["message"]


async def test_non_integer_query_answers_422_not_500(app_client: httpx.AsyncClient) -> None:
    response = await app_client.get("/_test/items", params={"limit": "lots"})
    body = _assert_envelope(response, 422, "validation_error")
    assert body["error"]["details"][0]["loc"] == ["query", "limit"]


async def test_valid_query_is_answered_normally(app_client: httpx.AsyncClient) -> None:
    response = await app_client.get("/_test/items", params={"limit": "5"})
    assert response.status_code == 200
    assert response.json() == {"limit": 5, "day": None}


async def test_app_error_subclass_answers_its_status_code_and_message(
    app_client: httpx.AsyncClient,
) -> None:
    response = await app_client.get("/_test/app-error")
    body = _assert_envelope(response, 402, "payment_required")
    assert body["error"]["message"] == "Upgrade to see this."
    assert body["error"]["details"] == {"tier": "pro"}


async def test_app_error_code_override_is_what_clients_see(app_client: httpx.AsyncClient) -> None:
    response = await app_client.get("/_test/conflict")
    body = _assert_envelope(response, 409, "bet_already_logged")
    assert body["error"]["message"] == "Already exists."


async def test_upstream_failure_names_the_service_and_carries_retry_after(
    app_client: httpx.AsyncClient,
) -> None:
    response = await app_client.get("/_test/upstream")
    _assert_envelope(response, 503, "odds_api_unavailable")
    assert response.headers["retry-after"] == "7"


async def test_rate_limited_answers_429_with_retry_after(app_client: httpx.AsyncClient) -> None:
    response = await app_client.get("/_test/rate-limited")
    body = _assert_envelope(response, 429, "rate_limited")
    assert body["error"]["message"] == "Slow down."
    assert response.headers["retry-after"] == "42"


async def test_rate_limited_retry_after_is_at_least_one_second() -> None:
    assert RateLimitedError("x", retry_after=0).headers == {"Retry-After": "1"}
    assert RateLimitedError("x", retry_after=-5).headers == {"Retry-After": "1"}


async def test_unhandled_exception_answers_500_without_internals(
    app_client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="edgelab.errors"):
        response = await app_client.get("/_test/boom", headers={REQUEST_ID_HEADER: "req-boom-1"})
    body = _assert_envelope(response, 500, "internal_error")
    assert body["request_id"] == "req-boom-1"
    assert body["error"]["details"] is None
    assert SECRET not in response.text
    assert "RuntimeError" not in response.text
    assert "Traceback" not in response.text
    assert ".py" not in response.text


async def test_unhandled_exception_is_logged_with_traceback_and_request_id(
    app_client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="edgelab.errors"):
        response = await app_client.get("/_test/boom", headers={REQUEST_ID_HEADER: "req-boom-2"})
    assert response.status_code == 500
    records = [r for r in caplog.records if r.name == "edgelab.errors"]
    assert len(records) == 1
    record = records[0]
    assert record.levelno == logging.ERROR
    assert "/_test/boom" in record.getMessage()
    assert record.exc_info is not None and isinstance(record.exc_info[1], RuntimeError)
    # An operator must be able to find the log line from the id the client saw.
    logged = record.getMessage() + " " + str(getattr(record, "request_id", ""))
    assert "req-boom-2" in logged
