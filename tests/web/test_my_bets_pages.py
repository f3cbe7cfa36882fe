"""My bets, My performance and the Track control over ASGI, on a scored synthetic slate.

The Track form of a value-bet row carries the row's best price, book and line; the user types
the stake. The session cookie is sent as a browser sends it; htmx requests carry HX-Request.
"""

from __future__ import annotations

import csv
import datetime as dt
import html
import io
import json
import re

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from edgelab.accounts.service import create_user, restrict_user
from edgelab.core.auth import issue_access_token
from edgelab.core.settings import Settings
from edgelab.web.mybets import stake_minor
from tests.betting.factories import SyntheticSeasons, add_game, add_quote
from tests.fixtures.database import make_settings
from tests.fixtures.slate import shared_slate

HX = {"hx-request": "true"}


@pytest.fixture
async def settings(db_url: str) -> Settings:
    return make_settings(db_url, free_odds_delay_minutes=0)


db_url, engine, _seasons = shared_slate(seasons=3, days_per_season=30)


@pytest.fixture
def slate(_seasons: SyntheticSeasons) -> str:
    return _seasons.last_date.isoformat()


async def _signed_in(session: AsyncSession, settings: Settings, email: str) -> dict[str, str]:
    user = await create_user(session, email)
    await session.commit()
    token = issue_access_token(settings, user.id)
    return {"cookie": f"edgelab_access={token}", "x-user-id": user.id, "x-token": token}


def _api(headers: dict[str, str]) -> dict[str, str]:
    return {"authorization": f"Bearer {headers['x-token']}"}


def _track_forms(page: str) -> list[dict[str, str]]:
    """Each Track form's hidden fields, as the browser would send them."""
    forms = re.findall(r'<form class="track".*?</form>', page, flags=re.S)
    out = []
    for form in forms:
        fields = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)">', form))
        out.append({k: html.unescape(v) for k, v in fields.items()})
    return out


def test_a_stake_typed_in_major_units_becomes_minor_units() -> None:
    assert stake_minor("25") == 2500
    assert stake_minor(" 12.5 ") == 1250
    assert stake_minor("1,000.255") == 100026  # half up to the cent
    assert stake_minor("ten") == "ten"  # passed on: the API's 422 names the field
    assert stake_minor("1e30") == "1e30"  # too big to count in cents exactly: passed on too


async def test_an_anonymous_visitor_is_asked_to_sign_in(
    client: httpx.AsyncClient, slate: str
) -> None:
    for path in ("/app/my-bets", "/app/performance", "/app/my-bets.csv"):
        r = await client.get(path)
        assert r.status_code == 401, path
        assert 'href="/app/signin"' in r.text
    bets = await client.get("/app/bets")
    assert bets.status_code == 200
    assert bets.text.count('data-testid="track-signin"') == bets.text.count('data-testid="bet-row"')
    assert 'data-testid="track-form"' not in bets.text


async def test_a_value_bet_is_tracked_from_its_row_at_the_rows_best_price(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings, slate: str
) -> None:
    user = await _signed_in(session, settings, "row@my-bets-pages.test")
    page = await client.get("/app/bets?market_type=spread", headers=user)
    assert page.status_code == 200, page.text
    forms = _track_forms(page.text)
    assert forms and len(forms) == page.text.count('data-testid="bet-row"')
    listing = (await client.get("/markets?market_type=spread", headers=_api(user))).json()
    top, form = listing["items"][0], forms[0]
    assert form["market_id"] == top["market_id"]
    assert float(form["odds_decimal"]) == top["best_price"]["odds"]
    assert form["bookmaker"] == top["best_price"]["bookmaker"]
    assert float(form["line"]) == top["best_price"]["line"]

    r = await client.post(
        "/app/my-bets/track", data={**form, "stake": "12.50"}, headers={**user, **HX}
    )
    assert r.status_code == 201, r.text
    assert 'data-testid="track-result"' in r.text and "Tracked: 12.50 USD" in r.text
    bet = (await client.get("/me/bets", headers=_api(user))).json()["items"][0]
    assert bet["market_id"] == top["market_id"] and bet["stake_minor"] == 1250
    assert bet["odds_decimal"] == top["best_price"]["odds"]
    assert bet["bookmaker"] == top["best_price"]["bookmaker"]
    assert bet["line"] == top["best_price"]["line"]

    # without JavaScript: a redirect to My bets, which shows it
    plain = await client.post("/app/my-bets/track", data={**form, "stake": "3"}, headers=user)
    assert plain.status_code == 303
    assert plain.headers["location"].startswith("/app/my-bets?tracked=bet_")
    listed = await client.get(plain.headers["location"], headers=user)
    assert listed.text.count('data-testid="my-bet"') == 2
    assert 'data-testid="tracked-notice"' in listed.text


