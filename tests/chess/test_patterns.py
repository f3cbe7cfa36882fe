"""Pattern analysis: structural facts on real games, every pattern on hand-checked small PGNs,
opening naming, and the parser edge cases."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from edgelab.chess.games import parse_pgn, records_from_chesscom, time_class_of
from edgelab.chess.openings import DATA_DIR, name_opening
from edgelab.chess.patterns import analyze
from tests.chess.fake_chesscom import DATA

MOLINARI_PLIES = 10  # 1. c4 ... 5. ... Nd3#: five moves each
HAND_PGN = """
[Event "Live Chess"]
[White "me"]
[Black "opp1"]
[Result "1-0"]
[UTCDate "2024.01.01"]
[UTCTime "23:30:00"]
[TimeControl "180"]
[WhiteElo "1500"]
[BlackElo "1650"]
[Termination "me won by resignation"]

1. e4 e5 2. Nf3 Nc6 3. Bb5 a6 1-0

[Event "Live Chess"]
[White "opp2"]
[Black "Me"]
[Result "1-0"]
[UTCDate "2024.01.01"]
[UTCTime "23:40:00"]
[TimeControl "60"]
[WhiteElo "1400"]
[BlackElo "1490"]
[Termination "opp2 won on time"]

1. d4 Nf6 2. c4 e6 1-0

[Event "Live Chess"]
[White "me"]
[Black "opp3"]
[Result "1/2-1/2"]
[UTCDate "2024.01.02"]
[UTCTime "00:10:00"]
[TimeControl "600+5"]
[WhiteElo "1510"]
[BlackElo "1510"]
[Termination "Game drawn by repetition"]

1. Nf3 d5 2. d4 1/2-1/2

[Event "Live Chess"]
[White "opp4"]
[Black "me"]
[Result "0-1"]
[UTCDate "2024.01.05"]
[UTCTime "12:00:00"]
[TimeControl "180"]
[WhiteElo "1100"]
[BlackElo "1520"]
[ECO "B01"]
[SetUp "1"]
[FEN "r5k1/5ppp/8/8/8/8/5PPP/6K1 b - - 0 1"]
[Termination "me won by checkmate"]

1... Ra1# 0-1

[Event "Casual"]
[White "me"]
[Black "opp5"]
[Result "1-0"]
[Date "2024.01.06"]

