"""`POST /api/analyze/pgn`: the pattern analysis of an uploaded PGN file (issue 17), in the
shapes real files take (Lichess exports, Chess.com downloads, over-the-board databases), and
its refusals."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from edgelab.core.settings import Settings
from tests.fixtures.app import app_in_session

pytestmark = pytest.mark.asyncio(loop_scope="session")
FIXTURES = Path(__file__).parent / "fixtures"
LICHESS = (FIXTURES / "pgn" / "lichess_export.pgn").read_bytes()
CHESSCOM = (FIXTURES / "pgn" / "chesscom_download.pgn").read_bytes()
OTB = (FIXTURES / "pgn" / "otb_database_latin1.pgn").read_bytes()
CARLSEN = (FIXTURES / "carlsen_2023_last300.pgn").read_bytes()
ROUTE = "/api/analyze/pgn"


def _error(response: httpx.Response) -> dict[str, Any]:
    body = response.json()
    assert set(body) >= {"error", "request_id"}
    return body["error"]


async def _upload(
    client: httpx.AsyncClient, data: bytes, name: str = "games.pgn", **fields: str
) -> httpx.Response:
    return await client.post(
        ROUTE, files={"file": (name, data, "application/x-chess-pgn")}, data=fields
    )


async def test_a_lichess_export_is_analysed_from_the_inferred_players_side(
    client: httpx.AsyncClient,
) -> None:
    response = await _upload(client, LICHESS, "lichess_alice_chess.pgn", tz="Europe/Oslo")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["username"] == "alice_chess" and body["games_analyzed"] == 5
    assert body["overall"] == {"games": 5, "wins": 2, "draws": 1, "losses": 2, "score": 50.0}
    assert body["by_color"]["white"]["games"] == 3 and body["by_color"]["black"]["games"] == 2
    # Normal + mate on the board = checkmate; Normal without mate = resigned; Time forfeit
    assert body["terminations"] == {
        "wins": {"checkmate": 2},
        "draws": {"other": 1},
        "losses": {"resignation": 1, "time_forfeit": 1},
    }
    # UTCTime 18:05 UTC is 19:05 in Oslo (CET in early March)
    assert body["by_hour"]["19"]["games"] == 2 and "unknown" not in body["by_hour"]
    assert body["by_time_class"]["blitz"]["games"] == 3
    assert body["by_time_class"]["rapid"]["games"] == 2
    assert body["rating_trend"]["blitz"]["first"] == 1712
    assert body["coverage"]["time_of_day"] == 5 and body["coverage"]["player_elo"] == 5
    assert body["source"] == {
        "service": "pgn",
        "filename": "lichess_alice_chess.pgn",
        "encoding": "utf-8",
        "games_in_file": 5,
        "games_read": 5,
        "unreadable": 0,
        "too_long": 0,
        "partial": False,
    }
    assert body["skipped_games"] == [] and body["partial"] is False


async def test_bom_and_crlf_line_ends_change_nothing(client: httpx.AsyncClient) -> None:
    windows = b"\xef\xbb\xbf" + LICHESS.replace(b"\n", b"\r\n")
    plain = (await _upload(client, LICHESS)).json()
    crlf = await _upload(client, windows)
    assert crlf.status_code == 200, crlf.text
    assert crlf.json() == plain


async def test_an_otb_database_in_latin1_with_a_broken_game(client: httpx.AsyncClient) -> None:
    response = await _upload(client, OTB, "db.pgn", player="Magnus Carlsen")
    assert response.status_code == 200, response.text
    body = response.json()
    # "Magnus Carlsen" is the file's "Carlsen, Magnus"; the game with an illegal move is
    # skipped and listed, the four others are analysed
    assert body["username"] == "Carlsen, Magnus" and body["games_analyzed"] == 4
    assert body["overall"]["wins"] == 2 and body["overall"]["losses"] == 1
    assert body["source"]["encoding"] == "cp1252" and body["source"]["games_in_file"] == 5
    assert body["skipped"]["unreadable"] == 1
    [skipped] = body["skipped_games"]
    assert skipped["index"] == 3 and skipped["black"] == "Müller, Jürgen"
    assert "Ke3" in skipped["reason"]
    # no start times: hours unknown, not invented; "2019.??.??" has no weekday either
    assert list(body["by_hour"]) == ["unknown"]
    assert body["by_weekday"]["unknown"]["games"] == 1
    assert sum(d["games"] for d in body["by_weekday"].values()) == 4
    assert body["coverage"] == {
        "games": 4,
        "date": 3,
        "time_of_day": 0,
        "player_elo": 3,
        "opponent_elo": 3,
        "time_control": 0,
        "termination": 1,
        # only the mate in the Müller game can be read from the board
    }
    assert body["terminations"]["wins"] == {"unknown": 1, "checkmate": 1}
    assert body["by_time_class"] == {"unknown": body["overall"]}
    # no time of day: no game is known to follow another within the hour
    assert all(body["tilt"][f"after_{k}"]["games"] == 0 for k in ("win", "draw", "loss"))
    assert body["rating_trend"]["unknown"]["games"] == 3


async def test_a_chesscom_download_as_a_bare_body(client: httpx.AsyncClient) -> None:
    response = await client.post(
        ROUTE,
        content=CHESSCOM,
        params={"player": "ALICE_CHESS"},
        headers={"content-type": "application/x-chess-pgn"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["username"] == "alice_chess" and body["games_analyzed"] == 2
    assert body["terminations"]["wins"] == {"resignation": 1}
    assert body["terminations"]["draws"] == {"agreement": 1}
    assert body["by_hour"]["12"]["games"] == 2
    assert body["source"]["filename"] is None


async def test_a_json_body_is_read_too(client: httpx.AsyncClient) -> None:
    response = await client.post(ROUTE, json={"pgn": CHESSCOM.decode(), "tz": "Asia/Tokyo"})
    assert response.status_code == 200, response.text
    assert response.json()["by_hour"]["21"]["games"] == 2  # 12:0x UTC in Tokyo


async def test_real_chesscom_games_match_a_count_of_their_headers(
    client: httpx.AsyncClient,
) -> None:
    response = await _upload(client, CARLSEN)
    assert response.status_code == 200, response.text
    body = response.json()
    # independent count: the Result header from MagnusCarlsen's side, per game
    text = CARLSEN.decode("utf-8-sig")
    wins = draws = losses = 0
    for white, black, result in re.findall(
        r'\[White "([^"]*)"\]\s*\[Black "([^"]*)"\]\s*\[Result "([^"]*)"\]', text
    ):
        assert "MagnusCarlsen" in (white, black)
        if result == "1/2-1/2":
            draws += 1
        elif (result == "1-0") == (white == "MagnusCarlsen"):
            wins += 1
        else:
            losses += 1
    assert body["username"] == "MagnusCarlsen" and body["games_analyzed"] == 300
    overall = body["overall"]
    assert (overall["wins"], overall["draws"], overall["losses"]) == (wins, draws, losses)


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "not_pgn"),
        (b"name,stake,odds\nalice,10,2.5\n", "not_pgn"),
        (b"", "pgn_no_games"),
        (
            b'[Event "x"]\n[White "a"]\n[Black "b"]\n\n1. e4 e5 2. Ke2 Ke7 3. Kd8 *\n',
            "pgn_no_games",
        ),
    ],
)
async def test_what_is_not_a_usable_pgn_is_a_400(
    client: httpx.AsyncClient, data: bytes, code: str
) -> None:
    response = await _upload(client, data)
    assert response.status_code == 400, response.text
    assert _error(response)["code"] == code


async def test_a_player_not_in_the_file_is_a_400_naming_who_is(client: httpx.AsyncClient) -> None:
    response = await _upload(client, OTB, player="Kasparov, Garry")
    assert response.status_code == 400
    error = _error(response)
    assert error["code"] == "player_not_in_games"
    names = {n["name"]: n["games"] for n in error["details"]["names"]}
    assert names["Carlsen, Magnus"] == 4 and names["Müller, Jürgen"] == 1


async def test_validation_and_media_type(client: httpx.AsyncClient) -> None:
    bad_tz = await _upload(client, LICHESS, tz="Mars/Olympus")
    assert bad_tz.status_code == 422 and _error(bad_tz)["code"] == "validation_error"
    no_file = await client.post(ROUTE, data={"player": "x"}, files={"other": ("a", b"b")})
    assert no_file.status_code == 422
    assert _error(no_file)["details"][0]["loc"] == ["body", "file"]
    image = await client.post(ROUTE, content=b"GIF89a", headers={"content-type": "image/gif"})
    assert image.status_code == 415 and _error(image)["code"] == "unsupported_media_type"


async def test_oversize_files_are_a_413(settings: Settings, session: AsyncSession) -> None:
    small = settings.model_copy(update={"chess_pgn_max_bytes": 2048, "chess_pgn_max_games": 4})
    async with app_in_session(small, session) as (_, c):
        big = await _upload(c, CARLSEN)
        assert big.status_code == 413 and _error(big)["code"] == "payload_too_large"
        assert _error(big)["details"]["limit_bytes"] > 2048  # the body's cap, with framing
        bare = await c.post(ROUTE, content=CARLSEN[:4096], headers={"content-type": "text/plain"})
        assert bare.status_code == 413 and _error(bare)["details"] == {"limit_bytes": 2048}
        games = b"\n\n".join([b'[White "a"]\n[Black "b"]\n\n1. e4 e5 1-0'] * 5)
        many = await _upload(c, games)
        assert many.status_code == 413 and _error(many)["code"] == "pgn_too_many_games"
        four = await _upload(c, b"\n\n".join([b'[White "a"]\n[Black "b"]\n\n1. e4 e5 1-0'] * 4))
        assert four.status_code == 200 and four.json()["games_analyzed"] == 4


async def test_uploads_count_against_the_per_caller_chess_limit(
    settings: Settings, session: AsyncSession
) -> None:
    limited = settings.model_copy(update={"chess_rate_limit_per_caller": "2/hour"})
    async with app_in_session(limited, session) as (_, c):
        answers = [await _upload(c, CHESSCOM) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert _error(answers[2])["code"] == "rate_limited" and "Retry-After" in answers[2].headers


async def test_lichess_from_position_games_count_and_variants_are_set_aside(
    client: httpx.AsyncClient,
) -> None:
    endgame = (
        '[White "alice_chess"]\n[Black "bot"]\n[Result "1-0"]\n[Variant "From Position"]\n'
        '[FEN "6k1/5ppp/8/8/8/8/5PPP/R5K1 w - - 0 1"]\n[SetUp "1"]\n\n1. Ra8# 1-0\n\n'
    )
    crazyhouse = (
        '[White "alice_chess"]\n[Black "zh_fan"]\n[Result "0-1"]\n[Variant "Crazyhouse"]\n\n'
        "1. e4 d5 2. exd5 Qxd5 0-1\n"
    )
    response = await _upload(client, (endgame + "\n" + crazyhouse).encode())
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["games_analyzed"] == 1 and body["skipped"]["variant"] == 1
    assert body["terminations"]["wins"] == {"checkmate": 1}


def _shuffle_game(plies: int, black: str, *, one_line: bool = True) -> str:
    """A legal game of knights going out and back, `plies` half-moves long."""
    cycle = ("Nf3", "Nf6", "Ng1", "Ng8")
    tokens: list[str] = []
    for ply in range(plies):
        if ply % 2 == 0:
            tokens.append(f"{ply // 2 + 1}.")
        tokens.append(cycle[ply % 4])
    moves = " ".join(tokens) if one_line else "\n".join(tokens)
    return f'[White "alice"]\n[Black "{black}"]\n[Result "*"]\n\n{moves} *\n\n'


async def test_a_game_over_the_ply_cap_is_skipped_and_named_the_others_read(
    settings: Settings, session: AsyncSession
) -> None:
    capped = settings.model_copy(update={"chess_pgn_max_plies": 40})
    games = [
        _shuffle_game(40, "at_cap"),
        _shuffle_game(41, "one_over"),
        _shuffle_game(5000, "endless", one_line=False),  # its moves over many lines
        _shuffle_game(12, "short"),
    ]
    async with app_in_session(capped, session) as (_, c):
        response = await _upload(c, "".join(games).encode())
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["games_analyzed"] == 2 and body["source"]["games_in_file"] == 4
    assert body["skipped"]["too_long"] == 2 and body["skipped"]["unreadable"] == 0
    skipped = {g["black"]: (g["index"], g["reason"]) for g in body["skipped_games"]}
    assert skipped == {
        "one_over": (2, "longer than 40 plies (half-moves)"),
        "endless": (3, "longer than 40 plies (half-moves)"),
    }
    assert body["by_color"]["white"]["games"] == 2  # `short`, read after `endless`, counted


async def test_the_plies_of_a_whole_file_are_bounded_too(
    settings: Settings, session: AsyncSession
) -> None:
    bounded = settings.model_copy(
        update={"chess_pgn_max_plies": 100, "chess_pgn_max_total_plies": 1000}
    )
    async with app_in_session(bounded, session) as (_, c):
        over = await _upload(c, "".join(_shuffle_game(100, f"b{i}") for i in range(11)).encode())
        under = await _upload(c, "".join(_shuffle_game(100, f"b{i}") for i in range(10)).encode())
    assert over.status_code == 413 and _error(over)["code"] == "pgn_too_many_games"
    assert _error(over)["details"] == {"max_total_plies": 1000}
    assert under.status_code == 200 and under.json()["games_analyzed"] == 10
