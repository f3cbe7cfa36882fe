"""The review's engine pool: one Stockfish per core kept for the whole job, the same answers as
an engine per game, and no engine process left behind (skipped without Stockfish)."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path
from typing import Any

import pytest

from edgelab.chess import review
from tests.chess.fake_chesscom import DATA

pytestmark = [
    pytest.mark.asyncio(loop_scope="session"),
    pytest.mark.skipif(
        review.engine_path(None) is None,
        reason="Stockfish is not installed (apt-get install stockfish): engine tests skip",
    ),
]
DEPTH = 5


def _games() -> list[str]:
    folder = DATA / "parser_edge_cases"
    names = ("molinari-bordais-1979.pgn", "kasparov-deep-blue-1997.pgn", "utf8-bom.pgn")
    one_game = (DATA / "single_game_caruana_vidit_2020-05-05.pgn").read_text(encoding="utf-8")
    return [(folder / n).read_text(encoding="utf-8") for n in names] + [one_game]


def _engines_running() -> list[int]:
    """Stockfish processes that are children of this process."""
    me = os.getpid()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
        if ppid == me and name == "stockfish":
            found.append(int(entry.name))
    return found


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the engines `review_games` starts."""
    started: list[int] = []
    real = review.open_engine

    async def counting(path: str) -> review.Engine:
        engine = await real(path)
        started.append(engine[0].get_pid())
        return engine

    monkeypatch.setattr(review, "open_engine", counting)
    return started


async def test_two_engines_review_four_games_with_the_answers_of_an_engine_per_game(
    opened: list[int],
) -> None:
    path = review.engine_path(None)
    assert path is not None
    pgns = _games()
    progress: list[tuple[int, int]] = []

    async def on_game(done: int, index: int, data: dict[str, Any]) -> None:
        progress.append((done, index))

    pooled = await review.review_games(pgns, path, DEPTH, engines=2, on_game=on_game)
    assert len(opened) == 2  # not one per game
    assert [done for done, _ in progress] == [1, 2, 3, 4]
    assert sorted(index for _, index in progress) == [0, 1, 2, 3]
    alone = [await asyncio.to_thread(review.analyse_game, p, path, DEPTH) for p in pgns]
    for mine, reference in zip(pooled, alone, strict=True):
        assert mine["headers"] == reference["headers"]  # results in the order of the PGNs
        assert mine["evals"] == reference["evals"]
        assert mine["moves"] == reference["moves"]  # best moves included
        assert mine["nodes"] == reference["nodes"]
    assert sum(g["timing"]["startup"] > 0 for g in pooled) == 2  # each start paid by one game
    assert _engines_running() == []


async def test_cancelling_a_review_quits_its_engines(opened: list[int]) -> None:
    path = review.engine_path(None)
    assert path is not None
    task = asyncio.ensure_future(review.review_games(_games() * 3, path, 18, engines=2))
    for _ in range(200):
        if len(_engines_running()) == 2:
            break
        await asyncio.sleep(0.02)
    assert len(_engines_running()) == 2
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert _engines_running() == []


async def test_an_engine_that_dies_mid_game_is_replaced_and_the_game_reviewed_again(
    opened: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = review.engine_path(None)
    assert path is not None
    pgn = (DATA / "single_game_caruana_vidit_2020-05-05.pgn").read_text(encoding="utf-8")
    reference = await asyncio.to_thread(review.analyse_game, pgn, path, DEPTH)
    counting = review.open_engine

    async def first_one_dies(path: str) -> review.Engine:
        engine = await counting(path)
        if len(opened) == 1:  # the first engine is killed at its fifth search
            protocol = engine[1]
            play = protocol.play
            searches = 0

            async def dying(*args: Any, **kwargs: Any) -> Any:
                nonlocal searches
                searches += 1
                if searches == 5:
                    os.kill(engine[0].get_pid(), signal.SIGKILL)
                    await asyncio.sleep(0.2)
                return await play(*args, **kwargs)

            monkeypatch.setattr(protocol, "play", dying)
        return engine

    monkeypatch.setattr(review, "open_engine", first_one_dies)
    (data,) = await review.review_games([pgn], path, DEPTH)
    assert len(opened) == 2  # the dead engine's replacement
    assert data["evals"] == reference["evals"] and data["nodes"] == reference["nodes"]
    assert _engines_running() == []


async def test_a_pgn_without_a_game_fails_the_review_and_quits_the_engines() -> None:
    path = review.engine_path(None)
    assert path is not None
    with pytest.raises(ValueError, match="no game"):
        await review.review_games([_games()[0], ""], path, DEPTH, engines=2)
    assert _engines_running() == []
