"""Reading bet-history files (no database): headers of the common exports, odds, money, dates,
results, markets and the per-row import key."""

from __future__ import annotations

import datetime as dt

import pytest

from edgelab.betting.imports import csvfile, fields, rows

NOW = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (  # a DraftKings-style history
            ["Date Placed", "Sport", "Event", "Bet Type", "Selection", "Odds", "Wager", "Status"],
            ["date", "sport", "event", "market", "selection", "odds", "stake", "result"],
        ),
        (  # FanDuel / BetMGM style
            ["Placed", "League", "Market", "Pick", "Price", "Risk", "Result", "Returns", "Book"],
            ["date", "league", "market", "selection", "odds", "stake", "result", "payout", "book"],
        ),
        (  # Pikkit's export
            ["bet_id", "sportsbook", "type", "status", "odds", "amount", "profit", "time_placed"],
            ["bet_id", "book", "market", "result", "odds", "stake", "profit", "date"],
        ),
        (  # decorated headers, an unknown column, a role's second column left alone
            ["Date (ET)", "Odds (American)", "Stake ($)", "Notes", "Outcome", "Status"],
            ["date", "odds", "stake", None, "result", None],
        ),
    ],
)
def test_the_common_exports_headers_get_their_roles(
    header: list[str], expected: list[str | None]
) -> None:
    assert list(csvfile.suggest_mapping(header).values()) == expected


@pytest.mark.parametrize(
    ("text", "decimal"),
    [
        ("+150", 2.5),  # wins 150 per 100
        ("-110", 1 + 100 / 110),  # risks 110 to win 100
        ("−200", 1.5),  # a Unicode minus
        ("+100", 2.0),
        ("EVEN", 2.0),
        ("150", 2.5),  # unsigned American
        ("2.50", 2.5),
        ("2,50", 2.5),
        ("5/2", 3.5),
        ("1/4", 1.25),
    ],
)
def test_odds_convert_to_decimal(text: str, decimal: float) -> None:
    assert fields.parse_odds(text) == pytest.approx(decimal, abs=1e-6)


@pytest.mark.parametrize("text", ["+abc", "-99", "+50", "0/3", "1.00", "0.5", "abc", "+"])
def test_odds_that_are_neither_american_nor_decimal_are_refused(text: str) -> None:
    with pytest.raises(fields.FieldProblem):
        fields.parse_odds(text)


@pytest.mark.parametrize(
    ("text", "cents", "currency"),
    [
        ("$1,234.56", 123456, "USD"),
        ("1.234,56 €", 123456, "EUR"),
        ("£7", 700, "GBP"),
        ("USD 10", 1000, "USD"),
        ("10 cad", 1000, "CAD"),
        ("(5.00)", -500, None),
        ("-$5.005", -501, "USD"),  # half up
        ("1,050", 105000, None),  # thousands
        ("10,5", 1050, None),  # a decimal comma
        ("0.015", 2, None),
    ],
)
def test_money_reads_symbols_codes_and_separators(
    text: str, cents: int, currency: str | None
) -> None:
    amount, found = fields.parse_money(text, "stake")
    assert (fields.to_minor(amount), found) == (cents, currency)


@pytest.mark.parametrize(
    ("text", "order", "utc"),
    [
        ("2024-03-10T18:00:00-05:00", "mdy", "2024-03-10T23:00:00+00:00"),
        ("2024-03-10T18:00:00Z", "mdy", "2024-03-10T18:00:00+00:00"),
        ("2024-07-04 19:05", "mdy", "2024-07-04T23:05:00+00:00"),  # New York, EDT
        ("03/04/2024 7:05 PM", "mdy", "2024-03-05T00:05:00+00:00"),  # 4 March, EST
        ("03/04/2024 7:05 PM", "dmy", "2024-04-03T23:05:00+00:00"),  # 3 April, EDT
        ("Oct 12, 2023 7:05 PM", "mdy", "2023-10-12T23:05:00+00:00"),
        ("12 Oct 2023", "mdy", "2023-10-12T04:00:00+00:00"),
        ("10/12/23 21:00 PT", "mdy", "2023-10-13T04:00:00+00:00"),
        ("10/12/2023 9:00 pm UTC", "mdy", "2023-10-12T21:00:00+00:00"),
    ],
)
def test_dates_in_the_exports_formats_become_utc(text: str, order: str, utc: str) -> None:
    assert fields.parse_date(text, "America/New_York", order, NOW).isoformat() == utc


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("31/02/2023", "date '31/02/2023' is not a date"),
        ("13/13/2023", "date '13/13/2023' is not a date"),
        ("2023-02-30", "date '2023-02-30' is not a date"),
        ("10/12/2023 13:00 PM", "date '10/12/2023 13:00 PM' is not a date"),
        ("2026-06-03", "date '2026-06-03' is in the future"),
        ("1989-12-31", "date '1989-12-31' is before 1990"),
    ],
)
def test_impossible_dates_say_why(text: str, reason: str) -> None:
    with pytest.raises(fields.FieldProblem, match=reason.replace("(", r"\(")):
        fields.parse_date(text, "America/New_York", "dmy", NOW)


