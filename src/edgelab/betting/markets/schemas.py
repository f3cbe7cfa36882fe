"""Response models of the value-betting API (every field documented in OpenAPI).

Paid-only fields stay in every response (clients and the seed contract rely on the keys) and are
null for free and anonymous callers; the response's `gated` list names them, so a client can
show an upgrade prompt where they would be.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, Field

Algorithm = Literal["a", "b"]
MarketType = Literal["moneyline", "spread", "total", "prop"]
View = Literal["free", "paid"]
Probability = Field(ge=0.0, le=1.0)
PAID_ONLY = "Paid subscribers only: null in the free view (and then named in `gated`)."
GatedProbability = Field(ge=0.0, le=1.0, description=PAID_ONLY)
VIEW_DESCRIPTION = (
    "The caller's view: `paid` (real-time odds, every field, props), or `free` (anonymous "
    "callers and free users: odds delayed, paid-only fields null, no props)."
)
DELAY_DESCRIPTION = (
    "How old the odds are at least, in minutes: 0 in the paid view (real time); in the free "
    "view each market is shown at its latest score at least this old."
)


class BestPrice(BaseModel):
    odds: float = Field(gt=1.0, description="Decimal odds.")
    bookmaker: str
    line: float | None = Field(
        None, description="The bettor's line at that book (spreads, totals, props)."
    )


class StakeSuggestion(BaseModel):
    """Fractional Kelly on the fair probability (given no push); stakes are shares of bankroll."""

    kelly_fraction: float = Field(
        gt=0, le=1, description="Share of full Kelly staked (EDGELAB_KELLY_FRACTION)."
    )
    max_stake: float = Field(
        gt=0, le=1, description="Cap on one bet, share of bankroll (EDGELAB_KELLY_MAX_STAKE)."
    )
    p_used: float = Field(ge=0, le=1, description="p_true given no push: p_win / (p_win + p_lose).")
    odds: float = Field(gt=1.0, description="The decimal odds the stake is sized for.")
    full_kelly: float = Field(
        description="(p_used x odds - 1) / (odds - 1); negative when there is no edge."
    )
    suggested_stake: float = Field(
        ge=0,
        le=1,
        description="min(kelly_fraction x max(full_kelly, 0), max_stake): 0.01 = 1% of bankroll.",
    )
    capped: bool = Field(description="True when the cap cut the fractional-Kelly stake.")
    explanation: str


class MarketRow(BaseModel):
    market_id: str = Field(description="Stable id of one bettable side: game, market type, side.")
    game_id: str
    market_type: MarketType
    outcome_label: str
    side: str
    home_team: str
    away_team: str
    line: float | None = Field(
        description="The bettor's line at the best book: the side's handicap (spread: home -4.5, "
        "away +4.5) or the points line (total, prop); null for moneylines."
    )
    odds_decimal: float = Field(gt=1.0, description="The best decimal price for this side.")
    odds_kind: Literal["open", "close", "live"] = Field(
        description="Which price this is: opening line, closing line, or a live snapshot."
    )
    bookmaker: str = Field(
        description="The book offering the best price and line for this side (The Odds API key)."
    )
    price_assumed: bool = Field(description="True when the data had no price and -110 is assumed.")
    p_true: float = Field(
        ge=0.0,
        le=1.0,
        description="Fair probability of a win at this line: the books' de-vigged consensus, "
        "moved by the rating model only as far as it has earned walk-forward (usually not).",
    )
    p_market: float = Field(
        ge=0.0, le=1.0, description="The books' consensus alone: fair probability of a win here."
    )
    raw_edge: float = Field(
        description="Expected value per unit staked at this price and line at p_true (a push "
        "returns the stake): p_win x (odds - 1) - p_lose."
    )
    flagged: bool = Field(
        False,
        description="A value bet under its market type's default rule (score threshold, positive "
        "EV against the consensus, at least 3 books quoting).",
    )
    books: int = Field(0, ge=0, description="Books whose quotes formed the consensus.")
    value_score: float = Field(ge=0, le=100, description="The requested algorithm's score.")
    algo_a_value_score: float = Field(ge=0, le=100)
    algo_a_confidence: float | None = GatedProbability
    algo_a_market_quality: float | None = GatedProbability
    algo_b_value_score: float = Field(ge=0, le=100)
    algo_b_confidence: float | None = GatedProbability
    algo_b_market_quality: float | None = GatedProbability
    tip_time: dt.datetime
    tip_time_estimated: bool
    time_to_tip_minutes: int
    calc_time: dt.datetime = Field(description="The moment (odds time) this score is as of.")
    best_price: BestPrice = Field(
        description="The best decimal price for this side across bookmakers at the same line, "
        "each book's latest quote as of `calc_time` (with one book: its own price)."
    )


class MarketList(BaseModel):
    items: list[MarketRow]
    total: int = Field(ge=0)
    limit: int
    offset: int
    algorithm: Algorithm = Field(
        description="The algorithm that ranked these rows: `algorithm` when given, else `arm`."
    )
    slate_date: dt.date | None
    view: View = Field(description=VIEW_DESCRIPTION)
    odds_delay_minutes: int = Field(ge=0, description=DELAY_DESCRIPTION)
    gated: list[str] = Field(
        description="Fields of every item that are null because they need a paid subscription "
        "(empty in the paid view)."
    )
    notes: list[str]
    # last, in this order: the router appends them to the cached body per request
    arm: Algorithm = Field(
        description="The caller's A/B arm (sticky per user or client id); it picks the "
        "algorithm when `algorithm` is not given."
    )
    experiment: str = Field(description="The A/B experiment the arm belongs to.")


class AlgorithmBreakdown(BaseModel):
    value_score: float = Field(ge=0, le=100)
    confidence: float | None = GatedProbability
    market_quality: float | None = GatedProbability
    components: dict[str, float] | None = Field(description=PAID_ONLY)
    formula: str


class ModelInfo(BaseModel):
    version: str
    trained_through: dt.date
    n_games: int
    components: dict[str, float]


class OtherMarketPrice(BaseModel):
    """This side's price on another venue (a prediction market), as a probability."""

    venue: Literal["polymarket"]
    market_id: str = Field(description="The venue's market id (`GET /predictions/markets/{id}`).")
    question: str
    outcome: str
    probability: float | None = Field(ge=0, le=1, description="Last price, 0..1.")
    volume_24h: float | None
    liquidity: float | None
    as_of: dt.datetime
    url: str | None


