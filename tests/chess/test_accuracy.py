"""Lichess's accuracy and classification maths on stored evaluations (no engine needed)."""

from __future__ import annotations

import pytest

from edgelab.chess.accuracy import (
    Eval,
    centipawn_loss,
    classify,
    game_accuracy,
    move_accuracy,
    win_percent,
)
from edgelab.chess.review_summary import summarise, summarise_game


@pytest.mark.parametrize(
    ("cp", "expected"),
    [(15, 51.4), (50, 54.6), (100, 59.1), (200, 67.6), (300, 75.1), (500, 86.3), (1000, 97.5)],
)
def test_win_percent_matches_lichess_examples(cp: int, expected: float) -> None:
    assert win_percent(cp) == pytest.approx(expected, abs=0.05)
    assert win_percent(-cp) == pytest.approx(100 - expected, abs=0.05)


def test_win_percent_caps_at_1000_cp() -> None:
    assert win_percent(5000) == win_percent(1000)
    assert Eval(mate=3).capped_cp() == 1000 and Eval(mate=-2).capped_cp() == -1000


@pytest.mark.parametrize(
    ("drop", "expected"),
    [(1, 96.6), (5, 80.8), (10, 64.6), (15, 51.5), (20, 41.0), (40, 15.9), (60, 5.4), (80, 1.0)],
)
def test_move_accuracy_matches_lichess_shape(drop: float, expected: float) -> None:
    assert move_accuracy(70, 70 - drop) == pytest.approx(expected, abs=0.05)


def test_move_accuracy_bounds() -> None:
    assert move_accuracy(50, 60) == 100.0  # no drop
    assert move_accuracy(99, 0) == 0.0  # clamped


def test_classification_thresholds_by_winning_chance_drop() -> None:
    # White's move from 0 cp: drops of 0.1 / 0.2 / 0.3 in winning chances (5 / 10 / 15 Win%)
    # (about 54, 110 and 168 cp from equality)
    assert classify(Eval(0), Eval(-40), True) is None
    assert classify(Eval(0), Eval(-80), True) == "inaccuracy"
    assert classify(Eval(0), Eval(-150), True) == "mistake"
    assert classify(Eval(0), Eval(-250), True) == "blunder"
    # Black's view: White's eval going up is Black's drop
    assert classify(Eval(0), Eval(400), False) == "blunder"
    assert classify(Eval(0), Eval(-400), False) is None


def test_mate_rules() -> None:
    # walking into a forced mate from an equal position: blunder
    assert classify(Eval(0), Eval(mate=-3), True) == "blunder"
    # already lost (-800): a mistake; hopeless (-1200): an inaccuracy
    assert classify(Eval(-800), Eval(mate=-3), True) == "mistake"
    assert classify(Eval(-1200), Eval(mate=-3), True) == "inaccuracy"
    # losing a forced mate but staying at +1200: inaccuracy; +800: mistake; 0: blunder
    assert classify(Eval(mate=2), Eval(1200), True) == "inaccuracy"
    assert classify(Eval(mate=2), Eval(800), True) == "mistake"
    assert classify(Eval(mate=2), Eval(0), True) == "blunder"
    # a slower mate is not flagged
    assert classify(Eval(mate=2), Eval(mate=5), True) is None


def test_centipawn_loss() -> None:
    assert centipawn_loss(Eval(50), Eval(-150), True) == 200
    assert centipawn_loss(Eval(50), Eval(100), True) == 0  # improvements count as 0
    assert centipawn_loss(Eval(-50), Eval(150), False) == 200
    assert centipawn_loss(Eval(mate=1), Eval(-2000), True) == 2000  # both capped at 1000


def test_game_accuracy_perfect_and_with_a_blunder() -> None:
    steady = [Eval(15)] * 30
    assert game_accuracy(steady) == {"white": 100.0, "black": 100.0}
    evals = [Eval(15)] * 20 + [Eval(-600)] + [Eval(-600)] * 9  # White blunders at ply 21
    acc = game_accuracy(evals)
    assert acc["black"] == 100.0
    assert acc["white"] is not None and acc["white"] < 90
    assert game_accuracy([]) == {"white": None, "black": None}


STORED = {
    "headers": {"White": "me", "Black": "them", "Result": "0-1", "Link": "https://x/1"},
    "moves": [
        {"ply": 0, "san": "e4", "uci": "e2e4", "piece": "pawn", "phase": "opening", "best": "e4"},
        {"ply": 1, "san": "e5", "uci": "e7e5", "piece": "pawn", "phase": "opening", "best": "c5"},
        {
            "ply": 2,
            "san": "Qh5",
            "uci": "d1h5",
            "piece": "queen",
            "phase": "opening",
            "best": "Nf3",
        },
        {
            "ply": 3,
            "san": "Nc6",
            "uci": "b8c6",
            "piece": "knight",
            "phase": "opening",
            "best": "Nc6",
        },
        {
            "ply": 4,
            "san": "Qxf7+",
            "uci": "h5f7",
            "piece": "queen",
            "phase": "middlegame",
            "best": "Bc4",
        },
    ],
    "evals": [
        {"cp": 20, "mate": None},
        {"cp": 30, "mate": None},
        {"cp": 25, "mate": None},
        {"cp": 0, "mate": None},
        {"cp": 5, "mate": None},
        {"cp": -900, "mate": None},
    ],
    "nodes": 1000,
    "seconds": 0.5,
}


def test_summarise_game_from_stored_evals() -> None:
    out = summarise_game(STORED, "me")
    assert out["player_color"] == "white"
    last = out["moves"][-1]
    assert last["classification"] == "blunder" and last["centipawn_loss"] == 905
    assert out["classifications"] == {"inaccuracy": 0, "mistake": 0, "blunder": 1}
    assert out["blunders_by_phase"] == {"middlegame": 1}
    assert out["blunders_by_piece"] == {"queen": 1}
    worst = out["worst_moments"][0]
    assert (worst["played"], worst["better"], worst["move_number"]) == ("Qxf7+", "Bc4", 3)
    assert out["player_accuracy"] == out["accuracy"]["white"] < out["accuracy"]["black"]
    overall = summarise([out, summarise_game(STORED, "them")], "me")
    assert overall["games_reviewed"] == 2
    assert overall["classifications"]["blunder"] == 1  # "them" made no blunder
    assert overall["engine"]["nps"] == 2000
