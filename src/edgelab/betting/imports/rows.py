"""One CSV row -> one historical bet, or every specific reason it cannot be one.

Pure: no I/O; `now` is passed in; each field is read by `fields`. A cell too big to read (a
date before year 1, a 30-digit amount, a 5,000-digit fraction) is a reason too, never an error.

`import_key` is a stable hash per row, of what the file says, not of what the import's options
make of it: of the bet id alone when the file has bet ids (unique per user: a bet id twice in
one file is refused on its second row; the book column is not part of it, so mapping it only
on a second upload duplicates nothing), else of the row's normalised fields (the date cell as
written, whitespace and case aside, not the instant it converts to under the chosen time zone
or date order) plus how many identical rows came before it in the file (two identical bets in
one file are two bets; the same file or an overlapping export again gives the same keys, with
any time zone or date order).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from edgelab.betting.imports.csvfile import REQUIRED_ROLES, ROLE_LABELS, Table
from edgelab.betting.imports.fields import (
    MAX_STAKE_MINOR,
    FieldProblem,
    clip,
    date_order_of,
    market_of,
    parse_date,
    parse_money,
    parse_odds,
    parse_result,
    payout_of,
    status_of,
    to_minor,
)

T = TypeVar("T")
TEXT_LIMITS = {"sport": 64, "event": 200, "market": 120, "selection": 200, "book": 64}


@dataclass(frozen=True)
class Options:
    """What the file does not say: the day/month order of its dates (None: detect), the time
    zone of times without an offset, and the currency when no column or symbol names one."""

    date_order: str | None = None  # "mdy" | "dmy" | None
    time_zone: str = "America/New_York"
    currency: str = "USD"


@dataclass(frozen=True)
class ParsedBet:
    placed_at: dt.datetime  # UTC
    sport: str | None
    event: str | None
    market_type: str
    market_text: str | None
    side: str
    line: float | None
    selection: str | None
    odds_decimal: float
    stake_minor: int
    currency: str
    result: str
    status: str
    payout_minor: int
    book: str | None
    import_key: str


@dataclass
class RowVerdict:
    line: int  # the row's line number in the file (the header is line 1 of most files)
    cells: list[str]
    reasons: list[str] = field(default_factory=list)
    bet: ParsedBet | None = None


# --- rows -------------------------------------------------------------------------------------


def _attempt(
    reasons: list[str], what: tuple[str, str], fn: Callable[..., T], *args: Any
) -> T | None:
    """fn(*args), or None with its `FieldProblem` added to `reasons`; a cell too big for the
    arithmetic (an overflowing date or float, a 30-digit amount, a 5,000-digit integer) is
    `<field> '<cell>' is out of range`, `what` being (field, cell)."""
    try:
        return fn(*args)
    except FieldProblem as exc:
        reasons.append(str(exc))
    except (ValueError, ArithmeticError):  # OverflowError, decimal.InvalidOperation...
        reasons.append(f"{what[0]} '{clip(what[1])}' is out of range")
    return None


def _money(text: str, what: str) -> tuple[int, str | None]:
    """(minor units, the currency the cell names) of a money cell."""
    amount, currency = parse_money(text, what)
    return to_minor(amount), currency


def _key(parts: list[str]) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def _norm(text: str | None) -> str:
    return " ".join((text or "").split()).casefold()


def evaluate(
    table: Table, mapping: dict[str, str | None], options: Options, now: dt.datetime
) -> list[RowVerdict]:
    """A verdict per data row: a bet, or the reasons it is skipped (every reason found)."""
    index = {role: table.columns.index(col) for col, role in mapping.items() if role}
    order = options.date_order or (
        date_order_of(
            [cells[index["date"]] for _, cells in table.rows if index["date"] < len(cells)]
        )
        if "date" in index
        else "mdy"
    )
    missing = [r for r in REQUIRED_ROLES if r not in index]
    seen: Counter[str] = Counter()
    first_line: dict[str, int] = {}
    out: list[RowVerdict] = []
    for line, cells in table.rows:
        verdict = RowVerdict(line, cells)
        out.append(verdict)

        def cell(role: str, cells: list[str] = cells) -> str:
            i = index.get(role)
            return cells[i].strip() if i is not None and i < len(cells) else ""

        reasons = verdict.reasons
        reasons.extend(f"no column is mapped to {ROLE_LABELS[r].lower()}" for r in missing)
        placed = odds = stake = currency = result = None
        payout_given: int | None = None
        payout_raw = ""

        if "date" in index:
            placed = _attempt(
                reasons,
                ("date", cell("date")),
                parse_date,
                cell("date"),
                options.time_zone,
                order,
                now,
            )
        if "odds" in index:
            odds = _attempt(reasons, ("odds", cell("odds")), parse_odds, cell("odds"))
        if "stake" in index:
            money = _attempt(reasons, ("stake", cell("stake")), _money, cell("stake"), "stake")
            if money is not None:
                stake, currency = money
                if not 0 < stake <= MAX_STAKE_MINOR:
                    reasons.append(f"stake '{clip(cell('stake'))}' is not above 0")
                    stake = None
        if "result" in index:
            result = _attempt(reasons, ("result", cell("result")), parse_result, cell("result"))
        if cell("payout"):
            payout_raw = cell("payout")
            money = _attempt(reasons, ("payout", payout_raw), _money, payout_raw, "payout")
            payout_given = None if money is None else money[0]
        elif cell("profit") and stake is not None:
            payout_raw = cell("profit")
            money = _attempt(reasons, ("profit", payout_raw), _money, payout_raw, "profit")
            payout_given = None if money is None else stake + money[0]
        code = cell("currency").upper()
        if code and not re.fullmatch(r"[A-Z]{3}", code):
            reasons.append(f"currency '{clip(cell('currency'))}' is not a 3-letter code")
        currency = (code if re.fullmatch(r"[A-Z]{3}", code) else None) or currency
        currency = currency or options.currency
        payout = None
        if result is not None and stake is not None and odds is not None:
            payout = _attempt(
                reasons,
                ("payout", payout_raw),
                payout_of,
                result,
                stake,
                odds,
                payout_given,
                payout_raw,
            )
        if reasons or placed is None or odds is None or stake is None or result is None:
            continue
        assert payout is not None
        sport = cell("sport") or None
        if sport and cell("league") and _norm(cell("league")) != _norm(sport):
            sport = f"{sport} / {cell('league')}"
        sport = sport or cell("league") or None
        market_text, selection = cell("market") or None, cell("selection") or None
        kind, side, line_value = market_of(market_text or "", selection or "")
        book = cell("book") or None
        bet_id = cell("bet_id")
        if bet_id:
            key = _key(["id", bet_id])
            if key in first_line:
                reasons.append(f"bet id '{clip(bet_id)}' is also on line {first_line[key]}")
                continue
            first_line[key] = line
        else:
            fields = [
                _norm(cell("date")),
                _norm(sport),
                _norm(cell("event")),
                _norm(market_text),
                _norm(selection),
                f"{odds:.4f}",
                str(stake),
                currency,
                result,
                str(payout),
                _norm(book),
            ]
            base = _key(["row", *fields])
            seen[base] += 1
            key = _key([base, str(seen[base])])
        verdict.bet = ParsedBet(
            placed_at=placed,
            sport=_text(sport, "sport"),
            event=_text(cell("event"), "event"),
            market_type=kind,
            market_text=_text(market_text, "market"),
            side=side,
            line=line_value,
            selection=_text(selection, "selection"),
            odds_decimal=odds,
            stake_minor=stake,
            currency=currency,
            result=result,
            status=status_of(result, payout, stake),
            payout_minor=payout,
            book=_text(book, "book"),
            import_key=key,
        )
    return out


def _text(value: str | None, kind: str) -> str | None:
    if not value:
        return None
    limit = TEXT_LIMITS[kind]
    return value if len(value) <= limit else value[: limit - 1] + "…"
