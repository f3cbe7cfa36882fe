"""Engine review with Stockfish through python-chess: every position of every game evaluated at
`EDGELAB_ENGINE_DEPTH`, in a process pool with one single-threaded engine per core (two
1-thread engines beat one 2-thread engine for short searches; CHESS.md section 6).

`analyse_game` (runs in a worker) returns stored evaluations; `summarise_game` and
`summarise` turn them into per-move and per-game figures with `accuracy`'s formulas, so the
maths is tested on stored evaluations without an engine.

Phase of a move (the position before it): endgame when the non-pawn material of both sides
(N, B = 3, R = 5, Q = 9) is at most `ENDGAME_MATERIAL`; else opening for the first
`OPENING_PLIES` plies; else middlegame.
"""

from __future__ import annotations

import os
import shutil
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any

from edgelab.chess.accuracy import (
    Eval,
    centipawn_loss,
    classify,
    game_accuracy,
    move_accuracy,
    win_percent,
)

INSTALL_HINT = (
    "Install Stockfish (Debian/Ubuntu: `apt-get install stockfish`) or set EDGELAB_STOCKFISH_PATH."
)
ENDGAME_MATERIAL = 14
OPENING_PLIES = 20
WORST_MOMENTS = 5
PIECE_NAMES = {1: "pawn", 2: "knight", 3: "bishop", 4: "rook", 5: "queen", 6: "king"}
MATERIAL = {2: 3, 3: 3, 4: 5, 5: 9}


def engine_path(configured: str | None) -> str | None:
    """The Stockfish binary to use, or None when it is absent (`EDGELAB_STOCKFISH_PATH`, else
    `stockfish` on PATH, else /usr/games/stockfish)."""
    path = configured or shutil.which("stockfish") or "/usr/games/stockfish"
    return path if os.path.isfile(path) and os.access(path, os.X_OK) else None


def _phase(board: Any, ply: int) -> str:
    import chess

    material = sum(
        MATERIAL[pt] * len(board.pieces(pt, colour))
        for pt in MATERIAL
        for colour in (chess.WHITE, chess.BLACK)
    )
    if material <= ENDGAME_MATERIAL:
        return "endgame"
    return "opening" if ply < OPENING_PLIES else "middlegame"


def _eval_of(score: Any) -> dict[str, int | None]:
    white = score.white()
    mate = white.mate()
    if mate is not None:  # never 0: mated positions are not sent to the engine
        return {"cp": None, "mate": mate}
    return {"cp": white.score(), "mate": None}


def analyse_game(pgn: str, path: str, depth: int) -> dict[str, Any]:
    """Evaluate every position of the first game in `pgn` (runs in a pool worker)."""
    import io

    import chess
    import chess.engine
    import chess.pgn

    game = chess.pgn.read_game(io.StringIO(pgn.lstrip("\ufeff")))
    if game is None:
        raise ValueError("no game in the PGN")
    board = game.board()
    started = time.perf_counter()
    nodes = 0
    limit = chess.engine.Limit(depth=depth)

    def evaluate(
        engine: chess.engine.SimpleEngine, b: chess.Board
    ) -> tuple[dict[str, int | None], str | None]:
        nonlocal nodes
        if b.is_checkmate():
            return {"cp": None, "mate": -1 if b.turn == chess.WHITE else 1}, None
        if b.is_game_over():
            return {"cp": 0, "mate": None}, None
        info = engine.analyse(b, limit, game=game)
        nodes += int(info.get("nodes", 0))
        pv = info.get("pv") or []
        best = b.san(pv[0]) if pv else None
        return _eval_of(info["score"]), best

    moves: list[dict[str, Any]] = []
    # one engine per game, quit at its end: a pool worker holding a live engine (its I/O
    # thread) would never exit, and the pool's shutdown would wait for ever
    with chess.engine.SimpleEngine.popen_uci(path) as engine:
        engine.configure({"Threads": 1, "Hash": 16})  # RSS: a worker per core
        first, best = evaluate(engine, board)
        evals: list[dict[str, int | None]] = [first]
        for ply, move in enumerate(game.mainline_moves()):
            piece = board.piece_type_at(move.from_square)
            entry = {
                "ply": ply,
                "san": board.san(move),
                "uci": move.uci(),
                "piece": PIECE_NAMES.get(piece or 0, "unknown"),
                "phase": _phase(board, ply),
                "best": best,
            }
            board.push(move)
            after, best = evaluate(engine, board)
            evals.append(after)
            moves.append(entry)
    return {
        "headers": dict(game.headers),
        "moves": moves,
        "evals": evals,  # evals[i] is before move i, evals[i + 1] after it
        "nodes": nodes,
        "seconds": round(time.perf_counter() - started, 3),
    }


