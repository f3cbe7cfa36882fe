"""Engine review with Stockfish through python-chess: every position of every game evaluated at
`EDGELAB_ENGINE_DEPTH`, by a pool of single-threaded Stockfish processes, one per core (two
1-thread engines beat one 2-thread engine for short searches; CHESS.md section 6).

`analyse_game` returns stored evaluations; `review_summary` turns them into per-move and
per-game figures with `accuracy`'s formulas, so the maths is tested on stored evaluations
without an engine. `review_games` keeps one engine per core for all the games it
reviews: starting Stockfish and loading its NNUE net costs ~60 ms, a depth-12 game seconds.

Throughput: the searches run at Stockfish's own NNUE speed (the UCI and python-chess round trip
adds ~0.5 ms to a ~40 ms search). `stockfish bench` with its defaults reports more nodes/s because
15.1's bench alternates NNUE and the ~2x cheaper classical evaluation over its positions
("mixed"); `benchmarks/bench_chess.py` prints both figures.

Phase of a move (the position before it): endgame when the non-pawn material of both sides
(N, B = 3, R = 5, Q = 9) is at most `ENDGAME_MATERIAL`; else opening for the first
`OPENING_PLIES` plies; else middlegame.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import chess.engine

log = logging.getLogger("edgelab.chess.review")
INSTALL_HINT = (
    "Install Stockfish (Debian/Ubuntu: `apt-get install stockfish`) or set EDGELAB_STOCKFISH_PATH."
)
ENDGAME_MATERIAL = 14
OPENING_PLIES = 20
PIECE_NAMES = {1: "pawn", 2: "knight", 3: "bishop", 4: "rook", 5: "queen", 6: "king"}
MATERIAL = {2: 3, 3: 3, 4: 5, 5: 9}
HASH_MB = 16
QUIT_SECONDS = 5.0


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


Engine = tuple[asyncio.SubprocessTransport, "chess.engine.UciProtocol"]


def pool_size(games: int) -> int:
    """Engines for a review: one per core (each a single-threaded Stockfish process)."""
    return max(1, min(games, os.cpu_count() or 1))


async def open_engine(path: str) -> Engine:
    """A single-threaded Stockfish with a 16 MB hash (`HASH_MB`, what `stockfish bench` uses;
    64 MB was within the noise at depth 12 and would cost 48 MB more per engine)."""
    import chess.engine

    transport, engine = await chess.engine.UciProtocol.popen(path)
    try:
        await engine.initialize()
        options: dict[str, int | bool] = {"Threads": 1, "Hash": HASH_MB}
        if "UCI_AnalyseMode" in engine.options:  # kept on for `play` (see `review_game`)
            options["UCI_AnalyseMode"] = True
        await engine.configure(options)
    except BaseException:  # a failure or a cancellation while starting: kill it, wait for it
        transport.close()
        await _exited(engine)
        raise
    return transport, engine


async def _exited(engine: chess.engine.Protocol) -> None:
    """Wait (at most `QUIT_SECONDS`) until the engine process is gone and reaped."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(QUIT_SECONDS):
            await asyncio.shield(engine.returncode)


async def close_engine(engine: Engine) -> None:
    """`quit`, and whatever happens close the transport, which kills a Stockfish that did not
    quit within `QUIT_SECONDS`: no engine process outlives its review."""
    import chess.engine

    transport, protocol = engine
    try:
        async with asyncio.timeout(QUIT_SECONDS):
            await protocol.quit()
    except (TimeoutError, chess.engine.EngineError, OSError):  # hung, died, or its pipe gone
        log.warning("Stockfish did not quit cleanly; closing it", exc_info=True)
    finally:
        transport.close()
        await _exited(protocol)


def analyse_game(pgn: str, path: str, depth: int) -> dict[str, Any]:
    """`review_game` with an engine of its own (started and quit here), for one-off use."""

    async def run() -> dict[str, Any]:
        started = time.perf_counter()
        engine = await open_engine(path)
        startup = time.perf_counter() - started
        try:
            data = await review_game(engine[1], pgn, depth)
        finally:
            await close_engine(engine)
        data["seconds"] = round(data["seconds"] + startup, 3)
        data["timing"]["startup"] = round(startup, 4)
        return data

    return asyncio.run(run())


class UnreadableGameError(ValueError):
    """A stored PGN holds no game python-chess can read (the review stops)."""


