"""NBA team names from the three data layouts (and common spellings) -> one 3-letter code.

Relocated franchises map to the franchise's current code, as the Kaggle file does
(Seattle -> OKC, New Jersey -> BKN, Vancouver -> MEM). The Hornets name is split the way
the NBA assigns franchise history: Charlotte Hornets/Bobcats -> CHA, New Orleans (and the
2005-07 New Orleans/Oklahoma City) Hornets -> NOP. A bare name that fits two teams
("Los Angeles", "Hornets") is deliberately unknown rather than guessed.
"""

from __future__ import annotations

import re

# code: (city spellings, nicknames, other codes/aliases). Cities and nicknames are also
# combined ("LA" + "Clippers"), so full names and SBR's squashed names come out of one list.
_TEAMS: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    "ATL": (("Atlanta",), ("Hawks",), ()),
    "BOS": (("Boston",), ("Celtics",), ()),
    "BKN": (("Brooklyn", "New Jersey", "NJ"), ("Nets",), ("BRK", "NJN", "BRO")),
    "CHA": (("Charlotte",), ("Hornets", "Bobcats"), ("CHO", "CHH")),
    "CHI": (("Chicago",), ("Bulls",), ()),
    "CLE": (("Cleveland",), ("Cavaliers", "Cavs"), ()),
    "DAL": (("Dallas",), ("Mavericks", "Mavs"), ()),
    "DEN": (("Denver",), ("Nuggets",), ()),
    "DET": (("Detroit",), ("Pistons",), ()),
    "GSW": (("Golden State",), ("Warriors",), ("GS",)),
    "HOU": (("Houston",), ("Rockets",), ()),
    "IND": (("Indiana",), ("Pacers",), ()),
    "LAC": (("LA", "Los Angeles"), ("Clippers",), ()),
    "LAL": (("LA", "Los Angeles"), ("Lakers",), ()),
    "MEM": (("Memphis", "Vancouver"), ("Grizzlies",), ("VAN",)),
    "MIA": (("Miami",), ("Heat",), ()),
    "MIL": (("Milwaukee",), ("Bucks",), ()),
    "MIN": (("Minnesota",), ("Timberwolves", "Wolves"), ()),
    "NOP": (
        ("New Orleans", "New Orleans/Oklahoma City"),
        ("Pelicans", "Hornets"),
        ("NO", "NOH", "NOK", "Oklahoma City Hornets"),
    ),
    "NYK": (("New York", "NY"), ("Knicks",), ()),
    "OKC": (("Oklahoma City", "Seattle"), ("Thunder", "SuperSonics", "Sonics"), ("SEA",)),
    "ORL": (("Orlando",), ("Magic",), ()),
    "PHI": (("Philadelphia",), ("76ers", "Sixers"), ("PHL",)),
    "PHX": (("Phoenix",), ("Suns",), ("PHO",)),
    "POR": (("Portland",), ("Trail Blazers", "Blazers"), ()),
    "SAC": (("Sacramento",), ("Kings",), ()),
    "SAS": (("San Antonio",), ("Spurs",), ("SA",)),
    "TOR": (("Toronto",), ("Raptors",), ()),
    "UTA": (("Utah",), ("Jazz",), ("UTAH",)),
    "WAS": (("Washington",), ("Wizards", "Bullets"), ("WSH", "WASH")),
}

# The 30 current franchises, standard 3-letter codes (ATL ... WAS).
TEAM_CODES: frozenset[str] = frozenset(_TEAMS)

_NON_ALNUM = re.compile(r"[^0-9a-z]+")


class UnknownTeamError(KeyError):
    """A team name no layout uses; a KeyError so dict-style callers can catch it."""

    def __init__(self, raw: str) -> None:
        super().__init__(raw)
        self.raw = raw

    def __str__(self) -> str:
        return f"unknown NBA team name {self.raw!r}"


def _key(raw: str) -> str:
    # "L.A. Clippers", "LA Clippers", "LAClippers" and "la_clippers" are all one key.
    return _NON_ALNUM.sub("", raw.lower())


def _build_index() -> dict[str, str]:
    index: dict[str, str] = {}
    ambiguous: set[str] = set()

    def add(name: str, code: str) -> None:
        key = _key(name)
        if index.setdefault(key, code) != code:
            ambiguous.add(key)

    for code, (cities, nicknames, _) in _TEAMS.items():
        for name in (code, *cities, *nicknames):
            add(name, code)
        for city in cities:
            for nick in nicknames:
                add(city + nick, code)
    for key in ambiguous:
        del index[key]
    # Explicit aliases win over ambiguity found in the generated names.
    for code, (_, _, aliases) in _TEAMS.items():
        for alias in aliases:
            index[_key(alias)] = code
    return index


_INDEX = _build_index()


def normalize_team(raw: str) -> str:
    """Map a team name/code from any supported scheme to the standard 3-letter code."""
    code = _INDEX.get(_key(raw))
    if code is None:
        raise UnknownTeamError(raw)
    return code


# NBA divisions as aligned from 2004-05 to 2020-21 (unchanged over every shipped season,
# 2007-08 .. 2018-19), under the franchise codes above: Seattle (2007-08) was already in the
# Northwest as OKC is, New Jersey in the Atlantic as Brooklyn, the New Orleans Hornets in the
# Southwest as the Pelicans, and the Charlotte Bobcats in the Southeast as the Hornets.
DIVISIONS: dict[str, frozenset[str]] = {
    "Atlantic": frozenset({"BOS", "BKN", "NYK", "PHI", "TOR"}),
    "Central": frozenset({"CHI", "CLE", "DET", "IND", "MIL"}),
    "Southeast": frozenset({"ATL", "CHA", "MIA", "ORL", "WAS"}),
    "Northwest": frozenset({"DEN", "MIN", "OKC", "POR", "UTA"}),
    "Pacific": frozenset({"GSW", "LAC", "LAL", "PHX", "SAC"}),
    "Southwest": frozenset({"DAL", "HOU", "MEM", "NOP", "SAS"}),
}
DIVISION_OF: dict[str, str] = {code: name for name, codes in DIVISIONS.items() for code in codes}


def division_of(code: str) -> str | None:
    """The division of a standard team code (2004-05 .. 2020-21 alignment); None if unknown."""
    return DIVISION_OF.get(code)
