"""Parsed games: PGN text or Chess.com archive objects -> `GameRecord` (pure; python-chess).

PGN is read with python-chess's reader and a small visitor that keeps the headers and the
mainline moves as UCI strings (variations and comments are skipped, not built into a tree).
Edge cases handled: a UTF-8 byte-order mark, `?` in dates and Elo, null moves (`Z0`, `--`),
blank lines inside a game, games from a set-up position (`SetUp`/`FEN`), multi-stage time
controls. A game with an illegal or unreadable move is skipped and counted (the reader goes on
with the next game). The final position says whether a game ended in mate, stalemate or bare
kings, for files whose `Termination` does not (Lichess's "Normal", over-the-board databases).

`read_pgn_file` reads an uploaded file (bytes): UTF-8 with or without a BOM, else Windows-1252 /
Latin-1 (older databases), UTF-16 with a BOM; CRLF line ends; a bound on the games read. A file
that is not PGN at all, or holds no readable game, is a `PgnFileError`.

Over 400 lines on purpose: PGN text, uploaded files and Chess.com archive objects all become
`GameRecord`s through the one reader here, so the edge cases are handled once.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import chess
import chess.pgn

from edgelab.chess.openings import index as opening_index
from edgelab.chess.openings import position_key


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
    final_state: str | None = None  # "checkmate", "stalemate", "insufficient_material" or None
    # the last named opening position the moves reach, found while reading (`walked`), so the
    # analysis need not replay the moves again; `walked` False: not looked for
    opening: tuple[str, str] | None = None
    walked: bool = False
    headers: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)

    @property
    def plies(self) -> int:
        return len(self.moves)


@dataclass(frozen=True, slots=True)
class _Parsed:
    headers: dict[str, str]
    moves: list[str]
    errors: list[str]
    final_state: str | None
    opening: tuple[str, str] | None
    walked: bool
    too_long: bool = False  # more plies than the reader's `max_plies`: the rest not read


class _TooLongError(Exception):
    """A game past the reader's `max_plies`: stop reading its moves."""


class _Collector(chess.pgn.BaseVisitor[_Parsed]):
    """Headers, mainline UCI moves and how the final position ends the game, nothing else
    (variations and comments skipped). An error (an illegal move) is recorded, not raised: the
    reader then skips the rest of that game and the next game reads normally. Past `max_plies`
    moves it stops the reader (`_TooLongError`); `_iter_parsed` passes over the rest of the
    game's text unparsed, so a file of one endless game costs a line scan, not a board move
    per ply."""

    def __init__(self, max_plies: int | None = None) -> None:
        self.max_plies = max_plies

    def begin_game(self) -> None:
        self.too_long = False
        self.headers: dict[str, str] = {}
        self.moves: list[str] = []
        self.errors: list[str] = []
        self.board: chess.Board | None = None
        self.openings = opening_index()
        self.walk = False
        self.opening: tuple[str, str] | None = None

    def end_headers(self) -> None:
        fen = self.headers.get("FEN")
        self.walk = fen is None or fen == chess.STARTING_FEN

    def visit_header(self, tagname: str, tagvalue: str) -> None:
        self.headers[tagname] = tagvalue

    def begin_variation(self) -> chess.pgn.SkipType:
        return chess.pgn.SKIP

    def begin_parse_san(self, board: chess.Board, san: str) -> chess.pgn.SkipType | None:
        if self.max_plies is not None and len(self.moves) >= self.max_plies:
            self.too_long = True
            raise _TooLongError
        return None

    def visit_move(self, board: chess.Board, move: chess.Move) -> None:
        self.moves.append(move.uci())

    def visit_board(self, board: chess.Board) -> None:
        self.board = board
        if self.walk and 0 < len(self.moves) <= self.openings.max_plies:
            hit = self.openings.by_epd.get(position_key(board))
            if hit is not None:
                self.opening = hit

    def handle_error(self, error: Exception) -> None:
        self.errors.append(str(error)[:200])

    def result(self) -> _Parsed:
        state = None
        board = self.board
        if board is not None and self.moves and not self.errors:
            if board.is_checkmate():
                state = "checkmate"
            elif board.is_stalemate():
                state = "stalemate"
            elif board.is_insufficient_material():
                state = "insufficient_material"
        walked = self.walk and not self.errors
        return _Parsed(
            self.headers, self.moves, self.errors, state, self.opening, walked, self.too_long
        )


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


def _web_site(site: str) -> str | None:
    """Lichess puts the game's address in `Site`; over the board it is a town."""
    site = site.strip()
    return site if site.startswith("https://") else None


def record_from(
    headers: Mapping[str, str], moves: list[str], parsed: _Parsed | None = None
) -> GameRecord:
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
        rules="chess" if variant in ("", "standard", "chess", "from position") else variant,
        initial_fen=fen if fen and fen != chess.STARTING_FEN else None,
        link=headers.get("Link") or _web_site(headers.get("Site", "")),
        final_state=parsed.final_state if parsed else None,
        opening=parsed.opening if parsed else None,
        walked=parsed.walked if parsed else False,
        headers=dict(headers),
    )


def _skip_movetext(handle: io.StringIO) -> None:
    """Pass over the rest of a game's moves: up to a blank line, or to the next game's tags
    (left to be read), whichever comes first; `{...}` comments may hold blank lines."""
    in_comment = False
    while True:
        at = handle.tell()
        line = handle.readline()
        if not line:
            return
        if not in_comment:
            if line.isspace():
                return
            if line.startswith("["):
                handle.seek(at)
                return
        for match in chess.pgn.SKIP_MOVETEXT_REGEX.finditer(line):
            token = match.group(0)
            if token == "{":
                in_comment = True
            elif token == "}":
                in_comment = False
            elif not in_comment and token == ";":
                break


