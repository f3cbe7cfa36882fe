"""Client of Paddle Billing's API for subscription self-service (server side, with the API key).

- **Hosts and key.** `EDGELAB_PADDLE_API_URL`, else the environment's host (sandbox
  `https://sandbox-api.paddle.com`, production `https://api.paddle.com`): a key only works on
  its own host. The key travels only in `Authorization: Bearer ...`, with `Paddle-Version: 1`
  and a fresh `X-Transaction-ID` per call (as Paddle's SDK sends); it is never logged and is
  masked should Paddle echo it.
- **Retries** (`edgelab.core.http`): timeouts, connection errors, 429 (honouring
  `Retry-After`) and 5xx, as Paddle's SDK does. Every call here is safe to repeat: each sets
  a target state (cancel at the period's end, these items, no scheduled change) or reads.
- **Errors.** Paddle answers `{"error": {type, code, detail, documentation_url, errors?},
  "meta": {request_id}}`. A bad, missing or other-environment key is 403 (never 401):
  `paddle_auth_failed` (502, our configuration). 404 is `paddle_not_found`. A refusal in the
  subscription's state (409, or a 400/422 whose code starts `subscription_`/`transaction_`,
  e.g. `subscription_locked_pending_changes`) is `paddle_refused` (409); any other 400/422 is
  `paddle_bad_request` (502, what we sent is at fault); 429 `paddle_rate_limited` and 5xx or no
  answer `paddle_unavailable` (503). Paddle's code, detail, field errors and request id go in
  `details`.

Over 400 lines on purpose: the client, the shapes it reads from Paddle's answers and the
mapping of Paddle's errors are one contract, read and changed together.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import uuid
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

import httpx
from pydantic import SecretStr

from edgelab.accounts import errors
from edgelab.accounts.billing.paddle import minor_units
from edgelab.core.errors import ConflictError, NotFoundError, UpstreamError
from edgelab.core.http import make_http_client, retry_after_header
from edgelab.core.http.upstream import Refusal, Unreachable, Upstream, service_error
from edgelab.core.settings import Settings

log = logging.getLogger("edgelab.billing")

SERVICE = "Paddle"
HOSTS = {"sandbox": "https://sandbox-api.paddle.com", "production": "https://api.paddle.com"}
RATE_LIMIT_RETRY_AFTER = 60  # seconds, when a 429 carries no Retry-After
UNAVAILABLE_RETRY_AFTER = 30
_ID = re.compile(r"(sub|ctm|txn)_[a-z0-9]{1,64}")
_STATE_PREFIXES = ("subscription_", "transaction_")
# transactions a customer was billed for (drafts and `ready` ones, such as a payment-method
# update's, are not receipts)
BILLED_STATUSES = ("billed", "paid", "completed", "past_due")
# Paddle's list pages: `per_page` up to 30 for transactions (it answers fewer, never an error,
# when asked for more), the next page by the `after` cursor (the last entity's id)
TRANSACTIONS_PER_PAGE = 30

EffectiveFrom = Literal["next_billing_period", "immediately"]
ProrationBillingMode = Literal[
    "prorated_immediately",
    "prorated_next_billing_period",
    "full_immediately",
    "full_next_billing_period",
    "do_not_bill",
]


def api_base_url(settings: Settings) -> str:
    return (settings.paddle_api_url or HOSTS[settings.paddle_environment]).rstrip("/")


def _path_id(value: str, prefix: str) -> str:
    """A Paddle id safe to put in a path (ids come from our rows or a validated route)."""
    if not _ID.fullmatch(value) or not value.startswith(f"{prefix}_"):
        raise ValueError(f"not a Paddle {prefix}_ id: {value!r}")
    return value


def _time(value: object) -> dt.datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.astimezone(dt.UTC) if parsed.tzinfo else None


def rfc3339(moment: dt.datetime) -> str:
    """As Paddle's SDK writes times: `2023-10-09T16:30:00.000000Z`."""
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


