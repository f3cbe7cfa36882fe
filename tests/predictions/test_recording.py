"""Recorded Polymarket answers (the shipped real recording): `edgelab import
polymarket-recording`, recorded markets through the API, and how they meet live ones."""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import io
import json
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from typer.testing import CliRunner

from edgelab.accounts.service import create_user
from edgelab.core import migrations
from edgelab.core.auth import issue_access_token
from edgelab.core.settings import Settings
from edgelab.predictions.commands import shipped_recording
from edgelab.predictions.ingest import import_recording, ingest_polymarket
from edgelab.predictions.models import PredictionMarket, PredictionPriceSnapshot
from edgelab.predictions.sources import recording
from edgelab.predictions.sources.polymarket import PolymarketClient
from tests.fixtures.database import make_settings
from tests.predictions.fake_polymarket import FakePolymarket, make_market

CLOB_MARKET = "248824"  # "Will there be a Senate vacancy in Pennsylvania by EOY?": 311 days
GAMMA_MARKET = "517310"  # in both Gamma pages: two points a week apart


def _last_week_in_file(token: str) -> int:
    """The shipped CLOB file's points of `token` in the week before its last (read apart)."""
    raw = gzip.decompress(
        (shipped_recording() / "clob_history/polymarket_prices.csv.gz").read_bytes()
    )
    times = [
        dt.datetime.fromisoformat(r["timestamp"] + "+00:00").timestamp()
        for r in csv.DictReader(io.StringIO(raw.decode()))
        if r["token_id"] == token
    ]
    return sum(1 for t in times if t >= max(times) - 7 * 86_400)


@pytest.fixture
async def recorded(session: AsyncSession) -> dict[str, object]:
    summary = await import_recording(session, recording.read([shipped_recording()]))
    await session.commit()
    return summary


@pytest.fixture
async def paid(session: AsyncSession, settings: Settings) -> dict[str, str]:
    user = await create_user(session, "recorded@api.test", tier="paid")
    await session.commit()
    return {"Authorization": f"Bearer {issue_access_token(settings, user.id)}"}


async def test_the_shipped_recording_loads_real_markets_marked_recorded(
    session: AsyncSession, recorded: dict[str, object]
) -> None:
    # 500 + 500 Gamma rows (374 ids in both pages) and the CLOB file's 92 markets
    distinct = (await session.execute(select(func.count(PredictionMarket.id)))).scalar()
    assert distinct == 500 + (500 - 374) + 92
    live = await session.execute(select(func.count()).where(PredictionMarket.recorded_at.is_(None)))
    assert live.scalar() == 0
    market = await session.get(PredictionMarket, GAMMA_MARKET)
    assert market is not None and market.recording == "gamma_markets_2026-02-07T2057Z"
    assert market.recorded_at is not None and market.recorded_at.date() == dt.date(2026, 2, 7)
    points = (
        await session.execute(select(func.count()).select_from(PredictionPriceSnapshot))
    ).scalar()
    assert points == 14_184 + 1000 + 1000  # the CLOB rows, one point per Gamma outcome row
    again = await import_recording(session, recording.read([shipped_recording()]))
    assert again["points"] == 0 and again["markets"] == recorded["markets"]


@pytest.mark.usefixtures("recorded")
async def test_recorded_markets_say_so_and_chart_their_recording_without_the_network(
    client: httpx.AsyncClient, fake: FakePolymarket, paid: dict[str, str]
) -> None:
    listing = (await client.get("/predictions/markets", params={"limit": 5})).json()
    assert listing["backend"]["name"] == "recording"
    assert listing["backend"]["recorded_markets"] == 718
    assert listing["backend"]["recorded_at"].startswith("2026-02-07T20:57")
    assert any(note.startswith("Offline:") for note in listing["notes"])
    assert all(m["recorded"] and m["recorded_at"] for m in listing["items"])
    detail = (await client.get(f"/predictions/markets/{CLOB_MARKET}")).json()
    assert detail["recorded"] is True and detail["recording"] == "polymarket_prices"
    assert detail["recorded_at"].startswith("2024-01-01")
    week = await client.get(
        f"/predictions/markets/{CLOB_MARKET}/history", params={"interval": "1w"}, headers=paid
    )
    body = week.json()
    assert week.status_code == 200 and body["recorded"] is True
    assert body["points"] == _last_week_in_file(body["token_id"]) >= 7  # not today's week
    assert fake.requests == []  # a CLOB recording is whole: nothing is asked
    assert any(note.startswith("Recorded market") for note in body["notes"])


