"""Interventions over HTTP: validation, who may call, audit, cancel, listing and polling."""

from __future__ import annotations

import datetime as dt

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from edgelab.accounts.models import AuditEvent
from edgelab.core.settings import Settings
from edgelab.sentinel.models import SentinelIntervention
from tests.sentinel.factories import bet_row, headers_for

pytestmark = pytest.mark.asyncio(loop_scope="session")

PLAYER = "PLR_4401_NJ"
OTHER = "PLR_4402_NJ"
REASON = "Stakes tripled over two weeks with late-night sessions."


async def _operator_players(client: httpx.AsyncClient, h: dict[str, str]) -> None:
    rows = [bet_row("iv-1", PLAYER), bet_row("iv-2", OTHER)]
    r = await client.post("/sentinel/bets", headers=h, json={"bets": rows})
    assert r.status_code == 200, r.text


async def _create(client: httpx.AsyncClient, h: dict[str, str], **fields: object) -> dict:
    body = {"player_id": PLAYER, "intervention_type": "watchlist", "reason": REASON, **fields}
    r = await client.post("/api/interventions", headers=h, json=body)
    assert r.status_code == 201, r.text
    return r.json()


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"reason": "too short"}, "reason"),
        ({"reason": "x" * 501}, "reason"),
        ({"intervention_type": "timeout", "duration_hours": 0}, "duration_hours"),
        ({"intervention_type": "timeout", "duration_hours": 169}, "duration_hours"),
        ({"intervention_type": "timeout"}, "timeout needs duration_hours"),
        ({"intervention_type": "nudge", "duration_hours": 24}, "timeouts only"),
        ({"intervention_type": "ban"}, "intervention_type"),
        ({"player_id": "PLR_12_NJ"}, "player_id"),
        ({"player_id": "player-1"}, "player_id"),
        ({"analyst_id": "has spaces"}, "analyst_id"),
        ({"unknown": 1}, "unknown"),
    ],
)
async def test_invalid_interventions_are_refused_with_the_validation_envelope(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings, changes, field
) -> None:
    h = await headers_for(session, settings, "iv-valid@example.com")
    body = {"player_id": PLAYER, "intervention_type": "watchlist", "reason": REASON, **changes}
    r = await client.post("/api/interventions", headers=h, json=body)
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["code"] == "validation_error"
    assert field in str(error["details"])
    count = await session.execute(select(SentinelIntervention.id))
    assert count.first() is None


