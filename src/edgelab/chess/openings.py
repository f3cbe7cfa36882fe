"""Opening names from the shipped Lichess `chess-openings` tables (CC0; `data/chess/openings/`).

The index (EPD of the named position -> ECO code and name) is built once, on first use: every
row's move sequence is replayed with python-chess (about 3,800 rows). A game is named by walking
its moves back to the last named position, so transpositions find their name too. When no
position is named (or the game starts from a set-up position) the ECO header is the fallback.
Pure: no I/O besides reading the shipped files.
"""

from __future__ import annotations

import csv
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import chess

DATA_DIR = Path(__file__).resolve().parent.parent / "data" / "chess" / "openings"
FILES = ("a.tsv", "b.tsv", "c.tsv", "d.tsv", "e.tsv")


@dataclass(frozen=True, slots=True)
class Opening:
    eco: str
    name: str
    source: str  # "moves" (walked to a named position), "eco_header" or "unknown"


PositionKey = tuple[int, ...]


def position_key(b: chess.Board) -> PositionKey:
    """What an EPD says (pieces, side to move, castling, a capturable en-passant square), as
    integers: about 10x cheaper than `board.epd()` and equal exactly when the EPDs are."""
    ep = b.ep_square if b.ep_square is not None and b.has_legal_en_passant() else -1
    return (
        b.pawns,
        b.knights,
        b.bishops,
        b.rooks,
        b.queens,
        b.kings,
        b.occupied_co[chess.WHITE],
        int(b.turn),
        b.clean_castling_rights(),
        ep,
    )


@dataclass(frozen=True)
class OpeningIndex:
    by_epd: dict[PositionKey, tuple[str, str]]
    by_eco: dict[str, str]  # ECO code -> the first (most general) name with that code
    max_plies: int


_lock = threading.Lock()
_index: OpeningIndex | None = None


def _san_tokens(pgn: str) -> list[str]:
    return [t for t in pgn.split() if not t[0].isdigit()]


def build_index(directory: Path = DATA_DIR) -> OpeningIndex:
    """Replay every row; the first row naming a position keeps it (file order, A to E)."""
    by_epd: dict[PositionKey, tuple[str, str]] = {}
    by_eco: dict[str, str] = {}
    max_plies = 0
    for name in FILES:
        with (directory / name).open(encoding="utf-8", newline="") as fh:
            for row in csv.DictReader(fh, delimiter="\t"):
                board = chess.Board()
                tokens = _san_tokens(row["pgn"])
                for san in tokens:
                    board.push_san(san)
                max_plies = max(max_plies, len(tokens))
                by_epd.setdefault(position_key(board), (row["eco"], row["name"]))
                by_eco.setdefault(row["eco"], row["name"])
    return OpeningIndex(by_epd, by_eco, max_plies)


def index() -> OpeningIndex:
    global _index
    if _index is None:
        with _lock:
            if _index is None:
                _index = build_index()
    return _index


def _slug_name(eco_url: str | None) -> str | None:
    """Chess.com's `ECOUrl` ends with the opening name as a slug."""
    if not eco_url or "/openings/" not in eco_url:
        return None
    slug = eco_url.rstrip("/").rsplit("/", 1)[-1]
    return slug.replace("-", " ").strip() or None


def name_opening(
    moves: Sequence[str],
    *,
    eco: str | None = None,
    eco_url: str | None = None,
    standard_start: bool = True,
    walked: tuple[str, str] | Literal[False] | None = False,
) -> Opening:
    """Name a game from its UCI moves (the last named position), else from its ECO header.
    `walked`: the named position found while the game was read (None: none found), so the
    moves are not replayed; False: walk them here."""
    idx = index()
    if walked is not False:
        if walked is not None and standard_start:
            return Opening(walked[0], walked[1], "moves")
    elif standard_start and moves:
        board = chess.Board()
        found: tuple[str, str] | None = None
        for uci in moves[: idx.max_plies]:
            try:
                board.push(chess.Move.from_uci(uci))
            except ValueError:
                break
            hit = idx.by_epd.get(position_key(board))
            if hit is not None:
                found = hit
        if found is not None:
            return Opening(found[0], found[1], "moves")
    if eco:
        code = eco.strip().upper()
        name = _slug_name(eco_url) or idx.by_eco.get(code) or code
        return Opening(code, name, "eco_header")
    return Opening("?", "Unknown", "unknown")
