"""Dashboard sessions: the magic link signs a browser in through a click, cookies hold the API's
own tokens, an expired access token is refreshed, sign-out revokes, other sites cannot post."""

from __future__ import annotations

import datetime as dt

import httpx
import pytest
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import RedirectResponse
from sqlalchemy.ext.asyncio import AsyncSession

from edgelab.app import create_app
from edgelab.core.auth import issue_access_token
from edgelab.core.ratelimit import RateLimitPolicy
from edgelab.core.resources import Resources
from edgelab.core.settings import Settings
from edgelab.web.session import WebRoute
from tests.accounts.test_sign_in import _link_token

pytestmark = pytest.mark.asyncio(loop_scope="session")


def _cookie_values(response: httpx.Response, name: str) -> list[str]:
    return [
        v.split(";", 1)[0].split("=", 1)[1]
        for v in response.headers.get_list("set-cookie")
        if v.startswith(f"{name}=")
    ]


async def _web_sign_in(client: httpx.AsyncClient, session: AsyncSession, address: str):
    r = await client.post("/app/signin", data={"email": address})
    assert r.status_code == 200 and "a link is on its way" in r.text
    token = await _link_token(session, address)
    landing = await client.get(f"/app/verify?token={token}")
    assert landing.status_code == 200 and 'name="token"' in landing.text
    r = await client.post("/app/verify", data={"token": token})
    assert r.status_code == 303 and r.headers["location"] == "/app/account"
    return _cookie_values(r, "edgelab_access")[0], _cookie_values(r, "edgelab_refresh")[0]


async def test_opening_the_link_does_not_spend_it_the_click_signs_in(client, session):
    access, refresh = await _web_sign_in(client, session, "web.one@example.com")
    assert access and refresh
    r = await client.get("/app/signin", headers={"cookie": f"edgelab_access={access}"})
    assert "web.one@example.com" in r.text and "Sign out" in r.text


async def test_the_session_cookies_are_httponly_lax_and_scoped_to_the_dashboard(client, session):
    r = await client.post("/app/signin", data={"email": "web.cookie@example.com"})
    token = await _link_token(session, "web.cookie@example.com")
    r = await client.post("/app/verify", data={"token": token})
    cookies = [c.lower() for c in r.headers.get_list("set-cookie")]
    assert len(cookies) == 2
    for cookie in cookies:
        assert "httponly" in cookie and "samesite=lax" in cookie and "path=/app" in cookie


async def test_a_spent_link_shows_the_apis_refusal_on_the_page(client, session):
    await client.post("/app/signin", data={"email": "web.twice@example.com"})
    token = await _link_token(session, "web.twice@example.com")
    assert (await client.post("/app/verify", data={"token": token})).status_code == 303
    again = await client.post("/app/verify", data={"token": token})
    assert again.status_code == 401
    assert "Ask for a new link" in again.text and "set-cookie" not in again.headers


async def test_an_expired_access_token_is_refreshed_from_the_refresh_cookie(
    client, session, settings: Settings
):
    _, refresh = await _web_sign_in(client, session, "web.refresh@example.com")
    me = await client.post("/auth/refresh", json={"refresh_token": refresh})
    user_id = (
        await client.get("/me", headers={"Authorization": f"Bearer {me.json()['access_token']}"})
    ).json()["id"]
    old = issue_access_token(settings, user_id, now=dt.datetime.now(dt.UTC) - dt.timedelta(hours=2))
    rotated = me.json()["refresh_token"]
    r = await client.get(
        "/app/signin", headers={"cookie": f"edgelab_access={old}; edgelab_refresh={rotated}"}
    )
    assert r.status_code == 200 and "web.refresh@example.com" in r.text
    new_access = _cookie_values(r, "edgelab_access")
    new_refresh = _cookie_values(r, "edgelab_refresh")
    assert new_access and new_refresh and new_refresh[0] != rotated
    # the rotated-away refresh token is spent: reuse is refused by the API
    assert (await client.post("/auth/refresh", json={"refresh_token": rotated})).status_code == 401


async def test_sign_out_revokes_the_refresh_token(client, session):
    _, refresh = await _web_sign_in(client, session, "web.out@example.com")
    r = await client.post("/app/signout", headers={"cookie": f"edgelab_refresh={refresh}"})
    assert r.status_code == 303
    cleared = [c.lower() for c in r.headers.get_list("set-cookie")]
    assert {c.split("=", 1)[0] for c in cleared} == {"edgelab_access", "edgelab_refresh"}
    assert all("max-age=0" in c for c in cleared)
    assert (await client.post("/auth/refresh", json={"refresh_token": refresh})).status_code == 401


async def test_a_bad_cookie_is_an_anonymous_page_and_is_cleared(client):
    r = await client.get("/app/signin", headers={"cookie": "edgelab_access=not-a-token"})
    assert r.status_code == 200 and "Sign out" not in r.text
    assert any(c.startswith("edgelab_access=") for c in r.headers.get_list("set-cookie"))