async def review_game(engine: chess.engine.Protocol, pgn: str, depth: int) -> dict[str, Any]:
    """Evaluate every position of the first game in `pgn` with `engine`.

    Each game starts with `ucinewgame` (python-chess sends it when `game=` changes), so an
    engine reused over many games gives exactly the evaluations, best moves and node counts a
    fresh engine per game gives, whatever order the games come in.
    """
    import io

    import chess
    import chess.engine
    import chess.pgn

    started = time.perf_counter()
    game = chess.pgn.read_game(io.StringIO(pgn.lstrip("\ufeff")))
    if game is None:
        raise UnreadableGameError("no game in the PGN")
    board = game.board()
    nodes = 0
    searches = 0
    search_ms = 0.0  # as the engine timed them (`info time`, ms)
    call_seconds = 0.0  # round trips of the searches (search + UCI + python-chess parsing)
    limit = chess.engine.Limit(depth=depth)
    # `play` rather than `analyse`: the same `go depth N` and the same search (analysis mode is
    # configured on), but the best move comes from `bestmove` and only depth, nodes, time and
    # score are parsed from the engine's info lines, not every iteration's PV: half the Python
    # CPU per search (1.8 ms instead of 4 at depth 12), and that CPU competes with the engines
    # when every core runs one
    wanted = chess.engine.INFO_BASIC | chess.engine.INFO_SCORE

    async def evaluate(b: chess.Board) -> tuple[dict[str, int | None], str | None]:
        nonlocal nodes, searches, search_ms, call_seconds
        if b.is_checkmate():
            return {"cp": None, "mate": -1 if b.turn == chess.WHITE else 1}, None
        if b.is_game_over():
            return {"cp": 0, "mate": None}, None
        t = time.perf_counter()
        played = await engine.play(b, limit, game=game, info=wanted)
        info = played.info
        call_seconds += time.perf_counter() - t
        searches += 1
        nodes += int(info.get("nodes", 0))
        # Stockfish reports whole ms plus 1 (`UCI::pv`: elapsed + 1): the search took
        # between time - 1 and time ms, so count time - 0.5
        search_ms += 1000 * float(info.get("time", 0.0)) - 0.5
        best = b.san(played.move) if played.move else None
        return _eval_of(info["score"]), best

    moves: list[dict[str, Any]] = []
    first, best = await evaluate(board)
    evals: list[dict[str, int | None]] = [first]
    for ply, move in enumerate(game.mainline_moves()):
        piece = board.piece_type_at(move.from_square)
        entry = {
            "ply": ply,
            "fen": board.fen(),  # the position before the move (the dashboard draws it)
            "san": board.san(move),
            "uci": move.uci(),
            "piece": PIECE_NAMES.get(piece or 0, "unknown"),
            "phase": _phase(board, ply),
            "best": best,
        }
        board.push(move)
        after, best = await evaluate(board)
        evals.append(after)
        moves.append(entry)
    return {
        "headers": dict(game.headers),
        "moves": moves,
        "evals": evals,  # evals[i] is before move i, evals[i + 1] after it
        "nodes": nodes,
        "seconds": round(time.perf_counter() - started, 3),
        # where `seconds` went: the searches as the engine timed them, their UCI round trips
        # (and waits for the event loop); the rest is PGN parsing, SAN and phases. `startup`
        # is the engine start (NNUE load included) when this game paid for it
        "timing": {
            "startup": 0.0,
            "search": round(search_ms / 1000, 4),
            "calls": round(call_seconds, 4),
            "searches": searches,
        },
    }


OnGame = Callable[[int, int, dict[str, Any]], Awaitable[None]]


async def review_games(
    pgns: Sequence[str],
    path: str,
    depth: int,
    *,
    engines: int | None = None,
    on_game: OnGame | None = None,
) -> list[dict[str, Any]]:
    """`review_game` over `pgns` with `engines` Stockfish processes (default: one per core),
    each kept for all the games it reviews; results in the order of `pgns`.

    The engines are the process pool: they run the searches in parallel on the cores, while
    this event loop only speaks UCI to them (~2 ms of Python CPU per ~40 ms depth-12 search,
    mostly while the engine searches; the loop is never held for long). Python pool workers
    cost more than they bring: a spawned worker re-imports the main module, the whole app under
    `edgelab` (~70 MB and ~1 s of CPU each, per job), and a worker holding an engine cannot exit
    (python-chess's I/O thread is not a daemon), so such a pool had to start an engine per
    game.

    `on_game(done, index, data)` is awaited after each game, one call at a time, `done`
    counting from 1. An engine that dies is replaced once and the game reviewed again. On an
    error or a cancellation the other games stop, and every engine is quit before it propagates.
    """
    import chess.engine

    results: list[dict[str, Any] | None] = [None] * len(pgns)
    todo = iter(range(len(pgns)))  # shared: each game is taken by one engine
    lock = asyncio.Lock()
    done = 0

    async def worker() -> None:
        nonlocal done
        engine: Engine | None = None
        startup = 0.0
        try:
            for index in todo:
                for attempt in (1, 2):
                    if engine is None:
                        started = time.perf_counter()
                        engine = await open_engine(path)
                        startup += time.perf_counter() - started
                    try:
                        data = await review_game(engine[1], pgns[index], depth)
                        break
                    except chess.engine.EngineTerminatedError:
                        log.warning("Stockfish exited during a review (attempt %d)", attempt)
                        await close_engine(engine)
                        engine = None
                        if attempt == 2:
                            raise
                data["seconds"] = round(data["seconds"] + startup, 3)
                data["timing"]["startup"] = round(startup, 4)
                startup = 0.0
                results[index] = data
                async with lock:
                    done += 1
                    if on_game is not None:
                        await on_game(done, index, data)
        finally:
            if engine is not None:
                await close_engine(engine)

    tasks = [asyncio.ensure_future(worker()) for _ in range(engines or pool_size(len(pgns)))]
    try:
        await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            if not task.done() and not task.cancelling():  # once: let an engine's quit finish
                task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
    return [r for r in results if r is not None]