async def test_an_unknown_player_is_404(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    h = await headers_for(session, settings, "iv-404@example.com")
    body = {"player_id": "PLR_9998_ZZ", "intervention_type": "nudge", "reason": REASON}
    r = await client.post("/api/interventions", headers=h, json=body)
    assert r.status_code == 404 and r.json()["error"]["code"] == "player_not_found"


async def test_only_analysts_and_admins_manage_interventions(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    analyst = await headers_for(session, settings, "iv-analyst@example.com")
    admin = await headers_for(session, settings, "iv-admin@example.com", role="admin")
    user = await headers_for(session, settings, "iv-user@example.com", role="user")
    await _operator_players(client, analyst)
    created = await _create(client, admin)
    body = {"player_id": PLAYER, "intervention_type": "nudge", "reason": REASON}
    for method, path, payload in [
        ("POST", "/api/interventions", body),
        ("GET", "/api/interventions", None),
        ("GET", f"/api/interventions/{created['id']}", None),
        ("POST", f"/api/interventions/{created['id']}/cancel", None),
    ]:
        anonymous = await client.request(method, path, json=payload)
        assert anonymous.status_code == 401
        refused = await client.request(method, path, json=payload, headers=user)
        assert refused.status_code == 403, path
        assert refused.json()["error"]["code"] == "role_required"
    still = await client.get(f"/api/interventions/{created['id']}", headers=analyst)
    assert still.json()["status"] == "active"  # the refused cancel changed nothing


async def test_an_operators_timeout_is_recorded_audited_and_published_not_enforced(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    h = await headers_for(session, settings, "iv-timeout@example.com")
    await _operator_players(client, h)
    before = dt.datetime.now(dt.UTC)
    body = await _create(
        client, h, intervention_type="timeout", duration_hours=24, analyst_id="rg-team:ann"
    )
    assert body["player_id"] == PLAYER and body["analyst_id"] == "rg-team:ann"
    assert body["status"] == "active" and body["duration_hours"] == 24
    assert body["enforced_by_edgelab"] is False and body["effects"] == {}
    ends = dt.datetime.fromisoformat(body["ends_at"])
    assert before + dt.timedelta(hours=24) <= ends <= before + dt.timedelta(hours=24, minutes=1)
    audit = (
        await session.execute(select(AuditEvent).where(AuditEvent.event == "intervention_created"))
    ).scalar_one()
    assert audit.details["intervention_id"] == body["id"]
    assert audit.details["intervention_type"] == "timeout"
    assert audit.user_id == body["created_by"]
    got = await client.get(f"/api/interventions/{body['id']}", headers=h)
    assert got.status_code == 200 and got.json() == body


async def test_the_analyst_id_defaults_to_the_signed_in_analyst(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    h = await headers_for(session, settings, "iv-default@example.com")
    await _operator_players(client, h)
    body = await _create(client, h, intervention_type="referral", note="National helpline")
    assert body["analyst_id"] == body["created_by"].strip() != ""
    assert body["note"] == "National helpline" and body["ends_at"] is None


async def test_cancel_changes_status_is_audited_and_cannot_repeat(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    h = await headers_for(session, settings, "iv-cancel@example.com")
    await _operator_players(client, h)
    created = await _create(client, h)
    r = await client.post(
        f"/api/interventions/{created['id']}/cancel",
        headers=h,
        json={"reason": "Reviewed: spending pattern explained."},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "cancelled" and body["cancelled_by"] == created["created_by"]
    assert body["cancel_reason"] == "Reviewed: spending pattern explained."
    assert body["updated_at"] > created["updated_at"]
    again = await client.post(f"/api/interventions/{created['id']}/cancel", headers=h)
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "intervention_cancelled"
    events = (
        await session.execute(
            select(AuditEvent.event).where(AuditEvent.event.like("intervention_%"))
        )
    ).scalars()
    assert sorted(events) == ["intervention_cancelled", "intervention_created"]
    missing = await client.post("/api/interventions/int_nope/cancel", headers=h)
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "intervention_not_found"


async def test_an_expired_timeout_reads_expired_and_cannot_be_cancelled(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    h = await headers_for(session, settings, "iv-expired@example.com")
    await _operator_players(client, h)
    created = await _create(client, h, intervention_type="timeout", duration_hours=1)
    row = await session.get(SentinelIntervention, created["id"])
    assert row is not None
    row.ends_at = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)  # the clock moved on
    await session.commit()
    got = await client.get(f"/api/interventions/{created['id']}", headers=h)
    assert got.json()["status"] == "expired"
    r = await client.post(f"/api/interventions/{created['id']}/cancel", headers=h)
    assert r.status_code == 409 and r.json()["error"]["code"] == "intervention_expired"
    expired = await client.get("/api/interventions?status=expired", headers=h)
    assert [i["id"] for i in expired.json()["items"]] == [created["id"]]
    active = await client.get("/api/interventions?active=true", headers=h)
    assert active.json()["total"] == 0


async def test_the_list_filters_by_player_type_status_and_updated_since_with_paging(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    h = await headers_for(session, settings, "iv-list@example.com")
    await _operator_players(client, h)
    nudge = await _create(client, h, intervention_type="nudge")
    watch = await _create(client, h, player_id=OTHER)
    timeout = await _create(client, h, intervention_type="timeout", duration_hours=48)
    await client.post(f"/api/interventions/{nudge['id']}/cancel", headers=h)

    async def ids(query: str) -> list[str]:
        r = await client.get(f"/api/interventions?{query}", headers=h)
        assert r.status_code == 200, r.text
        return [i["id"] for i in r.json()["items"]]

    assert set(await ids(f"player_id={PLAYER}")) == {nudge["id"], timeout["id"]}
    assert await ids(f"player_id={PLAYER}&active=true") == [timeout["id"]]
    assert await ids("active=false") == [nudge["id"]]
    assert await ids("intervention_type=watchlist") == [watch["id"]]
    assert await ids("status=cancelled") == [nudge["id"]]
    assert await ids(f"updated_since={timeout['updated_at'].replace('+00:00', 'Z')}") == [
        nudge["id"]  # only the cancel happened after the timeout was created
    ]
    page = await client.get("/api/interventions?limit=2&offset=0", headers=h)
    assert page.json()["total"] == 3 and len(page.json()["items"]) == 2
    assert page.json()["items"][0]["id"] == nudge["id"]  # most recently changed first
    rest = await client.get("/api/interventions?limit=2&offset=2", headers=h)
    assert len(rest.json()["items"]) == 1
    bad = await client.get("/api/interventions?status=gone", headers=h)
    assert bad.status_code == 422
    naive = await client.get("/api/interventions?updated_since=2026-01-01T00:00:00", headers=h)
    assert naive.status_code == 422
    for number in ("0.5", "0", "1790000000"):  # not read as epoch seconds
        r = await client.get(f"/api/interventions?updated_since={number}", headers=h)
        assert r.status_code == 422 and r.json()["error"]["code"] == "validation_error"
    # year 1 at +01:00 has no UTC time: it overflowed in the query (a 500)
    r = await client.get(
        "/api/interventions", params={"updated_since": "0001-01-01T00:00:00+01:00"}, headers=h
    )
    assert r.status_code == 422 and r.json()["error"]["code"] == "validation_error"


async def test_a_watchlist_entry_surfaces_the_player_until_cancelled(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    h = await headers_for(session, settings, "iv-watch@example.com")
    await _operator_players(client, h)
    created = await _create(client, h, player_id=OTHER)
    r = await client.get("/sentinel/players?watchlist=true", headers=h)
    assert r.status_code == 200, r.text
    assert [p["player_id"] for p in r.json()["items"]] == [OTHER]
    assert r.json()["total"] == 1
    await client.post(f"/api/interventions/{created['id']}/cancel", headers=h)
    r = await client.get("/sentinel/players?watchlist=true", headers=h)
    assert r.json()["items"] == [] and r.json()["total"] == 0
