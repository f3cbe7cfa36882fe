"""Dashboard pages of prediction markets: a searchable list and one market's page.

Everything comes from the prediction-markets API (`/predictions/markets...`), asked as the
signed-in user: the list and a market's outcomes are free, its price history and news are
paid (the API answers 401/403, and the page shows the sign-in or upgrade prompt in their
place instead of failing the whole page). Interval changes redraw only the price panel when
htmx is present (`HX-Request`), and are plain links and a GET form without it. Markets from a
shipped recording (offline) say so on the list and on their page, with the recording's date.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import Response

from edgelab.core.error_codes import PAID_SUBSCRIPTION_REQUIRED
from edgelab.web.api import ApiAnswer, call_api
from edgelab.web.pages import error_page, render
from edgelab.web.session import WebRoute, WebUserDep

router = APIRouter(route_class=WebRoute)

PAGE_SIZE = 25
SORTS = {
    "volume_24h": "24h volume",
    "volume": "Total volume",
    "liquidity": "Liquidity",
    "end_date": "End date",
    "price_change_24h": "24h price change",
}
INTERVALS = {"1d": "1 day", "1w": "1 week", "1m": "1 month", "max": "All"}
DEFAULT_INTERVAL = "1w"
RECORDED_INTERVAL = "max"
NEWS_OFF_MARKER = "EDGELAB_NEWSAPI_KEY"  # the API's note when no NewsAPI key is set


def _int(value: str | None, default: int) -> int:
    """A paging number from the query string; junk falls back (the API validates the rest)."""
    try:
        return max(0, int(value)) if value not in (None, "") else default
    except ValueError:
        return default


@router.get("/markets")
async def markets_page(
    request: Request,
    user: WebUserDep,
    q: str | None = None,
    sort: str | None = None,
    order: str | None = None,
    offset: str | None = None,
) -> Response:
    """`GET /predictions/markets` with the search box's words; a 422 (say, a query over 200
    characters) is shown next to the field. An htmx request gets only the results."""
    params = {
        "q": (q or "").strip() or None,
        "sort": sort or None,
        "order": order or None,
        "limit": PAGE_SIZE,
        "offset": _int(offset, 0),
    }
    answer = await call_api(request, "GET", "/predictions/markets", params=params)
    errors: dict[str, str] = {}
    listing: dict[str, Any] = {"items": [], "total": 0, "notes": [], "offset": 0}
    status = 200
    if answer.status == 422:
        errors = answer.field_errors() or {"q": answer.message}
        status = 422
    elif not answer.ok:
        return error_page(request, answer, title="Prediction markets")
    else:
        listing = answer.data
    context = {
        "q": q or "",
        "sort": sort or "volume_24h",
        "order": order or "desc",
        "sorts": SORTS,
        "errors": errors,
        "listing": listing,
        "page_size": PAGE_SIZE,
    }
    template = "predictions/_results.html" if _htmx_target(request, "market-results") else None
    return render(request, template or "predictions/markets.html", context, status_code=status)


def _htmx_target(request: Request, target: str) -> bool:
    return (
        request.headers.get("hx-request") == "true" and request.headers.get("hx-target") == target
    )


def _refusal(answer: ApiAnswer) -> dict[str, Any]:
    """A paid-only part of the page the API refused: what to show in its place."""
    return {
        "status": answer.status,
        "code": answer.code,
        "message": answer.message,
        "sign_in": answer.status == 401,
        "upgrade": answer.code == PAID_SUBSCRIPTION_REQUIRED.code,
        "retry_after": answer.headers.get("retry-after"),
    }


async def _price_panel(
    request: Request, market: dict[str, Any], interval: str, outcome: str | None
) -> dict[str, Any]:
    """The history route's answer as a chart series (its data is already in Lightweight
    Charts' format: unique ascending UNIX seconds), or the refusal to show instead."""
    answer = await call_api(
        request,
        "GET",
        f"/predictions/markets/{market['id']}/history",
        params={"interval": interval, "outcome": outcome},
    )
    panel: dict[str, Any] = {
        "market": market,
        "interval": interval,
        "intervals": INTERVALS,
        "outcome": outcome,
        "history": None,
        "refusal": None,
        "series": [],
    }
    if answer.ok:
        history = answer.data
        panel["history"] = history
        panel["outcome"] = history["outcome"]
        panel["series"] = [{"type": "area", "name": history["outcome"], "data": history["data"]}]
    else:
        panel["refusal"] = _refusal(answer)
    return panel


@router.get("/markets/{market_id}")
async def market_page(
    request: Request,
    user: WebUserDep,
    market_id: str,
    interval: str | None = None,
    outcome: str | None = None,
) -> Response:
    """One market: outcomes and prices (free), the price chart and news (paid). Asked by
    htmx for the price panel alone (interval or outcome change), only that is rendered."""
    found = await call_api(request, "GET", f"/predictions/markets/{quote(market_id, safe='')}")
    if not found.ok:
        return error_page(request, found, title="Prediction market")
    market = found.data
    # a recorded market's chart opens on its whole recording (its prices end when it was made)
    default = RECORDED_INTERVAL if market.get("recorded") else DEFAULT_INTERVAL
    chosen = interval if interval in INTERVALS else default
    panel = await _price_panel(request, market, chosen, outcome or None)
    if _htmx_target(request, "price-panel"):
        return render(request, "predictions/_price_panel.html", panel)
    news_answer = await call_api(
        request, "GET", f"/predictions/markets/{quote(str(market['id']), safe='')}/news"
    )
    news: dict[str, Any] = {"data": None, "refusal": None, "off": False}
    if news_answer.ok:
        news["data"] = news_answer.data
        news["off"] = any(NEWS_OFF_MARKER in note for note in news_answer.data.get("notes", []))
    else:
        news["refusal"] = _refusal(news_answer)
    return render(request, "predictions/market.html", {**panel, "news": news})