@pytest.mark.parametrize("stake", ["0", "1e30"])  # too small; too big to count in cents
async def test_a_bad_stake_comes_back_on_the_form_with_the_apis_reason(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings, slate: str, stake: str
) -> None:
    user = await _signed_in(session, settings, "stake@my-bets-pages.test")
    page = await client.get("/app/bets", headers=user)
    form = _track_forms(page.text)[0]
    data = {**form, "stake": stake}
    r = await client.post("/app/my-bets/track", data=data, headers={**user, **HX})
    assert r.status_code == 422
    assert 'data-testid="track-form"' in r.text and "Stake:" in r.text
    assert f'value="{form["market_id"]}"' in r.text  # the same row's price, ready to retry
    assert (await client.get("/me/bets", headers=_api(user))).json()["total"] == 0


async def test_the_bet_page_has_the_track_control_too(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings, slate: str
) -> None:
    user = await _signed_in(session, settings, "detail@my-bets-pages.test")
    listing = (await client.get("/markets", headers=_api(user))).json()
    market_id = listing["items"][0]["market_id"]
    detail = (await client.get(f"/bet/{market_id}", headers=_api(user))).json()
    page = await client.get(f"/app/bets/{market_id}", headers=user)
    assert page.status_code == 200
    (form,) = _track_forms(page.text)
    assert form["market_id"] == market_id
    assert float(form["odds_decimal"]) == detail["best_price"]["odds"]
    assert form["bookmaker"] == detail["best_price"]["bookmaker"]


async def _open_and_settled(
    client: httpx.AsyncClient, session: AsyncSession, user: dict[str, str], slate: str
) -> tuple[dict[str, object], dict[str, object]]:
    """One bet on a played slate game (settled at once) and one on a game not yet played."""
    listing = (await client.get("/markets?market_type=moneyline", headers=_api(user))).json()
    top = listing["items"][0]
    settled = await client.post(
        "/me/bets",
        headers=_api(user),
        json={
            "market_id": top["market_id"],
            "odds_decimal": top["best_price"]["odds"],
            "stake_minor": 2000,
            "bookmaker": top["best_price"]["bookmaker"],
        },
    )
    tip = dt.datetime(2026, 12, 30, 0, 30, tzinfo=dt.UTC)
    game = await add_game(session, day=dt.date(2026, 12, 29), home="BOS", away="NYK", tip=tip)
    await add_quote(session, game, "moneyline", "fanduel", tip - dt.timedelta(days=30), (1.8, 2.1))
    await session.commit()
    opened = await client.post(
        "/me/bets",
        headers=_api(user),
        json={"market_id": f"{game.id}-ml-home", "odds_decimal": 1.8, "stake_minor": 1000},
    )
    assert settled.status_code == opened.status_code == 201
    return settled.json(), opened.json()


async def test_my_bets_lists_open_and_settled_bets_with_payout_and_clv_and_deletes_one(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings, slate: str
) -> None:
    user = await _signed_in(session, settings, "list@my-bets-pages.test")
    settled, opened = await _open_and_settled(client, session, user, slate)
    assert settled["status"] in ("won", "lost") and opened["status"] == "open"
    page = await client.get("/app/my-bets", headers=user)
    assert page.status_code == 200
    open_table = page.text.split('data-testid="open-bets"')[1].split("</table>")[0]
    settled_table = page.text.split('data-testid="settled-bets"')[1].split("</table>")[0]
    assert opened["id"] in open_table and settled["id"] not in open_table
    assert settled["id"] in settled_table
    payout = int(settled["payout_minor"])  # type: ignore[call-overload]
    assert f"{payout / 100:,.2f}" in settled_table
    assert f"{(payout - 2000) / 100:+.2f}" in settled_table
    if settled["clv"] is not None:
        assert f"{100 * float(settled['clv']):+.2f} pts" in settled_table  # type: ignore[arg-type]
    assert 'href="/app/my-bets.csv"' in page.text

    cross = await client.post(
        f"/app/my-bets/{opened['id']}/delete",
        headers={**user, "origin": "https://evil.example"},
    )
    assert cross.status_code == 403
    gone = await client.post(f"/app/my-bets/{opened['id']}/delete", headers=user)
    assert gone.status_code == 303 and gone.headers["location"] == "/app/my-bets?deleted=1"
    left = (await client.get("/me/bets", headers=_api(user))).json()["items"]
    assert [b["id"] for b in left] == [settled["id"]]
    again = await client.post(f"/app/my-bets/{opened['id']}/delete", headers=user)
    assert again.status_code == 404


