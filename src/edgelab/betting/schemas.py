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


class MarketRow(BaseModel):
    market_id: str = Field(description="Stable id of one bettable side: game, market type, side.")
    game_id: str
    market_type: MarketType
    outcome_label: str
    side: str
    home_team: str
    away_team: str
    line: float | None = Field(description="Outcome's handicap (spread) or points line (total).")
    odds_decimal: float = Field(gt=1.0)
    odds_kind: Literal["open", "close", "live"] = Field(
        description="Which price this is: opening line, closing line, or a live snapshot."
    )
    bookmaker: str
    price_assumed: bool = Field(description="True when the data had no price and -110 is assumed.")
    p_true: float = Probability
    p_market: float = Probability
    raw_edge: float = Field(description="p_true x odds_decimal - 1.")
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


class MarketList(BaseModel):
    items: list[MarketRow]
    total: int = Field(ge=0)
    limit: int
    offset: int
    algorithm: Algorithm
    slate_date: dt.date | None
    view: View = Field(description=VIEW_DESCRIPTION)
    odds_delay_minutes: int = Field(ge=0, description=DELAY_DESCRIPTION)
    gated: list[str] = Field(
        description="Fields of every item that are null because they need a paid subscription "
        "(empty in the paid view)."
    )
    notes: list[str]


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


class BetDetail(MarketRow):
    p_market_by_method: dict[str, float]
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
