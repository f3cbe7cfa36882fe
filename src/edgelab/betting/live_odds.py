"""Storing The Odds API's events as games, markets and `live` odds snapshots.

Every bookmaker's price is its own snapshot (keyed by the bookmaker's `last_update`), so a run
that sees nothing new writes nothing; props are stored as `prop` markets with over/under sides.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from edgelab.betting import ids
from edgelab.betting.ingest import (
    GameIn,
    ImportStats,
    OutcomeSpec,
    SnapshotIn,
    ensure_outcomes,
    upsert_games,
    upsert_snapshots,
)
from edgelab.betting.models import IngestRun
from edgelab.betting.oddsapi import OddsApiClient, OddsEvent
from edgelab.betting.teams import UnknownTeamError, normalize_team
from edgelab.core.errors import AppError
from edgelab.core.settings import Settings

MARKET_KEYS = {"h2h": "moneyline", "spreads": "spread", "totals": "total"}


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _season(date: dt.date) -> int:
    return date.year + 1 if date.month >= 8 else date.year


def event_rows(
    event: OddsEvent, settings: Settings, fetched_at: dt.datetime, skipped: Counter[str]
) -> tuple[GameIn, list[SnapshotIn], dict[str, OutcomeSpec]] | None:
    try:
        home, away = normalize_team(event.home_team), normalize_team(event.away_team)
    except UnknownTeamError as exc:
        skipped[f"unknown team {exc}"] += 1
        return None
    local_date = event.commence_time.astimezone(ZoneInfo(settings.tip_timezone)).date()
    gid = ids.game_id(local_date, home, away)
    game = GameIn(
        gid,
        _season(local_date),
        local_date,
        event.commence_time.astimezone(dt.UTC),
        False,
        home,
        away,
        None,
        None,
        None,
        None,
        event.id,
    )
    snaps: list[SnapshotIn] = []
    specs: dict[str, OutcomeSpec] = {}
    for book in event.bookmakers:
        for market in book.markets:
            captured = (market.last_update or book.last_update or fetched_at).astimezone(dt.UTC)
            mtype = MARKET_KEYS.get(market.key, "prop")
            for out in market.outcomes:
                if mtype in ("moneyline", "spread"):
                    if out.name == event.home_team:
                        side = "home"
                    elif out.name == event.away_team:
                        side = "away"
                    else:
                        skipped[f"{market.key} outcome names neither team"] += 1
                        continue
                    mid = ids.market_id(gid, mtype)
                    label = ids.outcome_label(mtype, side, home, away)
                    desc = None
                elif out.name.lower() in ("over", "under"):
                    side = out.name.lower()
                    if mtype == "total":
                        mid, label, desc = ids.market_id(gid, "total"), out.name, None
                    else:
                        player = out.description or "unknown"
                        mid = f"{gid}-prop-{_slug(market.key)}-{_slug(player)}"
                        label = f"{player} {out.name} ({market.key})"
                        desc = f"{player}: {market.key}"
                else:
                    skipped[f"{market.key} outcome '{out.name}' not two-way"] += 1
                    continue
                line = out.point if mtype != "moneyline" else None
                if mtype != "moneyline" and line is None:
                    skipped[f"{market.key} outcome without a point"] += 1
                    continue
                oid = f"{mid}-{side}"
                specs[oid] = OutcomeSpec(mid, gid, mtype, side, label, desc)
                snaps.append(
                    SnapshotIn(
                        oid,
                        book.key,
                        "live",
                        captured,
                        False,
                        out.price,
                        line,
                        False,
                        "the-odds-api",
                        mtype,
                        side,
                        gid,
                    )
                )
    return game, snaps, specs


async def store_events(
    session: AsyncSession, events: list[OddsEvent], settings: Settings, fetched_at: dt.datetime
) -> ImportStats:
    stats = ImportStats(rows_read=len(events))
    games: dict[str, GameIn] = {}
    snaps: list[SnapshotIn] = []
    specs: dict[str, OutcomeSpec] = {}
    for event in events:
        rows = event_rows(event, settings, fetched_at, stats.skipped)
        if rows is None:
            continue
        game, event_snaps, event_specs = rows
        games.setdefault(game.id, game)
        snaps.extend(event_snaps)
        specs.update(event_specs)
    await upsert_games(session, list(games.values()), stats)
    await ensure_outcomes(session, specs)
    await upsert_snapshots(session, snaps, stats)
    return stats


async def ingest_live_odds(
    session: AsyncSession,
    settings: Settings,
    *,
    sport: str | None = None,
    markets: str | None = None,
    regions: str | None = None,
    props: str | None = None,
    client: OddsApiClient | None = None,
) -> dict[str, Any]:
    """Fetch and store one round of live odds; records what it fetched in `ingest_runs`.

    `props` (e.g. `player_points,player_rebounds`) adds one event-odds call per event, the only
    route The Odds API offers to player props; each call costs quota, reported in the result.
    """
    own = client is None
    api = client or OddsApiClient(settings)
    try:
        response = await api.fetch_odds(sport=sport, markets=markets, regions=regions)
        events = list(response.events)
        quota = response.quota
        props_failed: dict[str, str] = {}
        if props:
            for event in response.events:
                try:
                    prop_event, quota = await api.fetch_event_odds(
                        event.id, markets=props, sport=sport, regions=regions
                    )
                except AppError as exc:  # one event's props (e.g. it has started) must not
                    props_failed[event.id] = exc.code  # cost the run its main odds
                    continue
                events.append(prop_event)
    finally:
        if own:
            await api.aclose()
    fetched_at = dt.datetime.now(dt.UTC)
    stats = await store_events(session, events, settings, fetched_at)
    result = {
        **stats.to_dict(),
        "events": len(response.events),
        "dropped": response.dropped,
        "props_markets": props,
        "props_failed": props_failed,
        "quota": quota.model_dump(),
    }
    session.add(
        IngestRun(
            kind="odds_api",
            source=sport or settings.odds_api_sport,
            finished_at=fetched_at,
            ok=True,
            stats=result,
        )
    )
    await session.flush()
    return result
