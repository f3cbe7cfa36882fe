"""Tests for the NBA lines importer: real shipped files, hand-written fixtures, properties."""

from __future__ import annotations

import dataclasses
import datetime
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgelab.betting.odds.nba_csv import (
    GameLines,
    MalformedFileError,
    ParsedFile,
    Skipped,
    detect_layout,
    parse_nba_csv,
    parse_nba_text,
)
from edgelab.betting.odds.teams import TEAM_CODES, UnknownTeamError, normalize_team

DATA = Path(__file__).resolve().parents[2] / "src" / "edgelab" / "data" / "nba"
KAGGLE = DATA / "kaggle" / "nba_2008-2019.csv"
SBR_GAMES = DATA / "sbr_games_2014_2019.csv"
SBR_RAW = {
    2015: ("nba_odds_2014-15.andrewkoo.csv", 1311),
    2016: ("nba_odds_2015-16.andrewkoo.csv", 1316),
    2017: ("nba_odds_2016-17.andrewkoo.csv", 1309),
    2018: ("nba_odds_2017-18.andrewkoo.csv", 1312),
    2019: ("nba_odds_2018-19.andrewkoo.csv", 1312),
}
FIXTURES = Path(__file__).resolve().parent / "fixtures"

KAGGLE_HEADER = (
    "season,date,regular,playoffs,away,home,score_away,score_home,q1_away,q2_away,q3_away,"
    "q4_away,ot_away,q1_home,q2_home,q3_home,q4_home,ot_home,whos_favored,spread,total,"
    "moneyline_away,moneyline_home,h2_spread,h2_total,id_spread,id_total"
)
KROW = (
    "2008,2007-10-30,True,False,por,sa,97,106,26,23,28,20,0,29,30,22,25,0,"
    "home,13.0,189.5,900,-1400,5,95.0,0,1"
)
SBR_HEADER = "Date,Rot,VH,Team,1st,2nd,3rd,4th,Final,Open,Close,ML,2H"
SBR_V = "1028,501,V,Dallas,24,29,20,27,100,206.5,203.5,140,102"
SBR_H = "1028,502,H,SanAntonio,26,19,31,25,101,6,3.5,-165,4"


def key(g: GameLines) -> tuple[datetime.date, str, str]:
    return (g.date, g.home, g.away)


def kaggle_row(**changes: str) -> str:
    cells = dict(zip(KAGGLE_HEADER.split(","), KROW.split(","), strict=True))
    cells.update(changes)
    return ",".join(cells.values())


def text(*lines: str) -> str:
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- real files


@pytest.fixture(scope="module")
def kaggle() -> ParsedFile:
    return parse_nba_csv(KAGGLE)


@pytest.fixture(scope="module")
def sbr_games() -> ParsedFile:
    return parse_nba_csv(SBR_GAMES)


@pytest.fixture(scope="module")
def sbr_raw() -> dict[int, ParsedFile]:
    return {season: parse_nba_csv(DATA / "sbr_raw" / name) for season, (name, _) in SBR_RAW.items()}


def test_kaggle_counts_and_first_game(kaggle: ParsedFile) -> None:
    assert kaggle.layout == "kaggle"
    assert kaggle.rows_read == len(kaggle.games) == 15_521
    assert Counter(g.season for g in kaggle.games) == {
        2008: 1316, 2009: 1315, 2010: 1312, 2011: 1311, 2012: 1074, 2013: 1314,
        2014: 1319, 2015: 1311, 2016: 1316, 2017: 1309, 2018: 1312, 2019: 1312,
    }  # fmt: skip
    first = kaggle.games[0]
    assert first == GameLines(
        date=datetime.date(2007, 10, 30), season=2008, home="SAS", away="POR",
        home_score=106, away_score=97, neutral_site=None, playoffs=False,
        ml_home_close=-1400, ml_away_close=900, spread_home_open=None, spread_home_close=-13.0,
        total_open=None, total_close=189.5, source_line=2,
    )  # fmt: skip
    # whos_favored == "away" puts the handicap on the home side with a plus sign.
    assert kaggle.games[2].spread_home_close == 5.0 and kaggle.games[2].home == "LAL"
    assert sum(g.playoffs is True for g in kaggle.games) == 1002
    assert sum(g.spread_home_close == 0 for g in kaggle.games) > 0