# ---------------------------------------------------------------- what we read from answers


@dataclass(frozen=True)
class PaddleSubscription:
    id: str
    status: str
    customer_id: str | None
    price_ids: tuple[str, ...]
    scheduled_change: dict[str, Any] | None  # {action, effective_at, resume_at}
    next_billed_at: dt.datetime | None
    current_period_ends_at: dt.datetime | None

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> PaddleSubscription:
        found = data.get("items")
        items: list[Any] = found if isinstance(found, list) else []
        prices = [(item.get("price") or {}).get("id") for item in items if isinstance(item, dict)]
        scheduled = data.get("scheduled_change")
        period = data.get("current_billing_period") or {}
        return cls(
            id=str(data.get("id")),
            status=str(data.get("status")),
            customer_id=_str(data.get("customer_id")),
            price_ids=tuple(p for p in prices if isinstance(p, str)),
            scheduled_change=scheduled if isinstance(scheduled, dict) else None,
            next_billed_at=_time(data.get("next_billed_at")),
            current_period_ends_at=_time(period.get("ends_at"))
            if isinstance(period, dict)
            else None,
        )


@dataclass(frozen=True)
class PaymentMethodUpdate:
    transaction_id: str
    checkout_url: str | None  # the default payment link + `?_ptxn=txn_...`


@dataclass(frozen=True)
class PortalSession:
    id: str
    overview_url: str
    cancel_url: str | None
    update_payment_method_url: str | None


@dataclass(frozen=True)
class TransactionPage:
    transactions: list[PaddleTransaction]
    next_after: str | None  # the cursor of the next (older) page; None on the last one


def next_cursor(meta: object) -> str | None:
    """The `after` of `meta.pagination.next` (a URL holding the original query and the cursor)
    when `has_more`; None on the last page or when Paddle sends no usable cursor."""
    pagination = meta.get("pagination") if isinstance(meta, dict) else None
    if not isinstance(pagination, dict) or pagination.get("has_more") is not True:
        return None
    link = pagination.get("next")
    if not isinstance(link, str):
        return None
    found = parse_qs(urlsplit(link).query).get("after") or []
    after = found[0] if found else None
    return after if after is not None and _ID.fullmatch(after) else None


@dataclass(frozen=True)
class PaddleTransaction:
    id: str
    status: str
    origin: str | None
    subscription_id: str | None
    customer_id: str | None
    invoice_number: str | None
    currency_code: str | None
    total_minor: int | None  # grand total, minor units
    tax_minor: int | None
    billed_at: dt.datetime | None
    created_at: dt.datetime | None

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> PaddleTransaction:
        totals = (data.get("details") or {}).get("totals") or {}
        return cls(
            id=str(data.get("id")),
            status=str(data.get("status")),
            origin=_str(data.get("origin")),
            subscription_id=_str(data.get("subscription_id")),
            customer_id=_str(data.get("customer_id")),
            invoice_number=_str(data.get("invoice_number")),
            currency_code=_str(totals.get("currency_code")) or _str(data.get("currency_code")),
            total_minor=minor_units(totals.get("grand_total") or totals.get("total")),
            tax_minor=minor_units(totals.get("tax")),
            billed_at=_time(data.get("billed_at")),
            created_at=_time(data.get("created_at")),
        )


# ---------------------------------------------------------------- answer mapping


def _details(refusal: Refusal) -> dict[str, Any]:
    details: dict[str, Any] = {
        "service": SERVICE,
        "upstream_status": refusal.status,
        "paddle_code": refusal.text("error", "code"),
        "paddle_detail": refusal.redact(refusal.text("error", "detail") or "") or None,
        "request_id": refusal.text("meta", "request_id"),
    }
    field_errors = refusal.field("error", "errors")
    if isinstance(field_errors, list):
        details["errors"] = [
            {
                "field": str(e.get("field")),
                "message": refusal.redact(str(e.get("message"))),
            }
            for e in field_errors[:20]
            if isinstance(e, dict)
        ]
    return details