class BetDetail(MarketRow):
    p_market_by_method: dict[str, float]
    p_market_books: list[str] = Field(
        description="Bookmakers whose de-vigged prices were averaged into p_market: the sharp "
        "books (EDGELAB_SHARP_BOOKS) quoting this line, else the price's own book."
    )
    stake_suggestion: StakeSuggestion | None = Field(description=PAID_ONLY)
    devig_method: str
    margin: float = Field(description="Overround of the market: sum of 1/odds - 1.")
    algo_a_components: dict[str, float] | None = Field(description=PAID_ONLY)
    algo_b_components: dict[str, float] | None = Field(description=PAID_ONLY)
    algo_a: AlgorithmBreakdown
    algo_b: AlgorithmBreakdown
    model: ModelInfo
    game_date: dt.date
    view: View = Field(description=VIEW_DESCRIPTION)
    odds_delay_minutes: int = Field(ge=0, description=DELAY_DESCRIPTION)
    gated: list[str] = Field(
        description="Fields null because they need a paid subscription, nested ones dotted "
        "(`algo_a.confidence`); empty in the paid view."
    )
    notes: list[str]
    other_markets: list[OtherMarketPrice] = Field(
        default_factory=list,
        description="Moneylines: this side on Polymarket when an NBA game market there matches "
        "the game (same teams and date), for everyone; empty otherwise.",
    )


class HistoryPoint(BaseModel):
    calc_time: dt.datetime
    odds_kind: Literal["open", "close", "live"]
    bookmaker: str
    odds_decimal: float
    line: float | None
    time_to_tip_minutes: int
    p_true: float = Probability
    p_market: float = Probability
    raw_edge: float
    algo_a_value_score: float = Field(ge=0, le=100)
    algo_b_value_score: float = Field(ge=0, le=100)


class BetHistory(BaseModel):
    market_id: str
    model_version: str | None
    points: list[HistoryPoint] | None = Field(
        description="Historical analytics are for paid subscribers: null in the free view."
    )
    view: View = Field(description=VIEW_DESCRIPTION)
    gated: list[str] = Field(description='`["points"]` in the free view, else empty.')
    notes: list[str]
