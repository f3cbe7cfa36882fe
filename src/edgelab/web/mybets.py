"""Dashboard pages of the bet tracker: My bets, My performance, and the Track control.

Everything goes through the tracker's API as the signed-in user: `GET /me/bets` (the list),
`POST /me/bets` (Track, from a value-bet row or the bet page: market, price, line and book come
from the row's best price, the stake is typed), `DELETE /me/bets/{id}`, `GET /me/performance`
and `GET /me/bets.csv` (the export, handed on as the download). Bet tracking is for every tier;
anonymous visitors meet the API's 401 as the sign-in prompt. During a Sentinel time-out
(`restricted_until` of `GET /me`) the pages say until when, the Track controls are disabled with
that reason, and a Track sent anyway meets the API's own 403 `account_restricted`.

A Track sent by htmx answers a fragment that replaces its form, with the API's status (the
dashboard's script lets htmx swap a refusal, so the message shows where the form was); sent
without JavaScript it answers a redirect to My bets, or the refusal as a page.
"""

from __future__ import annotations

import datetime as dt
import decimal
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from edgelab.web.api import ApiAnswer, call_api
from edgelab.web.pages import error_page, form_number, render
from edgelab.web.session import SameOrigin, WebRoute, WebUserDep

router = APIRouter(route_class=WebRoute)

PAGE_SIZE = 100  # bets per page of My bets
TRACK_FIELDS = ("stake_minor", "odds_decimal", "bookmaker", "line", "currency", "market_id")


def stake_minor(text: str) -> int | str:
    """A stake typed in major units ("25", "25.5", "1,000.25") as minor units (cents),
    rounded half up to the cent; text that is no number, or too big a number for the cents to
    be counted exactly ("1e30"), is passed on as typed, so the API's 422 names the field."""
    cleaned = text.strip().replace(",", "")
    try:
        value = decimal.Decimal(cleaned)
        if not value.is_finite():
            return text
        return int((value * 100).quantize(decimal.Decimal(1), rounding=decimal.ROUND_HALF_UP))
    except decimal.InvalidOperation:
        return text


def _restriction(request: Request) -> str | None:
    """The end of a running Sentinel time-out as `GET /me` reports it (None when none)."""
    user = getattr(request.state, "web_user", None)
    if user is None:
        return None
    until = user.raw.get("restricted_until")
    return str(until) if until else None


@router.get("/my-bets")
async def my_bets_page(request: Request, user: WebUserDep, offset: int = 0) -> Response:
    """Open and settled bets (`GET /me/bets`, newest placed first) with payout, profit and
    CLV; each can be deleted (with a confirm)."""
    answer = await call_api(
        request, "GET", "/me/bets", params={"limit": PAGE_SIZE, "offset": max(offset, 0)}
    )
    if not answer.ok:
        return error_page(request, answer, title="My bets")
    data = answer.data
    items: list[dict[str, Any]] = data["items"]
    start, total = data["offset"], data["total"]
    return render(
        request,
        "mybets/list.html",
        {
            "open_bets": [b for b in items if b["status"] == "open"],
            "settled_bets": [b for b in items if b["status"] != "open"],
            "total": total,
            "offset": start,
            "shown": len(items),
            "previous_offset": max(start - PAGE_SIZE, 0) if start > 0 else None,
            "next_offset": start + PAGE_SIZE if start + PAGE_SIZE < total else None,
            "restricted_until": _restriction(request),
            "deleted": request.query_params.get("deleted") == "1",
            "tracked": request.query_params.get("tracked"),
        },
    )


def _track_answer(
    request: Request, answer: ApiAnswer, form: dict[str, Any], *, partial: bool
) -> Response:
    """The Track's answer: the fragment replacing the form (htmx), or a page with it."""
    errors, general = (
        answer.form_errors(TRACK_FIELDS) if answer.status == 422 else ({}, [answer.message])
    )
    return render(
        request,
        "mybets/_track_result.html" if partial else "mybets/track.html",
        {
            "answer": answer,
            "bet": answer.data if answer.ok else None,
            "form": form,
            "errors": errors,
            "general": general,
            "restricted_until": _restriction(request),
            "refused_until": (answer.error.get("details") or {}).get("restricted_until")
            if answer.code == "account_restricted"
            else None,
        },
        status_code=answer.status,
    )