def _refused(refusal: Refusal) -> Exception:
    status, details = refusal.status, _details(refusal)
    paddle_code: str = details["paddle_code"] or ""
    said = (
        f"{paddle_code}: {details['paddle_detail']}"
        if paddle_code
        else refusal.said("error", "detail")
    )
    if status in (401, 403):
        return service_error(
            errors.PADDLE_AUTH_FAILED,
            f"Paddle refused the API key (HTTP {status} {said}); check EDGELAB_PADDLE_API_KEY "
            "and that it belongs to EDGELAB_PADDLE_ENVIRONMENT's host.",
            details=details,
        )
    if status == 404:
        return NotFoundError(
            f"Paddle has no such entity ({said}).", code=errors.PADDLE_NOT_FOUND, details=details
        )
    if status == 429:
        retry_after = retry_after_header(refusal.response, RATE_LIMIT_RETRY_AFTER)
        return service_error(
            errors.PADDLE_RATE_LIMITED,
            "Paddle is rate limiting our requests; retry later.",
            details=details,
            retry_after=retry_after,
        )
    if status >= 500:
        return service_error(
            errors.PADDLE_UNAVAILABLE,
            f"Paddle is unavailable (HTTP {status} after retries).",
            details=details,
            retry_after=UNAVAILABLE_RETRY_AFTER,
        )
    if status == 409 or (status in (400, 422) and paddle_code.startswith(_STATE_PREFIXES)):
        return ConflictError(
            f"Paddle refused the change: {said}.", code=errors.PADDLE_REFUSED, details=details
        )
    if 400 <= status < 500:
        return service_error(
            errors.PADDLE_BAD_REQUEST, f"Paddle rejected our request ({said}).", details=details
        )
    return service_error(
        errors.PADDLE_BAD_RESPONSE, f"Paddle answered HTTP {status}.", details=details
    )


def _unreachable(failure: Unreachable) -> UpstreamError:
    details = {"service": SERVICE, "error": "timeout" if failure.timed_out else failure.kind}
    return service_error(
        errors.PADDLE_UNAVAILABLE,
        failure.message,
        details=details,
        retry_after=UNAVAILABLE_RETRY_AFTER,
    )


def _bad_response(response: httpx.Response, reason: str) -> UpstreamError:
    return service_error(
        errors.PADDLE_BAD_RESPONSE,
        f"Paddle answered HTTP {response.status_code} with {reason}.",
        details={"service": SERVICE, "upstream_status": response.status_code},
    )


# ---------------------------------------------------------------- the client


