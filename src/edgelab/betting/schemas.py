"""Response models of the value-betting API (every field documented in OpenAPI)."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, Field

Algorithm = Literal["a", "b"]
MarketType = Literal["moneyline", "spread", "total", "prop"]
Probability = Field(ge=0.0, le=1.0)


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
    algo_a_confidence: float = Probability
    algo_a_market_quality: float = Probability
    algo_b_value_score: float = Field(ge=0, le=100)
    algo_b_confidence: float = Probability
    algo_b_market_quality: float = Probability
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
    notes: list[str]


class AlgorithmBreakdown(BaseModel):
    value_score: float = Field(ge=0, le=100)
    confidence: float = Probability
    market_quality: float = Probability
    components: dict[str, float]
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
    algo_a_components: dict[str, float]
    algo_b_components: dict[str, float]
    algo_a: AlgorithmBreakdown
    algo_b: AlgorithmBreakdown
    model: ModelInfo
    game_date: dt.date
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
    points: list[HistoryPoint]
    notes: list[str]