def test_the_files_day_month_order_is_told_by_a_day_over_12() -> None:
    assert fields.date_order_of(["01/02/2024", "25/02/2024"]) == "dmy"
    assert fields.date_order_of(["01/02/2024", "02/25/2024"]) == "mdy"
    assert fields.date_order_of(["01/02/2024", "03/04/2024"]) == "mdy"  # nothing tells: US


@pytest.mark.parametrize(
    ("text", "result"),
    [
        ("Won", "won"),
        ("W", "won"),
        ("SETTLED_WIN", "won"),
        ("Loss", "lost"),
        ("graded loss", "lost"),
        ("Push", "push"),
        ("Cancelled", "void"),
        ("No Action", "void"),
        ("Cashed Out", "cashout"),
        ("SETTLED_CASHOUT", "cashout"),
        ("Half Won", "half_won"),
    ],
)
def test_results_in_the_exports_spellings(text: str, result: str) -> None:
    assert fields.parse_result(text) == result


def test_cash_outs_and_half_results_take_the_status_their_money_says() -> None:
    assert fields.status_of("cashout", 1550, 2000) == "lost"
    assert fields.status_of("cashout", 2600, 2000) == "won"
    assert fields.payout_of("half_won", 1000, 1.9, None, "") == 950 + 500
    assert fields.payout_of("half_lost", 1000, 1.9, None, "") == 500
    assert fields.payout_of("lost", 1000, 1.9, 1900, "19.00") == 0  # a "to pay" column ignored
    with pytest.raises(fields.FieldProblem, match="below the stake of a won bet"):
        fields.payout_of("won", 1000, 1.9, 900, "9.00")


@pytest.mark.parametrize(
    ("market", "selection", "expected"),
    [
        ("Moneyline", "Celtics", ("moneyline", "unknown", None)),
        ("Point Spread", "Celtics -4.5 (-110)", ("spread", "unknown", -4.5)),
        ("", "Knicks +3", ("spread", "unknown", 3.0)),
        ("Total Points", "Under 221.5", ("total", "under", 221.5)),
        ("", "o 8.5", ("total", "over", 8.5)),
        ("SGP", "3 legs", ("parlay", "unknown", None)),
        ("Player Props", "Tatum Over 27.5 Points", ("prop", "unknown", None)),
        ("", "Celtics", ("other", "unknown", None)),
    ],
)
def test_the_market_type_and_line_are_read_from_the_texts(
    market: str, selection: str, expected: tuple[str, str, float | None]
) -> None:
    assert fields.market_of(market, selection) == expected


def _table(text: str) -> csvfile.Table:
    return csvfile.read_table(text.encode(), max_rows=100)


def _keys(text: str) -> list[str | None]:
    table = _table(text)
    verdicts = rows.evaluate(table, csvfile.suggest_mapping(table.columns), rows.Options(), NOW)
    return [v.bet.import_key if v.bet else None for v in verdicts]


def test_the_import_key_is_stable_across_formats_and_counts_identical_rows() -> None:
    head = "Date,Odds,Stake,Result,Selection\n"
    one = _keys(
        head + "2024-03-01 19:00,-110,$1,100.00,Won,Celtics\n".replace("$1,100.00", '"$1,100.00"')
    )
    same = _keys(head + "2024-03-01 19:00,1.909091,1100,W,celtics\n")
    assert one == same  # the same bet written another way (the date cell as written)
    twins = _keys(head + "2024-03-01,+100,10,Won,X\n" * 2)
    assert twins[0] != twins[1]
    other_stake = _keys(head + "2024-03-01 19:00,-110,1000,Won,Celtics\n")
    assert other_stake != one


def test_delimiters_are_told_by_consistent_field_counts() -> None:
    assert csvfile.sniff_delimiter('a,b,c\n"1,5",2,3\n4,5,6\n') == ","
    assert csvfile.sniff_delimiter("a;b;c\n1,5;2;3\n4;5;6\n") == ";"
    assert csvfile.sniff_delimiter("title\nDate\tOdds\nOct 12, 2023\t-110\n") == "\t"
    assert csvfile.sniff_delimiter("a|b\n1|2\n") == "|"