async def test_a_form_posted_from_another_site_is_refused(client):
    r = await client.post(
        "/app/signin",
        data={"email": "victim@example.com"},
        headers={"origin": "https://evil.example"},
    )
    assert r.status_code == 403 and r.json()["error"]["code"] == "cross_site_request"
    same = await client.post(
        "/app/signin",
        data={"email": "fine@example.com"},
        headers={"origin": "http://testserver"},
    )
    assert same.status_code == 200


async def test_an_invalid_address_is_reported_next_to_the_field(client):
    r = await client.post("/app/signin", data={"email": "nope"})
    assert r.status_code == 422
    assert 'id="email-error"' in r.text and 'aria-invalid="true"' in r.text


async def test_the_npm_assets_are_a_clear_404_until_make_assets(settings: Settings, tmp_path):
    app = create_app(settings.model_copy(update={"web_assets_dir": tmp_path}))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            r = await c.get("/app/vendor/lightweight-charts.js")
            assert r.status_code == 404
            assert r.json()["error"]["code"] == "asset_not_installed"
            assert "make assets" in r.json()["error"]["message"]
            page = await c.get("/app/signin")
            assert "/app/vendor/" not in page.text and "make assets" in page.text


async def test_a_null_origin_or_a_cross_site_fetch_is_refused(client):
    for headers in (
        {"origin": "null"},
        {"sec-fetch-site": "cross-site"},
        {"sec-fetch-site": "same-site", "origin": "http://testserver"},
    ):
        r = await client.post("/app/verify", data={"token": "x" * 43}, headers=headers)
        assert r.status_code == 403, headers
        assert r.json()["error"]["code"] == "cross_site_request"
    ok = await client.post(
        "/app/signin",
        data={"email": "same.site@example.com"},
        headers={"sec-fetch-site": "same-origin", "origin": "http://testserver"},
    )
    assert ok.status_code == 200


async def test_a_page_still_carrying_the_rotated_refresh_cookie_gets_the_same_new_pair(
    client, session, settings: Settings
):
    """Two pages sent with the same expired session (tabs restored, the table's refresh racing
    a click) rotate the refresh token once: the second does not look like a stolen token."""
    access, refresh = await _web_sign_in(client, session, "web.race@example.com")
    user_id = (await client.get("/me", headers={"Authorization": f"Bearer {access}"})).json()["id"]
    old = issue_access_token(settings, user_id, now=dt.datetime.now(dt.UTC) - dt.timedelta(hours=2))
    cookie = {"cookie": f"edgelab_access={old}; edgelab_refresh={refresh}"}
    first = await client.get("/app/signin", headers=cookie)
    second = await client.get("/app/signin", headers=cookie)
    assert "web.race@example.com" in first.text and "web.race@example.com" in second.text
    assert _cookie_values(first, "edgelab_refresh") == _cookie_values(second, "edgelab_refresh")
    new_refresh = _cookie_values(first, "edgelab_refresh")[0]
    # the family was not revoked: the rotated token still works
    r = await client.post("/auth/refresh", json={"refresh_token": new_refresh})
    assert r.status_code == 200


async def test_a_route_returning_a_bare_response_still_stores_rotated_tokens(
    settings: Settings,
):
    """`WebRoute` finishes every dashboard response: a redirect or a PNG after a refresh."""
    router = APIRouter(route_class=WebRoute)

    @router.get("/app/bare")
    async def bare(request: Request) -> RedirectResponse:
        request.state.web_new_tokens = ("new-access", "new-refresh")
        return RedirectResponse("/app/bets", status_code=303)

    app = FastAPI()
    app.state.resources = Resources(settings=settings, ratelimit_policy=RateLimitPolicy())
    app.include_router(router)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        r = await c.get("/app/bare")
    assert r.status_code == 303
    assert _cookie_values(r, "edgelab_access") == ["new-access"]
    assert _cookie_values(r, "edgelab_refresh") == ["new-refresh"]


async def test_every_dashboard_route_is_a_web_route():
    from fastapi.routing import APIRoute

    from edgelab.web.router import router

    def routes(r: object) -> list[APIRoute]:
        out: list[APIRoute] = []
        for route in getattr(r, "routes", []):
            inner = getattr(route, "original_router", None)  # FastAPI's lazily included router
            out += routes(inner) if inner is not None else [route]
        return out

    pages = [r for r in routes(router) if isinstance(r, APIRoute)]
    assert len(pages) > 20
    assert [r.path for r in pages if not isinstance(r, WebRoute)] == []


async def test_only_web_links_become_hrefs():
    from edgelab.web.pages import templates

    web_url = templates.env.filters["web_url"]
    assert web_url("https://example.com/a") == "https://example.com/a"
    assert web_url(" http://example.com") == "http://example.com"
    for bad in ("javascript:alert(1)", "JAVASCRIPT:alert(1)", "data:text/html,x", None, ""):
        assert web_url(bad) == ""
