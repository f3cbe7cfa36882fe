"""Parsed games: PGN text or Chess.com archive objects -> `GameRecord` (pure; python-chess).

PGN is read with python-chess's reader and a small visitor that keeps the headers and the
mainline moves as UCI strings (variations and comments are skipped, not built into a tree).
Edge cases handled: a UTF-8 byte-order mark, `?` in dates and Elo, null moves (`Z0`, `--`),
blank lines inside a game, games from a set-up position (`SetUp`/`FEN`), multi-stage time
controls. A game python-chess cannot read at all is skipped and counted.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import chess
import chess.pgn


@dataclass(frozen=True, slots=True)
class GameRecord:
    white: str
    black: str
    result: str  # "1-0", "0-1", "1/2-1/2" or "*"
    moves: tuple[str, ...] = ()  # mainline, UCI
    white_elo: int | None = None
    black_elo: int | None = None
    termination: str = ""  # the PGN Termination header
    white_code: str | None = None  # Chess.com per-side result codes (archive JSON only)
    black_code: str | None = None
    time_control: str = "-"
    time_class: str | None = None
    start: dt.datetime | None = None  # UTC, aware
    eco: str | None = None
    eco_url: str | None = None
    accuracy_white: float | None = None
    accuracy_black: float | None = None
    rules: str = "chess"
    initial_fen: str | None = None  # None = the standard start
    link: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)

    @property
    def plies(self) -> int:
        return len(self.moves)


class _Collector(chess.pgn.BaseVisitor[tuple[dict[str, str], list[str]]]):
    """Headers and mainline UCI moves, nothing else (variations skipped)."""

    def begin_game(self) -> None:
        self.headers: dict[str, str] = {}
        self.moves: list[str] = []

    def visit_header(self, tagname: str, tagvalue: str) -> None:
        self.headers[tagname] = tagvalue

    def begin_variation(self) -> chess.pgn.SkipType:
        return chess.pgn.SKIP

    def visit_move(self, board: chess.Board, move: chess.Move) -> None:
        self.moves.append(move.uci())

    def result(self) -> tuple[dict[str, str], list[str]]:
        return self.headers, self.moves


def _int(value: str | None) -> int | None:
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        return None


def _utc_start(headers: Mapping[str, str]) -> dt.datetime | None:
    """`UTCDate` + `UTCTime` (Chess.com), else `Date` + `StartTime` read as UTC when the
    `Timezone` says so; None when unknown (dates with `?`)."""
    date = headers.get("UTCDate")
    time = headers.get("UTCTime")
    if not date:
        date = headers.get("Date")
        tz_ok = headers.get("Timezone", "").upper() == "UTC"
        time = headers.get("StartTime") if tz_ok else None
    if not date or "?" in date:
        return None
    try:
        day = dt.datetime.strptime(date.strip(), "%Y.%m.%d").replace(tzinfo=dt.UTC)
    except ValueError:
        return None
    if time and "?" not in time:
        try:
            t = dt.datetime.strptime(time.strip(), "%H:%M:%S").time()
            return day.replace(hour=t.hour, minute=t.minute, second=t.second)
        except ValueError:
            pass
    return day  # date known, time of day not: `has_time` False downstream


def has_time_of_day(headers: Mapping[str, str]) -> bool:
    time = headers.get("UTCTime") or (
        headers.get("StartTime") if headers.get("Timezone", "").upper() == "UTC" else None
    )
    return bool(time) and "?" not in (time or "?")


def time_class_of(time_control: str) -> str | None:
    """Chess.com's rule: base + 40 x increment seconds; < 180 bullet, < 600 blitz, else rapid;
    `1/86400` (a move per N seconds) is daily. Multi-stage FIDE controls are classical."""
    tc = time_control.strip()
    if not tc or tc in ("-", "?"):
        return None
    if tc.startswith("1/"):
        return "daily"
    if ":" in tc or "/" in tc:
        return "classical"
    base, _, inc = tc.partition("+")
    try:
        total = float(base) + 40 * float(inc or 0)
    except ValueError:
        return None
    if total < 180:
        return "bullet"
    if total < 600:
        return "blitz"
    return "rapid"


def record_from(headers: Mapping[str, str], moves: list[str]) -> GameRecord:
    tc = headers.get("TimeControl", "-") or "-"
    fen = headers.get("FEN") if headers.get("SetUp") == "1" or "FEN" in headers else None
    variant = headers.get("Variant", "").strip().lower()
    return GameRecord(
        white=headers.get("White", "?"),
        black=headers.get("Black", "?"),
        result=headers.get("Result", "*"),
        moves=tuple(moves),
        white_elo=_int(headers.get("WhiteElo")),
        black_elo=_int(headers.get("BlackElo")),
        termination=headers.get("Termination", ""),
        time_control=tc,
        time_class=time_class_of(tc),
        start=_utc_start(headers),
        eco=headers.get("ECO") or None,
        eco_url=headers.get("ECOUrl") or None,
        rules="chess" if variant in ("", "standard", "chess") else variant,
        initial_fen=fen if fen and fen != chess.STARTING_FEN else None,
        link=headers.get("Link") or None,
        headers=dict(headers),
    )


def iter_pgn(text: str) -> Iterator[GameRecord | None]:
    """Every game of a PGN text; None for a game python-chess could not read."""
    handle = io.StringIO(text.lstrip("\ufeff"))
    while True:
        try:
            parsed = chess.pgn.read_game(handle, Visitor=_Collector)
        except (ValueError, AssertionError):  # a broken game: skip it, keep the others
            yield None
            continue
        if parsed is None:
            return
        headers, moves = parsed
        if not headers and not moves:
            continue
        yield record_from(headers, moves)


def parse_pgn(text: str) -> tuple[list[GameRecord], int]:
    """The readable games of a PGN text and how many could not be read."""
    games: list[GameRecord] = []
    bad = 0
    for game in iter_pgn(text):
        if game is None:
            bad += 1
        else:
            games.append(game)
    return games, bad


def _accuracy(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) else None


def record_from_chesscom(obj: Mapping[str, Any]) -> GameRecord | None:
    """One game object of a Chess.com monthly archive; None when it has no readable PGN."""
    pgn = obj.get("pgn")
    if not isinstance(pgn, str) or not pgn.strip():
        return None
    parsed = next(iter_pgn(pgn), None)
    if parsed is None:
        return None
    white = obj.get("white") or {}
    black = obj.get("black") or {}
    accuracies = obj.get("accuracies") or {}
    setup = obj.get("initial_setup") or None
    tc = str(obj.get("time_control") or parsed.time_control)
    start = parsed.start
    if start is None and isinstance(obj.get("end_time"), int):
        start = dt.datetime.fromtimestamp(obj["end_time"], dt.UTC)
    return replace(
        parsed,
        white=str(white.get("username") or parsed.white),
        black=str(black.get("username") or parsed.black),
        white_elo=_int(str(white.get("rating"))) if "rating" in white else parsed.white_elo,
        black_elo=_int(str(black.get("rating"))) if "rating" in black else parsed.black_elo,
        white_code=white.get("result"),
        black_code=black.get("result"),
        time_control=tc,
        time_class=str(obj.get("time_class") or parsed.time_class or "") or None,
        start=start,
        accuracy_white=_accuracy(accuracies.get("white")),
        accuracy_black=_accuracy(accuracies.get("black")),
        rules=str(obj.get("rules") or "chess"),
        initial_fen=(setup if setup and setup.split(" ")[0] != chess.STARTING_BOARD_FEN else None)
        or parsed.initial_fen,
        link=str(obj.get("url") or parsed.link or "") or None,
    )


def records_from_chesscom(objs: Iterable[Mapping[str, Any]]) -> tuple[list[GameRecord], int]:
    games: list[GameRecord] = []
    bad = 0
    for obj in objs:
        rec = record_from_chesscom(obj)
        if rec is None:
            bad += 1
        else:
            games.append(rec)
    return games, bad
