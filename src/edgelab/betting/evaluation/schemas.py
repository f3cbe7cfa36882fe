"""Response models of the evaluation API (walk-forward backtest of the model and algorithms)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

Algorithm = Literal["a", "b"]
EvaluatedMarketType = Literal["moneyline", "spread", "total"]
LineKind = Literal["open", "close"]
Season = Field(
    None,
    ge=1900,
    le=2999,
    description="Season by its ending year, as in the data (2019 = 2018-19); default: every "
    "evaluated season pooled.",
)


class ForecastScores(BaseModel):
    """How good a probability forecast was; null when nothing could be scored (n = 0)."""

    n: int = Field(ge=0, description="Settled markets scored (pushes left out).")
    brier: float | None = Field(ge=0, le=1, description="Mean squared error; lower is better.")
    log_loss: float | None = Field(ge=0, description="Mean negative log-likelihood (nats).")
    ece: float | None = Field(
        ge=0, le=1, description="Expected calibration error over 10 equal-width bins."
    )


class ReliabilityBin(BaseModel):
    bin: int = Field(ge=0, description="0-based bin of the predicted probability.")
    lower: float = Field(ge=0, le=1)
    upper: float = Field(ge=0, le=1)
    mean_predicted: float = Field(ge=0, le=1)
    observed_rate: float = Field(ge=0, le=1)
    count: int = Field(ge=1)


class ReliabilityCurve(ForecastScores):
    bins: list[ReliabilityBin] = Field(description="Non-empty bins, in order of probability.")


class Difference(BaseModel):
    """`a - b` with a paired cluster-bootstrap 95% interval (resampling games)."""

    a: float | None
    b: float | None
    difference: float | None
    ci_low: float | None
    ci_high: float | None
    p_value: float | None = Field(ge=0, le=1, description="Two-sided bootstrap p-value.")
    significant: bool = Field(description="The 95% interval excludes 0.")


class AlgorithmDifference(Difference):
    metric: Literal["mean_clv", "brier", "log_loss", "positive_clv_share", "hit_rate", "roi"]
    threshold: int | None = Field(description="Value-score cut of the bets; null for forecasts.")
    lower_is_better: bool
    enough_data: bool = Field(description="At least 30 bets on each side (else never significant).")
    better: Algorithm | None = Field(description="The significantly better algorithm, if any.")


class BetStats(BaseModel):
    """Flat one-unit stakes on every side the algorithm scored at or above the threshold."""

    n: int = Field(ge=0)
    n_at_open: int = Field(ge=0, description="Bets taken at an opening line (before the close).")
    wins: int = Field(ge=0)
    hit_rate: float | None = Field(ge=0, le=1)
    mean_odds: float | None = Field(description="Mean decimal odds taken.")
    roi: float | None = Field(description="Mean profit per unit staked (0.05 = +5%).")
    roi_ci_low: float | None
    roi_ci_high: float | None
    mean_clv: float | None = Field(
        description="Mean closing-line value in probability points (0.01 = 1 point): fair "
        "closing probability of the side minus 1/odds taken; a bet at the closing line scores "
        "minus its share of the margin."
    )
    mean_clv_at_open: float | None = Field(description="Mean CLV of the bets taken at the open.")
    positive_clv_share: float | None = Field(ge=0, le=1)


class AlgorithmSummary(BaseModel):
    probability: Literal["p_true", "p_shrunk"] = Field(
        description="The algorithm's probability: A ranks by p_true, B by p_true shrunk toward "
        "the market by the model's reliability."
    )
    forecast: ForecastScores = Field(description="That probability at the closing lines.")
    bets: dict[str, BetStats] = Field(description="By value-score threshold: '50' and '70'.")


class ModelVsMarket(BaseModel):
    brier: Difference
    log_loss: Difference


class BootstrapInfo(BaseModel):
    resamples: int
    seed: int
    unit: str
    level: float


class OnlineArm(BaseModel):
    """One arm of the live A/B test: reach, and the tracked bets attributed to it."""

    users: int = Field(ge=0, description="Distinct clients (signed-in users and browsers).")
    exposures: int = Field(ge=0, description="Market rows shown (at most 50 per request).")
    attributed_bets: int = Field(ge=0)
    settled_bets: int = Field(ge=0, description="Won, lost or push (void and open left out).")
    mean_clv: float | None = Field(
        description="Mean closing-line value of the settled bets, as stored at settlement."
    )
    mean_clv_ci: list[float] | None = Field(description="95% bootstrap interval (users).")
    roi: float | None = Field(description="Profit / staked over the settled bets.")
    roi_ci: list[float] | None = Field(description="95% bootstrap interval (users).")
    hit_rate: float | None = Field(ge=0, le=1, description="Won / (won + lost).")


class OnlineDifference(BaseModel):
    """B - A with the interval of independent bootstrap draws of each arm (users resampled)."""

    metric: Literal["mean_clv", "roi", "hit_rate"]
    a: float | None
    b: float | None
    difference: float | None
    ci_low: float | None
    ci_high: float | None
    significant: bool = Field(description="The 95% interval excludes 0.")


class OnlineBootstrap(BaseModel):
    resamples: int
    unit: str
    level: float


class OnlineComparison(BaseModel):
    experiment: str
    split_b: float = Field(ge=0, le=1)
    force_arm: Algorithm | None
    attribution_days: float
    arms: dict[str, OnlineArm] = Field(description="`a` and `b`.")
    b_minus_a: list[OnlineDifference]
    bootstrap: OnlineBootstrap
    notes: list[str]


class CompareResponse(BaseModel):
    season: int | None
    seasons: list[int] = Field(description="The seasons these figures cover.")
    market_type: EvaluatedMarketType | None
    summary: list[str] = Field(description="The verdict in sentences: CLV and Brier first.")
    p_true: ForecastScores = Field(description="The model's p_true at the closing lines.")
    market_close: ForecastScores = Field(
        description="The de-vigged closing market (EDGELAB_DEVIG_METHOD) on the same markets."
    )
    p_true_open: ForecastScores | None = Field(description="p_true at the opening lines.")
    market_open: ForecastScores | None = Field(description="The de-vigged opening market.")
    market_close_by_method: dict[str, ForecastScores]
    p_true_minus_market_close: ModelVsMarket
    a_vs_b: list[AlgorithmDifference] = Field(description="CLV first, then Brier, ..., ROI last.")
    algorithms: dict[str, AlgorithmSummary]
    devig_method: str
    model_version: str
    data_fingerprint: str
    bootstrap: BootstrapInfo
    notes: list[str]
    # last: added per request to the cached backtest body (fresh, not frozen with it)
    online: OnlineComparison | None = Field(
        None,
        description="The live A/B test of the arms (`GET /markets`): every season and market "
        "type, whatever the filters above.",
    )


class CalibrationResponse(BaseModel):
    algorithm: Algorithm
    probability: Literal["p_true", "p_shrunk"]
    season: int | None
    market_type: EvaluatedMarketType | None
    line: LineKind
    devig_method: str
    n_bins: int
    model_version: str
    model: ReliabilityCurve = Field(description="The algorithm's probability.")
    market: ReliabilityCurve = Field(description="The de-vigged market on the same markets.")
    notes: list[str]