def test_kaggle_skipped_values_are_the_known_gaps(kaggle: ParsedFile) -> None:
    # 2 rows without moneylines, and one moneyline typed "8" (2013-02-02 CHI@ATL).
    assert [(s.line, s.reason) for s in kaggle.skipped] == [
        (1094, "moneyline_home: missing value"),
        (1094, "moneyline_away: missing value"),
        (2704, "moneyline_home: missing value"),
        (2704, "moneyline_away: missing value"),
        (7024, "moneyline_away 8: not American odds (|x| < 100)"),
    ]
    bad = next(g for g in kaggle.games if g.source_line == 7024)
    assert (bad.date, bad.away, bad.ml_away_close, bad.ml_home_close) == (
        datetime.date(2013, 2, 2), "CHI", None, -300,
    )  # fmt: skip


def test_sbr_games_counts(sbr_games: ParsedFile) -> None:
    assert sbr_games.layout == "sbr_games"
    assert sbr_games.rows_read == len(sbr_games.games) == 6_560
    assert Counter(g.season for g in sbr_games.games) == {
        season: n for season, (_, n) in SBR_RAW.items()
    }
    assert sum(g.neutral_site is True for g in sbr_games.games) == 5
    assert [(s.line, s.reason) for s in sbr_games.skipped] == [
        (780, "home_spread_open: missing value"),
        (780, "total_open: missing value"),
        (2801, "total_open: missing value"),  # the blanked 1955.5 typo
    ]


@pytest.mark.parametrize("season", sorted(SBR_RAW))
def test_sbr_raw_game_count_is_half_the_rows(sbr_raw: dict[int, ParsedFile], season: int) -> None:
    parsed = sbr_raw[season]
    name, expected = SBR_RAW[season]
    data_rows = len((DATA / "sbr_raw" / name).read_text(encoding="utf-8-sig").splitlines()) - 1
    assert parsed.layout == "sbr_raw"
    assert parsed.rows_read == data_rows == 2 * expected
    assert len(parsed.games) == expected
    assert {g.season for g in parsed.games} == {season}
    assert all(g.source_line % 2 == 0 for g in parsed.games)  # visitor rows: 2, 4, ...


def test_sbr_raw_known_typos_are_skipped_with_their_line(sbr_raw: dict[int, ParsedFile]) -> None:
    found = {season: [(s.line, s.reason) for s in p.skipped] for season, p in sbr_raw.items()}
    assert found == {
        2015: [(1558, "Open 20.5 / 8: both < 100, cannot tell spread from total; both dropped")],
        2016: [],
        2017: [(346, "Open total 1955.5: implausible total (outside 150..300)")],
        2018: [],
        2019: [],
    }
    typo = next(g for g in sbr_raw[2017].games if g.source_line == 346)
    assert (typo.date, typo.away, typo.home) == (datetime.date(2016, 11, 17), "CHI", "UTA")
    assert (typo.total_open, typo.total_close, typo.spread_home_open) == (None, 192.5, -3.5)


def test_sbr_raw_first_game_and_space_in_team_name(sbr_raw: dict[int, ParsedFile]) -> None:
    first = sbr_raw[2015].games[0]
    assert first == GameLines(
        date=datetime.date(2014, 10, 28), season=2015, home="SAS", away="DAL",
        home_score=101, away_score=100, neutral_site=False, playoffs=None,
        ml_home_close=-165, ml_away_close=140, spread_home_open=-6.0, spread_home_close=-3.5,
        total_open=206.5, total_close=203.5, source_line=2,
    )  # fmt: skip
    spaced = {g.source_line: g for g in sbr_raw[2016].games}
    assert (spaced[1328].away, spaced[1328].home) == ("OKC", "BKN")  # "Oklahoma City"
    assert (spaced[1330].away, spaced[1330].home) == ("LAC", "TOR")  # "LA Clippers"
    assert sum(g.neutral_site is True for p in sbr_raw.values() for g in p.games) == 5


