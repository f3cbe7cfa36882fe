"""Importing a bet history through the API: preview, re-map, confirm, idempotency, refusals."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from edgelab.accounts.service import create_api_key, create_user
from edgelab.betting.bets.models import BetImport, UserBet
from edgelab.core.auth import Principal, issue_access_token
from edgelab.core.clock import ManualClock
from edgelab.core.settings import Settings
from tests.betting.bet_history_csv import BAD_REASONS, FIXTURE, build, to_csv
from tests.fixtures.app import app_in_session
from tests.fixtures.database import make_settings

pytestmark = pytest.mark.asyncio(loop_scope="session")

HEADER = "Date,Sport,Bet Type,Selection,Odds,Stake,Result\n"


async def _user(session: AsyncSession, settings: Settings, email: str) -> dict[str, str]:
    user = await create_user(session, email)
    await session.commit()
    return {"Authorization": f"Bearer {issue_access_token(settings, user.id)}"}


async def _upload(
    client: httpx.AsyncClient, auth: dict[str, str], text: str | bytes, name: str = "bets.csv"
) -> httpx.Response:
    data = text.encode() if isinstance(text, str) else text
    return await client.post(
        "/me/bets/imports", headers=auth, files={"file": (name, data, "text/csv")}
    )


async def _bets_in_db(session: AsyncSession) -> int:
    stmt = select(func.count()).select_from(UserBet)
    return int((await session.execute(stmt)).scalar_one())


async def test_the_committed_fixture_is_what_the_generator_builds() -> None:
    assert FIXTURE.read_bytes() == to_csv(build()).encode()


async def test_200_bets_with_3_bad_rows_preview_then_import_and_show_in_bets_and_performance(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    auth = await _user(session, settings, "import.200@example.com")
    r = await _upload(client, auth, FIXTURE.read_bytes(), "draftkings.csv")
    assert r.status_code == 201, r.text
    preview = r.json()
    assert preview["counts"] == {"rows": 200, "take": 197, "skip": 3, "duplicate": 0}
    assert preview["missing_roles"] == []
    roles = {c["name"]: c["role"] for c in preview["columns"]}
    assert roles["Wager"] == "stake" and roles["Status"] == "result" and roles["Odds"] == "odds"
    bets = build()
    expected = {b.number + 1: [BAD_REASONS[b.bad]] for b in bets if b.bad}
    assert {row["line"]: row["reasons"] for row in preview["skipped"]} == expected
    assert await _bets_in_db(session) == 0  # nothing written before confirm

    r = await client.post(f"/me/bets/imports/{preview['id']}/confirm", headers=auth)
    assert r.status_code == 200, r.text
    result = r.json()["result"]
    assert (result["imported"], result["skipped"], result["duplicates"]) == (197, 3, 0)

    listed = (await client.get("/me/bets", headers=auth, params={"limit": 200})).json()
    assert listed["total"] == 197
    good = [b for b in bets if not b.bad]
    newest = max(good, key=lambda b: b.number)  # placed latest, listed first
    first = listed["items"][0]
    assert first["selection"] == newest.cells[5] and first["market_id"] is None
    assert first["stake_minor"] == newest.stake_cents and first["clv"] is None

    perf = (await client.get("/me/performance", headers=auth)).json()
    settled = [b for b in good if b.status != "Void"]
    assert perf["overall"]["bets"] == 197
    assert perf["overall"]["staked_minor"] == sum(b.stake_cents for b in settled)
    assert perf["overall"]["profit_minor"] == sum(b.payout_cents - b.stake_cents for b in settled)
    won = [b for b in settled if b.payout_cents > b.stake_cents]
    assert perf["overall"]["won"] == len(won)


async def test_the_same_file_again_imports_nothing_and_counts_duplicates(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    auth = await _user(session, settings, "import.again@example.com")
    first = (await _upload(client, auth, FIXTURE.read_bytes())).json()
    await client.post(f"/me/bets/imports/{first['id']}/confirm", headers=auth)
    again = await _upload(client, auth, FIXTURE.read_bytes())
    assert again.json()["counts"] == {"rows": 200, "take": 0, "skip": 3, "duplicate": 197}
    done = await client.post(f"/me/bets/imports/{again.json()['id']}/confirm", headers=auth)
    assert done.json()["result"]["imported"] == 0
    assert done.json()["result"]["duplicates"] == 197
    assert await _bets_in_db(session) == 197


async def test_an_overlapping_export_imports_only_the_new_rows(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    auth = await _user(session, settings, "import.overlap@example.com")
    bets = build()
    early = (await _upload(client, auth, to_csv(bets[:120]))).json()
    await client.post(f"/me/bets/imports/{early['id']}/confirm", headers=auth)
    later = (await _upload(client, auth, to_csv(bets[100:]))).json()
    bad_later = sum(1 for b in bets[100:] if b.bad)
    bad_overlap = sum(1 for b in bets[100:120] if b.bad)
    assert later["counts"]["duplicate"] == 20 - bad_overlap
    assert later["counts"]["take"] == 100 - bad_later - (20 - bad_overlap)
    await client.post(f"/me/bets/imports/{later['id']}/confirm", headers=auth)
    assert await _bets_in_db(session) == 197


async def test_identical_rows_in_one_file_are_two_bets(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    auth = await _user(session, settings, "import.twins@example.com")
    row = "2024-03-01 19:00,NBA,Moneyline,Celtics,-150,$30.00,Won\n"
    text = HEADER + row + row
    preview = (await _upload(client, auth, text)).json()
    assert preview["counts"]["take"] == 2
    await client.post(f"/me/bets/imports/{preview['id']}/confirm", headers=auth)
    again = (await _upload(client, auth, text + row)).json()  # a third one is new
    assert again["counts"] == {"rows": 3, "take": 1, "skip": 0, "duplicate": 2}


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ("2024-03-01,NBA,Moneyline,Celtics,+abc,$10,Won", "odds '+abc' is not American or decimal"),
        ("2024-03-01,NBA,Moneyline,Celtics,-50,$10,Won", "odds '-50' is not American or decimal"),
        ("2024-03-01,NBA,Moneyline,Celtics,,$10,Won", "odds missing"),
        ("2024-03-01,NBA,Moneyline,Celtics,1.00,$10,Won", "odds '1.00' is not above 1"),
        ("2024-03-01,NBA,Moneyline,Celtics,+120,,Won", "stake missing"),
        ("2024-03-01,NBA,Moneyline,Celtics,+120,ten,Won", "stake 'ten' is not an amount"),
        ("2024-03-01,NBA,Moneyline,Celtics,+120,$0.00,Won", "stake '$0.00' is not above 0"),
        ("31/02/2023,NBA,Moneyline,Celtics,+120,$10,Won", "date '31/02/2023' is not a date"),
        ("yesterday,NBA,Moneyline,Celtics,+120,$10,Won", "date 'yesterday' is not a date"),
        ("2099-01-01,NBA,Moneyline,Celtics,+120,$10,Won", "date '2099-01-01' is in the future"),
        (",NBA,Moneyline,Celtics,+120,$10,Won", "date missing"),
        ("2024-03-01,NBA,Moneyline,Celtics,+120,$10,maybe", "result 'maybe' is unknown"),
        ("2024-03-01,NBA,Moneyline,Celtics,+120,$10,", "result missing"),
        (
            "2024-03-01,NBA,Moneyline,Celtics,+120,$10,Pending",
            "result 'Pending' is not settled: only settled bets are imported",
        ),
        (
            "2024-03-01,NBA,Moneyline,Celtics,+120,$10,Cashed Out",
            "a cash-out needs the file's payout or profit (map that column)",
        ),
        (  # cells too big for the arithmetic: a reason, not a 500
            "0001-01-01T00:00:00+05:00,NBA,Moneyline,Celtics,+120,$10,Won",
            "date '0001-01-01T00:00:00+05:00' is out of range",
        ),
        (
            "2024-03-01,NBA,Moneyline,Celtics,+120," + "9" * 27 + ",Won",
            "stake '" + "9" * 27 + "' is out of range",
        ),
        (
            "2024-03-01,NBA,Moneyline,Celtics," + "9" * 5000 + "/1,$10,Won",
            "odds '" + "9" * 59 + "…' is out of range",
        ),
    ],
)
async def test_each_bad_row_is_skipped_with_its_reason(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings, row: str, reason: str
) -> None:
    auth = await _user(session, settings, "import.reasons@example.com")
    good = "2024-03-02,NBA,Moneyline,Knicks,+120,$10,Lost"
    preview = (await _upload(client, auth, HEADER + good + "\n" + row + "\n")).json()
    assert preview["counts"]["take"] == 1 and preview["counts"]["skip"] == 1
    skipped = preview["skipped"][0]
    assert skipped["line"] == 3 and skipped["reasons"][0].startswith(reason)
    assert skipped["cells"] == row.split(",")


async def test_several_problems_in_one_row_are_all_reported(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    auth = await _user(session, settings, "import.many@example.com")
    preview = (await _upload(client, auth, HEADER + "31/02/2023,NBA,ML,X,+abc,,maybe\n")).json()
    assert preview["skipped"][0]["reasons"] == [
        "date '31/02/2023' is not a date",
        "odds '+abc' is not American or decimal",
        "stake missing",
        "result 'maybe' is unknown",
    ]


async def test_a_european_export_with_bom_semicolons_decimal_commas_and_euros(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    auth = await _user(session, settings, "import.eu@example.com")
    text = (
        "Datum;Sport;Markt;Pick;Odds;Stake;Status;Returns\n"
        "25/01/2024 20:45;Football;1X2;Arsenal;2,50;€1.234,50;Won;€3.086,25\n"
        "03/02/2024 16:00;Football;Total;Over 2.5;1,90;€10,00;Lost;€0,00\n"
    )
    r = await _upload(client, auth, b"\xef\xbb\xbf" + text.encode())
    preview = r.json()
    assert preview["delimiter"] == ";" and preview["encoding"] == "utf-8"
    roles = {c["name"]: c["role"] for c in preview["columns"]}
    assert roles["Datum"] is None and roles["Pick"] == "selection"
    assert preview["missing_roles"] == ["date"]
    r = await client.post(
        f"/me/bets/imports/{preview['id']}",
        headers=auth,
        json={"columns": {"Datum": "date"}, "time_zone": "Europe/London"},
    )
    assert r.status_code == 200, r.text
    remapped = r.json()
    assert remapped["counts"]["take"] == 2 and remapped["date_order"] == "dmy"
    first = remapped["first_rows"][0]["bet"]
    assert first["stake_minor"] == 123450 and first["currency"] == "EUR"
    assert first["odds_decimal"] == 2.5 and first["payout_minor"] == 308625
    assert first["placed_at"] == "2024-01-25T20:45:00Z"  # London is UTC in January
    assert remapped["first_rows"][1]["bet"]["market_type"] == "total"


async def test_a_utf16_excel_export_with_tabs_and_a_title_line_is_read(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    auth = await _user(session, settings, "import.utf16@example.com")
    text = (
        "My bets export\n"
        "Placed\tEvent\tPick\tPrice\tRisk\tOutcome\tBook\n"
        "Oct 12, 2023 7:05 PM\tBOS @ NYK\tKnicks +3.5\t-110\t110\tW\tFanDuel\n"
    )
    preview = (await _upload(client, auth, text.encode("utf-16"))).json()
    assert preview["encoding"] == "utf-16" and preview["counts"]["take"] == 1
    bet = preview["first_rows"][0]["bet"]
    assert bet["placed_at"] == "2023-10-12T23:05:00Z"  # 7:05 PM New York (EDT) time
    assert bet["market_type"] == "spread" and bet["line"] == 3.5
    assert bet["payout_minor"] == 21000  # 110 at -110 wins 100
    assert bet["bookmaker"] == "FanDuel"


async def test_a_pikkit_style_export_takes_profit_and_cash_outs(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    auth = await _user(session, settings, "import.pikkit@example.com")
    text = (
        "bet_id,sportsbook,type,status,odds,amount,profit,time_placed,bet_info,sports\n"
        "a1,DraftKings,straight,SETTLED_CASHOUT,2.1,20,-4.5,2024-02-01T01:00:00Z,"
        "Nuggets ML,Basketball\n"
        "a2,DraftKings,straight,SETTLED_WIN,1.8,10,8,2024-02-02T01:00:00Z,Heat ML,Basketball\n"
    )
    preview = (await _upload(client, auth, text)).json()
    assert preview["counts"]["take"] == 2
    cash, win = (row["bet"] for row in preview["first_rows"])
    assert (cash["result"], cash["status"], cash["payout_minor"]) == ("cashout", "lost", 1550)
    assert (win["result"], win["payout_minor"]) == ("won", 1800)
    await client.post(f"/me/bets/imports/{preview['id']}/confirm", headers=auth)
    changed = text.replace("Nuggets ML", "Nuggets moneyline")  # same bet ids: same bets
    again = (await _upload(client, auth, changed)).json()
    assert again["counts"]["duplicate"] == 2


async def test_a_payout_too_big_for_a_bet_is_skipped_and_the_rest_imported(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    auth = await _user(session, settings, "import.payout@example.com")
    text = (
        "Date,Odds,Stake,Result,Payout\n"
        "2024-03-01,+100,10,Won,99999999999999999999999\n"
        "2024-03-02,+100,10,Won,20\n"
    )
    preview = (await _upload(client, auth, text)).json()
    assert preview["counts"]["take"] == 1 and preview["counts"]["skip"] == 1
    assert preview["skipped"][0]["reasons"] == [
        "payout '99999999999999999999999' is out of range (over the stake at odds of 1001)"
    ]
    done = await client.post(f"/me/bets/imports/{preview['id']}/confirm", headers=auth)
    assert done.status_code == 200, done.text
    assert done.json()["result"]["imported"] == 1
    assert await _bets_in_db(session) == 1


async def test_mapping_the_book_on_a_second_upload_duplicates_no_bet_id_row(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    auth = await _user(session, settings, "import.bookmap@example.com")
    text = "Bet ID,Book,Date,Odds,Stake,Result\n77,DraftKings,2024-02-01,+100,10,Won\n"
    first = (await _upload(client, auth, text)).json()
    url = f"/me/bets/imports/{first['id']}"
    r = await client.post(url, headers=auth, json={"columns": {"Book": None}})
    assert r.json()["counts"]["take"] == 1
    await client.post(f"{url}/confirm", headers=auth)
    again = (await _upload(client, auth, text)).json()  # the book mapped this time
    assert again["counts"] == {"rows": 1, "take": 0, "skip": 0, "duplicate": 1}


async def test_a_bet_id_twice_in_one_file_is_refused_on_its_second_row(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    auth = await _user(session, settings, "import.twiceid@example.com")
    text = "Bet ID,Date,Odds,Stake,Result\n77,2024-02-01,+100,10,Won\n77,2024-02-01,+100,10,Won\n"
    preview = (await _upload(client, auth, text)).json()
    assert preview["skipped"][0]["reasons"] == ["bet id '77' is also on line 2"]


async def test_bad_mappings_are_refused_and_confirm_needs_the_four_roles(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    auth = await _user(session, settings, "import.mapping@example.com")
    preview = (await _upload(client, auth, HEADER + "2024-03-01,NBA,ML,X,+100,10,Won\n")).json()
    url = f"/me/bets/imports/{preview['id']}"
    r = await client.post(url, headers=auth, json={"columns": {"Nope": "odds"}})
    assert r.status_code == 400 and r.json()["error"]["code"] == "bet_import_bad_mapping"
    r = await client.post(url, headers=auth, json={"columns": {"Sport": "odds"}})
    assert r.status_code == 400 and r.json()["error"]["details"]["roles_twice"] == {
        "odds": ["Sport", "Odds"]
    }
    r = await client.post(url, headers=auth, json={"columns": {"Odds": "wrong"}})
    assert r.status_code == 422
    r = await client.post(url, headers=auth, json={"columns": {"Stake": None}})
    assert r.json()["missing_roles"] == ["stake"]
    assert r.json()["skipped"][0]["reasons"] == ["no column is mapped to stake"]
    r = await client.post(f"{url}/confirm", headers=auth)
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "bet_import_incomplete_mapping"
    assert r.json()["error"]["details"]["missing"] == ["stake"]
    assert await _bets_in_db(session) == 0


async def test_confirming_twice_answers_the_same_result_and_the_mapping_is_then_fixed(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    auth = await _user(session, settings, "import.twice@example.com")
    preview = (await _upload(client, auth, HEADER + "2024-03-01,NBA,ML,X,+100,10,Won\n")).json()
    url = f"/me/bets/imports/{preview['id']}"
    first = (await client.post(f"{url}/confirm", headers=auth)).json()
    second = (await client.post(f"{url}/confirm", headers=auth)).json()
    assert first["result"] == second["result"] and first["result"]["imported"] == 1
    assert second["counts"]["take"] == 1  # its own rows are not its duplicates
    r = await client.post(url, headers=auth, json={"columns": {"Sport": None}})
    assert r.status_code == 409 and r.json()["error"]["code"] == "bet_import_confirmed"
    assert await _bets_in_db(session) == 1


async def test_another_users_import_is_not_found_and_an_old_one_has_expired(
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    manual_clock: ManualClock,
) -> None:
    alice = (await create_user(session, "import.alice@example.com")).id
    bob = (await create_user(session, "import.bob@example.com")).id
    await session.commit()

    def auth(user_id: str) -> dict[str, str]:  # tokens of the clock's now
        return {"Authorization": f"Bearer {issue_access_token(settings, user_id)}"}

    text = HEADER + "2024-03-01,NBA,ML,X,+100,10,Won\n"
    preview = (await _upload(client, auth(alice), text)).json()
    url = f"/me/bets/imports/{preview['id']}"
    r = await client.get(url, headers=auth(bob))
    assert r.status_code == 404 and r.json()["error"]["code"] == "bet_import_not_found"
    r = await client.post(f"{url}/confirm", headers=auth(bob))
    assert r.status_code == 404
    manual_clock.advance(settings.bet_import_ttl_seconds - 5)
    assert (await client.get(url, headers=auth(alice))).status_code == 200
    manual_clock.advance(10)
    r = await client.post(f"{url}/confirm", headers=auth(alice))
    assert r.status_code == 410 and r.json()["error"]["code"] == "bet_import_expired"
    await _upload(client, auth(bob), text)  # the next upload deletes it
    gone = await session.get(BetImport, preview["id"], populate_existing=True)
    assert gone is None
    assert await _bets_in_db(session) == 0


async def test_files_that_are_not_a_csv_or_too_big_are_refused(
    db_url: str, session: AsyncSession
) -> None:
    settings = make_settings(db_url, bet_import_max_rows=3, bet_import_max_bytes=2048)
    user = await create_user(session, "import.limits@example.com")
    await session.commit()
    auth = {"Authorization": f"Bearer {issue_access_token(settings, user.id)}"}
    async with app_in_session(settings, session) as (_, client):
        r = await _upload(client, auth, b"\x89PNG\r\n\x1a\n\x00\x00\x00")
        assert r.status_code == 415 and r.json()["error"]["code"] == "bet_import_unreadable"
        r = await _upload(client, auth, HEADER)
        assert r.status_code == 415
        assert r.json()["error"]["details"]["reason"] == "a header but no data rows"
        rows = "2024-03-01,NBA,ML,X,+100,10,Won\n"
        r = await _upload(client, auth, HEADER + rows * 4)
        assert r.status_code == 413 and r.json()["error"]["details"] == {"max_rows": 3}
        r = await _upload(client, auth, HEADER + rows * 3 + "x" * 3000)
        assert r.status_code == 413 and r.json()["error"]["code"] == "bet_import_too_large"
        r = await _upload(client, auth, HEADER + rows * 3)
        assert r.status_code == 201
    assert int((await session.execute(select(func.count()).select_from(BetImport))).scalar_one())


async def test_a_broken_multipart_body_is_a_documented_400(
    db_url: str, session: AsyncSession
) -> None:
    """Found by the outside fuzz: a multipart body that cannot be parsed is 400 `bad_request`,
    and the operation's documented answers say so."""
    settings = make_settings(db_url)
    user = await create_user(session, "import.multipart@example.com")
    await session.commit()
    auth = {"Authorization": f"Bearer {issue_access_token(settings, user.id)}"}
    boundary = "0d37f771f3609e9baf6be26654101f5f"
    async with app_in_session(settings, session) as (_, client):
        r = await client.post(
            "/me/bets/imports",
            content=f"--{boundary}\r\nTrue--{boundary}--\r\n".encode(),
            headers={**auth, "Content-Type": f"multipart/form-data; boundary={boundary}"},
        )
        assert r.status_code == 400 and r.json()["error"]["code"] == "bad_request"
        spec = (await client.get("/openapi.json")).json()
        assert "400" in spec["paths"]["/me/bets/imports"]["post"]["responses"]


async def test_imports_need_a_user_and_a_write_key(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    r = await _upload(client, {}, HEADER + "2024-03-01,NBA,ML,X,+100,10,Won\n")
    assert r.status_code == 401
    user = await create_user(session, "import.keys@example.com", tier="paid")
    principal = Principal(user.id, user.role, user.tier, "jwt")
    _, read_key = await create_api_key(session, principal, "reader")
    _, write_key = await create_api_key(session, principal, "writer", scope="write")
    await session.commit()
    text = HEADER + "2024-03-01,NBA,ML,X,+100,10,Won\n"
    r = await _upload(client, {"Authorization": f"Bearer {read_key}"}, text)
    assert r.status_code == 403 and r.json()["error"]["code"] == "api_key_read_only"
    r = await _upload(client, {"Authorization": f"Bearer {write_key}"}, text)
    assert r.status_code == 201
    got = await client.get(
        f"/me/bets/imports/{r.json()['id']}", headers={"Authorization": f"Bearer {read_key}"}
    )
    assert got.status_code == 200
