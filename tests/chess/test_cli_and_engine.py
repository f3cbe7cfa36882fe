"""`edgelab chess analyze --pgn` offline, and Stockfish itself (skipped when absent)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from edgelab.chess.review import analyse_game, engine_path
from edgelab.chess.review_summary import summarise_game
from edgelab.cli import app
from tests.chess.fake_chesscom import DATA

ENGINE = engine_path(None)
needs_engine = pytest.mark.skipif(
    ENGINE is None,
    reason="Stockfish is not installed (apt-get install stockfish): engine tests skip",
)


def test_cli_analyzes_a_pgn_file(tmp_path: Path) -> None:
    out = tmp_path / "analysis.json"
    result = CliRunner().invoke(
        app,
        [
            "chess",
            "analyze",
            "--pgn",
            str(DATA / "egor_tensin_chesscom_annotated.pgn"),
            "--player",
            "EGOR_TENSIN",
            "--tz",
            "Europe/Moscow",
            "--json",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "egor_tensin: 48 games" in result.output
    data = json.loads(out.read_text())
    assert data["games_analyzed"] == 48 and data["tz"] == "Europe/Moscow"
    colours = data["by_color"]
    assert colours["white"]["games"] + colours["black"]["games"] == 48
    assert data["source"]["games_in_file"] == 48


def test_cli_refuses_an_unknown_zone_and_a_missing_file(tmp_path: Path) -> None:
    runner = CliRunner()
    bad_tz = runner.invoke(
        app,
        [
            "chess",
            "analyze",
            "--pgn",
            str(DATA / "egor_tensin_chesscom_annotated.pgn"),
            "--tz",
            "Nowhere/City",
        ],
    )
    assert bad_tz.exit_code == 2
    missing = runner.invoke(app, ["chess", "analyze", "--pgn", str(tmp_path / "none.pgn")])
    assert missing.exit_code == 2


@needs_engine
def test_engine_evaluates_every_position() -> None:
    assert ENGINE is not None
    pgn = (DATA / "parser_edge_cases" / "molinari-bordais-1979.pgn").read_text()
    data = analyse_game(pgn, ENGINE, 6)
    assert len(data["evals"]) == len(data["moves"]) + 1 == 11
    assert (
        data["evals"][-1]["mate"] is not None and data["evals"][-1]["mate"] < 0
    )  # Black mated White
    assert data["nodes"] > 0
    out = summarise_game(data, "molinari")  # White, mated on move 5
    assert out["player_color"] == "white"
    assert out["moves"][-1]["san"].endswith("#")
    assert out["classifications"]["blunder"] + out["classifications"]["mistake"] >= 1