def _ev(raw: dict[str, Any]) -> Eval:
    return Eval(raw.get("cp"), raw.get("mate"))


def summarise_game(data: dict[str, Any], player: str | None = None) -> dict[str, Any]:
    """Per-move figures and the game's accuracy, blunders and worst moments from stored evals."""
    evals = [_ev(e) for e in data["evals"]]
    headers = data.get("headers", {})
    side: bool | None = None
    if player:
        if headers.get("White", "").casefold() == player.casefold():
            side = True
        elif headers.get("Black", "").casefold() == player.casefold():
            side = False
    out_moves = []
    for i, m in enumerate(data["moves"]):
        white = m["ply"] % 2 == 0
        before, after = evals[i], evals[i + 1]
        wb = win_percent(before.pov(white).capped_cp())
        wa = win_percent(after.pov(white).capped_cp())
        out_moves.append(
            {
                **m,
                "color": "white" if white else "black",
                "eval": {"cp": after.cp, "mate": after.mate},
                "win_percent": round(wa, 2),
                "win_percent_drop": round(max(0.0, wb - wa), 2),
                "accuracy": round(move_accuracy(wb, wa), 2),
                "centipawn_loss": centipawn_loss(before, after, white),
                "classification": classify(before, after, white),
            }
        )
    acc = game_accuracy(evals[1:])
    mine = [m for m in out_moves if side is None or (m["color"] == ("white" if side else "black"))]
    counts = Counter(m["classification"] for m in mine if m["classification"])
    blunders = [m for m in mine if m["classification"] == "blunder"]
    worst = sorted(mine, key=lambda m: -m["win_percent_drop"])[:WORST_MOMENTS]
    return {
        "white": headers.get("White"),
        "black": headers.get("Black"),
        "result": headers.get("Result"),
        "link": headers.get("Link"),
        "player_color": None if side is None else ("white" if side else "black"),
        "accuracy": acc,
        "player_accuracy": None if side is None else acc["white" if side else "black"],
        "acpl": round(sum(m["centipawn_loss"] for m in mine) / len(mine), 1) if mine else None,
        "classifications": {k: counts.get(k, 0) for k in ("inaccuracy", "mistake", "blunder")},
        "blunders_by_phase": dict(Counter(m["phase"] for m in blunders)),
        "blunders_by_piece": dict(Counter(m["piece"] for m in blunders)),
        "worst_moments": [
            {
                "ply": m["ply"],
                "move_number": m["ply"] // 2 + 1,
                "color": m["color"],
                "played": m["san"],
                "better": m["best"],
                "win_percent_drop": m["win_percent_drop"],
                "classification": m["classification"],
            }
            for m in worst
            if m["win_percent_drop"] > 0
        ],
        "moves": out_moves,
        "nodes": data.get("nodes", 0),
        "seconds": data.get("seconds", 0.0),
    }


def summarise(games: Sequence[dict[str, Any]], player: str | None = None) -> dict[str, Any]:
    """Overall figures over summarised games (`summarise_game` outputs)."""
    accs = [g["player_accuracy"] for g in games if g.get("player_accuracy") is not None]
    phase: Counter[str] = Counter()
    piece: Counter[str] = Counter()
    classes: Counter[str] = Counter()
    for g in games:
        phase.update(g["blunders_by_phase"])
        piece.update(g["blunders_by_piece"])
        classes.update(g["classifications"])
    moments = [
        {**m, "game": g.get("link") or f"{g['white']} - {g['black']}"}
        for g in games
        for m in g["worst_moments"]
    ]
    moments.sort(key=lambda m: -m["win_percent_drop"])
    nodes = sum(int(g.get("nodes", 0)) for g in games)
    seconds = sum(float(g.get("seconds", 0.0)) for g in games)
    return {
        "player": player,
        "games_reviewed": len(games),
        "accuracy": {
            "games": len(accs),
            "mean": round(sum(accs) / len(accs), 2) if accs else None,
        },
        "classifications": {k: classes.get(k, 0) for k in ("inaccuracy", "mistake", "blunder")},
        "blunders_by_phase": dict(phase),
        "blunders_by_piece": dict(piece),
        "worst_moments": moments[:10],
        "engine": {
            "nodes": nodes,
            "seconds": round(seconds, 3),
            "nps": round(nodes / seconds) if seconds else None,
        },
        "games": [{k: v for k, v in g.items() if k != "moves"} for g in games],
    }