def test_sbr_raw_agrees_with_sbr_games(
    sbr_raw: dict[int, ParsedFile], sbr_games: ParsedFile
) -> None:
    raw = {key(g): g for p in sbr_raw.values() for g in p.games}
    derived = {key(g): g for g in sbr_games.games}
    assert raw.keys() == derived.keys() and len(raw) == 6_560
    differing = [
        k
        for k, g in raw.items()
        if dataclasses.replace(g, source_line=0) != dataclasses.replace(derived[k], source_line=0)
    ]
    assert differing == []


def test_kaggle_closing_lines_agree_with_sbr(
    kaggle: ParsedFile, sbr_raw: dict[int, ParsedFile]
) -> None:
    by_key = {key(g): g for g in kaggle.games}
    sbr = [g for p in sbr_raw.values() for g in p.games]
    matched = [(g, by_key[key(g)]) for g in sbr if key(g) in by_key]
    assert len(matched) == 6_557  # of 6,560 (README: 9,094 of 9,097 over all seasons)
    fields = (
        "home_score",
        "away_score",
        "spread_home_close",
        "total_close",
        "ml_home_close",
        "ml_away_close",
    )
    mismatches = [(s, k, f) for s, k in matched for f in fields if getattr(s, f) != getattr(k, f)]
    assert mismatches == []
    # The 3 unmatched games: SBR dates them 2017-05-06, Kaggle 2017-05-07.
    unmatched = sorted(key(g) for g in sbr if key(g) not in by_key)
    assert [d for d, _, _ in unmatched] == [datetime.date(2017, 5, 6)] * 3
    for d, home, away in unmatched:
        assert (d + datetime.timedelta(days=1), home, away) in by_key


def test_every_parsed_team_is_a_standard_code(
    kaggle: ParsedFile, sbr_games: ParsedFile, sbr_raw: dict[int, ParsedFile]
) -> None:
    games = [*kaggle.games, *sbr_games.games, *(g for p in sbr_raw.values() for g in p.games)]
    assert {g.home for g in games} == {g.away for g in games} == TEAM_CODES
    assert all(g.home != g.away for g in games)


# --------------------------------------------------------------------------- fixtures


def test_2020_21_style_file_without_year_columns() -> None:
    parsed = parse_nba_csv(FIXTURES / "nba odds 2020-21.csv")  # season from the file name
    assert (parsed.layout, parsed.rows_read) == ("sbr_raw", 10)
    games = parsed.games
    assert [g.date for g in games] == [
        datetime.date(2020, 12, 22), datetime.date(2020, 12, 31), datetime.date(2021, 1, 1),
        datetime.date(2021, 1, 12), datetime.date(2021, 3, 5),
    ]  # fmt: skip
    assert {g.season for g in games} == {2021}
    assert [(g.away, g.home) for g in games] == [
        ("GSW", "BKN"), ("LAC", "DEN"), ("BOS", "MIL"), ("MIA", "ORL"), ("NOP", "CHA"),
    ]  # fmt: skip
    assert [g.neutral_site for g in games] == [False, False, False, True, False]
    assert [g.source_line for g in games] == [2, 4, 6, 8, 10]
    assert [(g.spread_home_open, g.spread_home_close) for g in games] == [
        (-5.5, -6.5), (0.0, 1.0), (None, 1.5), (3.0, 3.5), (4.0, 4.5),
    ]  # fmt: skip
    assert [(g.total_open, g.total_close) for g in games] == [
        (227, 228.5), (221, 222), (None, 220.5), (210, 211), (219.5, 218),
    ]  # fmt: skip
    assert [(g.ml_home_close, g.ml_away_close) for g in games][:2] == [(-260, 210), (-105, -115)]
    assert (games[0].home_score, games[0].away_score) == (125, 99)
    assert (games[4].home_score, games[4].away_score) == (None, None)  # not played yet
    assert [(s.line, s.reason) for s in parsed.skipped] == [
        (6, "Open: 'NL' (no line)"),
        (7, "Open: 'NL' (no line)"),
        (8, "Open -3: negative (SBR sign typo); using 3"),
    ]