1. e4 c5 1-0
"""


def tsv_name(pgn: str) -> tuple[str, str]:
    for path in sorted(DATA_DIR.glob("*.tsv")):
        with path.open(encoding="utf-8") as fh:
            for row in csv.DictReader(fh, delimiter="\t"):
                if row["pgn"] == pgn:
                    return row["eco"], row["name"]
    raise LookupError(pgn)


@pytest.fixture(scope="module")
def hand() -> dict:
    games, bad = parse_pgn(HAND_PGN)
    assert bad == 0 and len(games) == 5
    return analyze(games, "me", tz="Europe/Oslo")


def test_results_by_colour_from_the_players_side(hand: dict) -> None:
    assert hand["games_analyzed"] == 5
    assert hand["overall"] == {"games": 5, "wins": 3, "draws": 1, "losses": 1, "score": 70.0}
    white, black = hand["by_color"]["white"], hand["by_color"]["black"]
    assert (white["games"], white["wins"], white["draws"], white["losses"]) == (3, 2, 1, 0)
    assert (black["games"], black["wins"], black["draws"], black["losses"]) == (2, 1, 0, 1)


def test_openings_by_position_transposition_and_eco_fallback(hand: dict) -> None:
    white = {o["name"]: o for o in hand["by_opening"]["white"]}
    black = {o["name"]: o for o in hand["by_opening"]["black"]}
    eco, morphy = tsv_name("1. e4 e5 2. Nf3 Nc6 3. Bb5 a6")
    assert white[morphy]["eco"] == eco and white[morphy]["wins"] == 1
    # 1. Nf3 d5 2. d4 reaches the position named after 1. d4 d5 2. Nf3
    _, zukertort = tsv_name("1. d4 d5 2. Nf3")
    assert white[zukertort]["draws"] == 1
    # a set-up position cannot be walked: the ECO header names it
    assert black["Scandinavian Defense"]["eco"] == "B01"
    assert hand["opening_named_by"] == {"moves": 4, "eco_header": 1}


def test_time_class_control_hour_and_weekday_in_the_callers_zone(hand: dict) -> None:
    assert hand["by_time_class"]["blitz"]["games"] == 2
    assert hand["by_time_class"]["bullet"]["losses"] == 1
    assert hand["by_time_class"]["rapid"]["draws"] == 1
    assert hand["by_time_class"]["unknown"]["games"] == 1
    assert hand["by_time_control"]["180"]["wins"] == 2
    # 23:30 and 23:40 UTC on Monday 1 January are 00:30 / 00:40 on Tuesday in Oslo
    assert hand["by_hour"]["00"] == {"games": 2, "wins": 1, "draws": 0, "losses": 1, "score": 50.0}
    assert hand["by_hour"]["01"]["draws"] == 1
    assert hand["by_hour"]["13"]["wins"] == 1
    assert hand["by_hour"]["unknown"]["games"] == 1  # a date without a time of day
    assert hand["by_weekday"]["Tuesday"]["games"] == 3
    assert hand["by_weekday"]["Friday"]["games"] == 1
    assert hand["by_weekday"]["Saturday"]["games"] == 1
    utc = analyze(parse_pgn(HAND_PGN)[0], "me")
    assert utc["by_hour"]["23"]["games"] == 2 and utc["by_weekday"]["Monday"]["games"] == 2


def test_terminations(hand: dict) -> None:
    assert hand["terminations"] == {
        "wins": {"resignation": 1, "checkmate": 1, "unknown": 1},
        "draws": {"repetition": 1},
        "losses": {"time_forfeit": 1},
    }


def test_streaks_and_tilt(hand: dict) -> None:
    s = hand["streaks"]
    assert (s["longest_win"], s["longest_loss"], s["longest_unbeaten"], s["longest_winless"]) == (
        2,
        1,
        3,
        2,
    )
    assert s["current"] == {"result": "win", "length": 2}
    tilt = hand["tilt"]
    # only games within an hour of the previous one count: win -> loss, loss -> draw
    assert tilt["after_win"]["games"] == 1 and tilt["after_win"]["losses"] == 1
    assert tilt["after_loss"]["games"] == 1 and tilt["after_loss"]["draws"] == 1
    assert tilt["after_draw"]["games"] == 0
    assert tilt["score_drop_after_loss"] == -50.0


def test_length_rating_bands_and_trend(hand: dict) -> None:
    length = hand["game_length"]
    assert length["games"] == 5 and length["mean_moves"] == 1.8 and length["max_moves"] == 3
    bands = hand["opponent_rating"]["bands"]
    assert bands["+100 to +199"]["wins"] == 1
    assert bands["-100 to -1"]["losses"] == 1
    assert bands["+0 to +99"]["draws"] == 1
    assert bands["< -300"]["wins"] == 1
    assert hand["opponent_rating"]["unknown"] == 1
    blitz = hand["rating_trend"]["blitz"]
    assert (blitz["games"], blitz["first"], blitz["last"], blitz["change"]) == (2, 1500, 1520, 20)


@pytest.fixture(scope="module")
def carlsen() -> dict:
    games, bad = parse_pgn((DATA / "carlsen_2023_last300.pgn").read_text(encoding="utf-8-sig"))
    assert bad == 0 and len(games) == 300
    return analyze(games, "MagnusCarlsen", tz="Europe/Oslo")


def _sum(groups: dict) -> int:
    return sum(g["games"] for g in groups.values())


def test_sample_sizes_add_up_on_real_games(carlsen: dict) -> None:
    n = carlsen["games_analyzed"]
    assert n == 300 and carlsen["skipped"]["not_a_player"] == 0
    assert _sum(carlsen["by_color"]) == n
    for key in ("by_time_class", "by_time_control", "by_hour", "by_weekday"):
        assert _sum(carlsen[key]) == n, key
    assert "unknown" not in carlsen["by_hour"]  # every Chess.com game has UTCDate/UTCTime
    terms = carlsen["terminations"]
    o = carlsen["overall"]
    assert sum(terms["wins"].values()) == o["wins"]
    assert sum(terms["losses"].values()) == o["losses"]
    assert sum(terms["draws"].values()) == o["draws"]
    assert _sum(carlsen["opponent_rating"]["bands"]) + carlsen["opponent_rating"]["unknown"] == n
    assert sum(carlsen["openings_distinct"].values()) >= len(carlsen["by_opening"]["white"])
    assert sum(carlsen["opening_named_by"].values()) == n
    assert sum(t["games"] for t in carlsen["rating_trend"].values()) == n
    assert carlsen["game_length"]["games"] == n
    tilt = carlsen["tilt"]
    assert sum(tilt[k]["games"] for k in ("after_win", "after_draw", "after_loss")) < n
    assert carlsen["by_time_class"].keys() <= {"bullet", "blitz", "rapid"}


def test_a_player_not_in_the_games_is_skipped(carlsen: dict) -> None:
    games, _ = parse_pgn(HAND_PGN)
    out = analyze(games, "nobody")
    assert out["games_analyzed"] == 0 and out["skipped"]["not_a_player"] == 5
    assert out["by_color"]["white"]["games"] == 0 and out["overall"]["score"] is None


def test_the_player_is_inferred_when_not_given() -> None:
    games, _ = parse_pgn((DATA / "egor_tensin_chesscom_annotated.pgn").read_text())
    out = analyze(games)
    assert out["player"] == "egor_tensin" and out["games_analyzed"] == 48
    assert _sum(out["by_color"]) == 48


def test_chesscom_archive_objects_carry_accuracy_and_result_codes() -> None:
    month = json.loads((DATA / "player_games_2020_05_fabianocaruana.json").read_text())["games"]
    records, bad = records_from_chesscom(month)
    assert bad == 0 and len(records) == 17
    out = analyze(records, "FabianoCaruana")
    with_acc = [g for g in month if g.get("accuracies")]
    assert out["accuracy"]["games"] == len(with_acc) > 0
    mine = [
        g["accuracies"]["white" if g["white"]["username"] == "FabianoCaruana" else "black"]
        for g in with_acc
    ]
    assert out["accuracy"]["mean"] == pytest.approx(sum(mine) / len(mine), abs=0.01)
    assert _sum(out["by_color"]) == out["games_analyzed"] == 17
    terms = out["terminations"]
    assert sum(sum(v.values()) for v in terms.values()) == 17
    assert "other" not in terms["wins"] and "other" not in terms["losses"]


@pytest.mark.parametrize(
    ("name", "games"),
    [
        ("kasparov-deep-blue-1997.pgn", 6),
        ("nepomniachtchi-liren-game1.pgn", 1),
        ("molinari-bordais-1979.pgn", 1),
        ("anastasian-lewis.pgn", 1),
        ("utf8-bom.pgn", 2),
        ("chessbase-empty-line.pgn", 1),
    ],
)
def test_parser_edge_cases(name: str, games: int) -> None:
    text = (DATA / "parser_edge_cases" / name).read_bytes().decode("utf-8")
    records, bad = parse_pgn(text)
    assert bad == 0 and len(records) == games
    # the BOM file's games have no moves (PlyCount 0); every other game has some
    assert all(bool(r.moves) == (name != "utf8-bom.pgn") for r in records)
    assert records[0].headers.get("Event")  # the first header survived a BOM
    out = analyze(records, records[0].white)
    assert out["games_analyzed"] >= 1
    assert _sum(out["by_color"]) == out["games_analyzed"]


def test_edge_case_details() -> None:
    edge = DATA / "parser_edge_cases"
    bom = parse_pgn((edge / "utf8-bom.pgn").read_bytes().decode("utf-8"))[0]
    assert not bom[0].headers.get("\ufeffEvent") and "Event" in bom[0].headers
    null = parse_pgn((edge / "anastasian-lewis.pgn").read_text())[0][0]
    assert "0000" in null.moves  # the null move kept its place in the move list
    mate = parse_pgn((edge / "molinari-bordais-1979.pgn").read_text())[0][0]
    assert mate.plies == MOLINARI_PLIES and mate.result == "0-1"
    kasparov = parse_pgn((edge / "kasparov-deep-blue-1997.pgn").read_text())[0]
    assert all(g.white_elo is None or g.white_elo > 2000 for g in kasparov)
    nepo = parse_pgn((edge / "nepomniachtchi-liren-game1.pgn").read_text())[0][0]
    assert time_class_of(nepo.time_control) == "classical"


def test_time_classes() -> None:
    # base + 40 x increment: 120+1 is 160 s (bullet), 120+2 is 200 s (blitz)
    assert [time_class_of(t) for t in ("60", "120+1", "120+2", "180", "600", "1/86400")] == [
        "bullet",
        "bullet",
        "blitz",
        "blitz",
        "rapid",
        "daily",
    ]
    assert time_class_of("-") is None


def test_transpositions_share_a_name() -> None:
    a = name_opening(["g1f3", "d7d5", "d2d4"])
    b = name_opening(["d2d4", "d7d5", "g1f3"])
    assert a == b and a.source == "moves"
    assert name_opening([], eco="c65", eco_url=None).eco == "C65"
    assert name_opening([]).source == "unknown"


def test_fixture_sources_are_documented() -> None:
    assert Path(DATA / "README.md").exists()