class PaddleApi:
    """One per app (the accounts product opens it at start-up when a key is set)."""

    def __init__(
        self,
        settings: Settings,
        *,
        api_key: str,
        base_url: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        retry_initial_wait: float = 0.5,
    ) -> None:
        if not api_key.strip():
            raise ValueError("A Paddle API key is required.")
        self._key = SecretStr(api_key.strip())
        self.base_url = (base_url or api_base_url(settings)).rstrip("/")
        self._http = make_http_client(
            settings,
            base_url=self.base_url,
            headers={"Accept": "application/json", "Paddle-Version": "1"},
            transport=transport,
        )
        self._upstream = Upstream(
            SERVICE,
            settings,
            refused=_refused,
            unreachable=_unreachable,
            not_json=lambda response: _bad_response(response, "a body that is not JSON"),
            initial_wait=retry_initial_wait,
            secrets=[self._key.get_secret_value()],
        )

    def __repr__(self) -> str:
        return f"PaddleApi(base_url={self.base_url!r})"

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _call(
        self,
        method: str,
        path: str,
        *,
        body: dict[str, Any] | None = None,
        params: dict[str, str] | None = None,
    ) -> Any:
        """The `data` of a 2xx answer (an object or a list); any failure its mapped error."""
        data, _ = await self._call_with_meta(method, path, body=body, params=params)
        return data

    async def _call_with_meta(
        self,
        method: str,
        path: str,
        *,
        body: dict[str, Any] | None = None,
        params: dict[str, str] | None = None,
    ) -> tuple[Any, Any]:
        """`data` and `meta` (lists carry `meta.pagination`) of a 2xx answer."""
        headers = {
            "Authorization": f"Bearer {self._key.get_secret_value()}",
            "X-Transaction-ID": str(uuid.uuid4()),  # one per call, the same on its retries
        }
        if body is not None:
            headers["Content-Type"] = "application/json"

        async def attempt() -> httpx.Response:
            return await self._http.request(method, path, json=body, params=params, headers=headers)

        response = await self._upstream.request(attempt)
        log.info("paddle: %s %s -> HTTP %d", method, path, response.status_code)
        document = self._upstream.json(response)
        data = document.get("data") if isinstance(document, dict) else None
        if not isinstance(data, dict | list):
            raise _bad_response(response, "no `data`")
        return data, document.get("meta")

    async def _subscription(self, method: str, path: str, body: Any = None) -> PaddleSubscription:
        data = await self._call(method, path, body=body)
        if not isinstance(data, dict) or not isinstance(data.get("id"), str):
            raise service_error(
                errors.PADDLE_BAD_RESPONSE,
                "Paddle's answer holds no subscription.",
                details={"service": SERVICE},
            )
        return PaddleSubscription.from_data(data)

    # --- subscriptions --------------------------------------------------------------------

    async def get_subscription(self, subscription_id: str) -> PaddleSubscription:
        sub = _path_id(subscription_id, "sub")
        return await self._subscription("GET", f"/subscriptions/{sub}")

    async def cancel(
        self, subscription_id: str, effective_from: EffectiveFrom
    ) -> PaddleSubscription:
        """`next_billing_period` schedules `{action: cancel}` and keeps it active until then."""
        sub = _path_id(subscription_id, "sub")
        body = {"effective_from": effective_from}
        return await self._subscription("POST", f"/subscriptions/{sub}/cancel", body)

    async def pause(
        self,
        subscription_id: str,
        effective_from: EffectiveFrom,
        *,
        resume_at: dt.datetime | None = None,
    ) -> PaddleSubscription:
        sub = _path_id(subscription_id, "sub")
        body: dict[str, Any] = {"effective_from": effective_from}
        if resume_at is not None:
            body["resume_at"] = rfc3339(resume_at)
        return await self._subscription("POST", f"/subscriptions/{sub}/pause", body)

    async def resume(self, subscription_id: str) -> PaddleSubscription:
        """Resume a paused subscription now (Paddle: 400 `subscription_must_be_paused` else)."""
        sub = _path_id(subscription_id, "sub")
        body = {"effective_from": "immediately"}
        return await self._subscription("POST", f"/subscriptions/{sub}/resume", body)

    async def remove_scheduled_change(self, subscription_id: str) -> PaddleSubscription:
        """Drop a pending cancel or pause (`scheduled_change` accepts only null)."""
        sub = _path_id(subscription_id, "sub")
        return await self._subscription(
            "PATCH", f"/subscriptions/{sub}", {"scheduled_change": None}
        )

    async def change_price(
        self, subscription_id: str, price_id: str, proration: ProrationBillingMode
    ) -> PaddleSubscription:
        """Replace the items with this one price (`items` is the complete new list)."""
        sub = _path_id(subscription_id, "sub")
        body = {
            "items": [{"price_id": price_id, "quantity": 1}],
            "proration_billing_mode": proration,
        }
        return await self._subscription("PATCH", f"/subscriptions/{sub}", body)

    async def payment_method_transaction(self, subscription_id: str) -> PaymentMethodUpdate:
        sub = _path_id(subscription_id, "sub")
        data = await self._call("GET", f"/subscriptions/{sub}/update-payment-method-transaction")
        txn = data.get("id") if isinstance(data, dict) else None
        if not isinstance(txn, str):
            raise service_error(
                errors.PADDLE_BAD_RESPONSE,
                "Paddle's answer holds no transaction.",
                details={"service": SERVICE},
            )
        checkout = data.get("checkout") or {}
        url = checkout.get("url") if isinstance(checkout, dict) else None
        return PaymentMethodUpdate(txn, _str(url))

    # --- customers and transactions -------------------------------------------------------

    async def portal_session(self, customer_id: str, subscription_ids: list[str]) -> PortalSession:
        """A customer-portal session (201); its links carry a temporary login token."""
        ctm = _path_id(customer_id, "ctm")
        subs = [_path_id(s, "sub") for s in subscription_ids]
        data = await self._call(
            "POST", f"/customers/{ctm}/portal-sessions", body={"subscription_ids": subs}
        )
        urls = data.get("urls") if isinstance(data, dict) else None
        overview = ((urls or {}).get("general") or {}).get("overview")
        if not isinstance(overview, str):
            raise service_error(
                errors.PADDLE_BAD_RESPONSE,
                "Paddle's portal session holds no overview link.",
                details={"service": SERVICE},
            )
        per_sub = [s for s in (urls or {}).get("subscriptions") or [] if isinstance(s, dict)]
        first = per_sub[0] if per_sub else {}
        return PortalSession(
            id=str(data.get("id")),
            overview_url=overview,
            cancel_url=_str(first.get("cancel_subscription")),
            update_payment_method_url=_str(first.get("update_subscription_payment_method")),
        )

    async def transactions(
        self,
        *,
        customer_ids: list[str],
        after: str | None = None,
        per_page: int = TRANSACTIONS_PER_PAGE,
    ) -> TransactionPage:
        """One page of the customers' billed transactions, newest first, from `after` (a
        cursor from a previous page's `next_after`; None: the newest)."""
        params = {
            "customer_id": ",".join(_path_id(c, "ctm") for c in customer_ids),
            "status": ",".join(BILLED_STATUSES),
            "order_by": "id[DESC]",  # Paddle ids sort by creation time
            "per_page": str(max(1, min(per_page, TRANSACTIONS_PER_PAGE))),
        }
        if after is not None:
            params["after"] = _path_id(after, "txn")
        data, meta = await self._call_with_meta("GET", "/transactions", params=params)
        if not isinstance(data, list):
            raise service_error(
                errors.PADDLE_BAD_RESPONSE,
                "Paddle's transaction list is not a list.",
                details={"service": SERVICE},
            )
        found = [PaddleTransaction.from_data(t) for t in data if isinstance(t, dict)]
        return TransactionPage(found, next_cursor(meta) if found else None)

    async def get_transaction(self, transaction_id: str) -> PaddleTransaction:
        txn = _path_id(transaction_id, "txn")
        data = await self._call("GET", f"/transactions/{txn}")
        if not isinstance(data, dict):
            raise service_error(
                errors.PADDLE_BAD_RESPONSE,
                "Paddle's answer holds no transaction.",
                details={"service": SERVICE},
            )
        return PaddleTransaction.from_data(data)

    async def invoice_url(self, transaction_id: str) -> str:
        """A temporary link to the transaction's invoice PDF (shown inline)."""
        txn = _path_id(transaction_id, "txn")
        data = await self._call(
            "GET", f"/transactions/{txn}/invoice", params={"disposition": "inline"}
        )
        url = data.get("url") if isinstance(data, dict) else None
        if not isinstance(url, str) or not url:
            raise service_error(
                errors.PADDLE_BAD_RESPONSE,
                "Paddle's answer holds no invoice link.",
                details={"service": SERVICE},
            )
        return url