def test_sbr_raw_season_argument_and_missing_season() -> None:
    content = (FIXTURES / "nba odds 2020-21.csv").read_text()
    from_file = parse_nba_csv(FIXTURES / "nba odds 2020-21.csv").games
    assert parse_nba_text(content, season=2021).games == from_file
    assert parse_nba_text(content, name="x/nba_odds_2020-21.x.csv").games == from_file
    with pytest.raises(MalformedFileError) as err:
        parse_nba_text(content)
    assert (err.value.line, err.value.path) == (2, "<memory>")
    assert "cannot infer the season" in err.value.reason


def test_bom_crlf_year_columns_and_bubble_rows() -> None:
    path = FIXTURES / "nba_odds_2019-20.sample.csv"
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")
    parsed = parse_nba_csv(path)
    games = parsed.games
    assert [g.date.isoformat() for g in games] == [
        "2019-10-22", "2019-12-31", "2020-01-02", "2020-03-11", "2020-07-30", "2020-10-04",
        "2020-10-11",
    ]  # fmt: skip
    assert [g.neutral_site for g in games] == [False] * 4 + [True] * 3
    finals = games[5]
    assert (finals.away, finals.home) == ("LAL", "MIA")  # second N row = designated home
    assert (finals.spread_home_open, finals.spread_home_close) == (10.0, 9.5)
    assert (games[3].spread_home_close, games[3].total_close) == (0.0, 213.5)  # pk
    assert (games[6].total_close, games[6].spread_home_close) == (None, 5.5)
    assert [(s.line, s.reason) for s in parsed.skipped] == [
        (12, "Open -10: negative (SBR sign typo); using 10"),
        (12, "Close -9.5: negative (SBR sign typo); using 9.5"),
        (15, "Close total 1955.5: implausible total (outside 150..300)"),
    ]
    # Without a usable name the Year column supplies the season.
    raw = path.read_bytes().decode("utf-8")  # keeps the BOM and CRLF
    in_memory = parse_nba_text(raw)
    assert in_memory.games == games and {g.season for g in games} == {2020}
    # BOM absent, LF line ends: same result.
    assert parse_nba_text(raw.removeprefix("\ufeff").replace("\r\n", "\n")).games == games


def test_bom_present_or_absent_on_disk(tmp_path: Path) -> None:
    content = (FIXTURES / "nba odds 2020-21.csv").read_text()
    with_bom = tmp_path / "nba odds 2020-21.csv"
    with_bom.write_bytes(b"\xef\xbb\xbf" + content.encode())
    assert parse_nba_csv(with_bom).games == parse_nba_csv(FIXTURES / with_bom.name).games
    assert parse_nba_text("\ufeff" + content, season=2021).games == parse_nba_csv(with_bom).games


def test_year_column_disagreeing_with_row_order_is_malformed() -> None:
    raw = (FIXTURES / "nba_odds_2019-20.sample.csv").read_text(encoding="utf-8-sig")
    lines = raw.splitlines()
    lines[8] = lines[8].replace(",3,11,2020", ",3,11,2021")  # physical line 9
    with pytest.raises(MalformedFileError) as err:
        parse_nba_text("\n".join(lines), name="nba_odds_2019-20.csv")
    assert err.value.line == 9 and "Month/Day/Year say 2021-03-11" in err.value.reason


# --------------------------------------------------------------------------- malformed files

