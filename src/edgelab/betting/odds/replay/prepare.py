"""A database for paper trading on a replay (`edgelab replay prepare --before ISO`).

The replay serves the recorded prices and finals of a period as if live; the app must not know
them already, or nothing it polls is new (nothing is scored) and every bet settles at once.
So the replay runs on a database of its own holding only what was known before the replay's
start: the shipped results of the games played before that day, the shipped Odds API snapshots
taken before that instant, and the closes the live loop would have kept of the games that had
started. The rating model and the value model then have their history, and the loop fills in
the rest as the replay goes.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from edgelab.betting.commands import shipped_nba_files, shipped_odds_api_files
from edgelab.betting.live.closes import freeze_closes, games_to_freeze
from edgelab.betting.odds.ingest import import_parsed
from edgelab.betting.odds.models import Game, OddsSnapshot
from edgelab.betting.odds.nba_csv import parse_nba_csv
from edgelab.betting.odds.oddsapi_import import import_odds_files, parse_odds_file
from edgelab.core.db import create_engine, create_sessionmaker
from edgelab.core.settings import Settings

EASTERN = ZoneInfo("America/New_York")  # the game dates of the results files


class KnowsTheFuture(RuntimeError):
    """The database already holds results or prices from on or after the replay's start."""


async def prepare_database(settings: Settings, before: dt.datetime) -> dict[str, Any]:
    """Import what was known before `before` into the (migrated, empty of that period)
    database of `settings`; returns counts. Raises `KnowsTheFuture` when the database holds
    anything of the replayed period."""
    day = before.astimezone(EASTERN).date()
    engine = create_engine(settings)
    try:
        sessions = create_sessionmaker(engine)
        async with sessions() as session:
            later_games = await session.scalar(  # a final from the replayed days
                select(func.count())
                .select_from(Game)
                .where(Game.game_date >= day, Game.home_score.is_not(None))
            )
            later_prices = await session.scalar(
                select(func.count())
                .select_from(OddsSnapshot)
                .where(OddsSnapshot.captured_at >= before)
            )
        if later_games or later_prices:
            raise KnowsTheFuture(
                f"this database already knows {later_games} finals and {later_prices} prices "
                f"from {before:%Y-%m-%d %H:%M} UTC on: prepare a new one (EDGELAB_DATABASE_URL)"
            )
        games = 0
        async with sessions() as session:
            for path in shipped_nba_files():
                parsed = parse_nba_csv(path)
                kept = [g for g in parsed.games if g.date < day]
                if kept:
                    await import_parsed(session, dataclasses.replace(parsed, games=kept), settings)
                    games += len(kept)
            files = []
            for path in shipped_odds_api_files():
                parsed_odds = parse_odds_file(path, sport=settings.odds_api_sport)
                docs = [d for d in parsed_odds.documents if d.taken_at < before]
                if docs:
                    files.append(dataclasses.replace(parsed_odds, documents=docs))
            await import_odds_files(session, files, settings)
            await session.commit()
        async with sessions() as session:
            closes = await freeze_closes(session, await games_to_freeze(session, before))
            await session.commit()
        return {
            "games": games,
            "snapshots": sum(len(f.documents) for f in files),
            "closes": closes,
        }
    finally:
        await engine.dispose()
