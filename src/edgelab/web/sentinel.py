"""Dashboard pages of the Sentinel console: players by risk category, and one player's scores,
explanation, timeline and interventions, with the form that records a new intervention. The
timeline is the player's bets and transactions (`GET /sentinel/players/{id}/activity`, a page
at a time, "older" loaded in place by htmx) among their scoring runs and interventions.

Analysts only, and the API says so: every page asks `/sentinel/...` with the signed-in user's
token, so a signed-out visitor meets the API's 401 (a sign-in prompt) and a non-analyst its 403
`role_required`; nothing here checks a role itself. The intervention form posts the fields of
`POST /api/interventions` as they are typed: the API validates them (reason length, duration
only and always for a timeout, 1-168 hours) and its 422 details are shown next to the field
they concern. A recorded intervention redirects (303) to the player page, which shows it, so
reloading the page cannot record it twice.

The player page never asks for the assessment (`POST /api/analytics/analyze-player`) itself:
that call rescores a player with new activity and, with an Anthropic key, pays Claude to write
the explanation, so it must not run on every GET, form re-render or timeline page (nor on a
cross-site link). The explanation card has an "Explain this score" button instead, a POST from
this site only: htmx swaps in the card alone, a plain form gets the whole page with it shown.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from edgelab.web.api import ApiAnswer, call_api
from edgelab.web.pages import error_page, form_number, render
from edgelab.web.sentinel_timeline import timeline_page
from edgelab.web.session import SameOrigin, WebRoute, WebUserDep, finish_response

router = APIRouter(route_class=WebRoute)

CATEGORIES = ("CRITICAL", "HIGH", "MEDIUM", "LOW")
COMPONENTS = (
    ("loss_chase", "Loss chasing"),
    ("bet_escalation", "Bet escalation"),
    ("market_drift", "Market drift"),
    ("temporal_risk", "Temporal risk"),
    ("gamalyze", "Behavioural (Gamalyze)"),
)
INTERVENTION_TYPES = (
    ("timeout", "Timeout (restricts the account)"),
    ("nudge", "Nudge (a check-in e-mail)"),
    ("watchlist", "Watchlist"),
    ("referral", "Referral (helpline, RG team)"),
)
FORM_FIELDS = ("intervention_type", "reason", "duration_hours", "note", "analyst_id")
PAGE_SIZE = 50
TIMELINE_PAGE = 50  # bets and transactions per timeline page


def _path(player_id: str) -> str:
    """The player id as one path segment: whatever is typed stays inside the API's route."""
    return quote(player_id, safe="")


def _unix(value: str) -> int:
    return int(dt.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp())