MALFORMED = {
    "unknown header": (text("foo,bar", "1,2"), 1, "unrecognised header"),
    "unknown header after blank lines": (text("", " , ", "foo,bar"), 3, "unrecognised header"),
    "empty file": ("\n\n", 1, "empty file"),
    "duplicate column": (text(KAGGLE_HEADER + ",total", KROW + ",1"), 1, "duplicate column"),
    "ragged row": (text(KAGGLE_HEADER, KROW, KROW + ",9"), 3, "expected 27 columns, found 28"),
    "blank lines keep physical numbering": (
        text(KAGGLE_HEADER, "", KROW, "", kaggle_row(score_home="1o6")),
        5,
        "not a whole number",
    ),
    "quoted newline keeps physical numbering": (
        text(KAGGLE_HEADER, kaggle_row(regular='"Tr\nue"'), kaggle_row(home="xyz")),
        4,
        "'xyz'",
    ),
    "csv syntax": (text(KAGGLE_HEADER, kaggle_row(regular='"True"x')), 2, "CSV syntax"),
    "kaggle non-numeric score": (text(KAGGLE_HEADER, kaggle_row(score_away="n/a")), 2, "score"),
    "kaggle unknown team": (text(KAGGLE_HEADER, KROW, kaggle_row(away="sea2")), 3, "sea2"),
    "kaggle bad date": (text(KAGGLE_HEADER, kaggle_row(date="2007-13-30")), 2, "date"),
    "kaggle bad season": (text(KAGGLE_HEADER, kaggle_row(season="08")), 2, "season"),
    "kaggle one score": (text(KAGGLE_HEADER, kaggle_row(score_home="")), 2, "only one team"),
    "sbr visitor then visitor": (
        text(SBR_HEADER, SBR_V, SBR_V, SBR_H),
        2,
        "visitor row (VH=V) without its home row",
    ),
    "sbr visitor at end of file": (
        text(SBR_HEADER, SBR_V, SBR_H, SBR_V),
        4,
        "without its home row (end of file)",
    ),
    "sbr home first": (text(SBR_HEADER, SBR_H, SBR_V), 2, "home row (VH=H) without a visitor"),
    "sbr neutral then home": (
        text(SBR_HEADER, SBR_V.replace(",V,", ",N,"), SBR_H),
        2,
        "(VH=N) without its home row",
    ),
    "sbr bad VH": (text(SBR_HEADER, SBR_V.replace(",V,", ",X,"), SBR_H), 2, "VH must be"),
    "sbr bad Date": (
        text(SBR_HEADER, SBR_V, SBR_H, "10x9" + SBR_V[4:], "10x9" + SBR_H[4:]),
        4,
        "not MMDD",
    ),
    "sbr no such date": (
        text(SBR_HEADER, "230" + SBR_V[4:], "230" + SBR_H[4:]),
        2,
        "no such date 2014-02-30",
    ),
    "sbr date differs in pair": (text(SBR_HEADER, SBR_V, "1029" + SBR_H[4:]), 3, "different Date"),
    "sbr non-numeric final": (text(SBR_HEADER, SBR_V, SBR_H.replace(",101,", ",1O1,")), 3, "1O1"),
    "sbr unknown team": (
        text(SBR_HEADER, SBR_V, SBR_H.replace("SanAntonio", "Gotham")),
        3,
        "Gotham",
    ),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_file_raises_with_line(case: str) -> None:
    content, line, reason = MALFORMED[case]
    with pytest.raises(MalformedFileError) as err:
        parse_nba_text(content, name="f.csv", season=2015)
    assert (err.value.path, err.value.line) == ("f.csv", line)
    assert reason in err.value.reason
    assert str(err.value) == f"f.csv, line {line}: {err.value.reason}"


def test_not_utf8_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "k.csv"
    path.write_bytes(text(KAGGLE_HEADER, KROW, kaggle_row(home="s\xe9")).encode("latin-1"))
    with pytest.raises(MalformedFileError) as err:
        parse_nba_csv(path)
    assert (err.value.path, err.value.line) == (str(path), 3)


def test_detect_layout() -> None:
    assert detect_layout(KAGGLE_HEADER.split(",")) == "kaggle"
    assert detect_layout(["\ufeffDate", *SBR_HEADER.split(",")[1:]]) == "sbr_raw"
    assert detect_layout(SBR_GAMES.read_text().splitlines()[0].split(",")) == "sbr_games"
    with pytest.raises(MalformedFileError):
        detect_layout(["Date", "Team", "Final"])


# --------------------------------------------------------------------------- single bad values


def test_kaggle_bad_values_are_dropped_not_fatal() -> None:
    parsed = parse_nba_text(
        text(
            KAGGLE_HEADER,
            kaggle_row(moneyline_home="50", total="1895", spread="35"),
            kaggle_row(moneyline_away="NL", playoffs="maybe", whos_favored="", spread="0"),
            kaggle_row(spread="-4.5", whos_favored="away", score_home="", score_away=""),
        )
    )
    a, b, c = parsed.games
    assert (a.ml_home_close, a.total_close, a.spread_home_close) == (None, None, None)
    assert (b.ml_away_close, b.playoffs, b.spread_home_close) == (None, None, 0.0)
    assert (c.spread_home_close, c.home_score, c.away_score) == (4.5, None, None)
    assert [(s.line, s.reason.split(":")[0]) for s in parsed.skipped] == [
        (2, "spread 35"),
        (2, "moneyline_home 50"),
        (2, "total 1895"),
        (3, "playoffs"),
        (3, "moneyline_away"),
        (4, "spread -4.5"),
    ]


def test_sbr_raw_ambiguous_and_implausible_pairs() -> None:
    parsed = parse_nba_text(
        text(
            SBR_HEADER,
            SBR_V.replace("206.5,203.5,140", "210,203.5,0"),  # Open: both >= 100; ML 0
            SBR_H.replace("6,3.5,", "205,35,"),  # Close: spread 35 is no spread
            SBR_V.replace("206.5,203.5", ","),  # both Open and Close missing on one row
            SBR_H,
        ),
        season=2015,
    )
    a, b = parsed.games
    assert (a.spread_home_open, a.total_open, a.spread_home_close, a.total_close) == (
        None, None, None, 203.5,
    )  # fmt: skip
    assert (a.ml_away_close, a.ml_home_close) == (None, -165)
    assert (b.spread_home_open, b.total_open, b.spread_home_close, b.total_close) == (
        -6, None, -3.5, None,
    )  # fmt: skip
    assert [s.line for s in parsed.skipped] == [2, 3, 2, 4, 4]
    assert "both >= 100" in parsed.skipped[0].reason
    assert "implausible spread" in parsed.skipped[1].reason


def test_sbr_games_bad_values() -> None:
    header = SBR_GAMES.read_text().splitlines()[0]
    row = (
        "2014-15,2015-02-09,False,LAC,DAL,715,716,115,98,32,34,28,21,31,22,27,18,"
        "NL,-0.0,,210.0,325.0,-405.0,-7.0,105.5,0"
    )
    parsed = parse_nba_text(text(header, row))
    (g,) = parsed.games
    assert (g.spread_home_open, g.spread_home_close, g.total_open) == (None, 0.0, None)
    assert str(g.spread_home_close) == "0.0"  # no negative zero
    assert [s.line for s in parsed.skipped] == [2, 2]


# --------------------------------------------------------------------------- teams


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("gs", "GSW"), ("no", "NOP"), ("ny", "NYK"), ("sa", "SAS"), ("utah", "UTA"),
        ("wsh", "WAS"), ("bkn", "BKN"), ("GoldenState", "GSW"), ("LALakers", "LAL"),
        ("LA Clippers", "LAC"), ("L.A. Clippers", "LAC"), ("Oklahoma City", "OKC"),
        ("NewJersey", "BKN"), ("New Jersey Nets", "BKN"), ("Seattle", "OKC"),
        ("Seattle SuperSonics", "OKC"), ("Charlotte Bobcats", "CHA"), ("Charlotte Hornets", "CHA"),
        ("NewOrleans Hornets", "NOP"), ("New Orleans/Oklahoma City Hornets", "NOP"),
        ("Vancouver Grizzlies", "MEM"), ("Portland Trail Blazers", "POR"),
        ("Philadelphia 76ers", "PHI"), ("  san-antonio spurs ", "SAS"), ("PHO", "PHX"),
    ],
)  # fmt: skip
def test_normalize_team(raw: str, code: str) -> None:
    assert normalize_team(raw) == code


