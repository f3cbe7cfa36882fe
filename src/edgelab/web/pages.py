"""Rendering for the dashboard: Jinja2 templates, shared filters, and API errors as pages.

A page never invents an error: when the API refuses (401, 403 paid or restricted, 404, 429),
the page shows the envelope's message with the same status code, the request id, and what the
user can do about it (sign in, upgrade, wait `Retry-After` seconds).
"""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from edgelab.core import clock
from edgelab.core.error_codes import PAID_SUBSCRIPTION_REQUIRED
from edgelab.core.resources import resources_of
from edgelab.core.settings import Settings
from edgelab.web.api import ApiAnswer
from edgelab.web.session import WebUser, finish_response

HERE = Path(__file__).resolve().parent
templates = Jinja2Templates(directory=HERE / "templates")

VENDOR_FILES = {
    "lightweight-charts.js": "lightweight-charts/dist/lightweight-charts.standalone.production.js",
    "htmx.min.js": "htmx.org/dist/htmx.min.js",
    # an ES module: `initializePaddle` injects https://cdn.paddle.com/paddle/v2/paddle.js
    "paddle-js.mjs": "@paddle/paddle-js/dist/index.esm.js",
}


def vendor_file(settings: Settings, name: str) -> Path | None:
    """The installed npm file behind /app/vendor/<name>, or None before `make assets`."""
    relative = VENDOR_FILES.get(name)
    if relative is None:
        return None
    path = Path(settings.web_assets_dir) / relative
    return path if path.is_file() else None


def _pct(value: Any, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{100 * float(value):.{digits}f}%"


def _num(value: Any, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{float(value):,.{digits}f}"


def _signed(value: Any, digits: int = 2) -> str:
    if value is None:
        return "–"
    return f"{float(value):+.{digits}f}"


def _when(value: Any) -> str:
    """An ISO time as 'YYYY-MM-DD HH:MM UTC' (the API's times are UTC)."""
    if not value:
        return "–"
    try:
        moment = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return str(value)
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.UTC)
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def _web_url(value: Any) -> str:
    """An outside link as an href only when it is http(s): a `javascript:` URL in a news item
    or a PGN header would otherwise run on click (autoescaping does not stop it)."""
    text = str(value or "").strip()
    return text if text.lower().startswith(("https://", "http://")) else ""


templates.env.filters.update(pct=_pct, num=_num, signed=_signed, when=_when, web_url=_web_url)


def base_context(request: Request, user: WebUser | None) -> dict[str, Any]:
    resources = resources_of(request)
    settings = resources.settings
    followed = resources.followed_clock
    return {
        "request": request,
        "user": user,
        # a replay drives the app: the simulated now, on every page
        "simulated_now": clock.utcnow() if followed is not None else None,
        "simulated_speed": followed.speed if followed is not None else None,
        "charts_available": vendor_file(settings, "lightweight-charts.js") is not None,
        "htmx_available": vendor_file(settings, "htmx.min.js") is not None,
        "refresh_seconds": settings.web_refresh_seconds,
        "is_htmx": request.headers.get("hx-request") == "true",
    }


def form_number(text: str) -> int | float | str:
    """A number typed in a form, as the JSON number the API's strict schemas take; text that
    is not one is passed on as typed, so the API's 422 names the field."""
    value = text.strip()
    try:
        return int(value)
    except ValueError:
        pass
    try:
        number = float(value)
    except ValueError:
        return value
    return number if math.isfinite(number) else value


def render(
    request: Request,
    template: str,
    context: dict[str, Any],
    *,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    """Render a page (or an htmx partial) with the base context; stores session changes."""
    user = getattr(request.state, "web_user", None)
    full = {**base_context(request, user), **context}
    response = templates.TemplateResponse(
        request, template, full, status_code=status_code, headers=headers
    )
    finish_response(request, response)
    return response


ERROR_HINTS = {
    401: "Sign in to see this page.",
    402: "This needs a paid subscription.",
    429: "Too many requests: wait a moment and try again.",
    503: "A service this page needs is not available right now.",
}


def error_page(
    request: Request, answer: ApiAnswer, *, title: str = "Not available"
) -> HTMLResponse:
    """The API's refusal as a page, with its status code (and Retry-After on a 429)."""
    headers = {}
    retry = answer.headers.get("retry-after")
    if answer.status == 429 and retry:
        headers["Retry-After"] = retry
    code = answer.code or f"http_{answer.status}"
    return render(
        request,
        "error.html",
        {
            "title": title,
            "status": answer.status,
            "code": code,
            "message": answer.message,
            "hint": ERROR_HINTS.get(answer.status),
            "upgrade": code == PAID_SUBSCRIPTION_REQUIRED.code,
            "sign_in": answer.status == 401,
            "retry_after": retry,
            "details": answer.error.get("details"),
            "request_id": answer.headers.get("x-request-id"),
        },
        status_code=answer.status if answer.status >= 400 else 502,
        headers=headers,
    )
