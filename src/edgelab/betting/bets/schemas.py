"""Request and response models of the bet tracker."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from edgelab.core.formats import AwareIsoDatetime

BetStatus = Literal["open", "won", "lost", "push", "void"]


class BetCreate(BaseModel):
    """A bet you placed. Give the price as decimal odds or as American odds (one of them)."""

    # "exactly one of the two prices" in the schema too, so a client generated from it knows
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "oneOf": [
                {"required": ["odds_decimal"], "properties": {"odds_decimal": {"type": "number"}}},
                {
                    "required": ["odds_american"],
                    "properties": {
                        "odds_american": {
                            "type": "integer",
                            "anyOf": [{"maximum": -100}, {"minimum": 100}],
                        }
                    },
                },
            ]
        },
    )

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
    market_id: str | None = Field(
        validation_alias="outcome_id", description="Our market (null for an imported bet)."
    )
    game_id: str | None
    source: str = Field(
        "tracked", description="`tracked` (`POST /me/bets`) or `import` (a bet-history CSV)."
    )
    sport: str | None = Field(
        None, description="An imported bet's sport (and league), as in its file."
    )
    event: str | None = Field(None, description="An imported bet's event, as its file named it.")
    market_text: str | None = Field(
        None, description="An imported bet's market, as its file named it."
    )
    selection: str | None = Field(None, description="An imported bet's pick, as in its file.")
    result: str | None = Field(
        None,
        description="An imported bet's result as its file said it: won, lost, push, void, "
        "cashout, half_won or half_lost (`status` is the nearest of won/lost/push/void).",
    )
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
    clv_bets: int = Field(
        description="Settled bets with a closing-line value: the sample of the CLV figures "
        "(bets without a close count in ROI only)."
    )
    mean_clv: float | None
    mean_clv_ci95: list[float] | None = Field(
        None, description="95% interval of the mean CLV (normal approximation; >= 2 bets)."
    )
    positive_clv_share: float | None


class PerBetClv(BaseModel):
    bet_id: str
    market_id: str | None
    clv: float


class ProfitPoint(BaseModel):
    placed_at: dt.datetime = Field(description="When the bet was placed.")
    profit_minor: int = Field(description="Running profit over settled bets through this one.")
    bets: int = Field(description="Settled bets counted so far.")


class ClvBin(BaseModel):
    low: float = Field(description="Inclusive lower edge, probability points (0.01 = 1 point).")
    high: float
    n: int


class Performance(BaseModel):
    currencies: list[str]
    overall: Summary
    by_market_type: dict[str, Summary]
    by_month: dict[str, Summary]
    by_book: dict[str, Summary] = Field(
        description="By the bookmaker you named (`unknown` when none was given)."
    )
    per_bet_clv: list[PerBetClv]
    cumulative_profit: list[ProfitPoint] = Field(
        description="Running profit of settled bets in placing order, one point per bet."
    )
    clv_histogram: list[ClvBin] = Field(
        description="CLV of settled bets in one-point bins from -10 to +10 points (beyond: "
        "the end bins); empty without CLVs."
    )
    bets_needed: int | None = Field(
        description="About how many settled bets a 95% ROI interval needs to exclude 0 at "
        "your ROI (at a 2% edge when smaller), from the spread of your returns."
    )
    verdict: str = Field(description="What the numbers can and cannot say yet, in plain words.")
    notes: list[str]

    @classmethod
    def of(cls, data: dict[str, Any]) -> Performance:
        return cls.model_validate(data)
