"""A player's activity over the API: bets and transactions merged newest first, read page by
page without a row skipped or repeated (even rows at the same instant, even while new rows
arrive), for analysts only."""

from __future__ import annotations

import datetime as dt

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from edgelab.core.settings import Settings
from tests.sentinel.factories import bet_row, headers_for, tx_row

pytestmark = pytest.mark.asyncio(loop_scope="session")

PLAYER = "PLR_7001_NJ"
T0 = dt.datetime(2026, 10, 1, 18, tzinfo=dt.UTC)


def _at(minutes: int) -> str:
    return (T0 + dt.timedelta(minutes=minutes)).isoformat()


async def _store(
    client: httpx.AsyncClient, analyst: dict[str, str], bets: list[dict], txs: list[dict]
) -> None:
    if bets:
        r = await client.post("/sentinel/bets", headers=analyst, json={"bets": bets})
        assert r.status_code == 200, r.text
    if txs:
        r = await client.post("/sentinel/transactions", headers=analyst, json={"transactions": txs})
        assert r.status_code == 200, r.text


def _bet(n: int, minutes: int, **more: object) -> dict:
    placed = T0 + dt.timedelta(minutes=minutes)
    return bet_row(
        f"act-b{n}",
        PLAYER,
        placed_at=placed.isoformat(),
        settled_at=(placed + dt.timedelta(hours=2)).isoformat(),
        **more,
    )


def _tx(n: int, minutes: int, **more: object) -> dict:
    return tx_row(f"act-t{n}", PLAYER, occurred_at=_at(minutes), **more)


async def _page(
    client: httpx.AsyncClient, analyst: dict[str, str], **params: object
) -> httpx.Response:
    return await client.get(f"/sentinel/players/{PLAYER}/activity", headers=analyst, params=params)


async def _read_all(
    client: httpx.AsyncClient, analyst: dict[str, str], limit: int
) -> tuple[list[str], int]:
    """Every item id, following next_before/next_before_id; (ids, pages)."""
    ids: list[str] = []
    params: dict[str, object] = {"limit": limit}
    pages = 0
    while True:
        r = await _page(client, analyst, **params)
        assert r.status_code == 200, r.text
        body = r.json()
        pages += 1
        assert len(body["items"]) <= limit
        ids += [item["id"] for item in body["items"]]
        if body["next_before"] is None:
            assert body["next_before_id"] is None
            return ids, pages
        assert body["next_before_id"] == body["items"][-1]["id"]
        params = {
            "limit": limit,
            "before": body["next_before"],
            "before_id": body["next_before_id"],
        }


