"""Dashboard pages of value betting: the ranked bets, one bet, the evaluation and the trends.

Every figure comes from the betting API (`GET /markets`, `/bet/{id}`, `/bet/{id}/history`,
`/evaluation/...`, `/trends`) called as the signed-in user, so the free view, the A/B arm, paid
gating and rate limits are the API's own. Filters are passed through as typed (blank ones left
out): the API validates them and its 422 details are shown next to the fields they concern.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Annotated, Any, get_args
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from edgelab.betting.errors import EVALUATION_PENDING, SEASON_NOT_FOUND
from edgelab.betting.evaluation import schemas as evaluation_schemas
from edgelab.betting.markets import schemas
from edgelab.betting.trends import schemas as trends_schemas
from edgelab.core.error_codes import PAID_SUBSCRIPTION_REQUIRED
from edgelab.web.api import ApiAnswer, call_api
from edgelab.web.pages import error_page, render
from edgelab.web.session import WebRoute, WebUserDep

router = APIRouter(route_class=WebRoute)

PAID_REFUSAL = PAID_SUBSCRIPTION_REQUIRED.code
MARKET_TYPES = get_args(schemas.MarketType)
EVALUATED_MARKET_TYPES = get_args(evaluation_schemas.EvaluatedMarketType)
TREND_MARKET_TYPES = get_args(trends_schemas.TrendMarketType)
TREND_GROUPS = get_args(trends_schemas.TrendGroup)
BET_FILTERS = ("market_type", "min_value_score", "min_confidence", "algorithm")
EVALUATION_FILTERS = ("season", "market_type", "algorithm", "line")
TREND_FILTERS = ("market_type", "group", "season_from", "season_to", "min_n", "alpha")


def _filters(**values: str | None) -> dict[str, str]:
    """The filters the user set, blank ones left out, as typed (the API validates them)."""
    return {k: v.strip() for k, v in values.items() if v is not None and v.strip() != ""}


def _qs(filters: dict[str, str], **more: str | int | None) -> str:
    """A query string of the filters (plus `more`): for links, the htmx partial and the plot."""
    merged = {**filters, **{k: str(v) for k, v in more.items() if v is not None}}
    return urlencode(merged)


def _refusal(answer: ApiAnswer, fields: tuple[str, ...]) -> dict[str, str] | None:
    """The 422 details by filter field (unknown fields under `_`), or None if not a 422."""
    if answer.status != 422:
        return None
    errors = answer.field_errors() or {"_": answer.message}
    return {(k if k in fields else "_"): v for k, v in errors.items()}


def _unix(moment: str) -> int:
    """An API time (ISO 8601, UTC) as the unix seconds Lightweight Charts plots."""
    return int(dt.datetime.fromisoformat(moment.replace("Z", "+00:00")).timestamp())


def history_series(points: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """The score history as chart series: odds, value scores A and B, p_true and p_market (%).

    Lightweight Charts needs ascending, unique times: a later point at the same second wins
    (the API lists the points in calc-time order, the newest last)."""
    by_time: dict[int, dict[str, Any]] = {}
    for point in points:
        by_time[_unix(point["calc_time"])] = point
    times = sorted(by_time)

    def line(name: str, key: str, scale: float = 1.0) -> dict[str, Any]:
        data = [{"time": t, "value": round(by_time[t][key] * scale, 4)} for t in times]
        return {"type": "line", "name": name, "data": data}

    return {
        "odds": [line("Decimal odds", "odds_decimal")],
        "scores": [
            line("Value score A", "algo_a_value_score"),
            line("Value score B", "algo_b_value_score"),
        ],
        "probabilities": [line("p_true %", "p_true", 100), line("p_market %", "p_market", 100)],
    }


async def _markets(request: Request, filters: dict[str, str], offset: str | None) -> ApiAnswer:
    return await call_api(request, "GET", "/markets", params={**filters, "offset": offset})


def _bets_context(answer: ApiAnswer, filters: dict[str, str], offset: str | None) -> dict[str, Any]:
    data = answer.data if answer.ok else {}
    items = data.get("items", [])
    limit, start, total = data.get("limit", 50), data.get("offset", 0), data.get("total", 0)
    return {
        "filters": filters,
        "market_types": MARKET_TYPES,
        "listing": data,
        "items": items,
        "gated": set(data.get("gated", [])),
        "has_stake": any("stake_suggestion" in row for row in items),
        "table_query": _qs(filters, offset=offset),
        "previous_query": _qs(filters, offset=max(start - limit, 0)) if start > 0 else None,
        "next_query": _qs(filters, offset=start + limit) if start + limit < total else None,
        "errors": {},
        "refused": None,
    }


async def _bets_response(
    request: Request, filters: dict[str, str], offset: str | None, *, partial: bool
) -> Response:
    """The value-bets page, or (`partial`) just its self-refreshing table."""
    answer = await _markets(request, filters, offset)
    context = _bets_context(answer, filters, offset)
    if answer.ok:
        return render(request, "bets/_table.html" if partial else "bets/list.html", context)
    if partial:  # htmx keeps the last table on an error status; opened directly: the page
        return error_page(request, answer, title="Value bets")
    errors = _refusal(answer, (*BET_FILTERS, "offset"))
    if errors is not None:
        return render(request, "bets/list.html", {**context, "errors": errors}, status_code=422)
    if answer.status == 403 and answer.code == PAID_REFUSAL:  # a paid filter, asked for free
        context["refused"] = answer.message
        return render(request, "bets/list.html", context, status_code=403)
    return error_page(request, answer, title="Value bets")


@dataclass
class BetsQuery:
    """The value-bets filters as typed in the page's form (strings: the API validates them)."""

    market_type: str | None = None
    min_value_score: str | None = None
    min_confidence: str | None = None
    algorithm: str | None = None
    offset: str | None = None

    def filters(self) -> dict[str, str]:
        return _filters(
            market_type=self.market_type,
            min_value_score=self.min_value_score,
            min_confidence=self.min_confidence,
            algorithm=self.algorithm,
        )


