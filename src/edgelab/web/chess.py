"""Dashboard pages of the chess analyzer: a player's report, and the engine review's progress
and worst moments drawn on boards.

The report is `POST /api/analyze` (free, answered within the request, rate limited per caller
and per Chess.com username); the form is a GET so a report has a link one can share, and the
API's 422 details come back next to the field they concern. The engine review is the paid job
of `POST /api/analyze/review`: the page starts it with a plain form post and then polls
`GET /api/analyze/{job_id}` with htmx (a meta refresh without it) until it finishes.
Boards are SVG drawn here by python-chess from the FEN each worst moment carries.

A PGN file (Lichess, Chess.com, a database) is the same report from `POST /api/analyze/pgn`:
the page reads the upload (bounded by `EDGELAB_CHESS_PGN_MAX_BYTES`) and sends its text to the
API, whose answer (or refusal) it shows; nothing is asked of Chess.com.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any
from urllib.parse import quote
from zoneinfo import available_timezones

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from markupsafe import Markup
from starlette.datastructures import UploadFile

from edgelab.chess.router import read_upload_form
from edgelab.chess.schemas import ENGINE_UNAVAILABLE
from edgelab.core.error_codes import PAID_SUBSCRIPTION_REQUIRED
from edgelab.core.errors import AppError
from edgelab.core.resources import resources_of
from edgelab.web.api import ApiAnswer, call_api
from edgelab.web.pages import error_page, form_number, render
from edgelab.web.session import SameOrigin, WebRoute, WebUserDep

router = APIRouter(route_class=WebRoute)

DEFAULT_GAMES = 100
DEFAULT_REVIEW_GAMES = 5
TIME_ZONES = sorted(available_timezones())  # suggestions only; the API validates the zone
RESULT_LABELS = {"wins": "Wins", "draws": "Draws", "losses": "Losses"}
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def _rows(stats: dict[str, dict[str, Any]], label: Any = str) -> list[dict[str, Any]]:
    """`{key: {games, wins, draws, losses, score}}` as rows for the result charts, in the
    API's order (it sorts by sample size where order is not natural)."""
    return [{"label": label(key), **value} for key, value in stats.items()]


def _hour_rows(by_hour: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """All 24 local hours, empty where no game started: gaps are information too."""
    return [
        {"label": f"{h:02d}", "hour": h, **by_hour.get(f"{h:02d}", {"games": 0, "score": None})}
        for h in range(24)
    ]


def _weekday_rows(by_weekday: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"label": day[:3], **by_weekday[day]} for day in WEEKDAYS if day in by_weekday]


def _month_start(month: str) -> int | None:
    """'2020-05' -> UNIX seconds of its first day (UTC), the chart's time axis."""
    try:
        moment = dt.datetime.strptime(month, "%Y-%m").replace(tzinfo=dt.UTC)
    except ValueError:
        return None
    return int(moment.timestamp())


