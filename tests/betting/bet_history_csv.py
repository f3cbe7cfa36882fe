"""A realistic sportsbook bet-history export, built deterministically (a DraftKings-style layout:
`Date Placed, Sport, League, Event, Bet Type, Selection, Odds, Wager, Status, Payout,
Sportsbook`), with the bets it holds described independently of the importer.

`python -m tests.betting.bet_history_csv` rewrites `fixtures/bet_history_200.csv` (200 bets, 3 of
them bad: odds `+abc`, no stake, date `31/02/2023`); `test_bet_import.py` checks the committed
file is what this builds.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

FIXTURE = Path(__file__).parent / "fixtures" / "bet_history_200.csv"
HEADER = [
    "Date Placed",
    "Sport",
    "League",
    "Event",
    "Bet Type",
    "Selection",
    "Odds",
    "Wager",
    "Status",
    "Payout",
    "Sportsbook",
]
TEAMS = {
    ("Basketball", "NBA"): ["Celtics", "Knicks", "Lakers", "Warriors", "Nuggets", "Heat", "Bucks"],
    ("Football", "NFL"): ["Chiefs", "Eagles", "Bills", "49ers", "Cowboys", "Ravens"],
    ("Baseball", "MLB"): ["Yankees", "Dodgers", "Braves", "Astros", "Mets", "Cubs"],
    ("Hockey", "NHL"): ["Bruins", "Rangers", "Oilers", "Avalanche", "Panthers"],
}
BOOKS = ["DraftKings", "FanDuel", "BetMGM", "Caesars"]
BAD_ROWS = {37: "odds", 88: "stake", 151: "date"}  # 1-based bet numbers
BAD_REASONS = {
    "odds": "odds '+abc' is not American or decimal",
    "stake": "stake missing",
    "date": "date '31/02/2023' is not a date",
}


@dataclass(frozen=True)
class Bet:
    """One row as written, and what it means (money in cents)."""

    number: int  # 1-based; the file line is number + 1
    cells: list[str]
    bad: str | None
    stake_cents: int
    american: int
    status: str  # Won | Lost | Push | Void | Cashed Out
    payout_cents: int


def _money(cents: int) -> str:
    return f"${cents // 100:,}.{cents % 100:02d}"


def _win_cents(stake: int, american: int) -> int:
    """Profit of a winning bet in cents, rounded down (exact rational arithmetic)."""
    ratio = Fraction(american, 100) if american > 0 else Fraction(100, -american)
    return int(stake * ratio)


def build(n: int = 200, seed: int = 17) -> list[Bet]:
    rng = random.Random(seed)
    start = dt.datetime(2024, 1, 4, 18, 5)
    bets: list[Bet] = []
    for number in range(1, n + 1):
        placed = start + dt.timedelta(
            hours=31 * number + rng.randint(0, 5), minutes=rng.randint(0, 59)
        )
        (sport, league), teams = rng.choice(list(TEAMS.items()))
        home, away = rng.sample(teams, 2)
        kind = rng.choice(["Moneyline", "Moneyline", "Spread", "Total", "Parlay"])
        american = rng.choice(
            [-250, -180, -150, -125, -115, -110, -105, 100, 110, 125, 150, 210, 340]
        )
        if kind == "Spread":
            selection = f"{home} {rng.choice(['-', '+'])}{rng.choice([1.5, 3.5, 5.5, 7])}"
            american = rng.choice([-115, -110, -105])
        elif kind == "Total":
            selection = f"{rng.choice(['Over', 'Under'])} {rng.choice([6.5, 44.5, 221.5, 228.5])}"
            american = rng.choice([-115, -110, -105])
        elif kind == "Parlay":
            selection = f"{home} ML / {away} ML / Over 45.5"
            american = rng.choice([264, 400, 596])
        else:
            selection = home
        stake = rng.choice([500, 1000, 2500, 5000, 11000, 105000])
        status = rng.choices(
            ["Won", "Lost", "Push", "Void", "Cashed Out"], weights=[44, 46, 4, 2, 4]
        )[0]
        if status == "Push" and kind in ("Moneyline", "Parlay"):
            status = "Lost"
        payout = {
            "Won": stake + _win_cents(stake, american),
            "Lost": 0,
            "Push": stake,
            "Void": stake,
            "Cashed Out": stake * rng.choice([40, 85, 130]) // 100,
        }[status]
        bad = BAD_ROWS.get(number)
        date_text = placed.strftime("%m/%d/%Y %I:%M %p") if bad != "date" else "31/02/2023"
        odds_text = (f"+{american}" if american > 0 else str(american)) if bad != "odds" else "+abc"
        cells = [
            date_text,
            sport,
            league,
            f"{away} @ {home}",
            kind,
            selection,
            odds_text,
            _money(stake) if bad != "stake" else "",
            status,
            _money(payout),
            rng.choice(BOOKS),
        ]
        bets.append(Bet(number, cells, bad, stake, american, status, payout))
    return bets


def to_csv(bets: list[Bet]) -> str:
    import csv
    import io

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(HEADER)
    for bet in bets:
        writer.writerow(bet.cells)
    return out.getvalue()


if __name__ == "__main__":
    FIXTURE.write_text(to_csv(build()), encoding="utf-8", newline="")
    print(f"wrote {FIXTURE}")
