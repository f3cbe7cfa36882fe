"""Response models of the evaluation API (the value model's walk-forward evaluation)."""

from __future__ import annotations

import datetime as dt
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
    "season pooled.",
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


class PairedScores(BaseModel):
    brier: float | None = Field(ge=0, le=1)
    log_loss: float | None = Field(ge=0)


class SameGames(BaseModel):
    """The three forecasts on the markets all three exist for (a fair comparison)."""

    n: int = Field(ge=0)
    p_true: PairedScores
    consensus: PairedScores
    close: PairedScores


class BlendWeight(BaseModel):
    """The rating model's say in p_true for a season, earned walk-forward (`pricing.blend`)."""

    season: int
    weight: float = Field(ge=0, le=1, description="What p_true used (0 unless earned).")
    fitted: float = Field(description="Fitted on every season before this one.")
    evidence: str = Field(description="Why it is used or not, in words.")
    games: int = Field(ge=0, description="Past multi-book games it could learn from.")


class BetStats(BaseModel):
    """Flat one-unit stakes on every bet a rule flags (or a baseline takes)."""

    n: int = Field(ge=0)
    settled: int = Field(ge=0, description="Bets with a result (pushes included).")
    wins: int = Field(ge=0)
    pushes: int = Field(ge=0)
    hit_rate: float | None = Field(ge=0, le=1, description="Wins / (wins + losses).")
    mean_odds: float | None = Field(description="Mean decimal odds taken.")
    mean_ev: float | None = Field(description="Mean EV at p_true when flagged (per unit).")
    roi: float | None = Field(description="Mean profit per unit staked (0.05 = +5%).")
    roi_ci_low: float | None
    roi_ci_high: float | None
    n_clv: int = Field(ge=0, description="Bets whose market has a closing price.")
    clv: float | None = Field(
        description="Mean closing-line value: points incl. price for spreads and totals; for "
        "moneylines points of probability, the de-vigged closing probability minus 1/odds "
        "taken (0.02 = 2 points; see `clv_unit`)."
    )
    clv_ci_low: float | None
    clv_ci_high: float | None
    clv_points: float | None = Field(description="Spreads and totals: CLV in points, no price.")
    beat_close: float | None = Field(ge=0, le=1, description="Share with CLV above zero.")


class MarketEvaluation(BaseModel):
    """One market type (or `spread+total`, the two pooled) over the answer's seasons."""

    clv_unit: Literal["points", "probability"] | None = Field(
        description="points: of the line, price included; probability: points of probability "
        "(p_close - 1/odds), not a return."
    )
    markets: int = Field(ge=0, description="Settled markets evaluated.")
    pre_tip: int = Field(ge=0, description="Of them, quoted before tip-off.")
    books_median: float = Field(ge=0, description="Median books quoting at the bet moment.")
    books_max: int = Field(ge=0)
    p_true: ForecastScores | None = Field(
        None, description="p_true at the last pre-tip moment (first side, see the notes)."
    )
    consensus: ForecastScores | None = Field(
        None, description="The consensus of the books at that moment (p_true before a blend)."
    )
    close: ForecastScores | None = Field(None, description="The de-vigged close.")
    same_games: SameGames | None = None
    blend: list[BlendWeight] | None = None
    bets: dict[str, BetStats] = Field(description="By rule (see `rules`).")
    baselines: dict[str, BetStats] = Field(description="By baseline (see `baselines`).")


class NamedRule(BaseModel):
    name: str
    description: str


class SameGamesBrier(BaseModel):
    n: int = Field(ge=0, description="Markets all three forecasts exist for.")
    p_true: float | None
    consensus: float | None
    close: float | None


class SeasonForecasts(BaseModel):
    n: int = Field(description="Markets p_true and the consensus are scored on.")
    n_close: int = Field(description="Markets the close is scored on (maybe other games).")
    p_true: float | None
    consensus: float | None
    close: float | None
    same_games: SameGamesBrier = Field(description="The three Brier scores on shared markets.")


class SeasonBets(BaseModel):
    n: int
    clv: float | None
    beat_close: float | None
    roi: float | None


class SeasonRow(BaseModel):
    """One season in a line: Brier of each forecast, and the bets of the default rule."""

    season: int
    in_sample: bool = Field(description="The value model was tuned on this season.")
    single_book: bool
    books_max: int
    forecasts: dict[str, SeasonForecasts]
    default_bets: dict[str, SeasonBets]


class BootstrapInfo(BaseModel):
    resamples: int
    seed: int
    unit: str
    level: float


class ReportInfo(BaseModel):
    """Which stored report answered, and whether the data has changed since."""

    data_fingerprint: str = Field(description="The data the report was computed from.")
    current_fingerprint: str = Field(description="The data now.")
    computed_at: dt.datetime | None
    compute_seconds: float | None
    stale: bool = Field(description="The data changed since: a recompute is on its way.")
    recompute: Literal["queued", "running", "ready", "failed"] | None = Field(
        description="The newer report's status when stale."
    )


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
    in_sample: bool = Field(
        description="These figures are of a season the value model was tuned on (asked for by "
        "`season`): in sample, not evidence."
    )
    in_sample_seasons: list[int] = Field(
        description="Evaluated seasons the value model was tuned on (`pricing.params`): "
        "answered per season, marked in_sample, and left out of the pooled answer."
    )
    market_type: EvaluatedMarketType | None
    single_book: bool = Field(
        description="At most one book quotes before tip-off: nothing can be flagged."
    )
    books_max: int
    summary: list[str] = Field(description="The verdict in sentences.")
    markets: dict[str, MarketEvaluation] = Field(
        description="moneyline, spread, total, prop (bets only) and spread+total (bets pooled)."
    )
    rules: list[NamedRule]
    baselines: list[NamedRule]
    season_rows: list[SeasonRow] = Field(
        description="Every season in a line, in-sample ones too (pooled answer)."
    )
    devig_method: str
    sharp_books: list[str]
    model_version: str
    data_fingerprint: str
    bootstrap: BootstrapInfo
    notes: list[str]
    # last: added per request to the cached body (fresh, not frozen with it)
    report: ReportInfo | None = None
    online: OnlineComparison | None = Field(
        None,
        description="The live A/B test of the arms (`GET /markets`): every season and market "
        "type, whatever the filters above.",
    )


class CalibrationResponse(BaseModel):
    algorithm: Algorithm
    probability: Literal["p_true"] = Field(
        description="Both algorithms rank by p_true; they differ in its uncertainty."
    )
    market_forecast: Literal["close", "consensus"] = Field(
        description="line=close: the de-vigged close; line=open: the consensus at the bet moment."
    )
    season: int | None
    market_type: EvaluatedMarketType | None
    line: LineKind
    devig_method: str
    n_bins: int
    model_version: str
    model: ReliabilityCurve = Field(description="p_true.")
    market: ReliabilityCurve = Field(description="The market forecast on the same markets.")
    notes: list[str]
    report: ReportInfo | None = None
