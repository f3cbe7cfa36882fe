"""Our own users as Sentinel players: tracked bets flow into Sentinel, and analysts' decisions
are enforced (time-out: 403 account_restricted on paid feeds, alerts and bet tracking; nudge:
an e-mail in the outbox)."""

from __future__ import annotations

import datetime as dt
import re

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from edgelab.accounts.models import AuditEvent, User
from edgelab.accounts.service import alert_recipients, create_user
from edgelab.betting.bets.service import settle_open_bets
from edgelab.betting.odds.models import Game
from edgelab.core.auth import issue_access_token
from edgelab.core.email.models import OutboxEmail
from edgelab.core.settings import Settings
from edgelab.sentinel.betlog import tracker
from edgelab.sentinel.models import SentinelBet, SentinelPlayer
from edgelab.sentinel.schemas import SEED_PLAYER_ID_PATTERN
from tests.betting.factories import import_synthetic, synthetic_seasons
from tests.sentinel.factories import headers_for

pytestmark = pytest.mark.asyncio(loop_scope="session")

REASON = "Escalating stakes after losses, several nights in a row."


async def _member(
    session: AsyncSession, settings: Settings, address: str, *, tier: str = "paid"
) -> tuple[User, dict[str, str], SentinelPlayer]:
    """A user who is a Sentinel player (as after their first tracked bet), committed."""
    user = await create_user(session, address, tier=tier)
    player = await tracker.ensure_user_player(session, user.id)
    await session.commit()
    return user, {"Authorization": f"Bearer {issue_access_token(settings, user.id)}"}, player


async def _intervene(
    client: httpx.AsyncClient, analyst: dict[str, str], player_id: str, kind: str, **more: object
) -> dict:
    body = {"player_id": player_id, "intervention_type": kind, "reason": REASON, **more}
    r = await client.post("/api/interventions", headers=analyst, json=body)
    assert r.status_code == 201, r.text
    return r.json()


def _assert_restricted(r: httpx.Response, until: dt.datetime) -> None:
    assert r.status_code == 403, r.text
    error = r.json()["error"]
    assert error["code"] == "account_restricted"
    assert dt.datetime.fromisoformat(error["details"]["restricted_until"]) == until


async def test_the_derived_player_id_matches_the_seed_pattern_and_is_stable() -> None:
    ids = {tracker.derived_player_id(f"usr_{i}") for i in range(200)}
    assert all(re.fullmatch(SEED_PLAYER_ID_PATTERN, i) for i in ids)
    assert all(i.endswith("_EL") for i in ids)
    assert len(ids) == 200  # distinct accounts, distinct numbers (here)
    assert tracker.derived_player_id("usr_7") == tracker.derived_player_id("usr_7")
    # the next number when the first is taken
    first = int(tracker.derived_player_id("usr_7")[4:10])
    assert int(tracker.derived_player_id("usr_7", 1)[4:10]) == (first + 1) % 1_000_000


async def test_a_taken_number_gives_the_next_one_and_the_id_never_changes(
    session: AsyncSession,
) -> None:
    user = await create_user(session, "collide@example.com")
    squatter = tracker.derived_player_id(user.id)
    session.add(SentinelPlayer(player_id=squatter, source="operator", activity_version=0))
    await session.flush()
    player = await tracker.ensure_user_player(session, user.id)
    assert player.player_id == tracker.derived_player_id(user.id, 1) != squatter
    assert player.user_id == user.id and player.time_zone == user.time_zone
    again = await tracker.ensure_user_player(session, user.id)
    assert again.pk == player.pk


