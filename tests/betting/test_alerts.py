"""Alerts (paid): rules over the API, matching after a scoring run, e-mails, cap, unsubscribe."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from edgelab.accounts.models import User
from edgelab.accounts.service import create_user
from edgelab.betting.alerts.models import AlertDelivery
from edgelab.betting.alerts.sending import ALERT_MAIL, send_alerts_after_scoring
from edgelab.betting.alerts.service import (
    MAX_RULES_PER_USER,
    unsubscribe_token,
    user_of_unsubscribe_token,
)
from edgelab.betting.markets.models import ValueScore
from edgelab.betting.markets.slate import score_slate
from edgelab.betting.odds.models import Game, Market, Outcome
from edgelab.core.auth import ForbiddenError, issue_access_token
from edgelab.core.email.models import OutboxEmail
from edgelab.core.email.outbox import render
from edgelab.core.settings import Settings
from edgelab.sentinel.interventions.service import NUDGE_MAIL
from tests.betting.factories import (
    SyntheticSeasons,
    add_book_quotes,
    import_synthetic,
    synthetic_seasons,
)
from tests.fixtures.slate import shared_slate

pytestmark = pytest.mark.asyncio(loop_scope="session")

RULE = {"name": "big edges", "min_value_score": 40, "algorithm": "a"}


db_url, engine, slate = shared_slate()


@dataclass(frozen=True)
class Scored:
    market_id: str
    market_type: str
    home: str
    away: str
    a: float
    b: float


async def _scores(session: AsyncSession, day: dt.date) -> list[Scored]:
    rows = await session.execute(
        select(
            ValueScore.outcome_id,
            Market.market_type,
            Game.home_team,
            Game.away_team,
            ValueScore.algo_a_value_score,
            ValueScore.algo_b_value_score,
        )
        .join(Outcome, Outcome.id == ValueScore.outcome_id)
        .join(Market, Market.id == Outcome.market_id)
        .join(Game, Game.id == Market.game_id)
        .where(ValueScore.is_current.is_(True), ValueScore.slate_date == day)
    )
    return [Scored(*r) for r in rows.all()]


async def _user(
    session: AsyncSession, settings: Settings, address: str, *, tier: str = "paid"
) -> tuple[User, dict[str, str]]:
    user = await create_user(session, address, tier=tier)
    await session.commit()
    return user, {"Authorization": f"Bearer {issue_access_token(settings, user.id)}"}


async def _rule(client: httpx.AsyncClient, headers: dict[str, str], **fields: object) -> dict:
    r = await client.post("/alerts/rules", json={**RULE, **fields}, headers=headers)
    assert r.status_code == 201, r.text
    return r.json()


async def _run(
    session: AsyncSession, settings: Settings, data: SyntheticSeasons, **kw: object
) -> dict:
    counts = await send_alerts_after_scoring(session, settings, data.last_date, **kw)  # type: ignore[arg-type]
    await session.commit()
    return counts


async def _sent(session: AsyncSession, user_id: str) -> set[str]:
    rows = await session.execute(
        select(AlertDelivery.outcome_id).where(AlertDelivery.user_id == user_id)
    )
    return set(rows.scalars())


async def _mails(session: AsyncSession, address: str) -> list[OutboxEmail]:
    rows = await session.execute(
        select(OutboxEmail)
        .where(OutboxEmail.to_address == address, OutboxEmail.template == "alert")
        .order_by(OutboxEmail.id)
    )
    return list(rows.scalars())


def _bet_ids(text: str) -> set[str]:
    return set(re.findall(r"/bet/([a-z0-9-]+)", text))


# --- rules over the API -----------------------------------------------------------------------


async def test_a_paid_user_creates_reads_updates_and_deletes_rules(client, session, settings):
    _, auth = await _user(session, settings, "crud@example.com")
    created = await _rule(
        client, auth, teams=["LAL", "BOS", "LAL"], market_types=["total", "spread"]
    )
    assert created["id"].startswith("alr_") and created["active"] is True
    assert created["teams"] == ["BOS", "LAL"] and created["market_types"] == ["spread", "total"]
    got = await client.get(f"/alerts/rules/{created['id']}", headers=auth)
    assert got.status_code == 200 and got.json() == created

    r = await client.patch(
        f"/alerts/rules/{created['id']}",
        json={"min_value_score": 75.5, "active": False, "teams": []},
        headers=auth,
    )
    assert r.status_code == 200, r.text
    patched = r.json()
    assert (patched["min_value_score"], patched["active"], patched["teams"]) == (75.5, False, [])
    assert patched["name"] == created["name"] and patched["market_types"] == ["spread", "total"]

    listed = (await client.get("/alerts/rules", headers=auth)).json()
    assert [x["id"] for x in listed["items"]] == [created["id"]]
    assert listed["max_rules"] == MAX_RULES_PER_USER
    assert listed["items"][0]["min_value_score"] == 75.5

    assert (await client.delete(f"/alerts/rules/{created['id']}", headers=auth)).status_code == 204
    assert (await client.get("/alerts/rules", headers=auth)).json()["items"] == []
    gone = await client.get(f"/alerts/rules/{created['id']}", headers=auth)
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "alert_rule_not_found"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"min_value_score": 100.5}, "min_value_score"),
        ({"min_value_score": -1}, "min_value_score"),
        ({"algorithm": "c"}, "algorithm"),
        ({"market_types": ["parlay"]}, "market_types"),
        ({"market_types": []}, "market_types"),
        ({"teams": ["XYZ"]}, "teams"),
        ({"teams": ["bos"]}, "teams"),
        ({"name": ""}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"name": "bad\x00name"}, "name"),
        ({"colour": "red"}, "colour"),
        ({"active": 0}, "active"),
        ({"active": "true"}, "active"),
        ({"min_value_score": "40"}, "min_value_score"),
    ],
)
async def test_invalid_rules_are_refused_naming_the_field(client, session, settings, body, field):
    _, auth = await _user(session, settings, "valid@example.com")
    r = await client.post("/alerts/rules", json={**RULE, **body}, headers=auth)
    assert r.status_code == 422
    error = r.json()["error"]
    assert error["code"] == "validation_error"
    assert any(field in d["loc"] for d in error["details"])
    assert (await client.get("/alerts/rules", headers=auth)).json()["items"] == []


@pytest.mark.parametrize("name", ["\\ud800", "ok \\udfff", "\\udc00\\ud800"])
async def test_a_rule_name_that_is_not_unicode_is_refused_with_422(client, session, settings, name):
    """Lone surrogates are legal JSON escapes but no text: refused, never stored."""
    _, auth = await _user(session, settings, "surrogates@example.com")
    rule = await _rule(client, auth)
    json_headers = {**auth, "Content-Type": "application/json"}
    body = f'{{"name": "{name}", "min_value_score": 40}}'.encode()
    created = await client.post("/alerts/rules", content=body, headers=json_headers)
    renamed = await client.patch(f"/alerts/rules/{rule['id']}", content=body, headers=json_headers)
    for r in (created, renamed):
        assert r.status_code == 422 and r.json()["error"]["code"] == "validation_error", r.text
        assert r.json()["error"]["details"][0]["loc"] == ["body", "name"]
    assert (await client.get("/alerts/rules", headers=auth)).json()["items"] == [rule]


async def test_a_patch_may_not_null_a_field(client, session, settings):
    _, auth = await _user(session, settings, "nulls@example.com")
    rule = await _rule(client, auth)
    r = await client.patch(f"/alerts/rules/{rule['id']}", json={"name": None}, headers=auth)
    assert r.status_code == 422 and r.json()["error"]["code"] == "validation_error"
    assert (await client.get(f"/alerts/rules/{rule['id']}", headers=auth)).json() == rule


@pytest.mark.parametrize("body", [{"active": 0}, {"active": "false"}, {"min_value_score": "40"}])
async def test_a_patch_refuses_values_of_the_wrong_json_type(client, session, settings, body):
    """Found by schemathesis: `{"active": 0}` was taken as false and the rule switched off."""
    _, auth = await _user(session, settings, "types@example.com")
    rule = await _rule(client, auth)
    r = await client.patch(f"/alerts/rules/{rule['id']}", json=body, headers=auth)
    assert r.status_code == 422 and r.json()["error"]["code"] == "validation_error", r.text
    assert r.json()["error"]["details"][0]["loc"] == ["body", next(iter(body))]
    assert (await client.get(f"/alerts/rules/{rule['id']}", headers=auth)).json() == rule


async def test_rules_are_capped_per_user(client, session, settings):
    _, auth = await _user(session, settings, "many@example.com")
    for n in range(MAX_RULES_PER_USER):
        await _rule(client, auth, name=f"rule {n}")
    r = await client.post("/alerts/rules", json=RULE, headers=auth)
    assert r.status_code == 409 and r.json()["error"]["code"] == "alert_rule_limit_reached"
    listed = (await client.get("/alerts/rules", headers=auth)).json()["items"]
    assert len(listed) == MAX_RULES_PER_USER


async def test_the_documented_team_codes_are_the_known_teams():
    from typing import get_args

    from edgelab.betting.alerts.schemas import TeamCode
    from edgelab.betting.odds.teams import TEAM_CODES

    assert set(get_args(TeamCode)) == TEAM_CODES


ENDPOINTS = [
    ("POST", "/alerts/rules", RULE),
    ("GET", "/alerts/rules", None),
    ("GET", "/alerts/rules/alr_x", None),
    ("PATCH", "/alerts/rules/alr_x", {"active": False}),
    ("DELETE", "/alerts/rules/alr_x", None),
    ("GET", "/alerts", None),
]


@pytest.mark.parametrize(("method", "path", "body"), ENDPOINTS)
async def test_a_free_user_is_refused_every_alerts_endpoint(
    client, session, settings, method, path, body
):
    _, auth = await _user(session, settings, "free@example.com", tier="free")
    r = await client.request(method, path, json=body, headers=auth)
    assert r.status_code == 403
    assert r.json()["error"]["code"] == "paid_subscription_required"
    anonymous = await client.request(method, path, json=body)
    assert anonymous.status_code == 401 and anonymous.json()["error"]["code"] == "unauthorized"


async def test_another_users_rule_is_not_found_and_not_listed(client, session, settings):
    _, alice = await _user(session, settings, "alice@example.com")
    _, bob = await _user(session, settings, "bob@example.com")
    rule = await _rule(client, alice)
    path = f"/alerts/rules/{rule['id']}"
    for r in (
        await client.get(path, headers=bob),
        await client.patch(path, json={"min_value_score": 0}, headers=bob),
        await client.delete(path, headers=bob),
    ):
        assert r.status_code == 404 and r.json()["error"]["code"] == "alert_rule_not_found"
    assert (await client.get("/alerts/rules", headers=bob)).json()["items"] == []
    assert (await client.get(path, headers=alice)).json() == rule  # untouched


# --- matching -------------------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", ["a", "b"])
async def test_a_rule_matches_scores_at_or_above_its_minimum_on_its_algorithm(
    client, session, settings, slate, algorithm
):
    scores = await _scores(session, slate.last_date)
    other = "b" if algorithm == "a" else "a"

    def matching(algo: str, cut: float) -> set[str]:
        return {s.market_id for s in scores if getattr(s, algo) >= cut}

    # a minimum where the two algorithms disagree, so the rule's algorithm is what decides
    cut = next(c for c in range(40, 95) if matching(algorithm, c) != matching(other, c))
    user, auth = await _user(session, settings, f"min-{algorithm}@example.com")
    await _rule(client, auth, min_value_score=cut, algorithm=algorithm)
    counts = await _run(session, settings.model_copy(update={"alerts_daily_cap": 100}), slate)
    expected = matching(algorithm, cut)
    assert expected and len(expected) < len(scores)  # the threshold splits the slate
    assert await _sent(session, user.id) == expected
    assert counts["alerts"] == len(expected) and counts["emails"] == 1


async def test_a_rule_matches_only_its_market_types_and_teams(client, session, settings, slate):
    scores = await _scores(session, slate.last_date)
    team = scores[0].home
    user, auth = await _user(session, settings, "narrow@example.com")
    await _rule(client, auth, min_value_score=0, market_types=["total", "moneyline"], teams=[team])
    await _run(session, settings, slate)
    expected = {
        s.market_id
        for s in scores
        if s.market_type in ("total", "moneyline") and team in (s.home, s.away)
    }
    assert len(expected) == 4  # one game: over, under, home and away moneylines
    assert await _sent(session, user.id) == expected


async def test_a_rule_for_a_team_not_on_the_slate_sends_nothing(client, session, settings, slate):
    playing = {t for s in await _scores(session, slate.last_date) for t in (s.home, s.away)}
    absent = sorted({"NYK", "PHX", "TOR", "UTA"} - playing)[0]
    user, auth = await _user(session, settings, "absent@example.com")
    await _rule(client, auth, min_value_score=0, teams=[absent])
    counts = await _run(session, settings, slate)
    assert counts["emails"] == 0 and await _sent(session, user.id) == set()
    assert await _mails(session, "absent@example.com") == []


async def test_an_inactive_rule_does_not_fire(client, session, settings, slate):
    user, auth = await _user(session, settings, "paused@example.com")
    await _rule(client, auth, min_value_score=0, active=False)
    await _run(session, settings, slate)
    assert await _sent(session, user.id) == set()


async def test_several_matching_rules_send_each_market_once_credited_to_the_best_score(
    client, session, settings, slate
):
    user, auth = await _user(session, settings, "overlap@example.com")
    rule_a = await _rule(client, auth, name="A", min_value_score=0, algorithm="a")
    rule_b = await _rule(client, auth, name="B", min_value_score=0, algorithm="b")
    await _run(session, settings.model_copy(update={"alerts_daily_cap": 100}), slate)
    scores = {s.market_id: s for s in await _scores(session, slate.last_date)}
    rows = (
        (await session.execute(select(AlertDelivery).where(AlertDelivery.user_id == user.id)))
        .scalars()
        .all()
    )
    assert len(rows) == len(scores) == len({r.outcome_id for r in rows})
    for row in rows:
        s = scores[row.outcome_id]
        assert row.value_score == max(s.a, s.b)
        if s.b > s.a:
            assert row.rule_id == rule_b["id"] and row.algorithm == "b"
        elif s.a > s.b:
            assert row.rule_id == rule_a["id"] and row.algorithm == "a"
    assert len(await _mails(session, "overlap@example.com")) == 1


async def test_a_second_run_sends_nothing_new_even_after_rescoring(
    client, session, settings, slate
):
    user, auth = await _user(session, settings, "twice@example.com")
    await _rule(client, auth, min_value_score=30)
    first = await _run(session, settings, slate)
    sent = await _sent(session, user.id)
    assert first["alerts"] == len(sent) > 0
    again = await _run(session, settings, slate)
    assert again["alerts"] == 0 and again["emails"] == 0
    await score_slate(session, settings, slate.last_date)  # new current rows, same markets
    await session.commit()
    third = await _run(session, settings, slate)
    assert third["alerts"] == 0
    assert len(await _mails(session, "twice@example.com")) == 1
    assert await _sent(session, user.id) == sent


async def test_a_market_can_be_recorded_only_once_per_user(session, settings, slate):
    user, _ = await _user(session, settings, "unique@example.com")
    market = (await _scores(session, slate.last_date))[0].market_id
    row = {
        "user_id": user.id,
        "outcome_id": market,
        "slate_date": slate.last_date,
        "algorithm": "a",
        "value_score": 50.0,
        "odds_decimal": 2.0,
    }
    session.add(AlertDelivery(**row))
    await session.commit()
    session.add(AlertDelivery(**row))
    with pytest.raises(IntegrityError):
        await session.flush()
    await session.rollback()


async def test_a_run_that_loses_the_race_for_a_market_does_not_claim_it(session, settings, slate):
    """Two overlapping runs both see a market as new; the database lets only one claim it."""
    from edgelab.betting.alerts.sending import _claim

    user, _ = await _user(session, settings, "race@example.com")
    first, second = sorted(s.market_id for s in await _scores(session, slate.last_date))[:2]

    def row(market: str) -> dict[str, object]:
        return {
            "user_id": user.id,
            "outcome_id": market,
            "slate_date": slate.last_date,
            "algorithm": "a",
            "value_score": 50.0,
            "odds_decimal": 2.0,
            "created_at": dt.datetime.now(dt.UTC),
        }

    assert await _claim(session, [row(first)]) == {first}  # the other run got there first
    assert await _claim(session, [row(first), row(second)]) == {second}
    assert await _sent(session, user.id) == {first, second}


async def test_the_daily_cap_holds_back_the_rest_until_the_users_next_day(
    client, session, settings, slate
):
    capped = settings.model_copy(update={"alerts_daily_cap": 5})
    user, auth = await _user(session, settings, "cap@example.com")
    user.time_zone = "Pacific/Kiritimati"  # UTC+14: its day starts at 10:00 UTC
    await session.commit()
    await _rule(client, auth, min_value_score=0)
    morning = dt.datetime(2031, 3, 3, 9, 0, tzinfo=dt.UTC)  # 23:00 local, 3 March
    first = await _run(session, capped, slate, now=morning)
    sides = len(await _scores(session, slate.last_date))  # every current side matches
    assert first["alerts"] == 5 and first["held_by_cap"] == sides - 5
    sent = await _sent(session, user.id)
    top = sorted(await _scores(session, slate.last_date), key=lambda s: (-s.a, s.market_id))
    assert sent == {s.market_id for s in top[:5]}  # the best five go first

    later = await _run(session, capped, slate, now=morning + dt.timedelta(minutes=30))
    assert later["alerts"] == 0 and later["held_by_cap"] == sides - 5  # same day: nothing
    next_day = await _run(session, capped, slate, now=morning + dt.timedelta(hours=1, minutes=5))
    assert next_day["alerts"] == 5  # 00:05 local on 4 March: a new day, a new five
    again = await _sent(session, user.id)
    assert len(again) == 10 and sent < again
    mails = await _mails(session, "cap@example.com")
    assert len(mails) == 2 and "today's limit of 5" in mails[0].text


async def test_a_free_or_deleted_users_rules_never_fire(client, session, settings, slate):
    downgraded, auth = await _user(session, settings, "lapsed@example.com")
    await _rule(client, auth, min_value_score=0)
    gone, auth_gone = await _user(session, settings, "gone@example.com")
    await _rule(client, auth_gone, min_value_score=0)
    downgraded.tier = "free"
    gone.deleted_at = dt.datetime.now(dt.UTC)
    await session.commit()
    counts = await _run(session, settings, slate)
    assert counts["rules"] == 0 and counts["emails"] == 0
    assert await _sent(session, downgraded.id) == set() == await _sent(session, gone.id)


# --- the e-mail and the unsubscribe link -------------------------------------------------------


async def test_the_email_lists_each_new_match_with_its_link_score_and_odds(
    client, session, settings, slate
):
    user, auth = await _user(session, settings, "mail@example.com")
    await _rule(client, auth, name="Totals only", min_value_score=0, market_types=["total"])
    await _run(session, settings, slate)
    (mail,) = await _mails(session, "mail@example.com")
    assert mail.subject == ALERT_MAIL.subject and mail.status == "logged"
    sent = await _sent(session, user.id)
    assert len(sent) == 16
    assert _bet_ids(mail.text) == sent == _bet_ids(mail.html)
    base = settings.app_base_url.rstrip("/")
    rows = (
        (await session.execute(select(AlertDelivery).where(AlertDelivery.user_id == user.id)))
        .scalars()
        .all()
    )
    for row in rows:
        assert f"{base}/bet/{row.outcome_id}" in mail.text
        assert row.email_id == mail.id
        assert f"odds {row.odds_decimal:.2f}, value score {row.value_score:.1f}" in mail.text
    assert "Totals only" in mail.text and "Over" in mail.text and "Under" in mail.text
    assert "/alerts/unsubscribe?token=" in mail.text and "/alerts/unsubscribe?token=" in mail.html


async def test_the_unsubscribe_link_works_without_sign_in_and_stops_later_emails(
    client, session, settings, slate
):
    user, auth = await _user(session, settings, "stop@example.com")
    await _rule(client, auth, min_value_score=50)
    await _run(session, settings, slate)
    (mail,) = await _mails(session, "stop@example.com")
    link = re.search(r"(\S+/alerts/unsubscribe\?token=\S+)", mail.text)
    assert link is not None
    url = urlsplit(link.group(1))
    r = await client.get(f"{url.path}?{url.query}")  # no Authorization header
    assert r.status_code == 200 and r.json()["status"] == "unsubscribed"
    await session.refresh(user)
    assert user.alert_preferences["email"] is False

    await _rule(client, auth, name="everything", min_value_score=0)  # would match much more
    counts = await _run(session, settings, slate)
    assert counts["emails"] == 0 and len(await _mails(session, "stop@example.com")) == 1
    # the link keeps working (a second click) and e-mails come back when turned on again
    assert (await client.get(f"{url.path}?{url.query}")).status_code == 200
    r = await client.patch("/me", json={"alert_preferences": {"email": True}}, headers=auth)
    assert r.status_code == 200
    assert (await _run(session, settings, slate))["emails"] == 1


@pytest.mark.parametrize("token", ["nonsense", "usr_x.", ".abc", "usr_x.AAAA", "a" * 200])
async def test_a_bad_unsubscribe_token_is_refused(client, session, settings, token):
    r = await client.get("/alerts/unsubscribe", params={"token": token})
    assert r.status_code == 403 and r.json()["error"]["code"] == "invalid_unsubscribe_token"


async def test_an_unsubscribe_token_is_bound_to_its_user_and_secret(settings):
    token = unsubscribe_token(settings, "usr_alice")
    assert user_of_unsubscribe_token(settings, token) == "usr_alice"
    mac = token.rpartition(".")[2]
    with pytest.raises(ForbiddenError):
        user_of_unsubscribe_token(settings, f"usr_bob.{mac}")  # alice's MAC on bob's id
    other = settings.model_copy(update={"jwt_secret": settings.jwt_secret.__class__("x" * 40)})
    with pytest.raises(ForbiddenError):
        user_of_unsubscribe_token(other, token)


async def test_sent_alerts_are_listed_newest_first_in_pages(client, session, settings, slate):
    user, auth = await _user(session, settings, "list@example.com")
    rule = await _rule(client, auth, min_value_score=55)
    t0 = dt.datetime.now(dt.UTC)
    await _run(session, settings, slate, now=t0 - dt.timedelta(minutes=5))
    await _rule(client, auth, name="more", min_value_score=0, market_types=["moneyline"])
    await _run(session, settings, slate, now=t0)
    total = len(await _sent(session, user.id))
    first = (await client.get("/alerts?limit=3", headers=auth)).json()
    assert first["total"] == total and len(first["items"]) == 3
    pages = [
        (await client.get(f"/alerts?limit=3&offset={o}", headers=auth)).json()["items"]
        for o in range(0, total, 3)
    ]
    items = [i for page in pages for i in page]
    assert [i["market_id"] for i in items[:3]] == [i["market_id"] for i in first["items"]]
    assert len({i["market_id"] for i in items}) == total
    times = [i["sent_at"] for i in items]
    assert times == sorted(times, reverse=True) and times[0] != times[-1]
    assert items[-1]["rule_id"] == rule["id"] and items[-1]["rule_name"] == rule["name"]
    _, other = await _user(session, settings, "other@example.com")
    assert (await client.get("/alerts", headers=other)).json()["total"] == 0


# --- nudge template, CLI ----------------------------------------------------------------------


async def test_the_nudge_email_is_plain_and_links_to_limits():
    context = {
        "display_name": "Sam",
        "message": "You have placed more bets than usual this week.",
        "limits_link": "https://edgelab.example/limits",
    }
    html, text = render(NUDGE_MAIL, context)
    for part in (html, text):
        assert "Sam" in part and context["message"] in part and context["limits_link"] in part
    assert NUDGE_MAIL.subject
    html, _ = render(NUDGE_MAIL, {**context, "message": "<script>x</script>"})
    assert "<script>" not in html  # HTML is escaped


async def test_the_score_command_sends_alerts_after_scoring(tmp_path: Path, monkeypatch) -> None:
    """The CLI runs its own event loops (`asyncio.run`), so it is driven from a thread."""
    import asyncio
    import sqlite3

    from typer.testing import CliRunner

    from edgelab.betting.alerts.service import create_rule
    from edgelab.cli import app as cli_app
    from edgelab.core import migrations
    from edgelab.core.db import create_engine, create_sessionmaker
    from tests.fixtures.database import make_settings

    settings = make_settings(f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}")
    await asyncio.to_thread(migrations.upgrade, settings)
    data = synthetic_seasons()
    engine = create_engine(settings)
    async with create_sessionmaker(engine)() as s, s.begin():
        await import_synthetic(s, settings, data)
        await add_book_quotes(s, settings, data)  # the books' prices that make value
        user = await create_user(s, "cli@example.com", tier="paid")
        await create_rule(s, user.id, {**RULE, "market_types": ["spread"], "teams": []})
    await engine.dispose()
    monkeypatch.setenv("EDGELAB_DATABASE_URL", settings.database_url)
    command = ["score", "--date", data.last_date.isoformat()]

    result = await asyncio.to_thread(CliRunner().invoke, cli_app, command)
    assert result.exit_code == 0, result.output
    sent = re.search(r'"alerts": (\d+)', result.output)
    emails = re.search(r'"emails": (\d+)', result.output)
    assert sent is not None and emails is not None
    assert int(sent.group(1)) > 0 and int(emails.group(1)) == 1
    with sqlite3.connect(tmp_path / "cli.db") as db:
        deliveries = db.execute("select count(*) from alert_deliveries").fetchone()[0]
        mails = db.execute("select count(*) from email_outbox where template = 'alert'").fetchone()
    assert deliveries == int(sent.group(1)) and mails[0] == 1

    again = await asyncio.to_thread(CliRunner().invoke, cli_app, command)
    assert again.exit_code == 0, again.output
    assert re.search(r'"emails": (\d+)', again.output).group(1) == "0"  # type: ignore[union-attr]