def _rating_series(trend: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Month-end rating per time class as Lightweight Charts line series."""
    series = []
    for time_class, figures in trend.items():
        points: dict[int, float] = {}
        for month in figures.get("monthly", []):
            start = _month_start(str(month.get("month")))
            if start is not None and month.get("rating") is not None:
                points[start] = float(month["rating"])
        if points:
            data = [{"time": t, "value": v} for t, v in sorted(points.items())]
            series.append({"type": "line", "name": time_class, "data": data})
    return series


def _report_view(report: dict[str, Any]) -> dict[str, Any]:
    """The analysis, shaped for the charts (no figure is computed here: all are the API's)."""
    by_opening = report.get("by_opening", {})
    return {
        "colour_rows": _rows(report.get("by_color", {}), lambda c: str(c).capitalize()),
        "opening_rows": {
            colour: [
                {"label": f"{o.get('eco') or '?'} {o.get('name') or 'Unknown'}", **o}
                for o in by_opening.get(colour, [])
            ]
            for colour in ("white", "black")
        },
        "time_class_rows": _rows(report.get("by_time_class", {}), lambda c: str(c).capitalize()),
        "time_control_rows": _rows(report.get("by_time_control", {})),
        "hour_rows": _hour_rows(report.get("by_hour", {})),
        "weekday_rows": _weekday_rows(report.get("by_weekday", {})),
        "length_rows": _rows(report.get("game_length", {}).get("by_moves", {})),
        "band_rows": _rows(report.get("opponent_rating", {}).get("bands", {})),
        "rating_series": _rating_series(report.get("rating_trend", {})),
    }


def _form(username: str, game_count: str, tz: str) -> dict[str, str]:
    return {"username": username, "game_count": game_count, "tz": tz}


def _page_context(form: dict[str, str]) -> dict[str, Any]:
    return {
        "form": form,
        "errors": {},
        "problem": None,
        "report": None,
        "time_zones": TIME_ZONES,
        "review_games": DEFAULT_REVIEW_GAMES,
        "pgn_form": {"player": "", "tz": "UTC"},
        "pgn_errors": {},
        "pgn_problem": None,
    }


def _coverage_notes(report: dict[str, Any]) -> list[str]:
    """What the games could not tell (a file without start times, ratings or time controls):
    said, not guessed."""
    cov = report.get("coverage") or {}
    games = cov.get("games") or 0
    notes = []
    checks = (
        (
            "time_of_day",
            "have no start time: their hour is shown as unknown, and they are left out of tilt",
        ),
        ("player_elo", "carry no rating for the player: the rating trend covers the others"),
        ("opponent_elo", "carry no opponent rating: they are left out of the rating bands"),
        ("time_control", "have no time control: their time class is unknown"),
        ("termination", "do not say how they ended"),
    )
    for key, text in checks:
        missing = games - (cov.get(key) or 0)
        if games and missing:
            notes.append(f"{missing} of {games} games {text}.")
    return notes


def _decoded(data: bytes) -> str:
    """The upload's text for the API (which reads the encodings and refuses what is not PGN):
    UTF-8, else Windows-1252, else Latin-1, which passes any byte through."""
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")


@router.post("/chess/pgn", dependencies=[SameOrigin])
async def pgn_report(request: Request, user: WebUserDep) -> Response:
    """A PGN file's report: the form's refusals next to its fields, the API's too (400 not
    PGN / no games / player not in the games, 413, 422 by field); 429 and the rest as pages."""
    context = _page_context(_form("", str(DEFAULT_GAMES), "UTC"))
    settings = resources_of(request).settings
    try:
        form = await read_upload_form(request, settings.chess_pgn_max_bytes)
    except AppError as exc:
        context["pgn_problem"] = {"code": exc.code, "message": exc.message}
        return render(request, "chess/index.html", context, status_code=exc.status_code)
    player = str(form.get("player") or "").strip()
    tz = str(form.get("tz") or "").strip() or "UTC"
    context["pgn_form"] = {"player": player, "tz": tz}
    upload = form.get("file")
    if not isinstance(upload, UploadFile) or not upload.filename:
        context["pgn_errors"] = {"file": "Choose a PGN file."}
        return render(request, "chess/index.html", context, status_code=422)
    body: dict[str, Any] = {
        "pgn": _decoded(await upload.read()),
        "tz": tz,
        "filename": upload.filename[:200],
    }
    if player:
        body["player"] = player
    answer = await call_api(request, "POST", "/api/analyze/pgn", json=body)
    if answer.status == 422:
        errors = answer.field_errors()
        context["pgn_errors"] = {
            k if k in ("player", "tz") else "file": v for k, v in errors.items()
        }
        return render(request, "chess/index.html", context, status_code=422)
    if answer.status in (400, 413):
        context["pgn_problem"] = {"code": answer.code, "message": answer.message}
        details = answer.error.get("details")
        if answer.code == "player_not_in_games" and isinstance(details, dict):
            context["pgn_problem"]["names"] = details.get("names") or []
        return render(request, "chess/index.html", context, status_code=answer.status)
    if not answer.ok:
        return error_page(request, answer, title="Chess report")
    report = answer.data
    context.update(
        report=report, view=_report_view(report), cached=False, notes=_coverage_notes(report)
    )
    return render(request, "chess/index.html", context)


@router.get("/chess")
async def chess_page(
    request: Request,
    user: WebUserDep,
    username: str | None = None,
    game_count: str | None = None,
    tz: str | None = None,
) -> Response:
    """The form; with a username, the report under it. The API's refusals: 422 next to the
    fields, 404 `player_not_found` as a message on the form, 429 and the rest as pages."""
    form = _form(username or "", game_count or str(DEFAULT_GAMES), tz or "UTC")
    context = _page_context(form)
    if username is None:
        return render(request, "chess/index.html", context)
    body: dict[str, Any] = {"username": username.strip(), "tz": (tz or "UTC").strip()}
    if game_count not in (None, ""):
        body["game_count"] = form_number(game_count)  # the API bounds it
    answer = await call_api(request, "POST", "/api/analyze", json=body)
    if answer.status == 422:
        context["errors"] = answer.field_errors() or {"username": answer.message}
        return render(request, "chess/index.html", context, status_code=422)
    if answer.status == 404:
        context["problem"] = {"code": answer.code, "message": answer.message}
        context["errors"] = {"username": answer.message}
        return render(request, "chess/index.html", context, status_code=404)
    if not answer.ok:
        return error_page(request, answer, title="Chess report")
    report = answer.data
    context.update(report=report, view=_report_view(report), cached=_cached(answer))
    return render(request, "chess/index.html", context)


def _cached(answer: ApiAnswer) -> bool:
    return answer.headers.get("x-cache") == "hit"


@router.post("/chess/review", dependencies=[SameOrigin])
async def start_review(
    request: Request,
    user: WebUserDep,
    username: Annotated[str, Form()] = "",
    game_count: Annotated[str, Form()] = "",
) -> Response:
    """`POST /api/analyze/review`, then the job's page (303). Refusals keep the form with the
    message: 403 paid-only with the upgrade prompt, 503 without Stockfish, 422 by field."""
    body: dict[str, Any] = {"username": username.strip()}
    if game_count.strip():
        body["game_count"] = form_number(game_count)
    answer = await call_api(request, "POST", "/api/analyze/review", json=body)
    if answer.status == 202:
        return RedirectResponse(f"/app/chess/review/{answer.data['job_id']}", status_code=303)
    if answer.status in (401, 429) or (
        answer.status >= 500 and answer.code != ENGINE_UNAVAILABLE.code
    ):
        return error_page(request, answer, title="Engine review")
    errors = answer.field_errors() if answer.status == 422 else {}
    details = answer.error.get("details")
    over_cap = isinstance(details, dict) and "max_games" in details  # a 400 invalid_input
    if (answer.status == 422 and not errors) or over_cap:
        errors = {"game_count": answer.message}
    return render(
        request,
        "chess/review_start.html",
        {
            "form": {"username": username, "game_count": game_count},
            "errors": errors,
            "problem": None if errors else {"code": answer.code, "message": answer.message},
            "upgrade": answer.code == PAID_SUBSCRIPTION_REQUIRED.code,
        },
        status_code=answer.status,
    )


def board_svg(moment: dict[str, Any], orientation: str | None) -> Markup | None:
    """The position before the move: the move played (red arrow, highlighted squares) and
    the engine's better move (green arrow). None when the moment carries no FEN (reviews made
    before the FEN was recorded) or python-chess (the `chess` extra) is not installed."""
    fen = moment.get("fen")
    if not isinstance(fen, str):
        return None
    try:
        import chess
        import chess.svg
    except ImportError:
        return None
    try:
        board = chess.Board(fen)
    except ValueError:
        return None
    arrows = []
    played = _move(board, moment.get("uci"), moment.get("played"))
    if played is not None:
        arrows.append(chess.svg.Arrow(played.from_square, played.to_square, color="#dc2626cc"))
    better = _move(board, None, moment.get("better"))
    if better is not None and better != played:
        arrows.append(chess.svg.Arrow(better.from_square, better.to_square, color="#16a34acc"))
    svg = chess.svg.board(
        board,
        lastmove=played,
        arrows=arrows,
        orientation=chess.BLACK if orientation == "black" else chess.WHITE,
        size=320,
    )
    return Markup(svg)  # trusted: python-chess drew it from a FEN parsed above


def _move(board: Any, uci: Any, san: Any) -> Any:
    """The move from its UCI (preferred) or SAN text; None when it does not parse here."""
    import chess

    try:
        if isinstance(uci, str):
            return chess.Move.from_uci(uci)
        if isinstance(san, str):
            return board.parse_san(san)
    except ValueError:  # python-chess's parse errors are ValueError subclasses
        return None
    return None


def _review_view(job: dict[str, Any]) -> dict[str, Any]:
    """The job as the review templates show it; boards seen from the reviewed player's side
    (a worst moment is one of their own moves, so its colour is theirs)."""
    result = job.get("result") or {}
    moments = []
    for m in result.get("worst_moments", []):
        game = m.get("game")
        link = game if isinstance(game, str) and game.startswith("https://") else None
        moments.append({**m, "link": link, "board": board_svg(m, m.get("color"))})
    return {
        "job": job,
        "result": result,
        "moments": moments,
        "running": job.get("status") in ("queued", "running"),
        "phase_rows": [(k.capitalize(), v) for k, v in result.get("blunders_by_phase", {}).items()],
        "piece_rows": [(k.capitalize(), v) for k, v in result.get("blunders_by_piece", {}).items()],
    }


@router.get("/chess/review/{job_id}")
async def review_page(request: Request, user: WebUserDep, job_id: str) -> Response:
    """The job's progress (htmx asks again every few seconds while it runs), then its
    result. Another account's job, or none, is the API's 404."""
    answer = await call_api(request, "GET", f"/api/analyze/{quote(job_id, safe='')}")
    if not answer.ok:
        return error_page(request, answer, title="Engine review")
    view = _review_view(answer.data)
    if request.headers.get("hx-request") == "true":
        return render(request, "chess/_review.html", view)
    return render(request, "chess/review.html", view)
