"""Dashboard pages of the bet-history import: upload, preview and re-map, confirm, result.

`/app/my-bets/import` (the form) -> `POST` (the file, sent on to `POST /me/bets/imports`)
-> `/app/my-bets/import/{id}` (the preview: a role select per column, the counts, every skipped
row with its reasons, "Import N bets") -> confirm -> the same page showing the result, linking
to `/app/my-bets`. Every figure comes from the API as the signed-in user; the upload is the one
call `web.api.call_api` cannot make (it sends JSON), so it is forwarded here in-process the same
way, as multipart.
"""

from __future__ import annotations

from typing import Annotated, Any, get_args
from urllib.parse import quote

import httpx
import orjson
from fastapi import APIRouter, File, Request, UploadFile
from fastapi.responses import RedirectResponse, Response

from edgelab.betting.imports.csvfile import REQUIRED_ROLES, ROLE_LABELS, Role
from edgelab.core.observability import request_id_of
from edgelab.core.resources import resources_of
from edgelab.web.api import INTERNAL_BASE, ApiAnswer, call_api
from edgelab.web.pages import error_page, render
from edgelab.web.session import SameOrigin, WebRoute, WebUserDep

router = APIRouter(route_class=WebRoute)
ROLES = get_args(Role)


async def _post_file(request: Request, path: str, filename: str, data: bytes) -> ApiAnswer:
    """`POST path` with a multipart `file`, as the page's signed-in caller (see `call_api`)."""
    headers = {"accept": "application/json"}
    token = getattr(request.state, "web_token", None)
    if token:
        headers["authorization"] = f"Bearer {token}"
    for name in ("x-forwarded-for", "user-agent"):
        value = request.headers.get(name)
        if value:
            headers[name] = value
    request_id = request_id_of(request)
    if request_id:
        headers["x-request-id"] = request_id
    client = request.client
    peer = (client.host, client.port) if client is not None else ("127.0.0.1", 0)
    transport = httpx.ASGITransport(app=request.app, client=peer)
    async with httpx.AsyncClient(transport=transport, base_url=INTERNAL_BASE) as http:
        response = await http.post(
            path, files={"file": (filename, data, "text/csv")}, headers=headers
        )
    body: Any = None
    if response.content and response.headers.get("content-type", "").startswith("application/json"):
        body = orjson.loads(response.content)
    return ApiAnswer(response.status_code, body, response.content, dict(response.headers))


def _upload_form(request: Request, error: str | None, status_code: int = 200) -> Response:
    settings = resources_of(request).settings
    return render(
        request,
        "betimport/upload.html",
        {
            "section": "my-bets",
            "error": error,
            "max_bytes": settings.bet_import_max_bytes,
            "max_rows": settings.bet_import_max_rows,
        },
        status_code=status_code,
    )


@router.get("/my-bets/import")
async def upload_form(request: Request, user: WebUserDep) -> Response:
    if user is None:  # the API's own 401 (a sign-in prompt)
        return error_page(
            request, await call_api(request, "GET", "/me"), title="Import bet history"
        )
    return _upload_form(request, None)


@router.post("/my-bets/import", dependencies=[SameOrigin])
async def upload(
    request: Request,
    user: WebUserDep,
    file: Annotated[UploadFile | None, File()] = None,
) -> Response:
    """Send the file on to `POST /me/bets/imports`, then show its preview."""
    if user is None:
        return error_page(
            request, await call_api(request, "GET", "/me"), title="Import bet history"
        )
    if file is None or not file.filename:
        return _upload_form(request, "Choose a CSV file to upload.", status_code=422)
    cap = resources_of(request).settings.bet_import_max_bytes
    data = await file.read(cap + 1)  # one byte over is enough for the API to refuse it
    answer = await _post_file(request, "/me/bets/imports", file.filename, data)
    if answer.status in (413, 415, 422):
        return _upload_form(request, answer.message, status_code=answer.status)
    if not answer.ok:
        return error_page(request, answer, title="Import bet history")
    return RedirectResponse(_page_path(str(answer.data["id"])), status_code=303)


def _api_path(import_id: str) -> str:
    """The API's URL of an import: the id is a path segment, quoted (a `/`, `?` or `..` typed
    into the page's URL reaches no other API route)."""
    return f"/me/bets/imports/{quote(import_id, safe='')}"


def _page_path(import_id: str) -> str:
    return f"/app/my-bets/import/{quote(import_id, safe='')}"


def _preview(
    request: Request, answer: ApiAnswer, error: str | None = None, status_code: int = 200
) -> Response:
    data = answer.data
    return render(
        request,
        "betimport/preview.html",
        {
            "section": "my-bets",
            "imp": data,
            "roles": ROLES,
            "role_labels": ROLE_LABELS,
            "required": REQUIRED_ROLES,
            "error": error,
        },
        status_code=status_code,
    )


@router.get("/my-bets/import/{import_id}")
async def preview(request: Request, user: WebUserDep, import_id: str) -> Response:
    answer = await call_api(request, "GET", _api_path(import_id))
    if not answer.ok:
        return error_page(request, answer, title="Import bet history")
    return _preview(request, answer)


@router.post("/my-bets/import/{import_id}", dependencies=[SameOrigin])
async def remap(request: Request, user: WebUserDep, import_id: str) -> Response:
    """The mapping form: `role:<column>` selects (blank: ignore), date order, time zone."""
    form = await request.form()
    columns: dict[str, str | None] = {}
    for key, value in form.multi_items():
        if key.startswith("role:") and isinstance(value, str):
            columns[key[len("role:") :]] = value or None
    body: dict[str, Any] = {"columns": columns}
    order = form.get("date_order")
    body["date_order"] = order if order in ("mdy", "dmy") else None
    zone = form.get("time_zone")
    if isinstance(zone, str) and zone.strip():
        body["time_zone"] = zone.strip()
    answer = await call_api(request, "POST", _api_path(import_id), json=body)
    if answer.status in (400, 422):
        current = await call_api(request, "GET", _api_path(import_id))
        if current.ok:
            message = "; ".join(answer.field_errors().values()) or answer.message
            return _preview(request, current, error=message, status_code=answer.status)
    if not answer.ok:
        return error_page(request, answer, title="Import bet history")
    return RedirectResponse(_page_path(import_id), status_code=303)


@router.post("/my-bets/import/{import_id}/confirm", dependencies=[SameOrigin])
async def confirm(request: Request, user: WebUserDep, import_id: str) -> Response:
    answer = await call_api(request, "POST", _api_path(import_id) + "/confirm")
    if answer.status == 400:
        current = await call_api(request, "GET", _api_path(import_id))
        if current.ok:
            return _preview(request, current, error=answer.message, status_code=400)
    if not answer.ok:
        return error_page(request, answer, title="Import bet history")
    return RedirectResponse(_page_path(import_id), status_code=303)
