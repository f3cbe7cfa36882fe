"""Reading a bet-history CSV: its encoding, dialect and header, and which column is which.

Pure: bytes in, a `Table` out, no I/O. Sportsbook and tracker exports differ in small ways:
Excel adds a BOM or saves UTF-16 or Windows-1252, European locales separate with `;` (and
write `2,50`), some put a title line above the header. The header is the first row with at
least two named cells; rows after it that are empty are left out (not counted as rows).
Column roles are suggested from header synonyms seen in DraftKings, FanDuel, BetMGM and
Caesars history exports and in trackers (Pikkit, Action Network, BetStamp); the user can
change each on the preview.
"""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from dataclasses import dataclass
from typing import Literal, get_args

Role = Literal[
    "date",
    "sport",
    "league",
    "event",
    "market",
    "selection",
    "odds",
    "stake",
    "result",
    "payout",
    "profit",
    "book",
    "bet_id",
    "currency",
]
ROLES: tuple[Role, ...] = get_args(Role)  # the roles a column can hold, in the form's order
REQUIRED_ROLES = ("date", "odds", "stake", "result")
ROLE_LABELS = {
    "date": "Date placed",
    "sport": "Sport",
    "league": "League",
    "event": "Event",
    "market": "Market / bet type",
    "selection": "Selection",
    "odds": "Odds",
    "stake": "Stake",
    "result": "Result",
    "payout": "Payout (stake included)",
    "profit": "Profit",
    "book": "Sportsbook",
    "bet_id": "Bet id",
    "currency": "Currency",
}
DELIMITERS = ",;\t|"
SNIFF_CHARS = 16_384

# normalised header (lower case, words of letters and digits) -> role; the first match wins
SYNONYMS: dict[str, tuple[str, ...]] = {
    "date": (
        "date",
        "placed",
        "placed at",
        "placed on",
        "date placed",
        "placed date",
        "bet date",
        "time placed",
        "placed time",
        "bet placed",
        "date time",
        "datetime",
        "timestamp",
        "created",
        "created at",
        "wager date",
        "bet time",
        "time",
    ),
    "sport": ("sport", "sports", "sport name"),
    "league": ("league", "leagues", "competition", "tournament"),
    "event": ("event", "event name", "game", "match", "matchup", "fixture", "teams"),
    "market": (
        "market",
        "bet type",
        "type",
        "market type",
        "wager type",
        "bet kind",
        "market name",
    ),
    "selection": (
        "selection",
        "pick",
        "bet",
        "bet info",
        "bet description",
        "description",
        "selection name",
        "picks",
        "outcome name",
        "wager description",
    ),
    "odds": (
        "odds",
        "price",
        "american odds",
        "odds american",
        "decimal odds",
        "odds decimal",
        "odds taken",
        "bet odds",
    ),
    "stake": (
        "stake",
        "wager",
        "risk",
        "amount",
        "bet amount",
        "wager amount",
        "stake amount",
        "risked",
        "to risk",
        "amount risked",
        "units risked",
    ),
    "result": (
        "result",
        "status",
        "outcome",
        "bet status",
        "bet result",
        "settlement",
        "grade",
        "win loss",
    ),
    "payout": (
        "payout",
        "returns",
        "return",
        "total return",
        "total payout",
        "paid",
        "paid out",
        "amount paid",
        "collect",
        "payout amount",
    ),
    "profit": ("profit", "net", "profit loss", "p l", "pnl", "net profit", "net result"),
    "book": ("book", "sportsbook", "bookmaker", "operator", "site", "casino", "provider"),
    "bet_id": (
        "bet id",
        "id",
        "ticket",
        "ticket id",
        "ticket number",
        "bet slip id",
        "betslip id",
        "receipt",
        "bet number",
        "wager id",
        "reference",
        "bet ref",
    ),
    "currency": ("currency", "ccy"),
}
_BY_NAME = {name: role for role, names in SYNONYMS.items() for name in names}


class UnreadableCsvError(ValueError):
    """The bytes are not a CSV we can read; the message says why (shown to the user)."""


