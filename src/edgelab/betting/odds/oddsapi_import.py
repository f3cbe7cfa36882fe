"""Importing saved The Odds API v4 answers (`edgelab import odds-api`): odds history as snapshots.

A file holds one JSON document (`.json`) or one per line (`.jsonl`), either gzipped (`.gz`).
A document is any of the answers the API gives:

* the historical endpoint's wrapper, `{"timestamp", "data", "previous_timestamp"?,
  "next_timestamp"?}`, whose `data` is a list of events (`/historical/.../odds`) or one event
  (`/historical/.../events/{id}/odds`);
* a plain `/odds` answer, a list of events;
* one `/events/{id}/odds` event object (player props).

Events go through the live client's parser (`oddsapi_payload.parse_event`; prices American or
decimal, decided per bookmaker market by `price_format_of`) and the live path's writer
(`live.events_rows`, `live.store_snapshots`), one document at a time in time order, so each
document is stored as the fetch it was: every price at its market's `last_update`, and a price
that repeats the book's previous quote is not stored again.

Skipped and counted by reason, the rest of the file still imported: events already in play
(`commence_time` at or before the snapshot's `timestamp`; without a wrapper, at or before the
latest `last_update` the event carries), events of another sport, unknown teams, malformed
events, and malformed bookmakers, markets or outcomes (dropped by the parser). A file that is
not JSON, or holds a document of none of the shapes above, is rejected whole, naming its line.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import os
import re
import zlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from edgelab.betting.odds.ingest import GameIn, ImportStats, OutcomeSpec, SnapshotIn, upsert_games
from edgelab.betting.odds.live import events_rows, store_snapshots
from edgelab.betting.odds.models import IngestRun
from edgelab.betting.odds.nba_csv import MalformedFileError
from edgelab.betting.odds.oddsapi_payload import Malformed, OddsEvent, parse_event
from edgelab.core.clock import utcnow
from edgelab.core.settings import Settings

FILE_SUFFIXES = (".json", ".jsonl", ".json.gz", ".jsonl.gz")
_EVENT_KEYS = ("id", "home_team", "away_team", "bookmakers")


@dataclass(frozen=True)
class OddsDocument:
    line: int  # physical line of the document (1 for a whole-file `.json`)
    taken_at: dt.datetime  # when its prices were seen: the wrapper's `timestamp`, else see above
    events: list[OddsEvent]  # the events to store (the skipped ones are counted in the file)
    listing: bool = True  # a list of events (an `/odds` answer), not one event's answer (props)


@dataclass
class OddsFile:
    path: str
    documents: list[OddsDocument]
    events_listed: int = 0  # event listings over all documents, skipped ones included
    event_ids: set[str] = field(default_factory=set)  # distinct events not skipped while parsing
    skipped: Counter[str] = field(default_factory=Counter)


def _when(value: Any) -> dt.datetime | None:
    """An ISO 8601 time with an offset (`Z` included); a naive or unparsable one is None."""
    if not isinstance(value, str):
        return None
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed.astimezone(dt.UTC) if parsed.tzinfo else None


def _latest_update(events: list[OddsEvent]) -> dt.datetime | None:
    times = [
        when
        for event in events
        for book in event.bookmakers
        for when in (book.last_update, *(m.last_update for m in book.markets))
        if when is not None
    ]
    return max(times, default=None)


def _text_of(name: str) -> str:
    """The file's text, gunzipped when its name ends in `.gz`; a bad file fails naming a line."""
    with open(name, "rb") as fh:
        data = fh.read()
    if name.endswith(".gz"):
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as exc:
            raise MalformedFileError(name, 1, f"not a gzip file ({exc})") from exc
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise MalformedFileError(name, line, f"not UTF-8 text ({exc.reason})") from exc


def _json_documents(name: str, text: str) -> list[tuple[int, Any]]:
    """(physical line, parsed JSON) per document: each non-blank line of a `.jsonl` file (or a
    `.json` file holding several documents, one a line), else the whole file."""
    whole: json.JSONDecodeError | None = None
    if not name.removesuffix(".gz").endswith(".jsonl"):
        try:
            return [(1, json.loads(text))]
        except json.JSONDecodeError as exc:
            whole = exc
            if exc.msg != "Extra data" or exc.lineno == 1:
                raise MalformedFileError(name, exc.lineno, f"not JSON ({exc.msg})") from exc
    docs: list[tuple[int, Any]] = []
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            docs.append((number, json.loads(line)))
        except json.JSONDecodeError as exc:
            bad = whole or exc  # not JSON lines either: the whole-file error says more
            where = whole.lineno if whole else number
            raise MalformedFileError(name, where, f"not JSON ({bad.msg})") from exc
    if not docs:
        raise MalformedFileError(name, 1, "empty file (no JSON document)")
    return docs


