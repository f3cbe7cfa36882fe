"""From stored snapshots to pricing moments: clustering, pairing and a quote's age."""

from __future__ import annotations

import datetime as dt
import itertools

from edgelab.betting.markets.quotes import BookQuote, SnapshotRow, book_quotes, market_moments

TIP = dt.datetime(2030, 3, 1, 0, 30, tzinfo=dt.UTC)


def _quote(book: str, at: dt.datetime, seen: dt.datetime | None = None) -> BookQuote:
    return BookQuote("g-ml", "moneyline", book, "live", at, None, 1.9, 1.95, 1, 2, seen or at)


def test_a_steady_stream_of_quotes_still_makes_a_moment_every_few_minutes() -> None:
    start = TIP - dt.timedelta(hours=4)
    quotes = [_quote(f"book{n % 5}", start + dt.timedelta(minutes=4 * n)) for n in range(45)]
    moments = market_moments(quotes, {"g-ml": TIP})
    pre = [m for m in moments if m.kind == "pre"]
    assert len(pre) >= 20  # a quote every 4 minutes for 3 hours: not one merged moment
    assert all(b.at - a.at >= dt.timedelta(minutes=4) for a, b in itertools.pairwise(pre))
    assert all(len(m.quotes) == 5 for m in pre[3:])  # each book's latest quote at each moment


def test_a_price_still_listed_is_fresh_whatever_its_last_update() -> None:
    moment_at = TIP - dt.timedelta(hours=2)
    kept_up = _quote("draftkings", moment_at - dt.timedelta(hours=24), moment_at)
    withdrawn = _quote("fanduel", moment_at - dt.timedelta(hours=24))
    fresh = _quote("betmgm", moment_at)
    moment = market_moments([kept_up, withdrawn, fresh], {"g-ml": TIP})[-1]  # the latest
    assert moment.at == moment_at
    ages = {q.book: q.age_minutes for q in moment.to_moment().quotes}
    assert ages == {"draftkings": 0.0, "fanduel": 24 * 60.0, "betmgm": 0.0}


def test_a_books_two_sides_pair_only_on_one_line_and_time() -> None:
    at = TIP - dt.timedelta(hours=3)

    def row(sid: int, side: str, line: float, when: dt.datetime = at) -> SnapshotRow:
        return SnapshotRow(sid, "g-spread", "spread", side, "dk", "live", when, 1.91, line)

    paired = book_quotes([row(1, "home", -4.5), row(2, "away", 4.5)])
    assert len(paired) == 1 and paired[0].x_line == 4.5  # X = home margin: line = -handicap
    assert book_quotes([row(1, "home", -4.5), row(2, "away", 5.5)]) == []  # two lines
    later = at + dt.timedelta(minutes=1)
    assert book_quotes([row(1, "home", -4.5), row(2, "away", 4.5, later)]) == []  # two times