@dataclass(frozen=True)
class Table:
    """A CSV read: unique column names, the data rows with their line numbers in the file."""

    columns: list[str]
    rows: list[tuple[int, list[str]]]
    encoding: str
    delimiter: str


def decode(data: bytes) -> tuple[str, str]:
    """(text, encoding): UTF-8 (BOM or not), UTF-16 with a BOM, else Windows-1252 if the
    bytes hold no NUL; binary data is refused."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            text = data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise UnreadableCsvError("not UTF-16 text despite its byte-order mark") from exc
        if "\x00" in text:
            raise UnreadableCsvError("binary data, not text")
        return text, "utf-16"
    if b"\x00" in data:
        raise UnreadableCsvError("binary data, not text")
    try:
        return data.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252"), "cp1252"
    except UnicodeDecodeError as exc:
        raise UnreadableCsvError("not UTF-8 or Windows-1252 text") from exc


def sniff_delimiter(text: str) -> str:
    """The separator among `, ; tab |`: the one that splits most of the first lines (read as
    CSV, so quoted separators do not count) into the same number of fields, more fields
    breaking a tie. (csv.Sniffer guesses `,` for a tab file whose dates read `Oct 12, 2023`.)"""
    lines = [line for line in text[:SNIFF_CHARS].splitlines()[:25] if line.strip()]
    best, best_score = ",", (0, 0)
    for sep in DELIMITERS:
        counts = [len(cells) for cells in csv.reader(lines, delimiter=sep)]
        wide = [n for n in counts if n > 1]
        if not wide:
            continue
        mode = Counter(wide).most_common(1)[0][0]
        score = (sum(1 for n in counts if n == mode), mode)
        if score > best_score:
            best, best_score = sep, score
    return best


def _unique_names(cells: list[str]) -> list[str]:
    names: list[str] = []
    for i, cell in enumerate(cells):
        base = " ".join(cell.split()) or f"Column {i + 1}"
        name, n = base, 2
        while name in names:
            name, n = f"{base} ({n})", n + 1
        names.append(name)
    return names


def read_table(data: bytes, *, max_rows: int) -> Table:
    """The file's header and data rows; `UnreadableCsvError` when it has none, and
    `TooManyRowsError` past `max_rows` data rows."""
    text, encoding = decode(data)
    delimiter = sniff_delimiter(text)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    header: list[str] | None = None
    rows: list[tuple[int, list[str]]] = []
    try:
        for cells in reader:
            if header is None:
                if sum(1 for c in cells if c.strip()) >= 2:
                    header = cells
                continue
            if not any(c.strip() for c in cells):
                continue
            if len(rows) >= max_rows:
                raise TooManyRowsError(max_rows)
            rows.append((reader.line_num, cells))
    except csv.Error as exc:
        raise UnreadableCsvError(f"malformed CSV near line {reader.line_num} ({exc})") from exc
    if header is None:
        raise UnreadableCsvError("no header row with at least two named columns")
    if not rows:
        raise UnreadableCsvError("a header but no data rows")
    return Table(_unique_names(header), rows, encoding, delimiter)


class TooManyRowsError(ValueError):
    def __init__(self, max_rows: int) -> None:
        super().__init__(f"more than {max_rows} data rows")
        self.max_rows = max_rows


def normalise_header(name: str) -> str:
    return " ".join(re.findall(r"[a-z0-9]+", name.lower()))


def suggest_mapping(columns: list[str]) -> dict[str, str | None]:
    """Column name -> suggested role (None: ignored). Each role goes to its first column."""
    taken: set[str] = set()
    out: dict[str, str | None] = {}
    for name in columns:
        key = normalise_header(name)
        role = _BY_NAME.get(key)
        if role is None:  # "Odds (American)", "Stake ($)", "Date Placed (ET)"
            words = key.split()
            for n in range(len(words) - 1, 0, -1):
                role = _BY_NAME.get(" ".join(words[:n]))
                if role is not None:
                    break
        if role is not None and role not in taken:
            taken.add(role)
            out[name] = role
        else:
            out[name] = None
    return out