@router.post("/my-bets/track", dependencies=[SameOrigin])
async def track_bet(
    request: Request,
    user: WebUserDep,
    market_id: Annotated[str, Form()] = "",
    odds_decimal: Annotated[str, Form()] = "",
    bookmaker: Annotated[str, Form()] = "",
    line: Annotated[str, Form()] = "",
    stake: Annotated[str, Form()] = "",
    currency: Annotated[str, Form()] = "USD",
    label: Annotated[str, Form()] = "",
) -> Response:
    """`POST /me/bets` with the row's market, price, line and book and the typed stake."""
    body: dict[str, Any] = {
        "market_id": market_id,
        "odds_decimal": form_number(odds_decimal),
        "stake_minor": stake_minor(stake),
        "currency": currency.strip().upper() or "USD",
    }
    if bookmaker.strip():
        body["bookmaker"] = bookmaker.strip()
    if line.strip():
        body["line"] = form_number(line)
    answer = await call_api(request, "POST", "/me/bets", json=body)
    form = {
        "market_id": market_id,
        "odds_decimal": form_number(odds_decimal),
        "bookmaker": bookmaker,
        "line": line,
        "stake": stake,
        "currency": currency,
        "label": label,
    }
    if request.headers.get("hx-request") == "true":
        return _track_answer(request, answer, form, partial=True)
    if answer.ok:
        bet_id = quote(str(answer.data["id"]), safe="")
        return RedirectResponse(f"/app/my-bets?tracked={bet_id}", status_code=303)
    if answer.status == 422:  # no script: the form again, with the API's reasons
        return _track_answer(request, answer, form, partial=False)
    return error_page(request, answer, title="Track a bet")


@router.post("/my-bets/{bet_id}/delete", dependencies=[SameOrigin])
async def delete_bet(request: Request, user: WebUserDep, bet_id: str) -> Response:
    """`DELETE /me/bets/{id}` (the page asks to confirm first); back to My bets."""
    answer = await call_api(request, "DELETE", f"/me/bets/{quote(bet_id, safe='')}")
    if not answer.ok:
        return error_page(request, answer, title="Delete a bet")
    return RedirectResponse("/app/my-bets?deleted=1", status_code=303)


@router.get("/my-bets.csv")
async def my_bets_csv(request: Request, user: WebUserDep) -> Response:
    """`GET /me/bets.csv`, handed on as the download."""
    answer = await call_api(request, "GET", "/me/bets.csv")
    if not answer.ok:
        return error_page(request, answer, title="Export my bets")
    return Response(
        answer.content,
        media_type=answer.headers.get("content-type", "text/csv; charset=utf-8"),
        headers={
            "Content-Disposition": answer.headers.get(
                "content-disposition", 'attachment; filename="edgelab-bets.csv"'
            ),
            "Cache-Control": "private, no-store",
        },
    )


def profit_series(points: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The cumulative profit as a Lightweight Charts area series in major units, from 0 a
    second before the first bet; times are unix seconds, made strictly ascending (bets placed
    in the same second one second apart), as the library requires."""
    data: list[dict[str, Any]] = []
    last = None
    for point in points:
        moment = int(dt.datetime.fromisoformat(point["placed_at"]).timestamp())
        if last is None:
            data.append({"time": moment - 1, "value": 0.0})
        elif moment <= last:
            moment = last + 1
        data.append({"time": moment, "value": round(point["profit_minor"] / 100, 2)})
        last = moment
    return [{"type": "area", "name": "Cumulative profit", "data": data}]


def clv_bars(bins: list[dict[str, Any]]) -> dict[str, Any]:
    """The CLV histogram trimmed to the bins from the first to the last non-empty one, with
    the tallest count (the SVG's scale)."""
    filled = [i for i, b in enumerate(bins) if b["n"] > 0]
    if not filled:
        return {"bins": [], "max": 0}
    shown = bins[filled[0] : filled[-1] + 1]
    return {"bins": shown, "max": max(b["n"] for b in shown)}


@router.get("/performance")
async def performance_page(request: Request, user: WebUserDep) -> Response:
    """`GET /me/performance`: ROI with its interval, CLV, breakdowns with their sample sizes,
    the cumulative profit and the CLV histogram, and the plain verdict."""
    answer = await call_api(request, "GET", "/me/performance")
    if not answer.ok:
        return error_page(request, answer, title="My performance")
    perf = answer.data
    return render(
        request,
        "mybets/performance.html",
        {
            "perf": perf,
            "overall": perf["overall"],
            "profit_series": profit_series(perf.get("cumulative_profit", [])),
            "clv": clv_bars(perf.get("clv_histogram", [])),
            "breakdowns": [
                ("By market type", "market-type", "Market type", perf["by_market_type"]),
                ("By month placed (UTC)", "month", "Month", perf["by_month"]),
                ("By book", "book", "Book", perf.get("by_book", {})),
            ],
            "restricted_until": _restriction(request),
        },
    )