def _raw_events(name: str, line: int, doc: Any) -> tuple[dt.datetime | None, list[Any], bool]:
    """The snapshot time (wrappers only), the raw events of one document of any shape, and
    whether they are a listing (a list of events) rather than one event's answer."""
    if isinstance(doc, dict) and "data" in doc:
        taken = _when(doc.get("timestamp"))
        if taken is None:
            raise MalformedFileError(
                name, line, "historical wrapper without a valid 'timestamp' (ISO 8601 with offset)"
            )
        data = doc["data"]
        if isinstance(data, dict):
            return taken, [data], False  # historical event odds: one event
        if isinstance(data, list):
            return taken, data, True
        raise MalformedFileError(name, line, "the wrapper's 'data' is neither events nor an event")
    if isinstance(doc, list):
        return None, doc, True
    if isinstance(doc, dict) and any(key in doc for key in _EVENT_KEYS):
        return None, [doc], False
    shape = type(doc).__name__
    if isinstance(doc, dict):
        shape = f"an object with keys {sorted(doc)[:6]}"
    raise MalformedFileError(
        name, line, f"not an Odds API answer (wrapper, event list or event), but {shape}"
    )


def _malformed_reason(exc: Malformed) -> str:
    # "event 6d24... lacks a valid home_team" -> counted without the varying id
    return "malformed event: " + re.sub(r"^event \S+ ", "", str(exc))


def parse_odds_file(path: str | os.PathLike[str], *, sport: str) -> OddsFile:
    """Read and parse a whole file before anything is written (`MalformedFileError` if bad)."""
    name = os.fspath(path)
    out = OddsFile(name, [])
    for line, doc in _json_documents(name, _text_of(name)):
        taken, raws, listing = _raw_events(name, line, doc)
        out.events_listed += len(raws)
        events: list[OddsEvent] = []
        for raw in raws:
            try:
                event, dropped = parse_event(raw, "auto", sport)
            except Malformed as exc:
                out.skipped[_malformed_reason(exc)] += 1
                continue
            if dropped:
                out.skipped["malformed bookmaker, market or outcome (dropped)"] += dropped
            if event.sport_key != sport:
                out.skipped[f"sport {event.sport_key} (not {sport})"] += 1
                continue
            seen_at = taken or _latest_update([event])
            if seen_at is not None and event.commence_time <= seen_at:
                out.skipped["in play (commence_time at or before the snapshot)"] += 1
                continue
            events.append(event)
        at = taken or _latest_update(events)
        if at is None:
            if events:
                out.skipped["no time to store at (no timestamp, no last_update)"] += len(events)
            continue
        out.documents.append(OddsDocument(line, at, events, listing))
        out.event_ids.update(e.id for e in events)
    return out


async def import_odds_files(
    session: AsyncSession,
    files: list[OddsFile],
    settings: Settings,
    progress: Callable[[], None] | None = None,
) -> list[ImportStats]:
    """Write parsed files (stats per file, in order); records an `ingest_runs` row (`odds_api`)
    per file. `rows_read` counts a file's documents (snapshots); `progress` is called after
    each document.

    Games first, once each, as their latest listing (by snapshot time, over every file) has
    them: a game re-listed with a moved `commence_time` or under a new event id would otherwise
    flip between listings, and a second import would rewrite it. Then the prices, document by
    document in time order, each as the fetch it was (`live.store_snapshots`), a price that
    repeats the book's previous quote left out.
    """
    stats = [ImportStats(rows_read=len(f.documents), skipped=Counter(f.skipped)) for f in files]
    latest: dict[str, tuple[dt.datetime, int, GameIn]] = {}  # game id -> (seen at, file, game)
    prices: list[tuple[dt.datetime, int, list[SnapshotIn], dict[str, OutcomeSpec]]] = []
    for n, f in enumerate(files):
        for doc in f.documents:
            games, snaps, specs = events_rows(doc.events, settings, doc.taken_at, stats[n].skipped)
            for gid, game in games.items():
                if gid not in latest or doc.taken_at >= latest[gid][0]:
                    latest[gid] = (doc.taken_at, n, game)
            prices.append((doc.taken_at, n, snaps, specs))
    # `games.external_id` is unique: an event id listed under two games stays with the later
    owner = {
        game.external_id: gid
        for gid, (_at, _n, game) in sorted(latest.items(), key=lambda kv: kv[1][0])
        if game.external_id is not None
    }
    games_of: list[list[GameIn]] = [[] for _ in files]
    for gid, (_at, n, game) in latest.items():
        if game.external_id is not None and owner[game.external_id] != gid:
            game = replace(game, external_id=None)
        games_of[n].append(game)
    runs = []
    for n, f in enumerate(files):
        runs.append(IngestRun(kind="odds_api", source=f.path.rsplit("/", 1)[-1], stats={}))
        session.add(runs[-1])
        await upsert_games(session, games_of[n], stats[n])
    for at, n, snaps, specs in sorted(prices, key=lambda item: item[0]):
        await store_snapshots(session, snaps, specs, at, stats[n], skip_repeats=True)
        if progress is not None:
            progress()
    for run, f, st in zip(runs, files, stats, strict=True):
        run.stats = {
            "format": "odds_api_v4",
            "events_listed": f.events_listed,
            "event_ids": len(f.event_ids),
            **st.to_dict(),
        }
        run.finished_at = utcnow()
    await session.flush()
    return stats
