"""Storing The Odds API's events as games, markets and `live` odds snapshots.

Every bookmaker's price is its own snapshot (keyed by the bookmaker's `last_update`), so a run
that sees nothing new writes nothing, and every price a run sees that differs from what is stored
is a new snapshot: the whole line path is kept, not only the latest, open or close (history and
closing-line value read it). Props are stored as `prop` markets with over/under sides.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from dataclasses import replace
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from edgelab.betting.odds import ids
from edgelab.betting.odds.ingest import (
    GameIn,
    ImportStats,
    OutcomeSpec,
    SnapshotIn,
    ensure_outcomes,
    upsert_games,
    upsert_snapshots,
)
from edgelab.betting.odds.models import IngestRun, OddsSnapshot
from edgelab.betting.odds.oddsapi import OddsApiClient, OddsEvent
from edgelab.betting.odds.teams import UnknownTeamError, normalize_team
from edgelab.core.clock import utcnow
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


async def keep_moved_prices(
    session: AsyncSession,
    snaps: list[SnapshotIn],
    specs: dict[str, OutcomeSpec],
    fetched_at: dt.datetime,
) -> list[SnapshotIn]:
    """Snapshots to store so that no step of the line path is lost.

    A quote is keyed by its `last_update`; a book that moves its price without moving that
    time (it happens, and the time is only to the second) would otherwise overwrite the stored
    quote in place. Such a quote is kept as a new snapshot at the fetch time instead, both
    sides of the book's market together (a two-way price is scored as a pair), unless the
    book's latest stored quote already is that price (seen by an earlier fetch).
    """
    live = [s for s in snaps if s.kind == "live"]
    at_key: dict[tuple[str, str, dt.datetime], tuple[float, float | None]] = {}
    latest: dict[tuple[str, str], tuple[dt.datetime, float, float | None]] = {}
    oids = sorted({s.outcome_id for s in live})
    for start in range(0, len(oids), 500):
        rows = await session.execute(
            select(
                OddsSnapshot.outcome_id,
                OddsSnapshot.bookmaker,
                OddsSnapshot.captured_at,
                OddsSnapshot.odds_decimal,
                OddsSnapshot.line,
            ).where(
                OddsSnapshot.outcome_id.in_(oids[start : start + 500]),
                OddsSnapshot.kind == "live",
            )
        )
        for oid, book, at, odds, line in rows:
            at_key[(oid, book, at)] = (odds, line)
            if (oid, book) not in latest or at > latest[(oid, book)][0]:
                latest[(oid, book)] = (at, odds, line)

    def same(price: tuple[float, float | None] | None, s: SnapshotIn) -> bool:
        return price is not None and abs(price[0] - s.odds_decimal) <= 1e-9 and price[1] == s.line

    groups: dict[tuple[str, str, dt.datetime], list[SnapshotIn]] = {}
    for s in live:
        groups.setdefault((specs[s.outcome_id].market_id, s.bookmaker, s.captured_at), []).append(s)
    moved: set[tuple[str, str, dt.datetime]] = set()
    seen: set[tuple[str, str, dt.datetime]] = set()
    for key, group in groups.items():
        stored = [at_key.get((s.outcome_id, s.bookmaker, s.captured_at)) for s in group]
        if all(p is None or same(p, s) for p, s in zip(stored, group, strict=True)):
            continue  # new, or unchanged: stored (or left) as usual
        newest = [latest.get((s.outcome_id, s.bookmaker)) for s in group]
        if all(n is not None and same(n[1:], s) for n, s in zip(newest, group, strict=True)):
            seen.add(key)  # an earlier fetch already kept this price
        else:
            moved.add(key)
    out: list[SnapshotIn] = []
    for s in snaps:
        key = (specs[s.outcome_id].market_id, s.bookmaker, s.captured_at)
        if s.kind == "live" and key in seen:
            continue
        out.append(replace(s, captured_at=fetched_at) if s.kind == "live" and key in moved else s)
    return out


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
    snaps = await keep_moved_prices(session, snaps, specs, fetched_at)
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
                    props_failed[event.id] = str(exc.code)  # cost the run its main odds
                    continue
                events.append(prop_event)
    finally:
        if own:
            await api.aclose()
    fetched_at = utcnow()
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
