"""Bet logs coming in: the bulk API (all-or-nothing, per-row errors, idempotent), CSV files and
the real payments file."""

from __future__ import annotations

import csv
import gzip
import io
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from edgelab.core.settings import Settings
from edgelab.sentinel.betlog import ingest
from edgelab.sentinel.commands import shipped_payments_file
from edgelab.sentinel.models import SentinelBet, SentinelPlayer, SentinelTransaction
from tests.sentinel.factories import bet_row, headers_for, tx_row

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def _count(session: AsyncSession, model: type) -> int:
    return int((await session.execute(select(func.count()).select_from(model))).scalar_one())


async def test_a_batch_of_bets_is_stored_and_its_players_created(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    h = await headers_for(session, settings, "ops1@example.com")
    rows = [
        bet_row("b1"),
        bet_row("b2", status="lost", payout_minor=0),
        bet_row("b3", "PLR_1002_PA", status="open", settled_at=None, payout_minor=None),
    ]
    r = await client.post("/sentinel/bets", headers=h, json={"bets": rows})
    assert r.status_code == 200, r.text
    assert r.json() == {"received": 3, "created": 3, "duplicates": 0, "players_created": 2}
    stored = (
        await session.execute(select(SentinelBet).where(SentinelBet.external_id == "b3"))
    ).scalar_one()
    assert stored.status == "open" and stored.settled_at is None and stored.payout_minor is None
    first = (
        await session.execute(select(SentinelBet).where(SentinelBet.external_id == "b1"))
    ).scalar_one()
    assert first.placed_at.isoformat() == "2026-10-02T00:00:00+00:00"  # stored in UTC


async def test_a_resent_row_changes_nothing_and_counts_as_a_duplicate(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    h = await headers_for(session, settings, "ops2@example.com")
    await client.post("/sentinel/bets", headers=h, json={"bets": [bet_row("d1")]})
    player = (await session.execute(select(SentinelPlayer))).scalar_one()
    version = player.activity_version
    changed = bet_row("d1", stake_minor=999_999)  # same id, different content: still the first
    r = await client.post("/sentinel/bets", headers=h, json={"bets": [changed, bet_row("d2")]})
    assert r.json() == {"received": 2, "created": 1, "duplicates": 1, "players_created": 0}
    stakes = (await session.execute(select(SentinelBet.stake_minor).order_by(SentinelBet.id))).all()
    assert [s for (s,) in stakes] == [2500, 2500]
    r = await client.post("/sentinel/bets", headers=h, json={"bets": [bet_row("d1")]})
    assert r.json()["duplicates"] == 1
    await session.refresh(player)
    assert player.activity_version == version + 1  # only the batch that stored d2


async def test_one_bad_row_rejects_the_batch_listing_every_bad_row(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    h = await headers_for(session, settings, "ops3@example.com")
    rows = [
        bet_row("ok1"),
        bet_row("bad1", stake_minor=0),
        bet_row("ok2"),
        bet_row("bad2", settled_at="2026-10-01T19:00:00-04:00"),  # before placed_at
        bet_row("bad3", placed_at="2026-10-01T20:00:00"),  # no offset
    ]
    r = await client.post("/sentinel/bets", headers=h, json={"bets": rows})
    assert r.status_code == 422
    body = r.json()
    assert body["error"]["code"] == "validation_error"
    rows_named = {d["loc"][2] for d in body["error"]["details"]}
    assert rows_named == {"1", "3", "4"}
    assert await _count(session, SentinelBet) == 0
    assert await _count(session, SentinelPlayer) == 0


async def test_the_same_external_id_twice_in_a_request(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    h = await headers_for(session, settings, "ops4@example.com")
    r = await client.post("/sentinel/bets", headers=h, json={"bets": [bet_row("x"), bet_row("x")]})
    assert r.json()["created"] == 1 and r.json()["duplicates"] == 1
    rows = [bet_row("y"), bet_row("z"), bet_row("y", stake_minor=1)]
    r = await client.post("/sentinel/bets", headers=h, json={"bets": rows})
    assert r.status_code == 422
    detail = r.json()["error"]["details"][0]
    assert detail["row"] == 2 and detail["type"] == "duplicate_external_id"
    assert await _count(session, SentinelBet) == 1


@pytest.mark.parametrize(
    "change",
    [
        {"status": "won", "payout_minor": None},
        {"status": "lost", "payout_minor": 100},
        {"status": "open"},  # still has settled_at
        {"odds_decimal": 1.0},
        # the fuzz: JSON of the wrong type read as data (a boolean as 0 minor units, a float a
        # hair above evens as a price, a number as epoch seconds)
        {"odds_decimal": 1.0000000000000002},
        {"odds_decimal": 1.009},
        {"odds_decimal": True},
        {"stake_minor": True},
        {"stake_minor": "2500"},
        {"status": "lost", "payout_minor": False},
        {"payout_minor": True},
        {"is_live": 0},
        {"is_live": "false"},
        {"placed_at": 1790000000},
        {"currency": "usd"},
        {"placed_at": "2999-01-01T00:00:00+00:00"},
        {"sport": "bad\u0000sport"},
        {"player_id": "not a valid id"},
        {"unknown_field": 1},
    ],
)
async def test_inconsistent_rows_are_refused(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings, change
) -> None:
    h = await headers_for(session, settings, "ops5@example.com")
    r = await client.post("/sentinel/bets", headers=h, json={"bets": [bet_row("r", **change)]})
    assert r.status_code == 422, r.text


async def test_more_than_ten_thousand_rows_are_refused(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    h = await headers_for(session, settings, "ops6@example.com")
    rows = [tx_row(f"t{i}") for i in range(10_001)]
    r = await client.post("/sentinel/transactions", headers=h, json={"transactions": rows})
    assert r.status_code == 422
    assert await _count(session, SentinelTransaction) == 0


async def test_transactions_are_idempotent_and_validated(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    h = await headers_for(session, settings, "ops7@example.com")
    rows = [tx_row("t1"), tx_row("t2", kind="withdrawal_reversal"), tx_row("t3", status="declined")]
    r = await client.post("/sentinel/transactions", headers=h, json={"transactions": rows})
    assert r.json() == {"received": 3, "created": 3, "duplicates": 0, "players_created": 1}
    r = await client.post("/sentinel/transactions", headers=h, json={"transactions": rows})
    assert r.json()["duplicates"] == 3
    r = await client.post(
        "/sentinel/transactions", headers=h, json={"transactions": [tx_row("t9", kind="bonus")]}
    )
    assert r.status_code == 422 and r.json()["error"]["details"][0]["loc"][2] == "0"
    for wrong in ({"amount_minor": False}, {"amount_minor": True}, {"amount_minor": "100"}):
        r = await client.post(
            "/sentinel/transactions", headers=h, json={"transactions": [tx_row("t8", **wrong)]}
        )
        assert r.status_code == 422, wrong
    assert await _count(session, SentinelTransaction) == 3


async def test_the_lowest_odds_a_bet_may_have_are_1_01(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    h = await headers_for(session, settings, "ops-odds@example.com")
    r = await client.post(
        "/sentinel/bets", headers=h, json={"bets": [bet_row("odds", odds_decimal=1.01)]}
    )
    assert r.status_code == 200, r.text
    schema = (await client.get("/openapi.json")).json()["components"]["schemas"]["BetRow"]
    assert schema["properties"]["odds_decimal"]["minimum"] == 1.01


CSV_HEADER = (
    "external_id,player_id,placed_at,settled_at,sport,market_type,is_live,stake_minor,"
    "payout_minor,currency,odds_decimal,status\n"
)


async def test_a_csv_file_goes_through_the_same_validation_and_idempotency(
    session: AsyncSession,
) -> None:
    text = CSV_HEADER + (
        "c1,PLR_2001_NJ,2026-10-01T20:00:00-04:00,2026-10-01T22:00:00-04:00,Soccer,Total,"
        "true,1000,0,USD,2.1,lost\n"
        "c2,PLR_2001_NJ,2026-10-02T20:00:00-04:00,,soccer,total,false,1500,,USD,1.8,open\n"
    )
    result = await ingest.import_bets_csv(session, text)
    assert (result.created, result.duplicates) == (2, 0)
    again = await ingest.import_bets_csv(session, text)
    assert (again.created, again.duplicates) == (0, 2)
    sports = (await session.execute(select(SentinelBet.sport, SentinelBet.is_live))).all()
    assert sorted(sports) == [("soccer", False), ("soccer", True)]


async def test_a_csv_with_a_bad_row_writes_nothing_and_names_the_row(
    session: AsyncSession,
) -> None:
    text = CSV_HEADER + (
        "c1,PLR_2001_NJ,2026-10-01T20:00:00-04:00,2026-10-01T22:00:00-04:00,soccer,total,"
        "true,1000,0,USD,2.1,lost\n"
        "c2,PLR_2001_NJ,2026-10-02T20:00:00-04:00,,soccer,total,maybe,1500,,USD,1.8,open\n"
    )
    with pytest.raises(ingest.RowsInvalidError) as err:
        await ingest.import_bets_csv(session, text)
    assert [d["row"] for d in err.value.details] == [1]
    assert await _count(session, SentinelBet) == 0
    with pytest.raises(ingest.MalformedCsvError):
        ingest.parse_bets_csv("external_id,player\nx,y\n")


def _slice_of_payments(tmp: Path, lines: int) -> tuple[Path, list[dict[str, str]]]:
    with gzip.open(shipped_payments_file(), "rt", newline="") as f:
        head = [next(f) for _ in range(lines + 1)]
    path = tmp / "payments_slice.csv.gz"
    with gzip.open(path, "wt", newline="") as f:
        f.writelines(head)
    return path, list(csv.DictReader(io.StringIO("".join(head))))


async def test_a_slice_of_the_real_payments_file_is_imported_once(
    session: AsyncSession, tmp_path: Path
) -> None:
    path, records = _slice_of_payments(tmp_path, 400)
    level2 = [
        (i, r)
        for i, r in enumerate(records, start=1)
        if r["TransactionType"] in ("LOYALTYCARDDEBIT", "LOYALTYCARDCREDIT")
        and r["Status"] in ("APPROVED", "DECLINED")
    ]
    assert level2, "the slice should hold level-2 transactions"
    result = await ingest.import_payments(session, path)
    assert result["created"] == len(level2)
    assert sum(result["skipped"].values()) == len(records) - len(level2)
    line, rec = level2[0]
    stored = (
        await session.execute(
            select(SentinelTransaction).where(SentinelTransaction.external_id == f"dib-{line}")
        )
    ).scalar_one()
    assert stored.amount_minor == round(float(rec["TransactionAmount"]) * 100)
    assert stored.kind == (
        "deposit" if rec["TransactionType"] == "LOYALTYCARDDEBIT" else "withdrawal"
    )
    player = await session.get(SentinelPlayer, stored.player_pk)
    number = int(rec["AccountIdentifier"].removeprefix("customer"))
    assert player is not None and player.player_id == f"PLR_{number:04d}_US"
    again = await ingest.import_payments(session, path)
    assert again["created"] == 0 and again["duplicates"] == len(level2)
