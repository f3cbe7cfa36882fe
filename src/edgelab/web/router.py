"""The dashboard under /app/: sign-in pages, assets, and each product's pages.

Server-rendered (Jinja2), htmx for partial updates, Lightweight Charts for time series, all
data through the API itself (`web.api`). The pages are left out of the OpenAPI schema: the API
is the contract, the pages are a view of it.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, FastAPI, Form, Request
from fastapi.responses import FileResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from edgelab.core.errors import NotFoundError
from edgelab.core.resources import resources_of
from edgelab.web import account, betimport, betting, chess, errors, mybets, predictions, sentinel
from edgelab.web.api import call_api
from edgelab.web.pages import HERE, error_page, render, vendor_file
from edgelab.web.session import (
    SameOrigin,
    WebRoute,
    WebUserDep,
    clear_session_cookies,
    set_session_cookies,
)

router = APIRouter(prefix="/app", include_in_schema=False, route_class=WebRoute)


@router.get("")
@router.get("/")
async def home() -> RedirectResponse:
    return RedirectResponse("/app/bets", status_code=303)


@router.get("/vendor/{name}")
async def vendor(name: str, request: Request) -> FileResponse:
    """npm assets installed by `make assets` (not committed): 404 before that."""
    settings = resources_of(request).settings
    path = vendor_file(settings, name)
    if path is None:
        raise NotFoundError(
            f"{name} is not installed: run `make assets` (npm install).",
            code=errors.ASSET_NOT_INSTALLED,
        )
    return FileResponse(
        path, media_type="text/javascript", headers={"Cache-Control": "max-age=3600"}
    )


@router.get("/signin")
async def signin_form(request: Request, user: WebUserDep) -> Response:
    return render(request, "signin.html", {"sent": False, "errors": {}})


@router.post("/signin", dependencies=[SameOrigin])
async def signin_send(
    request: Request,
    user: WebUserDep,
    email: Annotated[str, Form()] = "",
) -> Response:
    """`POST /auth/magic-link`: the link arrives by e-mail (or in the outbox, offline)."""
    answer = await call_api(request, "POST", "/auth/magic-link", json={"email": email}, token="")
    if answer.status == 422:
        return render(
            request,
            "signin.html",
            {
                "sent": False,
                "email": email,
                "errors": answer.field_errors() or {"email": answer.message},
            },
            status_code=422,
        )
    if not answer.ok:
        return error_page(request, answer, title="Sign-in")
    return render(request, "signin.html", {"sent": True, "email": email, "errors": {}})


@router.get("/verify")
async def verify_form(request: Request, user: WebUserDep, token: str = "") -> Response:
    """The e-mailed link lands here. Signing in takes a click (a POST): the token is single
    use, and mail scanners that follow links must not spend it."""
    return render(request, "verify.html", {"token": token, "error": None})


async def _use_link(request: Request, api_path: str, template: str, token: str) -> Response:
    """POST a link's token to the API; signed in on the account page, or the refusal shown."""
    answer = await call_api(request, "POST", api_path, json={"token": token}, token="")
    if not answer.ok:
        return render(
            request,
            template,
            {"token": "", "error": answer.message},
            status_code=answer.status if answer.status >= 400 else 400,
        )
    response = RedirectResponse("/app/account", status_code=303)
    set_session_cookies(
        response,
        resources_of(request).settings,
        answer.data["access_token"],
        answer.data["refresh_token"],
    )
    return response


@router.post("/verify", dependencies=[SameOrigin])
async def verify(request: Request, token: Annotated[str, Form()] = "") -> Response:
    return await _use_link(request, "/auth/verify", "verify.html", token)


@router.get("/verify-email")
async def verify_email_form(request: Request, user: WebUserDep, token: str = "") -> Response:
    """The link e-mailed to a new address lands here; the change takes a click (a POST), for
    the same reason as signing in."""
    return render(request, "verify_email.html", {"token": token, "error": None})


@router.post("/verify-email", dependencies=[SameOrigin])
async def verify_email(request: Request, token: Annotated[str, Form()] = "") -> Response:
    return await _use_link(request, "/auth/verify-email", "verify_email.html", token)


@router.post("/signout", dependencies=[SameOrigin])
async def signout(request: Request) -> Response:
    """Revokes the refresh token (`POST /auth/logout`) and forgets the cookies."""
    refresh = request.cookies.get("edgelab_refresh")
    if refresh:
        await call_api(request, "POST", "/auth/logout", json={"refresh_token": refresh}, token="")
    response = RedirectResponse("/app/bets", status_code=303)
    clear_session_cookies(response)
    return response


router.include_router(betting.router)
router.include_router(betimport.router)  # before mybets: /my-bets/import/...
router.include_router(mybets.router)
router.include_router(predictions.router)
router.include_router(sentinel.router)
router.include_router(chess.router)
router.include_router(account.router)


def install_dashboard(app: FastAPI) -> None:
    app.include_router(router)
    app.mount("/app/static", StaticFiles(directory=HERE / "static"), name="web-static")
