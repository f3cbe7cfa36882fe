"""Behavioural assessment inputs: prior time-outs and reported limit changes, through the real
HTTP routes, the database and the scoring run (no mocks)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from sqlalchemy import event, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from edgelab.core.settings import Settings
from edgelab.sentinel import explain
from edgelab.sentinel.models import SentinelLimitChange, SentinelPlayer, SentinelScore
from edgelab.sentinel.rescore import run_rescore
from tests.sentinel.factories import bet_row, headers_for, simulated_population

pytestmark = pytest.mark.asyncio(loop_scope="session")

REASON = "Late-night sessions and rising stakes over two weeks."
RECENT = "2026-11-20T10:00:00+00:00"  # inside the 90 days before the run (tests run later)


def limit_row(external_id: str, player_id: str, **changes: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "external_id": external_id,
        "player_id": player_id,
        "occurred_at": RECENT,
        "limit_type": "deposit",
        "change": "increase",
        "amount_minor": 50_000,
        "currency": "USD",
    }
    row.update(changes)
    return row


async def _twin(client: httpx.AsyncClient, h: dict[str, str], player_id: str) -> None:
    """The same six bets and self-assessment for every twin: only the inputs under test differ."""
    rows = []
    for day in range(1, 7):
        stake = 2000 + 500 * day
        rows.append(
            bet_row(
                f"{player_id}-b{day}",
                player_id,
                placed_at=f"2026-10-{day:02d}T20:00:00-04:00",
                settled_at=f"2026-10-{day:02d}T21:00:00-04:00",
                stake_minor=stake,
                status="lost" if day % 2 else "won",
                payout_minor=0 if day % 2 else stake * 2,
                odds_decimal=2.0,
            )
        )
    r = await client.post("/sentinel/bets", headers=h, json={"bets": rows})
    assert r.status_code == 200, r.text
    r = await client.put(f"/sentinel/players/{player_id}", headers=h, json={"gamalyze_score": 0.2})
    assert r.status_code == 200, r.text


async def _timeout(client: httpx.AsyncClient, h: dict[str, str], player_id: str) -> str:
    body = {
        "player_id": player_id,
        "intervention_type": "timeout",
        "duration_hours": 24,
        "reason": REASON,
    }
    r = await client.post("/api/interventions", headers=h, json=body)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def _latest(session: AsyncSession, player_id: str) -> SentinelScore:
    row = (
        await session.execute(
            select(SentinelScore)
            .join(SentinelPlayer, SentinelPlayer.pk == SentinelScore.player_pk)
            .where(SentinelPlayer.player_id == player_id)
            .order_by(SentinelScore.id.desc())
            .limit(1)
        )
    ).scalar_one()
    return row


async def _rescore(session: AsyncSession, settings: Settings, mode: str) -> Any:
    session.expire_all()
    summary = await run_rescore(session, settings, mode=mode, trigger="cli")  # type: ignore[arg-type]
    await session.commit()
    assert summary.status == "ok"
    return summary


async def _due(session: AsyncSession, player_id: str) -> bool:
    session.expire_all()
    row = (
        await session.execute(
            select(SentinelPlayer.activity_version, SentinelPlayer.scored_version).where(
                SentinelPlayer.player_id == player_id
            )
        )
    ).one()
    return bool(row[0] != row[1])


@contextmanager
def counting(session: AsyncSession, table: str) -> Iterator[list[str]]:
    """SQL statements on this session's engine that mention `table`."""
    seen: list[str] = []
    engine = session.bind.sync_engine  # type: ignore[union-attr]

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if table in statement:
            seen.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