async def test_bets_and_transactions_come_merged_newest_first_with_their_fields(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    analyst = await headers_for(session, settings, "act-order@example.com")
    await _store(
        client,
        analyst,
        [
            _bet(1, 10, is_live=True, odds_decimal=2.5, stake_minor=1000, payout_minor=2500),
            _bet(2, 30, status="lost", payout_minor=0, currency="EUR"),
            bet_row(
                "act-b3",
                PLAYER,
                placed_at=_at(50),
                settled_at=None,
                status="open",
                payout_minor=None,
            ),
        ],
        [_tx(1, 0), _tx(2, 40, kind="withdrawal", status="declined", amount_minor=5_000)],
    )
    r = await _page(client, analyst)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["player_id"] == PLAYER and body["limit"] == 50
    assert body["next_before"] is None and body["next_before_id"] is None
    items = body["items"]
    assert [(i["kind"], i["external_id"]) for i in items] == [
        ("bet", "act-b3"),
        ("transaction", "act-t2"),
        ("bet", "act-b2"),
        ("bet", "act-b1"),
        ("transaction", "act-t1"),
    ]
    times = [dt.datetime.fromisoformat(i["at"]) for i in items]
    assert times == sorted(times, reverse=True) and times[-1] == T0
    first_bet = items[3]
    assert first_bet["is_live"] is True and first_bet["odds_decimal"] == 2.5
    assert (first_bet["stake_minor"], first_bet["payout_minor"], first_bet["currency"]) == (
        1000,
        2500,
        "USD",
    )
    assert first_bet["result"] == "won" and first_bet["sport"] == "basketball"
    assert first_bet["market_type"] == "moneyline" and first_bet["settled_at"] is not None
    assert items[2]["result"] == "lost" and items[2]["payout_minor"] == 0
    assert items[2]["currency"] == "EUR"
    assert items[0]["result"] == "open" and items[0]["payout_minor"] is None
    withdrawal = items[1]
    assert withdrawal["type"] == "withdrawal" and withdrawal["status"] == "declined"
    assert withdrawal["amount_minor"] == 5_000 and withdrawal["currency"] == "USD"
    assert items[4]["type"] == "deposit" and items[4]["status"] == "approved"
    # a bare time: only what is strictly older
    older = (await _page(client, analyst, before=_at(30))).json()["items"]
    assert [i["external_id"] for i in older] == ["act-b1", "act-t1"]


async def test_paging_never_skips_or_repeats_rows_even_at_the_same_instant(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    analyst = await headers_for(session, settings, "act-paging@example.com")
    # 13 bets and 9 transactions on 5 instants: ties within a kind and across kinds
    bets = [_bet(n, 10 * (n % 5)) for n in range(13)]
    txs = [_tx(n, 10 * (n % 5)) for n in range(9)]
    await _store(client, analyst, bets, txs)
    everything = (await _page(client, analyst, limit=200)).json()["items"]
    assert len(everything) == 22
    expected = [i["id"] for i in everything]
    assert len(set(expected)) == 22
    for limit in (1, 2, 3, 5, 7, 22):
        ids, pages = await _read_all(client, analyst, limit)
        assert ids == expected, limit
        assert pages == -(-22 // limit)  # no empty last page
    # at one instant, the bets (highest id first) come before the transactions
    at_40 = [i for i in everything if i["at"].startswith(T0.replace(minute=40).isoformat()[:16])]
    kinds = [i["kind"] for i in at_40]
    assert kinds == ["bet", "bet", "transaction"]
    bet_ids = [int(i["id"].split("_")[1]) for i in at_40 if i["kind"] == "bet"]
    assert bet_ids == sorted(bet_ids, reverse=True)


async def test_rows_arriving_between_pages_do_not_shift_the_next_page(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    analyst = await headers_for(session, settings, "act-arrive@example.com")
    await _store(client, analyst, [_bet(n, n) for n in range(6)], [_tx(n, n) for n in range(4)])
    before_arrivals = [i["id"] for i in (await _page(client, analyst)).json()["items"]]
    first = (await _page(client, analyst, limit=4)).json()
    assert [i["id"] for i in first["items"]] == before_arrivals[:4]
    # a newer bet, and one at the very instant the first page ended (a higher id: it sorts
    # above the cursor, so it belongs to what was already passed, not to the next page)
    ended = dt.datetime.fromisoformat(first["next_before"])
    await _store(client, analyst, [_bet(50, 90), _bet(51, int((ended - T0).seconds // 60))], [])
    rest = await _page(
        client, analyst, limit=200, before=first["next_before"], before_id=first["next_before_id"]
    )
    assert [i["id"] for i in rest.json()["items"]] == before_arrivals[4:]
    assert len((await _page(client, analyst)).json()["items"]) == 12


async def test_only_analysts_may_read_activity(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    analyst = await headers_for(session, settings, "act-analyst@example.com")
    await _store(client, analyst, [_bet(1, 0)], [])
    user = await headers_for(session, settings, "act-user@example.com", role="user")
    r = await _page(client, user)
    assert r.status_code == 403 and r.json()["error"]["code"] == "role_required"
    r = await client.get(f"/sentinel/players/{PLAYER}/activity")
    assert r.status_code == 401
    admin = await headers_for(session, settings, "act-admin@example.com", role="admin")
    assert (await _page(client, admin)).status_code == 200


async def test_an_unknown_player_is_404(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    analyst = await headers_for(session, settings, "act-404@example.com")
    r = await client.get("/sentinel/players/PLR_9999_ZZ/activity", headers=analyst)
    assert r.status_code == 404 and r.json()["error"]["code"] == "player_not_found"


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 201}, "limit"),
        ({"before": "2026-10-01T18:00:00"}, "before"),  # naive: no offset
        ({"before": "yesterday"}, "before"),
        ({"before": "0001-01-01T00:00:00+01:00"}, "before"),  # before year 1 in UTC
        ({"before": "1790000000"}, "before"),  # a number is not read as epoch seconds
        ({"before": _at(0), "before_id": "row_1"}, "before_id"),
        ({"before_id": "bet_1"}, "before"),  # an id needs its time
    ],
)
async def test_bad_parameters_are_422_naming_the_field(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings, params, field
) -> None:
    analyst = await headers_for(session, settings, f"act-422-{field}-{len(params)}@example.com")
    await _store(client, analyst, [_bet(1, 0)], [])
    r = await _page(client, analyst, **params)
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["code"] == "validation_error"
    assert ["query", field] in [d["loc"] for d in error["details"]]