def _history_series(scores: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Composite score over time for Lightweight Charts: unix seconds, ascending, unique (two
    runs in the same second keep the later score)."""
    points: dict[int, float] = {}
    for item in scores:
        points[_unix(item["scored_at"])] = float(item["composite_risk_score"])
    data = [{"time": t, "value": round(v, 4)} for t, v in sorted(points.items())]
    return [{"type": "area", "name": "Composite risk", "data": data}] if data else []


def _is_htmx_swap(request: Request) -> bool:
    """An htmx swap of the table (not a history restore, which wants the whole page)."""
    return (
        request.headers.get("hx-request") == "true"
        and request.headers.get("hx-history-restore-request") != "true"
    )


@router.get("/sentinel")
async def players_page(
    request: Request,
    user: WebUserDep,
    category: str | None = None,
    watchlist: str | None = None,
    offset: str | None = None,
) -> Response:
    """Players ranked by composite score, filtered by category (or the watchlist); counts per
    category from the API's totals. An htmx request gets the table alone."""
    on_watchlist = watchlist in ("true", "on", "1")
    answer = await call_api(
        request,
        "GET",
        "/sentinel/players",
        params={
            "category": category or None,
            "watchlist": "true" if on_watchlist else None,
            "limit": PAGE_SIZE,
            "offset": offset,
        },
    )
    if not answer.ok:
        return error_page(request, answer, title="Sentinel")
    counts: dict[str, int | None] = {}
    for name in CATEGORIES:
        counted = await call_api(
            request, "GET", "/sentinel/players", params={"category": name, "limit": 1}
        )
        counts[name] = counted.data["total"] if counted.ok else None
    context = {
        "players": answer.data,
        "category": category or "",
        "watchlist": on_watchlist,
        "counts": counts,
        "categories": CATEGORIES,
        "components": COMPONENTS,
        "page_size": PAGE_SIZE,
    }
    template = "sentinel/_players_table.html" if _is_htmx_swap(request) else "sentinel/index.html"
    return render(request, template, context)


@router.get("/sentinel/open")
async def open_player(request: Request, user: WebUserDep, player_id: str = "") -> Response:
    """The 'open a player' box: any player by id, scored or not (the list shows scored ones)."""
    wanted = player_id.strip()
    target = f"/app/sentinel/players/{_path(wanted)}" if wanted else "/app/sentinel"
    response = RedirectResponse(target, status_code=303)
    return finish_response(request, response)


async def _player_view(
    request: Request,
    player_id: str,
    *,
    days: str | None = None,
    created: str | None = None,
    form: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    form_general: list[str] | None = None,
    cancel_errors: dict[str, str] | None = None,
    before: str | None = None,
    before_id: str | None = None,
    assessment: ApiAnswer | None = None,
    status_code: int = 200,
) -> Response:
    """The whole player page. `assessment` is given only by the explain POST, which asked
    analyze-player before this (so the score shown here is the one it explained); every other
    render leaves the explanation to the card's button."""
    pid = _path(player_id)
    player = await call_api(request, "GET", f"/sentinel/players/{pid}")
    if not player.ok:
        return error_page(request, player, title="Sentinel player")
    scores = await call_api(
        request, "GET", f"/sentinel/players/{pid}/scores", params={"days": days or 90}
    )
    interventions = await call_api(
        request, "GET", "/api/interventions", params={"player_id": player_id, "limit": 200}
    )
    recorded = None
    if created:
        recorded = await call_api(request, "GET", f"/api/interventions/{_path(created)}")
    activity = await _activity(request, player_id, before, before_id)
    score_items = scores.data["items"] if scores.ok else []
    intervention_items = interventions.data["items"] if interventions.ok else []
    timeline = timeline_page(player.data, score_items, intervention_items, activity, before)
    score = player.data.get("score")
    context = {
        "player": player.data,
        "score": score,
        "components": COMPONENTS,
        "assessment": assessment,
        "shown_scored_at": score["scored_at"] if score else "",
        "scores": scores,
        "days": scores.data["days"] if scores.ok else days,
        "series": _history_series(score_items),
        "interventions": interventions,
        "timeline": timeline,
        "before": before if activity.ok else None,
        "recorded": recorded,
        "types": INTERVENTION_TYPES,
        "form": form or {},
        "errors": errors or {},
        "form_general": form_general or [],
        "cancel_errors": cancel_errors or {},
    }
    return render(request, "sentinel/player.html", context, status_code=status_code)


async def _activity(
    request: Request, player_id: str, before: str | None, before_id: str | None
) -> ApiAnswer:
    return await call_api(
        request,
        "GET",
        f"/sentinel/players/{_path(player_id)}/activity",
        params={"limit": TIMELINE_PAGE, "before": before or None, "before_id": before_id or None},
    )


@router.get("/sentinel/players/{player_id}")
async def player_page(
    request: Request,
    user: WebUserDep,
    player_id: str,
    days: str | None = None,
    created: str | None = None,
    before: str | None = None,
    before_id: str | None = None,
) -> Response:
    """The player; with `before`/`before_id` (the timeline's "older" link without htmx) the
    timeline starts at that page of their activity."""
    return await _player_view(
        request, player_id, days=days, created=created, before=before, before_id=before_id
    )


@router.post("/sentinel/players/{player_id}/explain", dependencies=[SameOrigin])
async def explain_player(
    request: Request,
    user: WebUserDep,
    player_id: str,
    days: Annotated[str, Form()] = "",
    shown_scored_at: Annotated[str, Form()] = "",
) -> Response:
    """The "Explain this score" button: analyze-player (which rescores a player with new
    activity and may ask Claude), only when an analyst asks for it. htmx gets the explanation
    card alone, always 200 so that htmx swaps in a refusal's message too; a plain form gets the
    whole player page with the explanation shown. `shown_scored_at` is the score the page
    showed, so the card can say when explaining rescored the player."""
    assessment = await call_api(
        request, "POST", "/api/analytics/analyze-player", json={"player_id": player_id}
    )
    if _is_htmx_swap(request):
        context = {
            "assessment": assessment,
            "player": {"player_id": player_id},
            "days": days,
            "shown_scored_at": shown_scored_at,
        }
        return render(request, "sentinel/_explanation.html", context)
    return await _player_view(request, player_id, days=days or None, assessment=assessment)


@router.get("/sentinel/players/{player_id}/timeline")
async def timeline_more(
    request: Request,
    user: WebUserDep,
    player_id: str,
    days: str | None = None,
    before: str | None = None,
    before_id: str | None = None,
) -> Response:
    """The next (older) page of the timeline as list items, for htmx to put in place of the
    "older" link; a plain request is sent to the player page at that point."""
    if not _is_htmx_swap(request):
        query = urlencode(
            {k: v for k, v in {"days": days, "before": before, "before_id": before_id}.items() if v}
        )
        target = f"/app/sentinel/players/{_path(player_id)}?{query}#h-timeline"
        return finish_response(request, RedirectResponse(target, status_code=303))
    activity = await _activity(request, player_id, before, before_id)
    if not activity.ok:
        return error_page(request, activity, title="Sentinel player")
    scores = await call_api(
        request, "GET", f"/sentinel/players/{_path(player_id)}/scores", params={"days": days or 90}
    )
    interventions = await call_api(
        request, "GET", "/api/interventions", params={"player_id": player_id, "limit": 200}
    )
    timeline = timeline_page(
        {},
        scores.data["items"] if scores.ok else [],
        interventions.data["items"] if interventions.ok else [],
        activity,
        before,
    )
    context = {
        "timeline": timeline,
        "player": {"player_id": player_id},
        "days": scores.data["days"] if scores.ok else days,
    }
    return render(request, "sentinel/_timeline_items.html", context)


@router.post("/sentinel/players/{player_id}/interventions", dependencies=[SameOrigin])
async def create_intervention(
    request: Request,
    user: WebUserDep,
    player_id: str,
    intervention_type: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
    duration_hours: Annotated[str, Form()] = "",
    note: Annotated[str, Form()] = "",
    analyst_id: Annotated[str, Form()] = "",
) -> Response:
    """`POST /api/interventions` with the fields as typed; blank optional fields are left out
    (the API reads a missing duration, note or analyst id as none)."""
    form = {
        "intervention_type": intervention_type,
        "reason": reason,
        "duration_hours": duration_hours,
        "note": note,
        "analyst_id": analyst_id,
    }
    body: dict[str, Any] = {
        "player_id": player_id,
        "intervention_type": intervention_type,
        "reason": reason,
    }
    for name in ("duration_hours", "note", "analyst_id"):
        if form[name].strip():
            body[name] = form[name].strip()
    if "duration_hours" in body:
        body["duration_hours"] = form_number(body["duration_hours"])
    answer = await call_api(request, "POST", "/api/interventions", json=body)
    if answer.status == 422:
        errors, general = answer.form_errors(FORM_FIELDS)
        return await _player_view(
            request, player_id, form=form, errors=errors, form_general=general, status_code=422
        )
    if not answer.ok:
        return error_page(request, answer, title="Record an intervention")
    target = f"/app/sentinel/players/{_path(player_id)}?created={quote(answer.data['id'])}"
    return finish_response(request, RedirectResponse(target + "#recorded", status_code=303))


@router.post("/sentinel/interventions/{intervention_id}/cancel", dependencies=[SameOrigin])
async def cancel_intervention(
    request: Request,
    user: WebUserDep,
    intervention_id: str,
    player_id: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
) -> Response:
    """`POST /api/interventions/{id}/cancel` (a reason is optional); lifting a timeout is the
    API's doing."""
    body = {"reason": reason.strip()} if reason.strip() else None
    answer = await call_api(
        request, "POST", f"/api/interventions/{_path(intervention_id)}/cancel", json=body
    )
    if answer.status == 422 and player_id:
        errors, general = answer.form_errors(("reason",))
        message = errors.get("reason") or "; ".join(general)
        return await _player_view(
            request, player_id, cancel_errors={intervention_id: message}, status_code=422
        )
    if not answer.ok:
        return error_page(request, answer, title="Cancel an intervention")
    target = f"/app/sentinel/players/{_path(answer.data['player_id'])}#interventions"
    return finish_response(request, RedirectResponse(target, status_code=303))