@pytest.mark.usefixtures("recorded")
async def test_a_recorded_market_asks_the_clob_once_then_remembers_it_is_offline(
    client: httpx.AsyncClient, fake: FakePolymarket, paid: dict[str, str]
) -> None:
    fake.plan(path="/prices-history", status=503, times=2)
    url = f"/predictions/markets/{GAMMA_MARKET}/history"
    first = (await client.get(url, params={"interval": "max"}, headers=paid)).json()
    assert first["points"] == 2 and first["stale"] is True  # the two recorded pages
    assert [p["value"] for p in first["data"]] == [0.029, 0.045]
    asked = len(fake.calls("/prices-history"))
    assert asked == 2  # one request and its retry
    second = (await client.get(url, params={"interval": "1m"}, headers=paid)).json()
    assert second["points"] == 2 and len(fake.calls("/prices-history")) == asked


def _page(tmp_path: Path, *rows: dict[str, object]) -> Path:
    path = tmp_path / "gamma_page.json"
    path.write_text(json.dumps(list(rows)))
    return path


async def test_a_recording_never_overwrites_a_live_market_and_live_data_replaces_it(
    session: AsyncSession, settings: Settings, fake: FakePolymarket, tmp_path: Path
) -> None:
    old = make_market(7, updatedAt="2026-01-01T00:00:00Z", question="Recorded question?")
    await import_recording(session, recording.read([_page(tmp_path, old)]))
    market = await session.get(PredictionMarket, "2000007")
    assert market is not None and market.recorded_at is not None
    fake.markets = [make_market(7)]
    client = PolymarketClient(settings, retry_initial_wait=0.01)
    try:
        await ingest_polymarket(session, settings, client=client)
    finally:
        await client.aclose()
    await session.refresh(market)
    assert market.recorded_at is None and market.recording is None  # live now
    again = await import_recording(session, recording.read([_page(tmp_path, old)]))
    await session.refresh(market)
    assert again["skipped_live"] == 1 and again["markets"] == 0
    assert market.recorded_at is None and market.question != "Recorded question?"


def test_files_that_are_not_recordings_are_refused_saying_why(tmp_path: Path) -> None:
    odd = tmp_path / "odd.csv"
    odd.write_text("a,b\n1,2\n")
    with pytest.raises(recording.RecordingError, match="neither a CLOB price file"):
        recording.read([odd])
    obj = tmp_path / "obj.json"
    obj.write_text('{"markets": []}')
    with pytest.raises(recording.RecordingError, match="not a Gamma /markets page"):
        recording.read([obj])
    with pytest.raises(recording.RecordingError, match="no such file"):
        recording.read([tmp_path / "missing.json"])


def test_the_import_command_loads_files_and_folders(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from edgelab.cli import app

    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    migrations.upgrade(make_settings(url))
    monkeypatch.setenv("EDGELAB_DATABASE_URL", url)
    monkeypatch.setenv("EDGELAB_ENV", "development")
    monkeypatch.delenv("EDGELAB_REDIS_URL", raising=False)
    folder = shipped_recording() / "clob_history"
    result = CliRunner().invoke(app, ["import", "polymarket-recording", str(folder)])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["markets"] == 92 and summary["points"] == 14_184
    page = shipped_recording() / "gamma_markets_2026-01-31T1805Z.json.gz"
    result = CliRunner().invoke(app, ["import", "polymarket-recording", str(page)])
    assert result.exit_code == 0 and json.loads(result.output)["markets"] == 500
    odd = tmp_path / "odd.csv"
    odd.write_text("a,b\n1,2\n")
    refused = CliRunner().invoke(app, ["import", "polymarket-recording", str(odd)])
    assert refused.exit_code == 2 and "neither a CLOB price file" in refused.output


@pytest.mark.usefixtures("recorded")
async def test_once_live_markets_are_ingested_the_backend_is_polymarket_and_both_can_be_asked_for(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings, fake: FakePolymarket
) -> None:
    fake.markets = [make_market(1), make_market(2)]
    polymarket = PolymarketClient(settings, retry_initial_wait=0.01)
    try:
        await ingest_polymarket(session, settings, client=polymarket)
    finally:
        await polymarket.aclose()
    await session.commit()
    listing = (await client.get("/predictions/markets")).json()
    assert listing["backend"]["name"] == "polymarket" and listing["backend"]["reachable"]
    assert listing["backend"]["live_markets"] == 2 and listing["total"] == 718 + 2
    assert not any(note.startswith("Offline:") for note in listing["notes"])
    live = (await client.get("/predictions/markets", params={"recorded": "false"})).json()
    assert {m["id"] for m in live["items"]} == {"2000001", "2000002"}
    assert not any(m["recorded"] for m in live["items"])
    recorded = (await client.get("/predictions/markets", params={"recorded": "true"})).json()
    assert recorded["total"] == 718 and all(m["recorded"] for m in recorded["items"])
