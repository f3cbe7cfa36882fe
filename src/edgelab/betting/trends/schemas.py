"""Response model of `GET /trends`: situational betting trends with multiple-testing correction."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

TrendMarketType = Literal["moneyline", "spread", "total"]
TrendGroup = Literal[
    "rest", "venue", "favourite", "line_move", "totals_month", "totals_pace", "division"
]
Interval = list[float]


class Trend(BaseModel):
    id: str = Field(description="Stable slug, e.g. `rest-back-to-back-spread`.")
    label: str
    group: TrendGroup
    market_type: TrendMarketType
    side: str = Field(description="The bet the trend describes, in words.")
    n: int = Field(ge=0, description="Bets (at most one per game), pushes included.")
    wins: int = Field(ge=0)
    losses: int = Field(ge=0)
    pushes: int = Field(ge=0, description="Stake returned: counted in n, not in the rate.")
    rate: float | None = Field(
        ge=0, le=1, description="Cover / win / over rate: wins / (wins + losses)."
    )
    rate_ci: Interval | None = Field(description="95% Wilson score interval of the rate.")
    null_rate: float | None = Field(
        ge=0,
        le=1,
        description="The rate the market's fair (de-vigged) closing probabilities expect: the "
        "null hypothesis (0.5 for spreads and totals at -110).",
    )
    break_even_rate: float | None = Field(
        ge=0, le=1, description="Mean 1/odds: the rate needed to profit at the prices taken."
    )
    roi: float | None = Field(
        description="Profit per unit staked, flat 1-unit stakes at the closing price."
    )
    roi_ci: Interval | None = Field(description="95% interval of the ROI (normal approximation).")
    price_assumed: bool = Field(
        description="True when the data has no prices for this market and -110 is assumed."
    )
    p_value: float = Field(ge=0, le=1, description="Two-sided test of the rate vs null_rate.")
    q_value: float = Field(
        ge=0, le=1, description="Benjamini-Hochberg adjusted over every trend in this response."
    )
    significant: bool = Field(description="q_value <= alpha.")
    verdict: str = Field(description='"noise: ..." or "survives correction: ...".')


class TrendsResponse(BaseModel):
    trends: list[Trend] = Field(description="Sorted by q_value, then n (largest first), then id.")
    n_trends: int = Field(ge=0)
    n_significant: int = Field(ge=0)
    seasons: list[int] = Field(
        min_length=2, max_length=2, description="[from, to] covered, by ending year."
    )
    market_type: TrendMarketType | None
    group: TrendGroup | None
    min_n: int
    correction: Literal["benjamini-hochberg"]
    alpha: float
    notes: list[str]
