"""No request holds SQLite's one write lock while Claude writes (issue 16).

A request that may write begins `BEGIN IMMEDIATE` at its first statement and keeps the lock to
its commit (`core.db.unit_bind`). analyze-player (the dashboard's "Explain this score" calls it)
and a nudge intervention ask Claude, which may take seconds: if they asked inside their unit of
work every other writer would wait for Claude. Here the real app runs on its own SQLite file
(not the suite's rolled-back session, which has no lock to hold), the fake Claude answers only
when the test opens a gate, and the test opens it only after another writer has committed.
Were the lock held, that writer would wait until Claude timed out, and the answer would come
from the template instead of Claude.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from edgelab.accounts.service import create_user
from edgelab.app import create_app
from edgelab.core import migrations
from edgelab.core.settings import Settings
from edgelab.sentinel.betlog.tracker import ensure_user_player
from edgelab.sentinel.rescore import run_rescore
from tests.fixtures.app import resources, serve_app
from tests.fixtures.database import make_settings
from tests.sentinel.factories import bet_row, headers_for, simulated_population
from tests.sentinel.fake_anthropic import VALID_KEY, FakeAnthropic, Planned, serve

pytestmark = pytest.mark.asyncio(loop_scope="session")

PLAYER = "PLR_7710_NJ"
REASON = "late-night in-play betting after losses"


@dataclass
class Live:
    client: httpx.AsyncClient
    fake: FakeAnthropic
    analyst: dict[str, str]
    member_player_id: str


@pytest.fixture
def fake() -> Iterator[tuple[FakeAnthropic, str]]:
    f = FakeAnthropic(reply_text="Claude wrote this.")
    with serve(f.app(), name="fake Anthropic") as url:
        yield f, url


@pytest.fixture
def file_settings(tmp_path: Path, fake: tuple[FakeAnthropic, str]) -> Settings:
    settings = make_settings(
        f"sqlite+aiosqlite:///{tmp_path / 'lock.db'}",
        anthropic_api_key=VALID_KEY,
        anthropic_url=fake[1],
        anthropic_timeout_seconds=5.0,
    )
    migrations.upgrade(settings)
    return settings


async def _bets(client: httpx.AsyncClient, h: dict[str, str], player_id: str, n: int) -> None:
    rows = [
        bet_row(
            f"{player_id}-{i}",
            player_id,
            placed_at=f"2026-10-0{i}T23:30:00-04:00",
            settled_at=f"2026-10-0{i}T23:55:00-04:00",
            stake_minor=1000 * i,
            status="lost",
            payout_minor=0,
            is_live=True,
        )
        for i in range(1, n + 1)
    ]
    r = await client.post("/sentinel/bets", headers=h, json={"bets": rows})
    assert r.status_code == 200, r.text


@pytest.fixture
async def live(file_settings: Settings, fake: tuple[FakeAnthropic, str]) -> AsyncIterator[Live]:
    app = create_app(file_settings)
    async with serve_app(app) as client:  # the app's own engine: real transactions and locks
        async with resources(app).sessionmaker() as session:
            await simulated_population(session, players=30, seed=5)
            assert (await run_rescore(session, file_settings, mode="full", trigger="cli")).status
            await session.commit()
            analyst = await headers_for(session, file_settings, "lock-analyst@example.com")
            member = await create_user(session, "lock-member@example.com")
            player = await ensure_user_player(session, member.id)
            await session.commit()
        for pid in (PLAYER, player.player_id):
            await _bets(client, analyst, pid, 5)
            r = await client.post(
                "/api/analytics/analyze-player", headers=analyst, json={"player_id": pid}
            )
            assert r.status_code == 200 and r.json()["top_features"], r.text
        yield Live(client, fake[0], analyst, player.player_id)


async def _eventually(condition: Callable[[], bool]) -> None:
    for _ in range(3000):  # a liveness guard (30 s), not a speed target
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the condition never held")


async def _while_claude_writes(
    live: Live, request: asyncio.Task[httpx.Response], calls: int
) -> None:
    """With `calls` Claude calls in flight, another request writes and commits; then Claude
    may answer."""
    await _eventually(lambda: len(live.fake.requests) >= calls)
    other = await live.client.post(
        "/sentinel/bets", headers=live.analyst, json={"bets": [bet_row("writer-1", "PLR_7711_NJ")]}
    )
    assert other.status_code == 200, other.text
    assert other.json()["created"] == 1


async def test_analyze_player_asks_claude_after_its_unit_of_work_committed(live: Live) -> None:
    await _bets(live.client, live.analyst, PLAYER, 7)  # new activity: this request rescores
    gate = threading.Event()
    live.fake.plan(Planned(gate=gate), Planned(gate=gate))  # the explanation and the nudge
    live.fake.requests.clear()
    request = asyncio.create_task(
        live.client.post(
            "/api/analytics/analyze-player",
            headers=live.analyst,
            json={"player_id": PLAYER, "generate_nudge": True},
        )
    )
    try:
        await _while_claude_writes(live, request, 2)
    finally:
        gate.set()
    r = await request
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["explanation_source"], body["nudge_source"]) == ("claude", "claude")


async def test_a_nudge_intervention_asks_claude_before_its_unit_of_work_begins(
    live: Live,
) -> None:
    gate = threading.Event()
    live.fake.plan(Planned(gate=gate))
    live.fake.requests.clear()
    request = asyncio.create_task(
        live.client.post(
            "/api/interventions",
            headers=live.analyst,
            json={
                "player_id": live.member_player_id,
                "intervention_type": "nudge",
                "reason": REASON,
            },
        )
    )
    try:
        await _while_claude_writes(live, request, 1)
    finally:
        gate.set()
    r = await request
    assert r.status_code == 201, r.text
    assert r.json()["effects"]["written_by"] == "claude"
