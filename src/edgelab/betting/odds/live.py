"""Storing The Odds API's events as games, markets and `live` odds snapshots.

Every bookmaker's price is its own snapshot (keyed by the bookmaker's `last_update`), so a run
that sees nothing new writes nothing, and every price a run sees that differs from what is stored
is a new snapshot: the whole line path is kept, not only the latest, open or close (history and
closing-line value read it). Props (`player_*` keys) are stored as `prop` markets with
over/under sides; other market keys (first-half lines, exchange lay prices) are counted as
skipped, having no market type here.
"""

from __future__ import annotations

import datetime as dt
import re
from bisect import bisect_left
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
PROP_PREFIX = "player_"  # player props: `player_points`, `player_rebounds_q1`, ...


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
        skipped[str(exc)] += 1  # "unknown NBA team name '...'"
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
            if market.key.endswith("_alternate"):  # several lines per book: not a two-way quote
                skipped[f"{market.key} market not stored (alternate lines)"] += 1
                continue
            if market.key not in MARKET_KEYS and not market.key.startswith(PROP_PREFIX):
                # first-half lines, exchange lay prices, team totals...: no market type of ours
                skipped[f"{market.key} market not stored (not h2h, spreads, totals or a prop)"] += 1
                continue
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
                        fetched_at,  # listed by this fetch: seen now, whatever its last_update
                    )
                )
    return game, snaps, specs


async def keep_moved_prices(
    session: AsyncSession,
    snaps: list[SnapshotIn],
    specs: dict[str, OutcomeSpec],
    fetched_at: dt.datetime,
    *,
    skip_repeats: bool = False,
) -> list[SnapshotIn]:
    """Snapshots to store so that no step of the line path is lost.

    A quote is keyed by its `last_update`; a book that moves its price without moving that
    time (it happens, and the time is only to the second) would otherwise overwrite the stored
    quote in place. Such a quote is kept as a new snapshot at the fetch time instead, both
    sides of the book's market together (a two-way price is scored as a pair), unless the
    book's latest stored quote already is that price (seen by an earlier fetch).

    `skip_repeats` also leaves out a new quote (both sides) that only repeats the book's
    previous stored quote, the one just before it in time: the line path keeps its steps and
    the earlier row still says what the price was. Imported history uses it (one snapshot a
    day re-lists tomorrow's games at unchanged prices).
    """
    live = [s for s in snaps if s.kind == "live"]
    at_key: dict[tuple[str, str, dt.datetime], tuple[float, float | None]] = {}
    latest: dict[tuple[str, str], tuple[dt.datetime, float, float | None]] = {}
    path: dict[tuple[str, str], list[tuple[dt.datetime, float, float | None]]] = {}
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
            path.setdefault((oid, book), []).append((at, odds, line))
    for quotes in path.values():
        quotes.sort(key=lambda q: q[0])

    def before(s: SnapshotIn) -> tuple[dt.datetime, float, float | None] | None:
        """The book's stored quote of this side just before `s` (None: there is none)."""
        quotes = path.get((s.outcome_id, s.bookmaker), [])
        k = bisect_left(quotes, s.captured_at, key=lambda q: q[0])
        return quotes[k - 1] if k else None

    def same(price: tuple[float, float | None] | None, s: SnapshotIn) -> bool:
        return price is not None and abs(price[0] - s.odds_decimal) <= 1e-9 and price[1] == s.line

    groups: dict[tuple[str, str, dt.datetime], list[SnapshotIn]] = {}
    for s in live:
        groups.setdefault((specs[s.outcome_id].market_id, s.bookmaker, s.captured_at), []).append(s)
    moved: set[tuple[str, str, dt.datetime]] = set()
    # repeats of a stored quote: not stored again, but that quote is marked seen now (its
    # `seen_at`: a price still listed is fresh, however old its `last_update`)
    seen: dict[tuple[str, str, dt.datetime], dt.datetime] = {}
    for key, group in groups.items():
        stored = [at_key.get((s.outcome_id, s.bookmaker, s.captured_at)) for s in group]
        if skip_repeats and all(p is None for p in stored):
            prev = [before(s) for s in group]
            whole = len({q[0] for q in prev if q is not None}) == 1  # one earlier quote, all sides
            pairs = zip(prev, group, strict=True)
            if whole and all(q is not None and same(q[1:], s) for q, s in pairs):
                seen[key] = next(q[0] for q in prev if q is not None)
                continue
        if all(p is None or same(p, s) for p, s in zip(stored, group, strict=True)):
            continue  # new, or unchanged: stored (or left) as usual
        newest = [latest.get((s.outcome_id, s.bookmaker)) for s in group]
        if all(n is not None and same(n[1:], s) for n, s in zip(newest, group, strict=True)):
            seen[key] = next(n[0] for n in newest if n is not None)  # kept by an earlier fetch
        else:
            moved.add(key)
    out: list[SnapshotIn] = []
    for s in snaps:
        key = (specs[s.outcome_id].market_id, s.bookmaker, s.captured_at)
        if s.kind == "live" and key in seen:  # mark the stored quote seen by this fetch
            out.append(replace(s, captured_at=seen[key], seen_at=s.seen_at or fetched_at))
            continue
        out.append(replace(s, captured_at=fetched_at) if s.kind == "live" and key in moved else s)
    return out


def events_rows(
    events: list[OddsEvent], settings: Settings, fetched_at: dt.datetime, skipped: Counter[str]
) -> tuple[dict[str, GameIn], list[SnapshotIn], dict[str, OutcomeSpec]]:
    """The games (one per game id, the first listing's), snapshots and outcomes of events."""
    games: dict[str, GameIn] = {}
    snaps: list[SnapshotIn] = []
    specs: dict[str, OutcomeSpec] = {}
    for event in events:
        rows = event_rows(event, settings, fetched_at, skipped)
        if rows is None:
            continue
        game, event_snaps, event_specs = rows
        games.setdefault(game.id, game)
        snaps.extend(event_snaps)
        specs.update(event_specs)
    return games, snaps, specs


async def store_snapshots(
    session: AsyncSession,
    snaps: list[SnapshotIn],
    specs: dict[str, OutcomeSpec],
    fetched_at: dt.datetime,
    stats: ImportStats,
    *,
    skip_repeats: bool = False,
) -> None:
    """Write one fetch's prices (their games already stored); see `keep_moved_prices`."""
    await ensure_outcomes(session, specs)
    snaps = await keep_moved_prices(session, snaps, specs, fetched_at, skip_repeats=skip_repeats)
    await upsert_snapshots(session, snaps, stats)


async def store_events(
    session: AsyncSession, events: list[OddsEvent], settings: Settings, fetched_at: dt.datetime
) -> ImportStats:
    """Write one fetch of events: their games, then their prices. `fetched_at` is when the
    prices were seen (the time of a quote that carries none)."""
    stats = ImportStats(rows_read=len(events))
    games, snaps, specs = events_rows(events, settings, fetched_at, stats.skipped)
    await upsert_games(session, list(games.values()), stats)
    await store_snapshots(session, snaps, specs, fetched_at, stats)
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
