"""The value model's parameters: how books are weighted and combined per market type, the
distributions' spreads, and the default flag rules. Pure constants and small functions.

Every number here was fitted on the 2021-22 multi-book season only and validated, frozen, on
2022-23 (the project's value-model report; `benchmarks/bench_value.py` re-prints it):

- de-vig: odds ratio (all five methods within 0.0002 of each other in log loss);
- the five Kambi-fed books (BetRivers, SugarHouse, Barstool, TwinSpires, Unibet) quote the same
  prices 95-100 % of the time: together they count as one book (a fifth of a weight each);
- Betfair's exchange back prices are left out of moneylines (they predicted nothing of the
  close);
- spreads: the weighted mean of each book's implied margin, sharp books weighted 50x (nearly the
  sharp books alone when they quote); margin sigma 12.27 points, the morning-to-close floor tau
  1.88 points;
- totals: the soft books' consensus moved 2.5x the sharp books' lead (offshore books lead the
  totals market); sigma 18.74 points, tau 2.80 points;
- moneylines: the weighted median of the books' de-vigged probabilities, equal weights; tau 0.054;
- default rules (the threshold maximising the lower 95 % bound of closing-line value on
  2021-22 among thresholds flagging at least 120 bets): spreads A >= 47, totals B >= 56,
  moneylines A >= 43; props follow totals (no prop history to fit on).

Player props have no history here: their sigma is a rough rule (`prop_sigma`), used only to
compare different lines; books quoting the same line are compared exactly in probability.
"""

from __future__ import annotations

from dataclasses import dataclass

DEVIG = "odds_ratio"
KAMBI_BOOKS = frozenset(
    {"barstool", "betrivers", "sugarhouse", "twinspires", "unibet", "unibet_us"}
)
NO_MONEYLINE_BOOKS = frozenset({"betfair"})
MIN_BOOKS_TO_FLAG = 3
MAX_QUOTE_AGE_HOURS = 6.0  # a book's quote older than this at a scoring time is left out
STALENESS_HALF_LIFE_MINUTES = 180.0  # and a younger one weighs less the older it is
POINT_WINDOW_MINUTES = 5.0  # quotes this close in time are scored as one moment


@dataclass(frozen=True)
class TypeParams:
    """How one market type's books are combined.

    `sigma`: spread of X around its mean (points; None for line-free markets). `tau`: the
    consensus's error floor (points, or probability for line-free markets; for props a share
    of each market's sigma). `how`: mean or
    median across books; `space`: where line-free probabilities are averaged. `sharp_weight`:
    weight of a sharp book relative to 1; `gamma`: sharp lean (None: plain weighting).
    """

    sigma: float | None
    tau: float
    how: str = "mean"
    space: str = "prob"
    sharp_weight: float = 1.0
    gamma: float | None = None
    no_zero: bool = False


TYPE_PARAMS: dict[str, TypeParams] = {
    "spread": TypeParams(sigma=12.27, tau=1.881, sharp_weight=50.0, no_zero=True),
    "total": TypeParams(sigma=18.74, tau=2.795, gamma=2.5),
    "moneyline": TypeParams(sigma=None, tau=0.0535, how="median"),
    # sigma per line (prop_sigma) and tau = 0.15 x sigma: tau over sigma as fitted for spreads
    # (1.88 / 12.27) and totals (2.80 / 18.74), both 0.15
    "prop": TypeParams(sigma=None, tau=0.15, how="median"),
}


@dataclass(frozen=True)
class FlagRule:
    algorithm: str  # "a" or "b"
    threshold: float  # 0-100


DEFAULT_RULES: dict[str, FlagRule] = {
    "spread": FlagRule("a", 47.0),
    "total": FlagRule("b", 56.0),
    "moneyline": FlagRule("a", 43.0),
    "prop": FlagRule("b", 56.0),
}


def prop_sigma(line: float) -> float:
    """A player's stat spreads roughly 30 % of its level (points 25 -> 8, assists 6 -> 2.3,
    threes 2.5 -> 1.3): sigma = 0.3 * line + 0.5, at least 0.8."""
    return max(0.8, 0.3 * abs(line) + 0.5)


def book_weight(book: str, market_type: str, sharp: frozenset[str]) -> float:
    """A book's weight in the consensus of `market_type` (0 = left out)."""
    if market_type == "moneyline" and book in NO_MONEYLINE_BOOKS:
        return 0.0
    weight = 0.2 if book in KAMBI_BOOKS else 1.0
    if book in sharp:
        weight *= TYPE_PARAMS[market_type].sharp_weight
    return weight