@pytest.mark.parametrize("raw", ["", "Los Angeles", "LA", "Hornets", "Gotham"])
def test_unknown_or_ambiguous_team(raw: str) -> None:
    with pytest.raises(UnknownTeamError) as err:
        normalize_team(raw)
    assert isinstance(err.value, KeyError) and err.value.raw == raw


def test_team_codes() -> None:
    assert len(TEAM_CODES) == 30
    assert all(normalize_team(c) == c == normalize_team(c.lower()) for c in TEAM_CODES)


@given(st.sampled_from(sorted(TEAM_CODES)), st.data())
def test_team_names_ignore_case_space_punctuation(code: str, data: st.DataObject) -> None:
    mangled = "".join(
        data.draw(st.sampled_from(["", " ", ".", "-"])) + data.draw(st.sampled_from([c, c.lower()]))
        for c in code
    )
    assert normalize_team(mangled) == code


# --------------------------------------------------------------------------- SBR round trip

SBR_NAMES = {"Atlanta": "ATL", "LAClippers": "LAC", "NewOrleans": "NOP", "Utah": "UTA"}
spreads = st.integers(-40, 40).map(lambda n: n / 2)
totals = st.integers(340, 560).map(lambda n: n / 2)
moneylines = st.one_of(st.integers(100, 3000), st.integers(-3000, -100)).map(float)


