"""A local stand-in for Paddle Billing's API (subscription self-service), on a real socket.

It speaks the documented contract (`/work/shared/reference/APIS.md` section 5, "Paddle Billing
API for subscription self-service"), with the SDK's fixtures as its answers
(`tests/accounts/fixtures/paddle/api_*.json`, copied unchanged from the shared reference):

- `Authorization: Bearer <key>`: none is 403 `authentication_missing`, another key 403
  `invalid_token` (never 401); answers `{"data": ..., "meta": {"request_id"}}`, errors
  `{"error": {type, code, detail, documentation_url}, "meta": {request_id}}`.
- `GET /subscriptions/{id}`; `POST .../cancel` (`next_billing_period` schedules
  `{action: cancel}` at the period's end, `immediately` cancels); `POST .../pause`;
  `POST .../resume` (400 `subscription_must_be_paused` unless paused); `PATCH` with `items`
  (the complete new list; 400 `subscription_items_update_missing_proration_billing_mode`
  without a mode, 400 `subscription_locked_pending_changes` while a change is scheduled) or
  `scheduled_change: null`; `GET .../update-payment-method-transaction`.
- `POST /customers/{id}/portal-sessions` (201), `GET /transactions?customer_id&status` (cursor
  paging: `per_page` up to 30, `after`, `meta.pagination {per_page, next, has_more}`),
  `GET /transactions/{id}`, `GET /transactions/{id}/invoice`.

State changes here never reach the app by themselves: as with Paddle, the app hears of them by
webhook, which the tests send (signed) when they mean to. Faults come from `plan()`.
"""

from __future__ import annotations

import asyncio
import copy
import datetime as dt
import json
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fixtures.fake_server import FakeServer
from tests.loopback import serve  # noqa: F401  (re-exported for the tests)

FIXTURES = Path(__file__).parent / "fixtures" / "paddle"
VALID_KEY = "pdl_sdbx_apikey_01test_suite_key_0123456789"
EFFECTIVE_FROM = ("next_billing_period", "immediately")
TRANSACTIONS_DEFAULT_PAGE = TRANSACTIONS_MAX_PAGE = 30  # `per_page` of list transactions
PRORATION_MODES = (
    "prorated_immediately",
    "prorated_next_billing_period",
    "full_immediately",
    "full_next_billing_period",
    "do_not_bill",
)


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def api_error(name: str) -> dict[str, Any]:
    """One documented error of `api_errors.json`: {status, body, headers?}."""
    entry: dict[str, Any] = copy.deepcopy(fixture("api_errors.json")[name])
    return entry


def subscription_entity(sub_id: str, customer_id: str, price_id: str) -> dict[str, Any]:
    """The SDK's `GET /subscriptions/{id}` entity, re-keyed, with one item of `price_id`."""
    data: dict[str, Any] = fixture("api_subscription_get_full_entity.json")["response"]["data"]
    data["id"], data["customer_id"] = sub_id, customer_id
    item = data["items"][0]
    item["quantity"] = 1
    item["price"]["id"] = price_id
    data["items"] = [item]
    return data


def transaction_entity(txn_id: str, customer_id: str, sub_id: str) -> dict[str, Any]:
    data: dict[str, Any] = fixture("data_transaction.completed.json")
    data["id"], data["customer_id"], data["subscription_id"] = txn_id, customer_id, sub_id
    return data


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _paddle_error(status: int, code: str, detail: str, **extra: Any) -> Response:
    body = {
        "error": {
            "type": "request_error",
            "code": code,
            "detail": detail,
            "documentation_url": f"https://developer.paddle.com/errors/shared/{code}",
            **extra,
        },
        "meta": {"request_id": str(uuid.uuid4())},
    }
    return JSONResponse(body, status_code=status)


def _data(data: Any, status: int = 200, **meta: Any) -> Response:
    return JSONResponse(
        {"data": data, "meta": {"request_id": str(uuid.uuid4()), **meta}}, status_code=status
    )


@dataclass
class Hold:
    """Requests whose path ends with `suffix` wait here: `arrived` is set when one does, and it
    is answered (normally) once the test sets `release` (or the fake is reset)."""

    suffix: str
    arrived: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    body: Any  # parsed JSON, None without a body
    status: int = 0


