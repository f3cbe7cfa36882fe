"""The engine review's figures from stored evaluations (pure: no engine, no I/O).

Per move: evaluation, win percentage and accuracy (Lichess's formulas in `accuracy`),
centipawn loss and classification; per game: accuracy, the player's average loss, blunders by
phase and piece, the worst moments with the better move; overall: the same across games.
`review.analyse_game` / `review.review_games` produce the stored evaluations.
"""

from __future__ import annotations

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

WORST_MOMENTS = 5


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
                **{k: m[k] for k in ("fen", "uci") if k in m},  # to draw the position
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