BetsQueryDep = Annotated[BetsQuery, Depends()]


@router.get("/bets")
async def bets_page(request: Request, user: WebUserDep, query: BetsQueryDep) -> Response:
    """The slate ranked by value score (`GET /markets`), filters and the A/B toggle; no
    algorithm chosen means the caller's arm, named on the page as the API names it."""
    return await _bets_response(request, query.filters(), query.offset, partial=False)


@router.get("/bets/table")
async def bets_table(request: Request, user: WebUserDep, query: BetsQueryDep) -> Response:
    """The table alone, for htmx to swap in every `web_refresh_seconds`: a refused refresh
    answers the API's status, which htmx does not swap, so the last table stays."""
    return await _bets_response(request, query.filters(), query.offset, partial=True)


@router.get("/bets/{market_id}")
async def bet_page(request: Request, user: WebUserDep, market_id: str) -> Response:
    """Both algorithms' breakdowns (`GET /bet/{id}`) and the history chart (`/history`): the
    free view's history is `points: null`, shown as the upgrade prompt, not an error."""
    path = f"/bet/{quote(market_id, safe='')}"
    detail = await call_api(request, "GET", path)
    if not detail.ok:
        return error_page(request, detail, title="Bet not available")
    history = await call_api(request, "GET", f"{path}/history")
    points = history.data.get("points") if history.ok else None
    return render(
        request,
        "bets/detail.html",
        {
            "bet": detail.data,
            "gated": set(detail.data.get("gated", [])),
            "history": history,
            "points": points,
            "series": history_series(points) if points else None,
        },
    )


@dataclass
class EvaluationQuery:
    """The evaluation filters as typed (the API validates them)."""

    season: str | None = None
    market_type: str | None = None
    algorithm: str | None = None
    line: str | None = None

    def filters(self) -> dict[str, str]:
        return _filters(
            season=self.season,
            market_type=self.market_type,
            algorithm=self.algorithm,
            line=self.line,
        )


EvaluationQueryDep = Annotated[EvaluationQuery, Depends()]


def _evaluated_seasons(compare: dict[str, Any]) -> list[int]:
    """The seasons a pooled answer covers and the in-sample ones it leaves out."""
    return sorted({*compare["seasons"], *compare.get("in_sample_seasons", [])})