def _iter_parsed(text: str, max_plies: int | None = None) -> Iterator[_Parsed | None]:
    """Every game of a PGN text as read; None for one python-chess gave up on. A game past
    `max_plies` plies comes back `too_long`, its further moves not read."""
    handle = io.StringIO(text.lstrip("\ufeff"))
    made: list[_Collector] = []

    def collector() -> _Collector:
        made[:] = [_Collector(max_plies)]
        return made[0]

    while True:
        try:
            parsed = chess.pgn.read_game(handle, Visitor=collector)
        except _TooLongError:
            _skip_movetext(handle)
            yield made[0].result()
            continue
        except (ValueError, AssertionError):  # a broken game: skip it, keep the others
            yield None
            continue
        if parsed is None:
            return
        if not parsed.headers and not parsed.moves and not parsed.errors:
            continue
        yield parsed


def iter_pgn(text: str) -> Iterator[GameRecord | None]:
    """Every game of a PGN text; None for a game python-chess could not read (an illegal or
    unreadable move)."""
    for parsed in _iter_parsed(text):
        if parsed is None or parsed.errors:
            yield None
        else:
            yield record_from(parsed.headers, parsed.moves, parsed)


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


SKIPPED_LISTED = 100  # games listed in `skipped_games` (all are counted)


class PgnFileError(Exception):
    """An uploaded file the analysis cannot use: `kind` is `not_pgn`, `no_games`,
    `too_many_games` or `too_many_moves`; `details` are safe to show."""

    def __init__(self, kind: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.details = details


@dataclass(slots=True)
class PgnFile:
    games: list[GameRecord]
    games_in_file: int  # readable and not
    unreadable: int
    skipped_games: list[dict[str, Any]]  # the first SKIPPED_LISTED unreadable or too long
    encoding: str
    too_long: int = 0  # games over `max_plies` plies, skipped


def decode_pgn(data: bytes) -> tuple[str, str]:
    """The text of an uploaded PGN and the encoding it was read in. Binary data (NUL bytes)
    is not PGN."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16"), "utf-16"
        except UnicodeDecodeError:
            raise PgnFileError("not_pgn", "The file is not text.") from None
    if b"\x00" in data:
        raise PgnFileError("not_pgn", "The file is not text (it holds binary data).")
    for encoding in ("utf-8-sig", "cp1252", "latin-1"):  # latin-1 decodes any byte
        try:
            return data.decode(encoding), "utf-8" if encoding == "utf-8-sig" else encoding
        except UnicodeDecodeError:
            continue
    raise AssertionError("unreachable: latin-1 decodes every byte")


def _game_label(index: int, headers: Mapping[str, str], reason: str) -> dict[str, Any]:
    return {
        "index": index,
        "white": headers.get("White"),
        "black": headers.get("Black"),
        "date": headers.get("UTCDate") or headers.get("Date"),
        "event": headers.get("Event"),
        "reason": reason,
    }


def read_pgn_file(
    data: bytes,
    *,
    max_games: int,
    max_plies: int | None = None,
    max_total_plies: int | None = None,
) -> PgnFile:
    """The readable games of an uploaded PGN, and the unreadable ones listed (1-based index in
    the file, players, date, why). A game of more than `max_plies` plies is skipped and listed
    too (`too_long`). More than `max_games` games (readable or not) is `too_many_games`; more
    than `max_total_plies` plies read in all is `too_many_moves` (both bound the work one file
    costs: a byte cap alone lets a file of short move text hold many plies); text with no game
    in it is `not_pgn`; games but none readable is `no_games`."""
    text, encoding = decode_pgn(data)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text.strip():
        raise PgnFileError("no_games", "The file is empty.", {"games_in_file": 0})
    games: list[GameRecord] = []
    skipped: list[dict[str, Any]] = []
    unreadable = 0
    too_long = 0
    count = 0
    plies = 0
    for parsed in _iter_parsed(text, max_plies):
        count += 1
        if count > max_games:
            raise PgnFileError(
                "too_many_games",
                f"The file holds more than {max_games} games; split it, or export fewer.",
                {"max_games": max_games},
            )
        plies += len(parsed.moves) if parsed is not None else 0
        if max_total_plies is not None and plies > max_total_plies:
            raise PgnFileError(
                "too_many_moves",
                f"The file holds more than {max_total_plies} moves (plies) in all; split it.",
                {"max_total_plies": max_total_plies},
            )
        if parsed is not None and parsed.too_long and not parsed.errors:
            too_long += 1
            if len(skipped) < SKIPPED_LISTED:
                reason = f"longer than {max_plies} plies (half-moves)"
                skipped.append(_game_label(count, parsed.headers, reason))
            continue
        if parsed is None or parsed.errors:
            unreadable += 1
            if len(skipped) < SKIPPED_LISTED:
                headers = parsed.headers if parsed is not None else {}
                reason = parsed.errors[0] if parsed is not None else "unreadable game"
                skipped.append(_game_label(count, headers, reason))
            continue
        games.append(record_from(parsed.headers, parsed.moves, parsed))
    if count == 0:
        raise PgnFileError(
            "not_pgn", "No PGN game found in the file (no tag pairs, no moves).", None
        )
    if not games:
        raise PgnFileError(
            "no_games",
            f"None of the {count} games in the file could be read.",
            {"games_in_file": count, "skipped_games": skipped},
        )
    return PgnFile(games, count, unreadable, skipped, encoding, too_long)