class FakePaddle(FakeServer):
    text_media_type = "text/html"

    def __init__(self) -> None:
        super().__init__()
        sub, txn, ctm = "/subscriptions/{sub_id}", "/transactions/{txn_id}", "/customers/{ctm_id}"
        routes = [
            Route(sub, self._get_subscription, methods=["GET"]),
            Route(sub, self._patch_subscription, methods=["PATCH"]),
            Route(f"{sub}/cancel", self._cancel, methods=["POST"]),
            Route(f"{sub}/pause", self._pause, methods=["POST"]),
            Route(f"{sub}/resume", self._resume, methods=["POST"]),
            Route(
                f"{sub}/update-payment-method-transaction",
                self._payment_method,
                methods=["GET"],
            ),
            Route(f"{ctm}/portal-sessions", self._portal, methods=["POST"]),
            Route("/transactions", self._transactions, methods=["GET"]),
            Route(txn, self._transaction, methods=["GET"]),
            Route(f"{txn}/invoice", self._invoice, methods=["GET"]),
        ]
        self.app = Starlette(
            routes=routes, middleware=[Middleware(BaseHTTPMiddleware, dispatch=self._front)]
        )

    def reset(self) -> None:
        for hold in getattr(self, "holds", []):
            hold.release.set()  # an earlier test's held request answers and ends
        super().reset()
        self.holds: list[Hold] = []
        self.requests: list[Recorded] = []
        self.subscriptions: dict[str, dict[str, Any]] = {}
        self.transactions: dict[str, dict[str, Any]] = {}

    # --- test set-up --------------------------------------------------------------------------

    def add_subscription(
        self, sub_id: str, customer_id: str, price_id: str = "pri_01gsz8x8sawmvhz1pv30nge1ke"
    ) -> dict[str, Any]:
        data = subscription_entity(sub_id, customer_id, price_id)
        self.subscriptions[sub_id] = data
        return data

    def add_transaction(self, txn_id: str, customer_id: str, sub_id: str) -> dict[str, Any]:
        data = transaction_entity(txn_id, customer_id, sub_id)
        self.transactions[txn_id] = data
        return data

    def hold(self, suffix: str) -> Hold:
        """Hold the next requests to paths ending with `suffix` until `release` is set (the
        fake's own loop keeps serving other requests meanwhile)."""
        held = Hold(suffix)
        self.holds.append(held)
        return held

    def calls(self, method: str, suffix: str = "") -> list[Recorded]:
        return [r for r in self.requests if r.method == method and r.path.endswith(suffix)]

    # --- plumbing -----------------------------------------------------------------------------

    async def _front(self, request: Request, call_next: Any) -> Response:
        raw = await request.body()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode(errors="replace")
        record = Recorded(
            request.method,
            request.url.path,
            dict(request.query_params),
            {k.lower(): v for k, v in request.headers.items()},
            body,
        )
        self.requests.append(record)
        for held in [h for h in self.holds if request.url.path.endswith(h.suffix)]:
            held.arrived.set()
            await asyncio.to_thread(held.release.wait)  # the fake's loop serves on meanwhile
        response = await self._refusal(request)
        if response is None:
            response = await call_next(request)
        record.status = response.status_code
        return response

    async def _refusal(self, request: Request) -> Response | None:
        planned = await self.take_plan(request)
        if planned is not None and not planned.answers_normally:
            default = {
                "error": {"type": "api_error", "code": "planned", "detail": "Planned failure."},
                "meta": {"request_id": str(uuid.uuid4())},
            }
            return self.render(planned, default)
        scheme, _, key = request.headers.get("authorization", "").partition(" ")
        if scheme != "Bearer" or not key:
            entry = api_error("authentication_missing")
            return JSONResponse(entry["body"], status_code=entry["status"])
        if key != VALID_KEY:
            entry = api_error("invalid_token")
            return JSONResponse(entry["body"], status_code=entry["status"])
        if request.headers.get("paddle-version") != "1":
            return _paddle_error(400, "bad_request", "Paddle-Version must be 1.")
        return None

    async def _json(self, request: Request) -> Any:
        raw = await request.body()
        return json.loads(raw) if raw else None

    def _sub(self, request: Request) -> dict[str, Any] | None:
        return self.subscriptions.get(request.path_params["sub_id"])

    @staticmethod
    def _not_found() -> Response:
        entry = api_error("not_found")
        return JSONResponse(entry["body"], status_code=entry["status"])

    # --- subscriptions ------------------------------------------------------------------------

    async def _get_subscription(self, request: Request) -> Response:
        sub = self._sub(request)
        return self._not_found() if sub is None else _data(sub)

    async def _cancel(self, request: Request) -> Response:
        sub, body = self._sub(request), await self._json(request) or {}
        if sub is None:
            return self._not_found()
        effective = body.get("effective_from", "next_billing_period")
        if effective not in EFFECTIVE_FROM:
            return _paddle_error(
                400,
                "bad_request",
                "Invalid request",
                errors=[{"field": "effective_from", "message": "must be a valid value"}],
            )
        if sub["status"] == "canceled":
            return _paddle_error(
                400, "subscription_is_canceled_action_invalid", "subscription is canceled"
            )
        if effective == "immediately":
            sub.update(status="canceled", canceled_at=_now(), scheduled_change=None)
            sub.update(next_billed_at=None, current_billing_period=None)
        else:
            ends = sub["current_billing_period"]["ends_at"]
            sub["scheduled_change"] = {"action": "cancel", "effective_at": ends, "resume_at": None}
        return _data(sub)

    async def _pause(self, request: Request) -> Response:
        sub, body = self._sub(request), await self._json(request) or {}
        if sub is None:
            return self._not_found()
        if sub["status"] == "paused":
            return _paddle_error(400, "subscription_is_paused", "subscription is already paused")
        if body.get("effective_from", "next_billing_period") == "immediately":
            sub.update(status="paused", paused_at=_now(), scheduled_change=None)
        else:
            ends = sub["current_billing_period"]["ends_at"]
            sub["scheduled_change"] = {
                "action": "pause",
                "effective_at": ends,
                "resume_at": body.get("resume_at"),
            }
        return _data(sub)

    async def _resume(self, request: Request) -> Response:
        sub = self._sub(request)
        if sub is None:
            return self._not_found()
        if sub["status"] != "paused":
            return _paddle_error(
                400, "subscription_must_be_paused", "subscription must be paused to resume"
            )
        sub.update(status="active", paused_at=None, scheduled_change=None)
        return _data(sub)

    async def _patch_subscription(self, request: Request) -> Response:
        sub, body = self._sub(request), await self._json(request) or {}
        if sub is None:
            return self._not_found()
        if "scheduled_change" in body:
            if body["scheduled_change"] is not None:
                return _paddle_error(400, "bad_request", "scheduled_change accepts only null")
            sub["scheduled_change"] = None
        if "items" in body:
            mode = body.get("proration_billing_mode")
            if mode is None:
                entry = api_error("subscription_items_update_missing_proration_billing_mode")
                return JSONResponse(entry["body"], status_code=entry["status"])
            if mode not in PRORATION_MODES:
                return _paddle_error(400, "bad_request", "Invalid proration_billing_mode")
            if sub["scheduled_change"] is not None:
                entry = api_error("subscription_locked_pending_changes")
                return JSONResponse(entry["body"], status_code=entry["status"])
            template = sub["items"][0]
            items = []
            for wanted in body["items"]:
                item = copy.deepcopy(template)
                item["price"]["id"] = wanted["price_id"]
                item["quantity"] = wanted.get("quantity", 1)
                items.append(item)
            sub["items"] = items
        sub["updated_at"] = _now()
        return _data(sub)

    async def _payment_method(self, request: Request) -> Response:
        sub = self._sub(request)
        if sub is None:
            return self._not_found()
        data = fixture("api_update_payment_method_transaction.json")["response"]["data"]
        data["subscription_id"], data["customer_id"] = sub["id"], sub["customer_id"]
        return _data(data)

    # --- customers and transactions -----------------------------------------------------------

    async def _portal(self, request: Request) -> Response:
        customer_id = request.path_params["ctm_id"]
        body = await self._json(request) or {}
        document = fixture("api_customer_portal_session_create.json")["response"]
        data = document["data"]
        data["customer_id"] = customer_id
        template = data["urls"]["subscriptions"][0]
        data["urls"]["subscriptions"] = [
            {
                key: value.replace(template["id"], sub_id) if isinstance(value, str) else value
                for key, value in template.items()
            }
            for sub_id in body.get("subscription_ids", [])
        ]
        return _data(data, status=201)

    async def _transactions(self, request: Request) -> Response:
        customers = set(filter(None, request.query_params.get("customer_id", "").split(",")))
        statuses = set(filter(None, request.query_params.get("status", "").split(",")))
        found = [
            t
            for t in self.transactions.values()
            if (not customers or t["customer_id"] in customers)
            and (not statuses or t["status"] in statuses)
        ]
        found.sort(key=lambda t: t["id"], reverse=True)
        total = len(found)
        after = request.query_params.get("after")
        if after is not None:  # the entities after the cursor in this order (ids DESC)
            found = [t for t in found if t["id"] < after]
        asked = int(request.query_params.get("per_page") or TRANSACTIONS_DEFAULT_PAGE)
        per_page = min(asked, TRANSACTIONS_MAX_PAGE)
        page, has_more = found[:per_page], len(found) > per_page
        next_url = None
        if page:  # Paddle's `next`: the original query with `after` = the page's last id
            query = {k: v for k, v in request.query_params.items() if k != "after"}
            next_url = str(request.url.replace_query_params(**query, after=page[-1]["id"]))
        pagination = {"per_page": per_page, "next": next_url, "has_more": has_more}
        return _data(page, pagination={**pagination, "estimated_total": total})

    async def _transaction(self, request: Request) -> Response:
        txn = self.transactions.get(request.path_params["txn_id"])
        return self._not_found() if txn is None else _data(txn)

    async def _invoice(self, request: Request) -> Response:
        txn = self.transactions.get(request.path_params["txn_id"])
        if txn is None:
            return self._not_found()
        url = f"https://paddle-sandbox-invoice-service-pdfs.s3.amazonaws.com/{txn['id']}.pdf"
        return _data({"url": url})