async def test_a_timeout_refuses_paid_feeds_alerts_and_bet_tracking_until_cancelled(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    analyst = await headers_for(session, settings, "enf-analyst@example.com")
    user, auth, player = await _member(session, settings, "enf-timeout@example.com")
    assert (await client.get("/markets", headers=auth)).status_code == 200
    created = await _intervene(client, analyst, player.player_id, "timeout", duration_hours=12)
    until = dt.datetime.fromisoformat(created["ends_at"])
    assert created["enforced_by_edgelab"] is True
    assert dt.datetime.fromisoformat(created["effects"]["restricted_until"]) == until

    _assert_restricted(await client.get("/markets", headers=auth), until)
    _assert_restricted(await client.get("/bet/some-market", headers=auth), until)
    _assert_restricted(await client.get("/alerts/rules", headers=auth), until)
    bet = {"market_id": "any-market", "odds_decimal": 2.0, "stake_minor": 500}
    _assert_restricted(await client.post("/me/bets", headers=auth, json=bet), until)
    assert user.id not in await alert_recipients(session, [user.id])  # the alerts job skips
    assert (await client.get("/me/bets", headers=auth)).status_code == 200  # history stays
    assert (await client.get("/markets")).status_code == 200  # anonymous view unaffected

    r = await client.post(f"/api/interventions/{created['id']}/cancel", headers=analyst)
    assert r.status_code == 200, r.text
    assert (await client.get("/markets", headers=auth)).status_code == 200
    assert (await client.get("/alerts/rules", headers=auth)).status_code == 200
    assert user.id in await alert_recipients(session, [user.id])
    events = (
        await session.execute(
            select(AuditEvent.event)
            .where(AuditEvent.user_id == user.id, AuditEvent.event.like("account_%"))
            .order_by(AuditEvent.id)
        )
    ).scalars()
    assert list(events) == ["account_restricted", "account_restriction_lifted"]


async def test_a_restriction_lifts_by_itself_when_its_end_passes(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    analyst = await headers_for(session, settings, "enf-clock@example.com")
    user, auth, player = await _member(session, settings, "enf-expire@example.com")
    await _intervene(client, analyst, player.player_id, "timeout", duration_hours=1)
    assert (await client.get("/markets", headers=auth)).status_code == 403
    assert user.id not in await alert_recipients(session, [user.id])
    user.restricted_until = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)  # time passed
    await session.commit()
    assert (await client.get("/markets", headers=auth)).status_code == 200
    assert (await client.get("/alerts/rules", headers=auth)).status_code == 200
    assert user.id in await alert_recipients(session, [user.id])


async def test_cancelling_one_of_two_timeouts_keeps_the_other(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    analyst = await headers_for(session, settings, "enf-two@example.com")
    _, auth, player = await _member(session, settings, "enf-overlap@example.com")
    short = await _intervene(client, analyst, player.player_id, "timeout", duration_hours=2)
    long = await _intervene(client, analyst, player.player_id, "timeout", duration_hours=72)
    await client.post(f"/api/interventions/{long['id']}/cancel", headers=analyst)
    _assert_restricted(
        await client.get("/markets", headers=auth), dt.datetime.fromisoformat(short["ends_at"])
    )
    await client.post(f"/api/interventions/{short['id']}/cancel", headers=analyst)
    assert (await client.get("/markets", headers=auth)).status_code == 200


async def test_a_nudge_puts_a_check_in_email_in_the_outbox(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    analyst = await headers_for(session, settings, "enf-nudger@example.com")
    _, _, player = await _member(session, settings, "enf-nudge@example.com", tier="free")
    created = await _intervene(client, analyst, player.player_id, "nudge")
    mail = (
        await session.execute(
            select(OutboxEmail).where(OutboxEmail.to_address == "enf-nudge@example.com")
        )
    ).scalar_one()
    assert mail.template == "nudge" and mail.status == "logged"
    assert "check-in on your play" in mail.text and "/me" in mail.text
    assert created["effects"] == {"email_id": mail.id, "email": "queued", "written_by": "template"}


async def test_an_operators_player_gets_no_email_and_no_restriction(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    analyst = await headers_for(session, settings, "enf-op@example.com")
    session.add(SentinelPlayer(player_id="PLR_5501_NJ", source="operator", activity_version=0))
    await session.commit()
    created = await _intervene(client, analyst, "PLR_5501_NJ", "nudge")
    assert created["enforced_by_edgelab"] is False and created["effects"] == {}
    assert (await session.execute(select(OutboxEmail.id))).first() is None


async def test_tracked_bets_flow_into_sentinel_settle_there_and_can_be_analyzed(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    data = synthetic_seasons(seasons=1, days_per_season=3, seed=11, unplayed_last_day=True)
    await import_synthetic(session, settings, data)
    played = (
        await session.execute(select(Game).where(Game.home_score.is_not(None)).limit(3))
    ).scalars()
    unplayed = (
        await session.execute(select(Game).where(Game.home_score.is_(None)).limit(1))
    ).scalar_one()
    user = await create_user(session, "enf-tracker@example.com")
    await session.commit()
    auth = {"Authorization": f"Bearer {issue_access_token(settings, user.id)}"}
    ids = []
    for i, game in enumerate([*played, unplayed]):
        r = await client.post(
            "/me/bets",
            headers=auth,
            json={"market_id": f"{game.id}-ml-home", "odds_decimal": 1.9, "stake_minor": 1000 + i},
        )
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
    again = await client.post(  # idempotent through the tracker's external id too
        "/me/bets",
        headers=auth,
        json={"market_id": f"{unplayed.id}-ml-home", "odds_decimal": 1.9, "stake_minor": 5},
    )
    assert again.status_code == 201
    ids.append(again.json()["id"])
    player = await tracker.player_for_user(session, user.id)
    assert player is not None and re.fullmatch(SEED_PLAYER_ID_PATTERN, player.player_id)
    assert player.player_id == tracker.derived_player_id(user.id)
    rows = {
        b.external_id: b
        for b in (
            await session.execute(select(SentinelBet).where(SentinelBet.source == "tracker"))
        ).scalars()
    }
    assert set(rows) == set(ids)
    assert rows[ids[3]].status == "open" and rows[ids[3]].payout_minor is None
    assert {rows[i].status for i in ids[:3]} <= {"won", "lost"}
    assert rows[ids[0]].stake_minor == 1000 and rows[ids[0]].sport == "basketball"

    version = (
        await session.get(SentinelPlayer, player.pk, populate_existing=True)
    ).activity_version  # type: ignore[union-attr]
    unplayed.home_score, unplayed.away_score = 120, 100  # the result arrives
    await session.flush()
    assert await settle_open_bets(session, settings) == 2
    settled = await session.get(SentinelBet, rows[ids[3]].id, populate_existing=True)
    assert (
        settled is not None and settled.status == "won" and settled.payout_minor == 1905
    )  # 1003 x 1.9
    refreshed = await session.get(SentinelPlayer, player.pk, populate_existing=True)
    assert refreshed is not None and refreshed.activity_version > version  # due for rescoring
    await session.commit()

    assert (await client.delete(f"/me/bets/{ids[4]}", headers=auth)).status_code == 204
    left = (
        await session.execute(
            select(SentinelBet.external_id).where(SentinelBet.source == "tracker")
        )
    ).scalars()
    assert set(left) == set(ids[:4])

    analyst = await headers_for(session, settings, "enf-reader@example.com")
    r = await client.post(
        "/api/analytics/analyze-player", headers=analyst, json={"player_id": player.player_id}
    )
    assert r.status_code == 200, r.text
    assert r.json()["player_id"] == player.player_id
    assert 0 <= r.json()["composite_risk_score"] <= 1