def test_duplicate_and_blank_header_names_are_made_unique() -> None:
    table = _table("Odds,,Odds\n1,2,3\n")
    assert table.columns == ["Odds", "Column 2", "Odds (2)"]


def test_too_many_rows_are_refused_before_reading_on() -> None:
    with pytest.raises(csvfile.TooManyRowsError):
        csvfile.read_table(b"a,b\n" + b"1,2\n" * 4, max_rows=3)
    assert len(csvfile.read_table(b"a,b\n" + b"1,2\n\n\n" * 3, max_rows=3).rows) == 3


def _verdicts(
    text: str, options: rows.Options | None = None, **remap: str | None
) -> list[rows.RowVerdict]:
    table = _table(text)
    mapping = csvfile.suggest_mapping(table.columns) | remap
    return rows.evaluate(table, mapping, options or rows.Options(), NOW)


def test_the_import_key_does_not_depend_on_the_time_zone_or_date_order_chosen() -> None:
    """The key is of the date cell as written: choosing another time zone, or an overlapping
    export whose day over 12 tells another date order, keys the same rows the same."""
    text = "Date,Odds,Stake,Result\n03/04/2024 19:00,+100,10,Won\n05/06/2024,-110,20,Lost\n"
    base = [v.bet for v in _verdicts(text)]
    assert all(base)
    for options in (
        rows.Options(time_zone="Europe/London"),
        rows.Options(date_order="dmy"),
        rows.Options(date_order="dmy", time_zone="UTC"),
    ):
        other = [v.bet for v in _verdicts(text, options)]
        assert [b.placed_at for b in other if b] != [b.placed_at for b in base if b]
        assert [b.import_key for b in other if b] == [b.import_key for b in base if b]
    # an export that also holds 13/04/2024 is detected as day-first: the rows it shares with
    # the first file keep their keys
    wider = _verdicts(text + "13/04/2024,+100,10,Won\n")
    assert [v.bet.import_key for v in wider[:2] if v.bet] == [b.import_key for b in base if b]


def test_a_bet_id_keys_the_row_whether_or_not_the_book_is_mapped() -> None:
    text = "Bet ID,Book,Date,Odds,Stake,Result\n77,DraftKings,2024-02-01,+100,10,Won\n"
    with_book = _verdicts(text)[0].bet
    without = _verdicts(text, Book=None)[0].bet
    assert with_book is not None and without is not None
    assert with_book.book == "DraftKings" and without.book is None
    assert with_book.import_key == without.import_key


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ("0001-01-01T00:00:00+05:00,+100,10,Won,", "date '0001-01-01T00:00:00+05:00'"),
        ("2024-03-01,+100," + "9" * 27 + ",Won,", "stake '" + "9" * 27 + "'"),
        ("2024-03-01,+100,10,Won," + "9" * 27, "payout '" + "9" * 27 + "'"),
        ("2024-03-01," + "9" * 5000 + "/1,10,Won,", "odds '" + "9" * 59 + "…'"),
        ("2024-03-01," + "9" * 400 + "/1,10,Won,", "odds '" + "9" * 59 + "…'"),
        ("2024-03-01,-" + "9" * 400 + ",10,Won,", "odds '-" + "9" * 58 + "…'"),
    ],
)
def test_cells_too_big_for_the_arithmetic_are_out_of_range(row: str, reason: str) -> None:
    verdict = _verdicts("Date,Odds,Stake,Result,Payout\n" + row + "\n")[0]
    assert verdict.bet is None
    assert verdict.reasons == [reason + " is out of range"]


@pytest.mark.parametrize(
    ("payout", "profit", "taken"),
    [
        ("10010", "", True),  # the stake at the highest odds
        ("10010.01", "", False),
        ("99999999999999999999999", "", False),
        ("", "10000", True),
        ("", "10000.01", False),
    ],
)
def test_a_payout_over_the_stake_at_the_highest_odds_is_refused(
    payout: str, profit: str, taken: bool
) -> None:
    text = f"Date,Odds,Stake,Result,Payout,Profit\n2024-03-01,+100,10,Won,{payout},{profit}\n"
    verdict = _verdicts(text)[0]
    assert (verdict.bet is not None) is taken
    if not taken:
        raw = payout or profit
        assert verdict.reasons == [
            f"payout '{raw}' is out of range (over the stake at odds of 1001)"
        ]
