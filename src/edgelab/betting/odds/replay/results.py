"""Final scores for a replay's `/scores`, from a results CSV (the Kaggle layout, or any layout
`nba_csv` reads).

An Odds API event has full team names and a UTC `commence_time`; a results row has a US local
date and team codes. They join as the data README says: the date is `commence_time` in US
Eastern time (America/New_York), date part, and the teams are normalised to the standard codes
(`teams.normalize_team`); the key is (date, away, home).
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from edgelab.betting.odds.nba_csv import GameLines, parse_nba_csv
from edgelab.betting.odds.oddsapi_payload import OddsEvent
from edgelab.betting.odds.teams import UnknownTeamError, normalize_team

RESULTS_TIMEZONE = "America/New_York"


@dataclass(frozen=True)
class FinalScore:
    home: int
    away: int


class FinalScores:
    """Final scores by (Eastern date, away code, home code); games without a score are left
    out (not played yet)."""

    def __init__(self, games: list[GameLines], *, timezone: str = RESULTS_TIMEZONE) -> None:
        self._zone = ZoneInfo(timezone)
        self._finals: dict[tuple[dt.date, str, str], FinalScore] = {
            (g.date, g.away, g.home): FinalScore(g.home_score, g.away_score)
            for g in games
            if g.home_score is not None and g.away_score is not None
        }

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> FinalScores:
        """Read a results file (`MalformedFileError` if it is not one)."""
        return cls(parse_nba_csv(path).games)

    def __len__(self) -> int:
        return len(self._finals)

    def final_of(self, event: OddsEvent) -> FinalScore | None:
        """The event's final score, or None (no such game in the file, or unknown teams)."""
        try:
            home, away = normalize_team(event.home_team), normalize_team(event.away_team)
        except UnknownTeamError:
            return None
        local_date = event.commence_time.astimezone(self._zone).date()
        return self._finals.get((local_date, away, home))
