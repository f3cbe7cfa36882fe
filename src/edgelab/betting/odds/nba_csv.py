"""Import NBA results + bookmaker lines from the three CSV layouts in ``edgelab/data/nba``.

The layouts, their quirks and the numbers they must reproduce are described in
``edgelab/data/nba/README.md``. Two kinds of problem are told apart:

* a broken *file* (unknown header, ragged row, unknown team, bad score or date, an SBR game
  split across a missing row) raises :class:`MalformedFileError` naming the physical line;
  nothing is returned, because a half-read season silently biases any backtest;
* a broken *value* in a sound row (``NL``, a blank, a typo such as the opening total
  ``1955.5``) becomes ``None`` and is listed in ``ParsedFile.skipped`` with its line and why.

Units: spreads are the HOME team's handicap in points (negative = home favoured), totals are
game points, moneylines are American odds exactly as printed. Every line is closing unless
the field says ``open``; the Kaggle layout has closing lines only.
"""

from __future__ import annotations

import csv
import datetime
import io
import math
import os
import re
from dataclasses import dataclass
from typing import Literal, NoReturn

from edgelab.betting.odds.teams import UnknownTeamError, normalize_team

Layout = Literal["kaggle", "sbr_raw", "sbr_games"]

# Outside these ranges a value is a typo, not a line (real NBA closing totals run ~170..245,
# spreads up to ~23; the README's known typos are a total of 1955.5 and moneylines like 8).
TOTAL_RANGE = (150.0, 300.0)
MAX_ABS_SPREAD = 30.0
MIN_ABS_MONEYLINE = 100.0


class MalformedFileError(ValueError):
    """The file cannot be trusted as a whole; ``line`` is the 1-based physical line."""

    def __init__(self, path: str, line: int, reason: str) -> None:
        super().__init__(f"{path}, line {line}: {reason}")
        self.path = path
        self.line = line
        self.reason = reason


@dataclass(frozen=True)
class GameLines:
    date: datetime.date  # US local game date
    season: int  # ending year: 2014-15 -> 2015
    home: str  # standard code, see teams.TEAM_CODES
    away: str
    home_score: int | None  # final incl. OT; None for a game not yet played
    away_score: int | None
    neutral_site: bool | None  # None: the layout does not say (Kaggle)
    playoffs: bool | None  # None: the layout does not say (SBR)
    ml_home_close: float | None  # American odds
    ml_away_close: float | None
    spread_home_open: float | None  # home handicap in points, negative = home favoured
    spread_home_close: float | None
    total_open: float | None
    total_close: float | None
    source_line: int  # physical line of the game's (first) row


@dataclass(frozen=True)
class Skipped:
    line: int
    reason: str


@dataclass(frozen=True)
class ParsedFile:
    path: str
    layout: Layout
    rows_read: int  # non-blank data rows (SBR raw: two per game)
    games: list[GameLines]
    skipped: list[Skipped]


_REQUIRED_COLUMNS: dict[Layout, str] = {
    "kaggle": "season date playoffs away home score_away score_home whos_favored spread total "
    "moneyline_away moneyline_home",
    "sbr_raw": "date vh team final open close ml",
    "sbr_games": "season date neutral_site away_team home_team away_score home_score "
    "home_spread_open home_spread_close total_open total_close away_ml home_ml",
}
_REQUIRED = {layout: frozenset(names.split()) for layout, names in _REQUIRED_COLUMNS.items()}


def _column_key(name: str) -> str:
    return name.strip().lstrip("\ufeff").strip().lower()


def detect_layout(header: list[str]) -> Layout:
    """Pick the layout whose required columns are all present (case-insensitive)."""
    names = {_column_key(h) for h in header}
    found = [layout for layout, required in _REQUIRED.items() if required <= names]
    if len(found) != 1:
        raise MalformedFileError(
            "<header>", 1, f"unrecognised header (not kaggle, sbr_raw or sbr_games): {header}"
        )
    return found[0]