@router.get("/evaluation")
async def evaluation_page(
    request: Request, user: WebUserDep, query: EvaluationQueryDep
) -> Response:
    """The value model's walk-forward evaluation (`GET /evaluation/compare`): forecasts,
    flagged bets per rule, the baselines, the blend weights, with the reliability plot
    (`/evaluation/calibration`, the API's PNG and its bins as a table); the per-season table
    loads after the page (`/app/evaluation/seasons`). Before the first report exists the API
    answers 503 `evaluation_pending`: the page says so and reloads itself."""
    filters = query.filters()
    compare_filters = {k: v for k, v in filters.items() if k in ("season", "market_type")}
    compare = await call_api(request, "GET", "/evaluation/compare", params=compare_filters)
    context: dict[str, Any] = {
        "filters": filters,
        "market_types": EVALUATED_MARKET_TYPES,
        "compare": None,
        "calibration": None,
        "pending": None,
        "seasons": [],
        "errors": {},
        "plot_query": _qs(filters),
        "seasons_query": _qs({k: v for k, v in filters.items() if k == "market_type"}),
    }
    if compare.code == EVALUATION_PENDING.code:
        context["pending"] = compare.message
        return render(request, "bets/evaluation.html", context, status_code=compare.status)
    errors = _refusal(compare, EVALUATION_FILTERS)
    if errors is None and compare.code == SEASON_NOT_FOUND.code:
        errors = {"season": compare.message}
        context["seasons"] = (compare.error.get("details") or {}).get("seasons") or []
    if errors is not None:
        context["errors"] = errors
        return render(request, "bets/evaluation.html", context, status_code=compare.status)
    if not compare.ok:
        return error_page(request, compare, title="Evaluation")
    seasons = _evaluated_seasons(compare.data)
    if "season" in filters:  # the answer covers one season: the choices are every season's
        pooled = await call_api(request, "GET", "/evaluation/compare")
        seasons = _evaluated_seasons(pooled.data) if pooled.ok else seasons
    calibration = await call_api(request, "GET", "/evaluation/calibration", params=filters)
    errors = _refusal(calibration, EVALUATION_FILTERS) or {}
    context.update(
        compare=compare.data,
        calibration=calibration.data if calibration.ok else None,
        calibration_error=None if calibration.ok else calibration.message,
        seasons=seasons,
        errors=errors,
    )
    return render(request, "bets/evaluation.html", context, status_code=422 if errors else 200)


@router.get("/evaluation/calibration.png")
async def calibration_png(
    request: Request, user: WebUserDep, query: EvaluationQueryDep
) -> Response:
    """The API's reliability plot (`format=png`) for the page's <img>; a refusal is the
    error page with the API's status (the browser shows the image's alt text)."""
    filters = query.filters()
    answer = await call_api(
        request, "GET", "/evaluation/calibration", params={**filters, "format": "png"}
    )
    if not answer.ok or not answer.headers.get("content-type", "").startswith("image/png"):
        return error_page(request, answer, title="Calibration plot")
    return Response(
        answer.content, media_type="image/png", headers={"Cache-Control": "private, max-age=60"}
    )


@router.get("/evaluation/seasons")
async def evaluation_seasons(
    request: Request, user: WebUserDep, market_type: str | None = None
) -> Response:
    """One row per evaluated season (the pooled `GET /evaluation/compare`'s `season_rows`): a
    fragment for htmx, a page of its own when opened directly (the no-JavaScript link)."""
    filters = _filters(market_type=market_type)
    pooled = await call_api(request, "GET", "/evaluation/compare", params=filters)
    if not pooled.ok:
        return error_page(request, pooled, title="Evaluation by season")
    context = {"rows": pooled.data["season_rows"], "filters": filters}
    return render(request, "bets/seasons.html", context)


@router.get("/trends")
async def trends_page(
    request: Request,
    user: WebUserDep,
    market_type: str | None = None,
    group: str | None = None,
    season_from: str | None = None,
    season_to: str | None = None,
    min_n: str | None = None,
    alpha: str | None = None,
) -> Response:
    """Situational trends (`GET /trends`, paid) with Wilson and ROI intervals, p and
    Benjamini-Hochberg q values: a free user meets the API's 403 as the upgrade prompt."""
    filters = _filters(
        market_type=market_type,
        group=group,
        season_from=season_from,
        season_to=season_to,
        min_n=min_n,
        alpha=alpha,
    )
    answer = await call_api(request, "GET", "/trends", params=filters)
    context: dict[str, Any] = {
        "filters": filters,
        "market_types": TREND_MARKET_TYPES,
        "groups": TREND_GROUPS,
        "trends": answer.data if answer.ok else None,
        "errors": {},
    }
    errors = _refusal(answer, TREND_FILTERS)
    if errors is None and answer.code == SEASON_NOT_FOUND.code:  # no data in the asked range
        errors = {"season_from": answer.message}
    if errors is not None:
        return render(
            request, "bets/trends.html", {**context, "errors": errors}, status_code=answer.status
        )
    if not answer.ok:
        return error_page(request, answer, title="Trends")
    return render(request, "bets/trends.html", context)
