"""SBR's own two-rows-per-game layout (``sbr_raw/nba_odds_<season>.<repo>.csv``).

Quirks handled here (see ``edgelab/data/nba/README.md``):

* ``Date`` is ``MMDD`` without a year. The year starts at the season's start year and goes up
  by one only when the month drops by more than 6 from the previous game (Dec -> Jan), so a
  season that runs into October of its ending year (2019-20 bubble) stays in that year.
  andrewkoo's copies add ``Month,Day,Year``; when present they must agree with the inference.
* Rows come in pairs: ``V`` then ``H``, or ``N`` then ``N`` at a neutral site, where the
  second row is the designated home team.
* ``Open``/``Close`` hold the spread on the favourite's row and the total on the other row;
  a value >= 100 is the total. The favourite can differ between open and close, so each column
  is split on its own. ``pk`` = 0. A negative value is a known sign typo: its size is used and
  a note is added to ``skipped``. ``ML`` is the closing moneyline. ``2H`` is not imported.
"""

from __future__ import annotations

import datetime
import os
import re

from edgelab.betting.odds.nba_csv import GameLines, RowContext

_TOTAL_THRESHOLD = 100.0
_SEASON_IN_NAME = re.compile(r"(?<!\d)((?:19|20)\d\d)[-_ ]?(\d\d(?:\d\d)?)(?!\d)")
_PAIR = {"V": "H", "N": "N"}


def season_from_name(name: str) -> int | None:
    """Ending year from a name like ``nba odds 2020-21.csv`` or ``nba_odds_2020-21.x.csv``."""
    for m in _SEASON_IN_NAME.finditer(os.path.basename(name)):
        end = int(m[1]) + 1
        if int(m[2]) in (end, end % 100):
            return end
    return None


def _month_day(ctx: RowContext, row: list[str], line: int) -> tuple[int, int]:
    text = ctx.cell(row, "date")
    if not (text.isascii() and text.isdigit() and 3 <= len(text) <= 4):
        ctx.fail(line, f"{ctx.label('date')}: {text!r} is not MMDD")
    return int(text) // 100, int(text) % 100


def _year_column(ctx: RowContext, row: list[str], line: int) -> datetime.date | None:
    if not {"month", "day", "year"} <= ctx.cols.keys():
        return None
    try:
        parts = [int(ctx.cell(row, col)) for col in ("year", "month", "day")]
        return datetime.date(*parts)
    except ValueError:
        ctx.fail(line, "unparsable Month/Day/Year columns")


def _season(ctx: RowContext, rows: list[tuple[int, list[str]]], season: int | None) -> int:
    if season is not None:
        return season
    from_name = season_from_name(ctx.path)
    if from_name is not None:
        return from_name
    line, row = rows[0]
    first = _year_column(ctx, row, line)
    if first is None:
        ctx.fail(
            line,
            "cannot infer the season: pass season=, name the file like "
            "'nba odds 2020-21.csv', or add Month/Day/Year columns",
        )
    month, _ = _month_day(ctx, row, line)
    return first.year + 1 if month >= 7 else first.year


def _split_shared_column(
    ctx: RowContext, col: str, visitor: tuple[int, list[str]], home: tuple[int, list[str]]
) -> tuple[float | None, float | None]:
    """One of Open/Close over a game's two rows -> (home handicap, total)."""
    what = ctx.label(col)
    values: list[float | None] = []
    for line, row in (visitor, home):
        value = ctx.field(row, col, line)
        if value is not None and value < 0:
            ctx.skip(line, f"{what} {value:g}: negative (SBR sign typo); using {-value:g}")
            value = -value
        values.append(value)
    v, h = values
    if v is not None and h is not None and (v >= _TOTAL_THRESHOLD) == (h >= _TOTAL_THRESHOLD):
        side = ">=" if v >= _TOTAL_THRESHOLD else "<"
        ctx.skip(
            visitor[0],
            f"{what} {v:g} / {h:g}: both {side} {_TOTAL_THRESHOLD:g}, cannot tell spread from "
            "total; both dropped",
        )
        return None, None
    spread = total = None
    for value, (line, _), sign in ((v, visitor, 1.0), (h, home, -1.0)):
        if value is None:
            continue
        if value >= _TOTAL_THRESHOLD:
            total = ctx.total(value, f"{what} total", line)
        else:
            checked = ctx.spread(value, f"{what} spread", line)
            spread = None if checked is None else sign * checked + 0.0
    return spread, total


def parse_sbr_raw_rows(
    ctx: RowContext, rows: list[tuple[int, list[str]]], season: int | None
) -> list[GameLines]:
    """Pair the rows into games; ``season`` is the ending year (2014-15 -> 2015)."""
    if not rows:
        return []
    season = _season(ctx, rows, season)
    year, prev_month = season - 1, None
    games: list[GameLines] = []
    for i in range(0, len(rows), 2):
        v_line, v_row = rows[i]
        v_kind = ctx.cell(v_row, "vh").upper()
        if v_kind not in _PAIR:
            reason = "home row (VH=H) without a visitor row before it"
            ctx.fail(v_line, reason if v_kind == "H" else f"VH must be V, H or N, not {v_kind!r}")
        if i + 1 == len(rows):
            ctx.fail(v_line, f"visitor row (VH={v_kind}) without its home row (end of file)")
        h_line, h_row = rows[i + 1]
        h_kind = ctx.cell(h_row, "vh").upper()
        if h_kind != _PAIR[v_kind]:
            ctx.fail(v_line, f"visitor row (VH={v_kind}) without its home row (next is {h_kind})")
        if ctx.cell(h_row, "date") != ctx.cell(v_row, "date"):
            ctx.fail(h_line, "home row has a different Date than its visitor row")

        month, day = _month_day(ctx, v_row, v_line)
        if prev_month is not None and month < prev_month - 6:
            year += 1
        prev_month = month
        try:
            date = datetime.date(year, month, day)
        except ValueError:
            ctx.fail(v_line, f"{ctx.label('date')}: no such date {year}-{month:02}-{day:02}")
        for line, row in ((v_line, v_row), (h_line, h_row)):
            stated = _year_column(ctx, row, line)
            if stated is not None and stated != date:
                ctx.fail(line, f"Month/Day/Year say {stated}, row order says {date}")

        visitor, home = (v_line, v_row), (h_line, h_row)
        spread_open, total_open = _split_shared_column(ctx, "open", visitor, home)
        spread_close, total_close = _split_shared_column(ctx, "close", visitor, home)
        away_score, home_score = (ctx.score(row, "final", line) for line, row in (visitor, home))
        home_score, away_score = ctx.scores(home_score, away_score, h_line)
        games.append(
            GameLines(
                date=date,
                season=season,
                home=ctx.team(h_row, "team", h_line),
                away=ctx.team(v_row, "team", v_line),
                home_score=home_score,
                away_score=away_score,
                neutral_site=v_kind == "N",
                playoffs=None,
                ml_home_close=ctx.moneyline(h_row, "ml", h_line),
                ml_away_close=ctx.moneyline(v_row, "ml", v_line),
                spread_home_open=spread_open,
                spread_home_close=spread_close,
                total_open=total_open,
                total_close=total_close,
                source_line=v_line,
            )
        )
    return games