class RowContext:
    """Per-file state shared by the layout parsers: column lookup and the dropped values."""

    def __init__(self, path: str, header: list[str]) -> None:
        self.path = path
        self.names = [h.strip().lstrip("\ufeff") for h in header]
        self.cols = {_column_key(h): i for i, h in enumerate(header)}
        self.skipped: list[Skipped] = []

    def fail(self, line: int, reason: str) -> NoReturn:
        raise MalformedFileError(self.path, line, reason)

    def skip(self, line: int, reason: str) -> None:
        self.skipped.append(Skipped(line, reason))

    def cell(self, row: list[str], col: str) -> str:
        return row[self.cols[col]].strip()

    def label(self, col: str) -> str:
        return self.names[self.cols[col]]

    def team(self, row: list[str], col: str, line: int) -> str:
        try:
            return normalize_team(self.cell(row, col))
        except UnknownTeamError as exc:
            self.fail(line, f"{self.label(col)}: {exc}")

    def score(self, row: list[str], col: str, line: int) -> int | None:
        text = self.cell(row, col)
        if not text:
            return None
        if not (text.isascii() and text.isdigit()):
            self.fail(line, f"{self.label(col)}: score {text!r} is not a whole number")
        return int(text)

    def scores(
        self, home: int | None, away: int | None, line: int
    ) -> tuple[int | None, int | None]:
        # Both blank = game not played yet (kept); one blank = a damaged row.
        if (home is None) != (away is None):
            self.fail(line, "score given for only one team")
        return home, away

    def date(self, row: list[str], col: str, line: int) -> datetime.date:
        text = self.cell(row, col)
        try:
            return datetime.date.fromisoformat(text)
        except ValueError:
            self.fail(line, f"{self.label(col)}: unparsable date {text!r}")

    def number(self, text: str, what: str, line: int) -> float | None:
        """Number or ``pk`` (= 0); blank, ``NL`` and junk become a skipped value."""
        low = text.strip().lower()
        if low == "pk":
            return 0.0
        if not low:
            self.skip(line, f"{what}: missing value")
            return None
        if low == "nl":
            self.skip(line, f"{what}: 'NL' (no line)")
            return None
        try:
            value = float(low)
        except ValueError:
            value = math.nan
        if not math.isfinite(value):
            self.skip(line, f"{what}: {text.strip()!r} is not a number")
            return None
        return value + 0.0  # -0.0 -> 0.0

    def field(self, row: list[str], col: str, line: int) -> float | None:
        return self.number(self.cell(row, col), self.label(col), line)

    def total(self, value: float | None, what: str, line: int) -> float | None:
        lo, hi = TOTAL_RANGE
        if value is not None and not lo <= value <= hi:
            self.skip(line, f"{what} {value:g}: implausible total (outside {lo:g}..{hi:g})")
            return None
        return value

    def spread(self, value: float | None, what: str, line: int) -> float | None:
        if value is not None and abs(value) > MAX_ABS_SPREAD:
            self.skip(line, f"{what} {value:g}: implausible spread (|x| > {MAX_ABS_SPREAD:g})")
            return None
        return value

    def moneyline(self, row: list[str], col: str, line: int) -> float | None:
        value = self.field(row, col, line)
        if value is not None and abs(value) < MIN_ABS_MONEYLINE:
            self.skip(
                line,
                f"{self.label(col)} {value:g}: not American odds (|x| < {MIN_ABS_MONEYLINE:g})",
            )
            return None
        return value

    def flag(self, row: list[str], col: str, line: int) -> bool | None:
        text = self.cell(row, col).lower()
        if text in ("true", "1"):
            return True
        if text in ("false", "0"):
            return False
        self.skip(line, f"{self.label(col)}: {text!r} is not True/False")
        return None


_SEASON_TEXT = re.compile(r"^(\d{4})(?:-(\d{2}|\d{4}))?$")


def season_end_year(text: str) -> int | None:
    """``2015``, ``2014-15`` or ``2014-2015`` -> 2015; anything else -> None."""
    m = _SEASON_TEXT.match(text.strip())
    if m is None:
        return None
    if m[2] is None:
        return int(m[1])
    end = int(m[1]) + 1
    return end if int(m[2]) in (end, end % 100) else None


def _season(ctx: RowContext, row: list[str], line: int) -> int:
    season = season_end_year(ctx.cell(row, "season"))
    if season is None:
        ctx.fail(line, f"season: unparsable {ctx.cell(row, 'season')!r}")
    return season