async def test_prior_timeouts_raise_the_behavioural_component_and_a_cancelled_one_does_not(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    await simulated_population(session, players=40, seed=8)
    h = await headers_for(session, settings, "ba-timeouts@example.com")
    plain, timed, twice, cancelled = "PLR_7701_NJ", "PLR_7702_NJ", "PLR_7703_NJ", "PLR_7704_NJ"
    for pid in (plain, timed, twice, cancelled):
        await _twin(client, h, pid)
    await _timeout(client, h, timed)
    await _timeout(client, h, twice)
    await _timeout(client, h, twice)
    mistake = await _timeout(client, h, cancelled)
    r = await client.post(f"/api/interventions/{mistake}/cancel", headers=h, json={})
    assert r.status_code == 200, r.text

    await _rescore(session, settings, "full")
    base, one, two, undone = [await _latest(session, p) for p in (plain, timed, twice, cancelled)]
    assert base.behavioural is not None and one.behavioural is not None
    assert one.behavioural > base.behavioural
    assert one.composite > base.composite
    assert two.behavioural is not None and two.behavioural >= one.behavioural
    assert one.features["ba_prior_timeouts"] == 1 and two.features["ba_prior_timeouts"] == 2
    # the twins' logs are identical: nothing else differs
    assert one.loss_chase == base.loss_chase and one.bet_escalation == base.bet_escalation
    # a cancelled time-out (set by mistake) does not count
    assert (
        undone.features["ba_prior_timeouts"] is None and base.features["ba_prior_timeouts"] is None
    )
    assert undone.behavioural == base.behavioural and undone.composite == base.composite
    # the marker is named where it contributes, and the explanation says so
    top = [f["feature"] for f in one.top_features]
    assert "ba_prior_timeouts" in top
    assert "ba_prior_timeouts" not in [f["feature"] for f in base.top_features]
    text = explain.explain(
        category=one.risk_category,
        composite=one.composite,
        top_features=one.top_features,
        absent=one.absent,
    )
    assert "took time-outs before" in text


async def test_limit_increases_raise_the_component_decreases_and_old_ones_do_not(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    await simulated_population(session, players=40, seed=9)
    h = await headers_for(session, settings, "ba-limits@example.com")
    plain, raised, lowered, old = "PLR_7711_NJ", "PLR_7712_NJ", "PLR_7713_NJ", "PLR_7714_NJ"
    for pid in (plain, raised, lowered, old):
        await _twin(client, h, pid)
    rows = [
        limit_row("lc-1", raised),
        limit_row(
            "lc-2", raised, limit_type="loss", change="removed", amount_minor=None, currency=None
        ),
        limit_row("lc-3", lowered, change="decrease", amount_minor=10_000),
        limit_row(
            "lc-4", lowered, limit_type="session", change="set", amount_minor=90, currency=None
        ),
        limit_row("lc-5", old, occurred_at="2026-07-01T10:00:00+00:00"),  # > 90 days ago
    ]
    r = await client.post("/sentinel/limit-changes", headers=h, json={"limit_changes": rows})
    assert r.status_code == 200, r.text
    assert r.json() == {"received": 5, "created": 5, "duplicates": 0, "players_created": 0}

    await _rescore(session, settings, "full")
    base, up, down, stale = [await _latest(session, p) for p in (plain, raised, lowered, old)]
    assert up.features["ba_limit_increases"] == 2  # an increase and a removal
    assert base.behavioural is not None and up.behavioural is not None
    assert up.behavioural > base.behavioural and up.composite > base.composite
    for same in (down, stale):
        assert same.features["ba_limit_increases"] is None
        assert same.behavioural == base.behavioural and same.composite == base.composite
    assert "ba_limit_increases" in [f["feature"] for f in up.top_features]
    nudge = explain.nudge(top_features=up.top_features)
    assert "raised or removed a limit" in nudge


async def test_limit_change_upload_is_all_or_nothing_listing_every_bad_row(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    h = await headers_for(session, settings, "ba-invalid@example.com")
    rows = [
        limit_row("bad-0", "PLR_7721_NJ"),
        limit_row("bad-1", "PLR_7721_NJ", change="doubled"),
        limit_row("bad-2", "PLR_7721_NJ", occurred_at="2026-11-20T10:00:00"),  # no offset
        limit_row("bad-3", "PLR_7721_NJ", change="removed"),  # removed, yet an amount
        limit_row("bad-4", "PLR_7721_NJ", limit_type="time"),
        limit_row("bad-5", "PLR_7721_NJ", amount_minor=None),  # currency without amount
    ]
    r = await client.post("/sentinel/limit-changes", headers=h, json={"limit_changes": rows})
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["code"] == "validation_error"
    assert all(d["loc"][:2] == ["body", "limit_changes"] for d in error["details"])
    assert sorted({int(d["loc"][2]) for d in error["details"]}) == [1, 2, 3, 4, 5]
    stored = (
        await session.execute(select(func.count()).select_from(SentinelLimitChange))
    ).scalar_one()
    players = (
        await session.execute(
            select(func.count())
            .select_from(SentinelPlayer)
            .where(SentinelPlayer.player_id == "PLR_7721_NJ")
        )
    ).scalar_one()
    assert (stored, players) == (0, 0)
    # same external id twice with different values in one request: refused as well
    clash = [limit_row("dup", "PLR_7721_NJ"), limit_row("dup", "PLR_7721_NJ", change="set")]
    r = await client.post("/sentinel/limit-changes", headers=h, json={"limit_changes": clash})
    assert r.status_code == 422 and r.json()["error"]["details"][0]["row"] == 1
    r = await client.post("/sentinel/limit-changes", headers=h, json={"limit_changes": []})
    assert r.status_code == 422
    # a boolean is not an amount (it was stored as 0 or 1), nor a number a time
    for wrong in ({"amount_minor": False}, {"amount_minor": True}, {"occurred_at": 1790000000}):
        r = await client.post(
            "/sentinel/limit-changes",
            headers=h,
            json={"limit_changes": [limit_row("typed", "PLR_7721_NJ", **wrong)]},
        )
        assert r.status_code == 422, wrong


async def test_limit_changes_are_idempotent_and_for_analysts_only(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    analyst = await headers_for(session, settings, "ba-idem@example.com")
    admin = await headers_for(session, settings, "ba-admin@example.com", role="admin")
    user = await headers_for(session, settings, "ba-user@example.com", role="user")
    rows = [limit_row("id-1", "PLR_7731_NJ"), limit_row("id-2", "PLR_7732_NJ", change="set")]
    first = await client.post(
        "/sentinel/limit-changes", headers=analyst, json={"limit_changes": rows}
    )
    assert first.json() == {"received": 2, "created": 2, "duplicates": 0, "players_created": 2}
    again = [*rows, limit_row("id-3", "PLR_7731_NJ", change="decrease"), rows[0]]
    second = await client.post(
        "/sentinel/limit-changes", headers=admin, json={"limit_changes": again}
    )
    assert second.status_code == 200, second.text
    assert second.json() == {"received": 4, "created": 1, "duplicates": 3, "players_created": 0}
    assert (
        await session.execute(select(func.count()).select_from(SentinelLimitChange))
    ).scalar_one() == 3
    refused = await client.post(
        "/sentinel/limit-changes",
        headers=user,
        json={"limit_changes": [limit_row("x", "PLR_7733_NJ")]},
    )
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "role_required"
    anonymous = await client.post(
        "/sentinel/limit-changes", json={"limit_changes": [limit_row("x", "PLR_7733_NJ")]}
    )
    assert anonymous.status_code == 401
    assert (
        await session.execute(select(func.count()).select_from(SentinelLimitChange))
    ).scalar_one() == 3


async def test_a_new_timeout_or_limit_change_makes_the_player_due_for_the_incremental_run(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    await simulated_population(session, players=30, seed=10)
    h = await headers_for(session, settings, "ba-dirty@example.com")
    timed, raised, quiet = "PLR_7741_NJ", "PLR_7742_NJ", "PLR_7743_NJ"
    for pid in (timed, raised, quiet):
        await _twin(client, h, pid)
    await _rescore(session, settings, "full")
    assert not any([await _due(session, p) for p in (timed, raised, quiet)])

    iv = await _timeout(client, h, timed)
    r = await client.post(
        "/sentinel/limit-changes", headers=h, json={"limit_changes": [limit_row("dl-1", raised)]}
    )
    assert r.status_code == 200, r.text
    assert [await _due(session, p) for p in (timed, raised, quiet)] == [True, True, False]
    inc = await _rescore(session, settings, "incremental")
    assert inc.players_scored == 2
    assert (await _latest(session, timed)).features["ba_prior_timeouts"] == 1
    assert (await _latest(session, raised)).features["ba_limit_increases"] == 1
    assert (await _rescore(session, settings, "incremental")).players_scored == 0

    # cancelling the time-out changes the input too: due again, and it no longer counts
    r = await client.post(f"/api/interventions/{iv}/cancel", headers=h, json={})
    assert r.status_code == 200, r.text
    assert await _due(session, timed)
    inc = await _rescore(session, settings, "incremental")
    assert inc.players_scored == 1
    assert (await _latest(session, timed)).features["ba_prior_timeouts"] is None
    # a repeated delivery of the same limit change is a duplicate: nobody becomes due
    r = await client.post(
        "/sentinel/limit-changes", headers=h, json={"limit_changes": [limit_row("dl-1", raised)]}
    )
    assert r.json()["duplicates"] == 1 and not await _due(session, raised)


async def test_the_run_reads_the_behavioural_inputs_in_one_grouped_query_each(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    sim = await simulated_population(session, players=30, seed=11)
    h = await headers_for(session, settings, "ba-n1@example.com")
    ids = [p.player_id for p in sim.players[:12]]
    for pid in ids:
        await _timeout(client, h, pid)
    rows = [limit_row(f"n1-{i}", pid) for i, pid in enumerate(ids)]
    r = await client.post("/sentinel/limit-changes", headers=h, json={"limit_changes": rows})
    assert r.status_code == 200, r.text
    with (
        counting(session, "sentinel_interventions") as iv,
        counting(session, "sentinel_limit_changes") as lc,
    ):
        summary = await _rescore(session, settings, "full")
    assert summary.players_scored >= 30
    assert (len(iv), len(lc)) == (1, 1), (iv, lc)
    scored = [await _latest(session, pid) for pid in ids]
    assert all(s.features["ba_prior_timeouts"] == 1 for s in scored)
    assert all(s.features["ba_limit_increases"] == 1 for s in scored)
