"""`POST /sentinel/imports`: a bet-history CSV uploaded through `POST /uploads`, imported with
the bulk validation: all-or-nothing, 422 listing bad rows, idempotent on external_id."""

from __future__ import annotations

import csv
import io
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from edgelab.accounts.models import AuditEvent
from edgelab.core.settings import Settings
from edgelab.sentinel.models import SentinelBet, SentinelPlayer
from edgelab.sentinel.schemas import BetRow
from tests.accounts.test_uploads import png_bytes
from tests.sentinel.factories import bet_row, headers_for

pytestmark = pytest.mark.asyncio(loop_scope="session")


def _csv(rows: list[dict[str, Any]]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(BetRow.model_fields))
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if v is None else v) for k, v in row.items()})
    return ("\ufeff" + out.getvalue()).encode()  # with a BOM, as spreadsheets write it


async def _upload(client: httpx.AsyncClient, h: dict[str, str], data: bytes) -> str:
    r = await client.post(
        "/uploads",
        headers=h,
        data={"kind": "bet_history"},
        files={"file": ("bets.csv", data, "text/csv")},
    )
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def _bets(session: AsyncSession) -> int:
    return int((await session.execute(select(func.count(SentinelBet.id)))).scalar_one())


async def test_an_uploaded_csv_is_imported_once_and_a_repeat_changes_nothing(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    owner = await headers_for(session, settings, "csv-owner@example.com", role="user")
    analyst = await headers_for(session, settings, "csv-analyst@example.com")
    rows = [
        bet_row("csv-1", "PLR_6601_NJ"),
        bet_row("csv-2", "PLR_6601_NJ", status="lost", payout_minor=0, is_live=True),
        bet_row("csv-3", "PLR_6602_NY", status="open", settled_at=None, payout_minor=None),
    ]
    upload_id = await _upload(client, owner, _csv(rows))
    r = await client.post("/sentinel/imports", headers=analyst, json={"upload_id": upload_id})
    assert r.status_code == 200, r.text
    assert r.json() == {
        "upload_id": upload_id,
        "received": 3,
        "created": 3,
        "duplicates": 0,
        "players_created": 2,
    }
    stored = (
        await session.execute(select(SentinelBet).where(SentinelBet.external_id == "csv-2"))
    ).scalar_one()
    assert stored.is_live is True and stored.status == "lost" and stored.source == "operator"
    player = (
        await session.execute(
            select(SentinelPlayer).where(SentinelPlayer.player_id == "PLR_6601_NJ")
        )
    ).scalar_one()
    version = player.activity_version

    again = await client.post("/sentinel/imports", headers=analyst, json={"upload_id": upload_id})
    assert again.status_code == 200
    assert (again.json()["created"], again.json()["duplicates"]) == (0, 3)
    assert await _bets(session) == 3
    await session.refresh(player)
    assert player.activity_version == version  # a duplicate is not new activity
    audits = (
        await session.execute(
            select(AuditEvent).where(AuditEvent.event == "sentinel_bets_imported")
        )
    ).scalars()
    assert [a.details["created"] for a in audits] == [3, 0]


async def test_bad_rows_reject_the_whole_file_listing_each_and_nothing_is_written(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    analyst = await headers_for(session, settings, "csv-bad@example.com")
    rows = [
        bet_row("ok-1", "PLR_6611_NJ"),
        bet_row("bad-1", "PLR_6611_NJ", stake_minor=-5),
        bet_row("ok-2", "PLR_6612_NJ"),
        bet_row("bad-2", "PLR_6612_NJ", status="won", settled_at=None),
    ]
    upload_id = await _upload(client, analyst, _csv(rows))
    r = await client.post("/sentinel/imports", headers=analyst, json={"upload_id": upload_id})
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["code"] == "validation_error"
    assert sorted({d["row"] for d in error["details"]}) == [1, 3]
    assert any(d["loc"][-1] == "stake_minor" for d in error["details"])
    assert await _bets(session) == 0
    players = await session.execute(select(func.count(SentinelPlayer.pk)))
    assert players.scalar_one() == 0


async def test_a_file_not_in_the_bulk_layout_is_refused(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    analyst = await headers_for(session, settings, "csv-layout@example.com")
    upload_id = await _upload(client, analyst, b"date,team,stake\n2026-10-01,BOS,10\n")
    r = await client.post("/sentinel/imports", headers=analyst, json={"upload_id": upload_id})
    assert r.status_code == 422 and r.json()["error"]["code"] == "malformed_csv"
    assert "missing" in r.json()["error"]["message"]


async def test_unknown_uploads_avatars_and_non_analysts_are_refused(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    analyst = await headers_for(session, settings, "csv-who@example.com")
    user = await headers_for(session, settings, "csv-user@example.com", role="user")
    missing = await client.post(
        "/sentinel/imports", headers=analyst, json={"upload_id": "upl_missing"}
    )
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "upload_not_found"
    upload_id = await _upload(client, user, _csv([bet_row("who-1")]))
    refused = await client.post("/sentinel/imports", headers=user, json={"upload_id": upload_id})
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "role_required"
    bad = await client.post("/sentinel/imports", headers=analyst, json={"upload_id": "a b"})
    assert bad.status_code == 422
    r = await client.post(
        "/uploads",
        headers=analyst,
        data={"kind": "avatar"},
        files={"file": ("a.png", png_bytes(), "image/png")},
    )
    assert r.status_code == 201, r.text
    avatar = await client.post(
        "/sentinel/imports", headers=analyst, json={"upload_id": r.json()["id"]}
    )
    assert avatar.status_code == 400
    assert avatar.json()["error"]["code"] == "not_a_bet_history"
    assert await _bets(session) == 0
