"""Request and response models of the bet tracker."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from edgelab.core.formats import AwareIsoDatetime

BetStatus = Literal["open", "won", "lost", "push", "void"]


class BetCreate(BaseModel):
    """A bet you placed. Give the price as decimal odds or as American odds (one of them)."""

    model_config = ConfigDict(extra="forbid")

    market_id: str = Field(
        min_length=1, max_length=160, examples=["nba-2019-04-10-bos-was-ml-home"]
    )
    odds_decimal: float | None = Field(None, gt=1.0, le=1000.0)
    odds_american: int | None = Field(None, ge=-100_000, le=100_000)
    stake_minor: int = Field(gt=0, le=10**12, description="Stake in minor units (cents).")
    currency: str = Field("USD", pattern=r"^[A-Z]{3}$")
    bookmaker: str | None = Field(None, min_length=1, max_length=64)
    placed_at: AwareIsoDatetime | None = Field(
        None, description="When you placed it (ISO 8601 with offset); default now."
    )
    line: float | None = Field(
        None,
        ge=-500,
        le=500,
        description="Spread handicap of your side or the total's points line; default the "
        "line in our data at placed_at.",
    )
    external_id: str | None = Field(
        None,
        min_length=1,
        max_length=100,
        description="Your own id for the bet: sending it again returns the stored bet.",
    )

    @model_validator(mode="after")
    def _one_price(self) -> BetCreate:
        if (self.odds_decimal is None) == (self.odds_american is None):
            raise ValueError("give exactly one of odds_decimal and odds_american")
        if self.odds_american is not None and -100 < self.odds_american < 100:
            raise ValueError("American odds are <= -100 or >= +100")
        return self


class BetOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    external_id: str | None
    market_id: str = Field(validation_alias="outcome_id")
    game_id: str
    market_type: str
    side: str
    line: float | None
    odds_decimal: float
    stake_minor: int
    currency: str
    bookmaker: str | None
    placed_at: dt.datetime
    status: BetStatus
    payout_minor: int | None = Field(description="Paid back, stake included; null while open.")
    settled_at: dt.datetime | None
    closing_odds_decimal: float | None
    p_close_fair: float | None = Field(description="De-vigged closing probability of the side.")
    clv: float | None = Field(
        description="Closing-line value in probability points (p_close_fair - 1/odds_decimal)."
    )


class BetAttribution(BaseModel):
    """The A/B exposure this bet is credited to (`betting.ab`)."""

    arm: Literal["a", "b"]
    rank: int = Field(ge=1, description="Where `/markets` ranked the market (1 = top).")
    shown_at: dt.datetime


class BetDetailOut(BetOut):
    attribution: BetAttribution | None = Field(
        None,
        description="Your latest `/markets` view of this market at or before the bet (within "
        "EDGELAB_AB_ATTRIBUTION_DAYS), explicit `algorithm` requests left out; null if none.",
    )


class BetList(BaseModel):
    items: list[BetOut]
    total: int
    limit: int
    offset: int


class Summary(BaseModel):
    bets: int
    settled: int
    open: int
    won: int
    lost: int
    push: int
    hit_rate: float | None
    staked_minor: int
    profit_minor: int
    roi: float | None = Field(description="Profit / staked over settled bets.")
    roi_ci95: list[float] | None = Field(description="95% bootstrap interval of the ROI.")
    clv_bets: int
    mean_clv: float | None
    positive_clv_share: float | None


class PerBetClv(BaseModel):
    bet_id: str
    market_id: str
    clv: float


class Performance(BaseModel):
    currencies: list[str]
    overall: Summary
    by_market_type: dict[str, Summary]
    by_month: dict[str, Summary]
    per_bet_clv: list[PerBetClv]
    notes: list[str]

    @classmethod
    def of(cls, data: dict[str, Any]) -> Performance:
        return cls.model_validate(data)
