"""Reading one field of a bet-history row: odds, money, dates, results, the market.

Pure: no I/O; `now` is passed in. Each field is read the way the big US books and the bet
trackers write it:

- date: ISO 8601 (an offset is kept), `MM/DD/YYYY` or `DD/MM/YYYY` (the file's order is told by
  a day over 12 in either place; US order when nothing tells), with an optional `HH:MM[:SS]
  [AM|PM]`, `Oct 12, 2023 7:05 PM`, `12 Oct 2023`, and a trailing `ET`/`PT`/`UTC`...; a time
  without offset is in the given time zone (the account's). A date in the future is refused.
- odds: American (`+150`, `-110`, `EVEN`; an unsigned number of 100 or more is American too),
  decimal (`2.50`, `2,50`) or fractional (`5/2`); stored decimal.
- money (stake, payout, profit): currency symbols and codes, thousands separators, a decimal
  comma, `(5.00)` for a negative; in minor units (cents), rounded half up. A payout (or stake
  + profit) over the stake at the highest odds (MAX_DECIMAL_ODDS) is refused.
- result: won / lost / push / void / cashout / half won / half lost in the spellings of the
  exports (`W`, `Loss`, `SETTLED_WIN`, `Cashed Out`, `Cancelled`...). Pending bets are refused:
  only settled bets are imported. The payout is the file's when it has one (a payout column,
  or stake + profit), else what the result pays at the odds; a cash-out needs the file's.

A field that cannot be read raises `FieldProblem` whose message is the reason shown to the user.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from zoneinfo import ZoneInfo

MAX_DECIMAL_ODDS = 1001.0  # +100000 American
MAX_STAKE_MINOR = 10**12
FUTURE_SLACK = dt.timedelta(hours=24)  # a date "today" in a time zone ahead of ours
EARLIEST = dt.datetime(1990, 1, 1, tzinfo=dt.UTC)

ZONE_ABBREVIATIONS = {
    "utc": "UTC",
    "gmt": "UTC",
    "z": "UTC",
    "et": "America/New_York",
    "est": "America/New_York",
    "edt": "America/New_York",
    "ct": "America/Chicago",
    "cst": "America/Chicago",
    "cdt": "America/Chicago",
    "mt": "America/Denver",
    "mst": "America/Denver",
    "mdt": "America/Denver",
    "pt": "America/Los_Angeles",
    "pst": "America/Los_Angeles",
    "pdt": "America/Los_Angeles",
}
CURRENCY_SYMBOLS = {"$": "USD", "€": "EUR", "£": "GBP"}
RESULTS = {
    "won": ("won", "win", "w", "winner", "winning", "wins"),
    "lost": ("lost", "loss", "lose", "l", "loser", "losing", "losses"),
    "push": ("push", "pushed", "p", "tie", "tied"),
    "void": (
        "void",
        "voided",
        "cancelled",
        "canceled",
        "refund",
        "refunded",
        "no action",
        "na",
        "scratched",
        "returned",
    ),
    "cashout": ("cashout", "cash out", "cashed out", "cashed", "early payout", "cash"),
    "half_won": ("half won", "half win", "half"),
    "half_lost": ("half lost", "half loss"),
    "pending": (
        "pending",
        "open",
        "unsettled",
        "active",
        "in play",
        "live",
        "ungraded",
        "running",
        "accepted",
        "placed",
    ),
}
_RESULT_BY_WORD = {w: result for result, words in RESULTS.items() for w in words}
_RESULT_NOISE = {"settled", "graded", "bet", "status"}
MARKET_WORDS = (  # first match wins, on the market text, then on the selection
    (
        "parlay",
        ("parlay", "accumulator", "acca", "multi", "same game", "sgp", "teaser", "round robin"),
    ),
    ("future", ("future", "outright", "to win the", "championship", "mvp")),
    ("prop", ("prop", "player", "points scored", "rebounds", "assists", "yards", "strikeouts")),
    ("spread", ("spread", "handicap", "run line", "puck line", "runline", "puckline", "ats")),
    ("total", ("total", "over under", "over/under", "o/u", "totals")),
    ("moneyline", ("moneyline", "money line", "ml", "match winner", "h2h", "to win", "winner")),
)


class FieldProblem(ValueError):
    """A field that cannot be read; the message is the reason shown for the row."""


def clip(text: str, limit: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --- odds -------------------------------------------------------------------------------------


def parse_odds(text: str) -> float:
    """Decimal odds from American, decimal or fractional text; `FieldProblem` says why not."""
    raw = text.strip()
    t = raw.replace("\u2212", "-").replace("\u2013", "-").replace(" ", "").lower()
    if not t:
        raise FieldProblem("odds missing")
    bad = f"odds '{clip(raw)}' is not American or decimal"
    if t in ("even", "evens", "ev", "evn", "pk"):
        return 2.0
    if m := re.fullmatch(r"([+-])(\d+(?:\.\d+)?)", t):
        value = float(m.group(2))
        if value < 100:
            raise FieldProblem(bad)
        decimal = 1 + value / 100 if m.group(1) == "+" else 1 + 100 / value
    elif m := re.fullmatch(r"(\d+)/(\d+)", t):
        num, den = int(m.group(1)), int(m.group(2))
        if den == 0 or num == 0:
            raise FieldProblem(bad)
        decimal = 1 + num / den
    elif re.fullmatch(r"\d+(?:[.,]\d+)?", t):
        value = float(t.replace(",", "."))
        decimal = 1 + value / 100 if value >= 100 else value  # unsigned "150" is American
        if decimal <= 1.0:
            raise FieldProblem(
                f"odds '{clip(raw)}' is not above 1 (decimal odds include the stake)"
            )
    else:
        raise FieldProblem(bad)
    if not math.isfinite(decimal) or not 1.0 < decimal <= MAX_DECIMAL_ODDS:
        raise FieldProblem(f"odds '{clip(raw)}' is out of range")
    return round(decimal, 6)


# --- money ------------------------------------------------------------------------------------


def parse_money(text: str, what: str) -> tuple[Decimal, str | None]:
    """(amount, currency named by a symbol or code or None) from `$1,234.56`, `1.234,56 €`,
    `USD 10`, `(5.00)`, `-$5`."""
    raw = text.strip()
    if not raw:
        raise FieldProblem(f"{what} missing")
    t = raw.replace("\u00a0", "").replace(" ", "").replace("\u2212", "-")
    currency = None
    negative = False
    if t.startswith("(") and t.endswith(")"):
        negative, t = True, t[1:-1]
    for symbol, code in CURRENCY_SYMBOLS.items():
        if symbol in t:
            currency, t = code, t.replace(symbol, "")
    if m := re.fullmatch(r"([A-Za-z]{3})?(-?[\d.,]+)([A-Za-z]{3})?", t):
        code = m.group(1) or m.group(3)
        if code:
            currency = code.upper()
        t = m.group(2)
    if t.startswith("-"):
        negative, t = not negative, t[1:]
    bad = FieldProblem(f"{what} '{clip(raw)}' is not an amount")
    if not re.fullmatch(r"[\d.,]+", t) or not re.search(r"\d", t):
        raise bad
    if "," in t and "." in t:  # the last one is the decimal separator
        if t.rfind(",") > t.rfind("."):
            t = t.replace(".", "").replace(",", ".")
        else:
            t = t.replace(",", "")
    elif "," in t:
        t = t.replace(",", "") if re.fullmatch(r"\d{1,3}(,\d{3})+", t) else t.replace(",", ".")
    try:
        amount = Decimal(t)
    except InvalidOperation as exc:
        raise bad from exc
    return (-amount if negative else amount), currency


def to_minor(amount: Decimal) -> int:
    return int((amount * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))


# --- dates ------------------------------------------------------------------------------------

_NUMERIC_DATE = re.compile(
    r"(\d{1,2})[/.-](\d{1,2})[/.-](\d{2}|\d{4})"
    r"(?:[ T,]+(\d{1,2}):(\d{2})(?::(\d{2}))?\s*([ap]\.?m\.?)?)?"
)
_NAMED_FORMATS = (
    "%b %d %Y %I:%M %p",
    "%b %d %Y %I:%M:%S %p",
    "%b %d %Y %H:%M",
    "%b %d %Y",
    "%B %d %Y %I:%M %p",
    "%B %d %Y",
    "%d %b %Y %H:%M",
    "%d %b %Y %I:%M %p",
    "%d %b %Y",
    "%d %B %Y",
    "%a %b %d %Y %I:%M %p",
    "%a %b %d %Y",
)


def _split_zone(text: str) -> tuple[str, str | None]:
    parts = text.rsplit(" ", 1)
    if len(parts) == 2 and parts[1].lower() in ZONE_ABBREVIATIONS:
        return parts[0].strip(), ZONE_ABBREVIATIONS[parts[1].lower()]
    return text, None


def date_order_of(texts: list[str]) -> str:
    """`dmy` when some numeric date has a day over 12 first and none has one second, else
    `mdy` (the US books' order)."""
    first = second = False
    for text in texts:
        m = _NUMERIC_DATE.match(text.strip())
        if m:
            first |= int(m.group(1)) > 12
            second |= int(m.group(2)) > 12
    return "dmy" if first and not second else "mdy"


def _naive(text: str, order: str) -> dt.datetime | None:
    """The date as written (naive, or aware when it has an offset), None if not a date."""
    iso = text.replace("Z", "+00:00") if text.endswith("Z") else text
    if re.match(r"\d{4}-\d{2}-\d{2}", iso) or re.match(r"\d{4}/\d{2}/\d{2}", iso):
        try:
            return dt.datetime.fromisoformat(iso.replace("/", "-", 2))
        except ValueError:
            return None
    if m := _NUMERIC_DATE.fullmatch(text.lower()):
        a, b, year = int(m.group(1)), int(m.group(2)), int(m.group(3))
        month, day = (a, b) if order == "mdy" else (b, a)
        year += 2000 if year < 100 else 0
        hour, minute, second = (int(m.group(i) or 0) for i in (4, 5, 6))
        if m.group(7):
            if not 1 <= hour <= 12:
                return None
            hour = hour % 12 + (12 if m.group(7).startswith("p") else 0)
        try:
            return dt.datetime(year, month, day, hour, minute, second)
        except ValueError:
            return None
    cleaned = re.sub(r"[,]", " ", text)
    cleaned = re.sub(r"(\d)(st|nd|rd|th)\b", r"\1", cleaned)
    cleaned = re.sub(
        r"(?i)\s*(a\.?m\.?|p\.?m\.?)$", lambda m: " " + m.group(1).replace(".", ""), cleaned
    )
    cleaned = re.sub(r"\s+(at|@)\s+", " ", " ".join(cleaned.split()))
    for fmt in _NAMED_FORMATS:
        try:
            return dt.datetime.strptime(cleaned, fmt)
        except ValueError:
            continue
    return None


def parse_date(text: str, time_zone: str, order: str, now: dt.datetime) -> dt.datetime:
    raw = text.strip()
    if not raw:
        raise FieldProblem("date missing")
    body, zone = _split_zone(raw)
    value = _naive(body, order)
    if value is None:
        raise FieldProblem(f"date '{clip(raw)}' is not a date")
    if value.tzinfo is None:
        value = value.replace(tzinfo=ZoneInfo(zone or time_zone))
    value = value.astimezone(dt.UTC)
    if value > now + FUTURE_SLACK:
        raise FieldProblem(f"date '{clip(raw)}' is in the future")
    if value < EARLIEST:
        raise FieldProblem(f"date '{clip(raw)}' is before 1990")
    return value


# --- result, market ---------------------------------------------------------------------------


def parse_result(text: str) -> str:
    raw = text.strip()
    if not raw:
        raise FieldProblem("result missing")
    words = [w for w in re.findall(r"[a-z]+", raw.lower()) if w not in _RESULT_NOISE]
    result = _RESULT_BY_WORD.get(" ".join(words))
    if result is None:
        raise FieldProblem(f"result '{clip(raw)}' is unknown")
    if result == "pending":
        raise FieldProblem(f"result '{clip(raw)}' is not settled: only settled bets are imported")
    return result


def market_of(market: str, selection: str) -> tuple[str, str, float | None]:
    """(market type, side, line) from the file's market and selection texts. Side is `over` or
    `under` for totals, else `unknown` (the file does not say home or away)."""
    kind = "other"
    for text in (market, selection):
        low = " " + " ".join(re.findall(r"[a-z0-9/+.-]+", text.lower())) + " "
        for name, words in MARKET_WORDS:
            if any(f" {w} " in low or (" " in w and w in low) for w in words):
                kind = name
                break
        if kind != "other":
            break
    bare = re.sub(r"\([^)]*\)", "", selection).strip()
    total = re.match(r"(?i)(over|under|o|u)\s*(\d+(?:\.\d+)?)\b", bare)
    if kind == "other" and total:
        kind = "total"
    spread = re.search(r"\s([+-]\d+(?:\.\d+)?)$", " " + bare)
    if kind == "other" and spread and abs(float(spread.group(1))) < 100:
        kind = "spread"
    side, line = "unknown", None
    if kind == "total" and total:
        side = "over" if total.group(1).lower().startswith("o") else "under"
        line = float(total.group(2))
    elif kind == "spread" and spread and abs(float(spread.group(1))) < 100:
        line = float(spread.group(1))
    return kind, side, line


def payout_of(result: str, stake: int, odds: float, given: int | None, raw: str) -> int:
    if result == "lost":
        return 0
    if result in ("push", "void"):
        return stake
    if given is not None:
        if given < 0:
            raise FieldProblem(f"payout '{clip(raw)}' is negative")
        if given > stake * MAX_DECIMAL_ODDS:  # and so fits the database's BIGINT
            raise FieldProblem(
                f"payout '{clip(raw)}' is out of range (over the stake at odds of "
                f"{MAX_DECIMAL_ODDS:g})"
            )
        if result == "won" and given < stake:
            raise FieldProblem(f"payout '{clip(raw)}' is below the stake of a won bet")
        return given
    if result == "won":
        return math.floor(stake * odds + 1e-9)
    if result == "half_won":
        return math.floor(stake / 2 * odds + 1e-9) + stake // 2
    if result == "half_lost":
        return stake // 2
    raise FieldProblem("a cash-out needs the file's payout or profit (map that column)")


def status_of(result: str, payout: int, stake: int) -> str:
    """The tracker's status: the result itself, or for a cash-out or half result the nearest
    by money (so ROI and profit count the real payout)."""
    if result in ("won", "lost", "push", "void"):
        return result
    return "won" if payout > stake else ("lost" if payout < stake else "push")