def _kaggle_game(ctx: RowContext, row: list[str], line: int) -> GameLines:
    """One Kaggle row: ``spread`` is the favourite's size (>= 0), side from ``whos_favored``."""
    home_score, away_score = ctx.scores(
        ctx.score(row, "score_home", line), ctx.score(row, "score_away", line), line
    )
    spread = ctx.field(row, "spread", line)
    if spread is not None and spread < 0:
        ctx.skip(line, f"spread {spread:g}: negative although always >= 0; using {-spread:g}")
        spread = -spread
    spread = ctx.spread(spread, "spread", line)
    favoured = ctx.cell(row, "whos_favored").lower()
    if spread is not None and spread != 0 and favoured not in ("home", "away"):
        ctx.skip(line, f"whos_favored {favoured!r} is not home/away; spread dropped")
        spread = None
    if spread is not None and favoured == "home":
        spread = -spread + 0.0
    return GameLines(
        date=ctx.date(row, "date", line),
        season=_season(ctx, row, line),
        home=ctx.team(row, "home", line),
        away=ctx.team(row, "away", line),
        home_score=home_score,
        away_score=away_score,
        neutral_site=None,
        playoffs=ctx.flag(row, "playoffs", line),
        ml_home_close=ctx.moneyline(row, "moneyline_home", line),
        ml_away_close=ctx.moneyline(row, "moneyline_away", line),
        spread_home_open=None,
        spread_home_close=spread,
        total_open=None,
        total_close=ctx.total(ctx.field(row, "total", line), "total", line),
        source_line=line,
    )


def _sbr_games_game(ctx: RowContext, row: list[str], line: int) -> GameLines:
    """One row of our own derivative; spreads are already home handicaps."""
    home_score, away_score = ctx.scores(
        ctx.score(row, "home_score", line), ctx.score(row, "away_score", line), line
    )

    def spread(col: str) -> float | None:
        return ctx.spread(ctx.field(row, col, line), col, line)

    def total(col: str) -> float | None:
        return ctx.total(ctx.field(row, col, line), col, line)

    return GameLines(
        date=ctx.date(row, "date", line),
        season=_season(ctx, row, line),
        home=ctx.team(row, "home_team", line),
        away=ctx.team(row, "away_team", line),
        home_score=home_score,
        away_score=away_score,
        neutral_site=ctx.flag(row, "neutral_site", line),
        playoffs=None,
        ml_home_close=ctx.moneyline(row, "home_ml", line),
        ml_away_close=ctx.moneyline(row, "away_ml", line),
        spread_home_open=spread("home_spread_open"),
        spread_home_close=spread("home_spread_close"),
        total_open=total("total_open"),
        total_close=total("total_close"),
        source_line=line,
    )


def _read_rows(text: str, name: str) -> tuple[int, list[str], list[tuple[int, list[str]]]]:
    """Header line, header, and (physical start line, cells) per non-blank row; ragged = fatal."""
    reader = csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline=""), strict=True)
    rows: list[tuple[int, list[str]]] = []
    header: list[str] | None = None
    header_line = line = 1
    try:
        for cells in reader:
            start, line = line, reader.line_num + 1
            if not any(c.strip() for c in cells):
                continue
            if header is None:
                header, header_line = cells, start
            elif len(cells) != len(header):
                raise MalformedFileError(
                    name, start, f"expected {len(header)} columns, found {len(cells)}"
                )
            else:
                rows.append((start, cells))
    except csv.Error as exc:
        raise MalformedFileError(name, reader.line_num, f"CSV syntax: {exc}") from exc
    if header is None:
        raise MalformedFileError(name, 1, "empty file (no header)")
    return header_line, header, rows


def parse_nba_text(text: str, *, name: str = "<memory>", season: int | None = None) -> ParsedFile:
    """Parse CSV text in any of the three layouts.

    ``season`` (ending year) is only used by the SBR raw layout, whose dates carry no year;
    without it the season comes from ``name`` (``nba odds 2020-21.csv``) or the Year column.
    The one-row layouts carry the season on every row and ignore the argument.
    """
    header_line, header, rows = _read_rows(text, name)
    try:
        layout = detect_layout(header)
    except MalformedFileError as exc:
        raise MalformedFileError(name, header_line, exc.reason) from None
    if len(set(map(_column_key, header))) != len(header):
        raise MalformedFileError(name, header_line, f"duplicate column names in header: {header}")
    ctx = RowContext(name, header)
    if layout == "sbr_raw":
        # Imported here because sbr_raw builds on the types defined in this module.
        from edgelab.betting.odds.sbr_raw import parse_sbr_raw_rows

        games = parse_sbr_raw_rows(ctx, rows, season)
    else:
        parse_row = _kaggle_game if layout == "kaggle" else _sbr_games_game
        games = [parse_row(ctx, row, line) for line, row in rows]
    return ParsedFile(name, layout, len(rows), games, ctx.skipped)


def parse_nba_csv(path: str | os.PathLike[str], *, season: int | None = None) -> ParsedFile:
    """Parse a file; a UTF-8 byte-order mark (andrewkoo's SBR copies) is accepted."""
    name = os.fspath(path)
    with open(name, "rb") as fh:
        data = fh.read()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise MalformedFileError(name, line, f"not UTF-8 text ({exc.reason})") from exc
    return parse_nba_text(text, name=name, season=season)
