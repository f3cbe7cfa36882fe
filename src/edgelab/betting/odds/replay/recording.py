"""Recorded The Odds API answers, indexed by the time they were taken, for a replay.

Files are read and parsed as `edgelab import odds-api` reads them (`oddsapi_import.
parse_odds_file`: historical wrappers, plain `/odds` lists, single `/events/{id}/odds` answers;
`.json`/`.jsonl`, gzipped or not; prices American or decimal, held as decimal). Two kinds of
document come out:

* a **listing** (an `/odds` answer, historical or not) is a *snapshot*: what the API showed for
  the whole sport at that instant. `/odds` serves the latest snapshot at or before "now";
  listings of the same instant (several files) merge into one snapshot.
* a **single event's** answer (player props) updates that event only, from its instant on.

Everything is parsed once at load (the 146 snapshots of the shipped 2022-23 file in ~3 s) and
looked up by bisection, so a request costs only the filtering of one snapshot.
"""

from __future__ import annotations

import bisect
import datetime as dt
import os
from collections.abc import Sequence
from dataclasses import dataclass, field

from edgelab.betting.odds.oddsapi_import import OddsFile, parse_odds_file
from edgelab.betting.odds.oddsapi_payload import OddsBookmaker, OddsEvent, OddsMarket


@dataclass(frozen=True)
class Snapshot:
    taken_at: dt.datetime
    events: dict[str, OddsEvent]  # by event id, in the recorded order


@dataclass(frozen=True)
class _Version:
    """One recorded sighting of an event."""

    at: dt.datetime
    listing: bool  # seen in a snapshot (else in a single event's answer)
    event: OddsEvent


@dataclass
class Recording:
    snapshots: list[Snapshot]  # listings, oldest first, one per instant
    files: list[OddsFile] = field(default_factory=list)  # as parsed (counts, skipped reasons)
    _times: list[dt.datetime] = field(init=False)
    _versions: dict[str, list[_Version]] = field(init=False)
    _version_times: dict[str, list[dt.datetime]] = field(init=False)

    def __post_init__(self) -> None:
        self._times = [s.taken_at for s in self.snapshots]
        self._versions = {}
        self._version_times = {}

    # ------------------------------------------------------------ building

    @classmethod
    def load(cls, paths: Sequence[str | os.PathLike[str]], *, sport: str) -> Recording:
        """Read and parse every file (`MalformedFileError` names the bad one and its line)."""
        return cls.from_files([parse_odds_file(path, sport=sport) for path in paths])

    @classmethod
    def from_files(cls, files: list[OddsFile]) -> Recording:
        listings: dict[dt.datetime, dict[str, OddsEvent]] = {}
        singles: list[tuple[dt.datetime, OddsEvent]] = []
        for f in files:
            for doc in f.documents:
                if doc.listing:
                    merged = listings.setdefault(doc.taken_at, {})
                    merged.update((e.id, e) for e in doc.events)  # a later file wins a clash
                else:
                    singles.extend((doc.taken_at, e) for e in doc.events)
        snapshots = [Snapshot(at, events) for at, events in sorted(listings.items())]
        recording = cls(snapshots, files)
        versions = [
            _Version(s.taken_at, True, event) for s in snapshots for event in s.events.values()
        ]
        versions += [_Version(at, False, event) for at, event in singles]
        versions.sort(key=lambda v: (v.at, not v.listing))  # a listing before its instant's props
        for v in versions:
            recording._versions.setdefault(v.event.id, []).append(v)
        recording._version_times = {
            event_id: [v.at for v in seen] for event_id, seen in recording._versions.items()
        }
        return recording

    # ------------------------------------------------------------ what it holds

    @property
    def first_taken(self) -> dt.datetime | None:
        """The earliest recorded instant (snapshot or single event's answer)."""
        firsts = [times[0] for times in self._version_times.values()]
        return min(firsts, default=None)

    @property
    def last_taken(self) -> dt.datetime | None:
        lasts = [times[-1] for times in self._version_times.values()]
        return max(lasts, default=None)

    @property
    def event_count(self) -> int:
        return len(self._versions)

    @property
    def sports(self) -> frozenset[str]:
        return frozenset(seen[0].event.sport_key for seen in self._versions.values())

    # ------------------------------------------------------------ lookups by time

    def snapshot_at(self, now: dt.datetime) -> Snapshot | None:
        """The latest snapshot taken at or before `now`; None before the first."""
        i = bisect.bisect_right(self._times, now)
        return self.snapshots[i - 1] if i else None

    def _seen_by(self, event_id: str, now: dt.datetime) -> list[_Version]:
        times = self._version_times.get(event_id, [])
        return self._versions.get(event_id, [])[: bisect.bisect_right(times, now)]

    def event_at(self, event_id: str, now: dt.datetime) -> OddsEvent | None:
        """One event as the API would show it at `now`: its latest snapshot listing, overlaid
        with the single-event answers (props) taken since, each bookmaker market replaced by
        its newer quote. None if nothing about it was recorded by `now`."""
        seen = self._seen_by(event_id, now)
        if not seen:
            return None
        base = max((i for i, v in enumerate(seen) if v.listing), default=0)
        event = seen[base].event
        for v in seen[base + 1 :]:
            event = _overlay(event, v.event)
        return event

    def events_known(self, now: dt.datetime) -> list[OddsEvent]:
        """Every event recorded by `now`, as last seen, minus the withdrawn: an event not yet
        started whose last listing is older than the latest snapshot was taken off the board
        (postponed, or a provisional playoff pairing re-listed under a new id)."""
        latest = self.snapshot_at(now)
        known = []
        for event_id in self._versions:
            seen = self._seen_by(event_id, now)
            if not seen:
                continue
            listed = [v for v in seen if v.listing]
            event = seen[-1].event
            if (
                latest is not None
                and listed
                and listed[-1].at < latest.taken_at
                and event.commence_time > now
            ):
                continue
            known.append(event)
        return known


def _overlay(base: OddsEvent, newer: OddsEvent) -> OddsEvent:
    """`base` with every bookmaker market that `newer` quotes replaced (or added)."""
    books: dict[str, OddsBookmaker] = {b.key: b for b in base.bookmakers}
    for book in newer.bookmakers:
        old = books.get(book.key)
        if old is None:
            books[book.key] = book
            continue
        markets: dict[str, OddsMarket] = {m.key: m for m in old.markets}
        markets.update((m.key, m) for m in book.markets)
        books[book.key] = old.model_copy(
            update={"markets": list(markets.values()), "last_update": book.last_update}
        )
    return base.model_copy(update={"bookmakers": list(books.values())})
