"""Writing games, markets, outcomes and odds snapshots: CSV imports and live odds.

Idempotent by construction: every row has a natural key (game id; outcome id; outcome,
bookmaker, kind and capture time for a snapshot); existing keys are read first, so importing
the same file twice changes nothing, and overlapping files merge (a later file fills values
an earlier one lacked, and a changed price is updated and counted). The caller owns the
transaction: a file is written whole or not at all.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from edgelab.betting.markets.devig import american_to_decimal
from edgelab.betting.odds import ids
from edgelab.betting.odds.models import Game, IngestRun, Market, OddsSnapshot, Outcome
from edgelab.betting.odds.nba_csv import GameLines, ParsedFile
from edgelab.core.clock import utcnow
from edgelab.core.db import Base
from edgelab.core.settings import Settings

STANDARD_PRICE = 1.0 + 100.0 / 110.0  # -110, the usual price of spreads and totals
HISTORICAL_BOOK = "sbr"
CHUNK = 400


@dataclass
class ImportStats:
    rows_read: int = 0
    games_new: int = 0
    games_updated: int = 0
    games_unchanged: int = 0
    snapshots_new: int = 0
    snapshots_updated: int = 0
    snapshots_unchanged: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    # games with a snapshot written or changed (what a rescoring after a live ingest covers)
    touched_games: set[str] = field(default_factory=set)

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows_read": self.rows_read,
            "games_new": self.games_new,
            "games_updated": self.games_updated,
            "games_unchanged": self.games_unchanged,
            "snapshots_new": self.snapshots_new,
            "snapshots_updated": self.snapshots_updated,
            "snapshots_unchanged": self.snapshots_unchanged,
            "skipped": dict(self.skipped),
        }


@dataclass(frozen=True)
class SnapshotIn:
    outcome_id: str
    bookmaker: str
    kind: str
    captured_at: dt.datetime
    captured_at_estimated: bool
    odds_decimal: float
    line: float | None
    price_assumed: bool
    source: str
    market_type: str
    side: str
    game_id: str
    seen_at: dt.datetime | None = None  # this fetch's time (None: captured_at)

    @property
    def key(self) -> tuple[str, str, str, dt.datetime | None]:
        """Identity of a snapshot. An estimated capture time is derived from settings, not
        data, so it is not part of the identity: changing the estimate must not duplicate."""
        at = None if self.captured_at_estimated else self.captured_at
        return (self.outcome_id, self.bookmaker, self.kind, at)

    def row(self) -> dict[str, Any]:
        row = self.__dict__.copy()
        del row["market_type"], row["side"], row["game_id"]
        return row

    @property
    def seen(self) -> dt.datetime:
        return self.seen_at or self.captured_at


@dataclass(frozen=True)
class GameIn:
    id: str
    season: int
    game_date: dt.date
    tip_time: dt.datetime
    tip_time_estimated: bool
    home_team: str
    away_team: str
    home_score: int | None
    away_score: int | None
    neutral_site: bool | None
    playoffs: bool | None
    external_id: str | None = None


def _table(model: type[Base]) -> Table:
    """The Core table of a model: Core executemany is many times faster than ORM bulk insert."""
    table = model.__table__
    assert isinstance(table, Table)
    return table


def _chunks(items: Sequence[Any], size: int = CHUNK) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _reason_key(reason: str) -> str:
    """Group skip reasons without their varying numbers, for a readable report."""
    return "".join("#" if ch.isdigit() else ch for ch in reason)


def snapshots_for_game(
    game: GameLines, gid: str, tip: dt.datetime, tz: str, source: str
) -> list[SnapshotIn]:
    out: list[SnapshotIn] = []

    def add(
        mtype: str, side: str, kind: str, odds: float, line: float | None, assumed: bool
    ) -> None:
        captured = ids.estimated_line_time(game.date, kind, tip, tz)
        out.append(
            SnapshotIn(
                ids.outcome_id(gid, mtype, side),
                HISTORICAL_BOOK,
                kind,
                captured,
                True,
                round(float(odds), 6),
                line,
                assumed,
                source,
                mtype,
                side,
                gid,
            )
        )

    if game.ml_home_close is not None and game.ml_away_close is not None:
        home_dec, away_dec = american_to_decimal([game.ml_home_close, game.ml_away_close])
        add("moneyline", "home", "close", home_dec, None, False)
        add("moneyline", "away", "close", away_dec, None, False)
    for kind, spread in (("open", game.spread_home_open), ("close", game.spread_home_close)):
        if spread is not None:
            add("spread", "home", kind, STANDARD_PRICE, float(spread), True)
            add("spread", "away", kind, STANDARD_PRICE, -float(spread), True)
    for kind, total in (("open", game.total_open), ("close", game.total_close)):
        if total is not None:
            add("total", "over", kind, STANDARD_PRICE, float(total), True)
            add("total", "under", kind, STANDARD_PRICE, float(total), True)
    return out


async def upsert_games(session: AsyncSession, games: Sequence[GameIn], stats: ImportStats) -> None:
    """Insert new games; fill values an existing game lacks (scores, flags, external id).

    Never erases: a value this import lacks (odds bring no scores, results no event id) keeps
    what is stored. A real tip-off time (from live odds) replaces an estimate, never the
    reverse, so results imported after odds keep the odds' `commence_time`. An event id that
    moves to another game (an event re-dated under the same id) leaves its old game.
    """
    await _release_moved_event_ids(session, games)
    existing: dict[str, Game] = {}
    for chunk in _chunks([g.id for g in games]):
        rows = await session.execute(select(Game).where(Game.id.in_(chunk)))
        existing.update({g.id: g for g in rows.scalars()})
    new_rows: list[dict[str, Any]] = []
    for g in games:
        cur = existing.get(g.id)
        if cur is None:
            new_rows.append(g.__dict__.copy())
            stats.games_new += 1
            continue
        changes: dict[str, Any] = {}
        for name in ("home_score", "away_score", "neutral_site", "playoffs", "external_id"):
            value = getattr(g, name)
            if value is not None and getattr(cur, name) != value:
                changes[name] = value
        if (cur.tip_time, cur.tip_time_estimated) != (g.tip_time, g.tip_time_estimated) and (
            not g.tip_time_estimated or cur.tip_time_estimated
        ):
            # a real time replaces anything (an estimate that happened to be right included);
            # a new estimate replaces only an old estimate
            changes.update(tip_time=g.tip_time, tip_time_estimated=g.tip_time_estimated)
        if changes:
            for name, value in changes.items():
                setattr(cur, name, value)
            stats.games_updated += 1
        else:
            stats.games_unchanged += 1
    for chunk in _chunks(new_rows, 2000):
        await session.execute(insert(_table(Game)), list(chunk))
    await session.flush()


async def _release_moved_event_ids(session: AsyncSession, games: Sequence[GameIn]) -> None:
    """`games.external_id` is unique: clear it on a game whose event now lists another date."""
    owner = {g.external_id: g.id for g in games if g.external_id is not None}
    released = False
    for chunk in _chunks(list(owner)):
        rows = await session.execute(select(Game).where(Game.external_id.in_(chunk)))
        for game in rows.scalars():
            if game.external_id is not None and owner[game.external_id] != game.id:
                game.external_id = None
                released = True
    if released:
        await session.flush()  # before the new owner is written


@dataclass(frozen=True)
class OutcomeSpec:
    market_id: str
    game_id: str
    market_type: str
    side: str
    label: str
    description: str | None = None


async def ensure_outcomes(session: AsyncSession, wanted: dict[str, OutcomeSpec]) -> None:
    """Create the markets and outcomes that do not exist yet (keyed by outcome id)."""
    have: set[str] = set()
    for chunk in _chunks(list(wanted)):
        have.update(
            (await session.execute(select(Outcome.id).where(Outcome.id.in_(chunk)))).scalars()
        )
    missing = {oid: spec for oid, spec in wanted.items() if oid not in have}
    if not missing:
        return
    markets = {spec.market_id: spec for spec in missing.values()}
    have_markets: set[str] = set()
    for chunk in _chunks(list(markets)):
        have_markets.update(
            (await session.execute(select(Market.id).where(Market.id.in_(chunk)))).scalars()
        )
    new_markets = [
        {
            "id": mid,
            "game_id": spec.game_id,
            "market_type": spec.market_type,
            "description": spec.description,
        }
        for mid, spec in markets.items()
        if mid not in have_markets
    ]
    for chunk in _chunks(new_markets, 2000):
        await session.execute(insert(_table(Market)), list(chunk))
    new_outcomes = [
        {"id": oid, "market_id": spec.market_id, "side": spec.side, "label": spec.label}
        for oid, spec in missing.items()
    ]
    for chunk in _chunks(new_outcomes, 2000):
        await session.execute(insert(_table(Outcome)), list(chunk))


async def upsert_snapshots(
    session: AsyncSession, snaps: Sequence[SnapshotIn], stats: ImportStats
) -> None:
    existing: dict[
        tuple[str, str, str, dt.datetime | None],
        tuple[int, float, float | None, dt.datetime, dt.datetime | None],
    ] = {}
    # read what exists game by game (ids share the game's prefix): far fewer round trips
    # than asking per outcome
    game_ids = sorted({s.game_id for s in snaps})
    for chunk in _chunks(game_ids):
        rows = await session.execute(
            select(
                OddsSnapshot.id,
                OddsSnapshot.outcome_id,
                OddsSnapshot.bookmaker,
                OddsSnapshot.kind,
                OddsSnapshot.captured_at,
                OddsSnapshot.odds_decimal,
                OddsSnapshot.line,
                OddsSnapshot.captured_at_estimated,
                OddsSnapshot.seen_at,
            )
            .join(Outcome, Outcome.id == OddsSnapshot.outcome_id)
            .join(Market, Market.id == Outcome.market_id)
            .where(Market.game_id.in_(chunk))
        )
        for sid, oid, book, kind, at, odds, line, estimated, seen_at in rows:
            existing[(oid, book, kind, None if estimated else at)] = (sid, odds, line, at, seen_at)
    new_rows: list[dict[str, Any]] = []
    changed: list[dict[str, Any]] = []
    seen_again: list[dict[str, Any]] = []  # unchanged quotes listed again later: their seen_at
    seen: set[tuple[str, str, str, dt.datetime | None]] = set()
    for s in snaps:
        if s.key in seen:
            continue
        seen.add(s.key)
        cur = existing.get(s.key)
        if cur is None:
            new_rows.append(s.row())
            stats.snapshots_new += 1
            stats.touched_games.add(s.game_id)
        elif abs(cur[1] - s.odds_decimal) > 1e-9 or cur[2] != s.line or cur[3] != s.captured_at:
            changed.append(
                {
                    "sid": cur[0],
                    "odds_decimal": s.odds_decimal,
                    "line": s.line,
                    "source": s.source,
                    "captured_at": s.captured_at,
                }
            )
            stats.snapshots_updated += 1
            stats.touched_games.add(s.game_id)
        else:
            stats.snapshots_unchanged += 1
            if s.seen_at is not None and s.seen_at > (cur[4] or cur[3]):
                seen_again.append({"sid": cur[0], "seen": s.seen_at})
    for chunk in _chunks(new_rows, 2000):
        await session.execute(insert(_table(OddsSnapshot)), list(chunk))
    if seen_again:
        table = _table(OddsSnapshot)
        await session.execute(
            update(table).where(table.c.id == bindparam("sid")).values(seen_at=bindparam("seen")),
            seen_again,
        )
    for row in changed:
        await session.execute(
            update(OddsSnapshot)
            .where(OddsSnapshot.id == row["sid"])
            .values(
                odds_decimal=row["odds_decimal"],
                line=row["line"],
                source=row["source"],
                captured_at=row["captured_at"],
            )
        )


async def import_parsed(
    session: AsyncSession, parsed: ParsedFile, settings: Settings
) -> ImportStats:
    """Write one parsed file (see module docstring); records an `ingest_runs` row."""
    stats = ImportStats(rows_read=parsed.rows_read)
    for skip in parsed.skipped:
        stats.skipped[_reason_key(skip.reason)] += 1
    source = parsed.path.rsplit("/", 1)[-1]
    tz = settings.tip_timezone
    games: dict[str, GameIn] = {}
    snaps: list[SnapshotIn] = []
    wanted: dict[str, OutcomeSpec] = {}
    for g in parsed.games:
        gid = ids.game_id(g.date, g.home, g.away)
        tip = ids.estimated_tip(g.date, settings.default_tip_time, tz)
        if gid in games:
            stats.skipped["duplicate game in file (later row ignored)"] += 1
            continue
        games[gid] = GameIn(
            gid,
            g.season,
            g.date,
            tip,
            True,
            g.home,
            g.away,
            g.home_score,
            g.away_score,
            g.neutral_site,
            g.playoffs,
        )
        for s in snapshots_for_game(g, gid, tip, tz, source):
            snaps.append(s)
            label = ids.outcome_label(s.market_type, s.side, g.home, g.away)
            wanted[s.outcome_id] = OutcomeSpec(
                ids.market_id(gid, s.market_type), gid, s.market_type, s.side, label
            )
    run = IngestRun(kind="nba_csv", source=source, stats={})
    session.add(run)
    await upsert_games(session, list(games.values()), stats)
    await ensure_outcomes(session, wanted)
    await upsert_snapshots(session, snaps, stats)
    run.stats = {"layout": parsed.layout, **stats.to_dict()}
    run.finished_at = utcnow()
    await session.flush()
    return stats