async def test_a_running_time_out_is_explained_with_its_end_and_pauses_tracking(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings, slate: str
) -> None:
    user = await _signed_in(session, settings, "break@my-bets-pages.test")
    form = _track_forms((await client.get("/app/bets", headers=user)).text)[0]
    until = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(hours=24)
    assert await restrict_user(session, user["x-user-id"], until, by="test")
    await session.commit()
    shown = until.strftime("%Y-%m-%d %H:%M UTC")
    for path in ("/app/my-bets", "/app/performance"):
        page = await client.get(path, headers=user)
        assert page.status_code == 200, path
        assert 'data-testid="restriction-notice"' in page.text
        assert f'<strong data-testid="restricted-until">{shown}</strong>' in page.text
    # the value-bet feed itself pauses (the API's 403); a row's Track form loaded before the
    # time-out began meets the API's 403 too, explained with the end
    bets = await client.get("/app/bets", headers=user)
    assert bets.status_code == 403 and "account_restricted" in bets.text
    r = await client.post("/app/my-bets/track", data={**form, "stake": "5"}, headers={**user, **HX})
    assert r.status_code == 403
    assert f"your time-out runs until {shown}" in r.text


async def test_the_performance_page_draws_the_numbers_with_their_sample_sizes(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings, slate: str
) -> None:
    user = await _signed_in(session, settings, "perf@my-bets-pages.test")
    empty = await client.get("/app/performance", headers=user)
    assert empty.status_code == 200 and "No bets yet" in empty.text
    assert 'data-testid="no-profit"' in empty.text and 'data-testid="no-clv"' in empty.text
    listing = (await client.get("/markets?limit=12", headers=_api(user))).json()
    for n, row in enumerate(listing["items"]):
        r = await client.post(
            "/me/bets",
            headers=_api(user),
            json={
                "market_id": row["market_id"],
                "odds_decimal": row["best_price"]["odds"],
                "stake_minor": 1000 + 100 * n,
                "bookmaker": row["best_price"]["bookmaker"],
            },
        )
        assert r.status_code == 201, r.text
    perf = (await client.get("/me/performance", headers=_api(user))).json()
    page = await client.get("/app/performance", headers=user)
    assert page.status_code == 200
    text = page.text
    assert html.escape(perf["verdict"], quote=False) in text
    overall = perf["overall"]
    assert f'<span data-testid="roi-n">{overall["settled"]}</span>' in text
    assert f'<span data-testid="clv-n">{overall["clv_bets"]}</span>' in text
    for key in ("by-market-type", "by-month", "by-book"):
        assert f'data-testid="{key}"' in text
    for book in perf["by_book"]:
        assert f'<th scope="row">{book}</th>' in text
    assert 'data-testid="profit-chart"' in text
    series = re.search(r"data-series='([^']+)'", text)
    assert series is not None
    data = json.loads(html.unescape(series.group(1)))[0]["data"]
    assert len(data) == overall["settled"] + 1 and data[0]["value"] == 0
    assert data[-1]["value"] == pytest.approx(overall["profit_minor"] / 100)
    times = [p["time"] for p in data]
    assert times == sorted(set(times))  # strictly ascending, as the chart library requires
    if overall["clv_bets"]:
        bars = [int(n) for n in re.findall(r'data-n="(\d+)"', text)]
        assert sum(bars) == overall["clv_bets"]
    exported = await client.get("/app/my-bets.csv", headers=user)
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
    assert len(list(csv.DictReader(io.StringIO(exported.text)))) == len(listing["items"])


async def test_an_import_id_in_the_url_is_one_path_segment_of_the_api_call(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    """The id is quoted into the API's URL: `<id>?x` typed into the page's URL is no import
    (not the import `<id>` with a query string)."""
    user = await _signed_in(session, settings, "import-url@my-bets-pages.test")
    text = b"Date,Odds,Stake,Result\n2024-03-01,+100,10,Won\n"
    up = await client.post(
        "/me/bets/imports", headers=_api(user), files={"file": ("b.csv", text, "text/csv")}
    )
    assert up.status_code == 201, up.text
    import_id = up.json()["id"]
    page = await client.get(f"/app/my-bets/import/{import_id}", headers=user)
    assert page.status_code == 200
    odd = await client.get(f"/app/my-bets/import/{import_id}%3Fx", headers=user)
    assert odd.status_code == 404