@dataclasses.dataclass
class SbrGame:
    date: datetime.date
    away: str
    home: str
    neutral: bool
    open: tuple[float, float]  # (home handicap, total)
    close: tuple[float, float]
    ml: tuple[float, float]  # (away, home)
    pk_home: bool  # which row SBR puts "pk" on


@st.composite
def sbr_season(draw: st.DrawFn) -> list[SbrGame]:
    day = datetime.date(2020, 10, 1)
    games = []
    for _ in range(draw(st.integers(1, 12))):
        day += datetime.timedelta(days=draw(st.integers(0, 25)))
        away, home = draw(st.permutations(sorted(SBR_NAMES)))[:2]
        games.append(
            SbrGame(
                day, away, home, draw(st.booleans()), (draw(spreads), draw(totals)),
                (draw(spreads), draw(totals)), (draw(moneylines), draw(moneylines)),
                draw(st.booleans()),
            )
        )  # fmt: skip
    return games


def render_pair(line: tuple[float, float], pk_home: bool) -> tuple[str, str]:
    """SBR puts the favourite's handicap on its own row and the total on the other."""
    spread, total = line
    home_fav = spread < 0 or (spread == 0 and pk_home)
    shown = "pk" if spread == 0 else f"{abs(spread):g}"
    return (f"{total:g}", shown) if home_fav else (shown, f"{total:g}")


@settings(max_examples=60, deadline=None)
@given(sbr_season())
def test_sbr_raw_round_trip(games: list[SbrGame]) -> None:
    lines = [SBR_HEADER]
    for g in games:
        kinds = ("N", "N") if g.neutral else ("V", "H")
        opens, closes = render_pair(g.open, g.pk_home), render_pair(g.close, g.pk_home)
        for i, team in enumerate((g.away, g.home)):
            lines.append(
                f"{g.date.month}{g.date.day:02},{501 + i},{kinds[i]},{team},25,25,25,25,"
                f"{100 + i},{opens[i]},{closes[i]},{g.ml[i]:g},pk"
            )
    parsed = parse_nba_text(text(*lines), season=2021)
    assert parsed.skipped == []
    for g, out in zip(games, parsed.games, strict=True):
        assert (out.date, out.season, out.neutral_site) == (g.date, 2021, g.neutral)
        assert (out.away, out.home) == (SBR_NAMES[g.away], SBR_NAMES[g.home])
        assert (out.spread_home_open, out.total_open) == g.open
        assert (out.spread_home_close, out.total_close) == g.close
        assert (out.ml_away_close, out.ml_home_close) == g.ml
        assert (out.away_score, out.home_score) == (100, 101)


def test_skipped_is_a_plain_record() -> None:
    assert Skipped(3, "x") == Skipped(line=3, reason="x")
