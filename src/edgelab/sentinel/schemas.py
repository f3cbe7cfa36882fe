"""Request and response models of Sentinel: bulk rows, players, scores, the RiskAssessment;
and Sentinel's error codes (the catalogue: `edgelab.core.error_codes`).

The bulk row models are also what the CSV import and the simulator validate against, so every
way in accepts exactly the same rows.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from edgelab.core.clock import utcnow
from edgelab.core.error_codes import error_code
from edgelab.core.formats import AwareIsoDatetime, JsonInt, TimeZoneName

# --- error codes --------------------------------------------------------------------------------

PLAYER_NOT_SCORED = error_code(
    "player_not_scored", 404, "The Sentinel player has no bets or transactions to score yet."
)
MALFORMED_CSV = error_code(
    "malformed_csv", 422, "A bet-history CSV that cannot be read (empty, wrong header, not UTF-8)."
)
NOT_A_BET_HISTORY = error_code(
    "not_a_bet_history", 400, "The upload to import is not of kind `bet_history`."
)
INTERVENTION_NOT_FOUND = error_code(
    "intervention_not_found", 404, "No Sentinel intervention with this id."
)
INTERVENTION_CANCELLED = error_code(
    "intervention_cancelled", 409, "The intervention is already cancelled: nothing to cancel."
)
INTERVENTION_EXPIRED = error_code(
    "intervention_expired", 409, "The intervention has expired: nothing to cancel."
)

MAX_ROWS = 10_000
# the body cap of the bulk routes (/sentinel/bets|transactions|limit-changes): room for
# MAX_ROWS rows of ~1 KB, so a full batch is judged by its rows (422), not its size
BULK_BODY_MAX_BYTES = 16 * 1024 * 1024
BULK_PATHS = ("/sentinel/bets", "/sentinel/transactions", "/sentinel/limit-changes")
EARLIEST = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
FUTURE_SLACK = dt.timedelta(minutes=5)  # clocks differ; later than this is a typo
PLAYER_ID_PATTERN = r"^[A-Za-z0-9_.:-]{1,64}$"
SEED_PLAYER_ID_PATTERN = r"^PLR_\d{4,6}_[A-Z]{2}$"
Category = Literal["CRITICAL", "HIGH", "MEDIUM", "LOW"]

PlayerId = Annotated[str, StringConstraints(pattern=PLAYER_ID_PATTERN)]
# printable text: no control characters (PostgreSQL refuses NUL in text)
Text40 = Annotated[
    str, StringConstraints(min_length=1, max_length=40, pattern=r"^[^\x00-\x1f\x7f]+$")
]
ExternalId = Annotated[
    str, StringConstraints(min_length=1, max_length=100, pattern=r"^[^\x00-\x1f\x7f]+$")
]
Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
# The lowest decimal odds a bet can have (the shortest price books quote: 1/100): 1.0 stakes
# back nothing, and a float a hair above it is a typo, not a price
MIN_ODDS_DECIMAL = 1.01


def _check_time(value: dt.datetime, name: str) -> None:
    if value < EARLIEST:
        raise ValueError(f"{name} is before 2000-01-01")
    if value > utcnow() + FUTURE_SLACK:
        raise ValueError(f"{name} is in the future")


class BetRow(BaseModel):
    """One bet in the operator bulk format. Money in minor units; payout includes the stake."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    external_id: ExternalId = Field(description="The operator's id of the bet (idempotency key).")
    player_id: PlayerId
    placed_at: AwareIsoDatetime
    settled_at: AwareIsoDatetime | None = Field(None, description="Required unless status is open.")
    sport: Text40
    market_type: Text40
    is_live: bool = Field(strict=True, description="In-play (live) rather than pre-match.")
    stake_minor: JsonInt = Field(gt=0, le=10**12)
    payout_minor: JsonInt | None = Field(
        None, ge=0, le=10**13, description="Paid back, stake included; 0 or null when lost."
    )
    currency: Currency
    odds_decimal: float = Field(ge=MIN_ODDS_DECIMAL, le=10_000.0, strict=True)
    status: Literal["won", "lost", "void", "open"]

    @field_validator("sport", "market_type")
    @classmethod
    def _lower(cls, value: str) -> str:
        return value.lower()

    @model_validator(mode="after")
    def _consistent(self) -> BetRow:
        _check_time(self.placed_at, "placed_at")
        if self.status == "open":
            if self.settled_at is not None:
                raise ValueError("an open bet has no settled_at")
            if self.payout_minor:
                raise ValueError("an open bet has no payout")
            self.payout_minor = None
            return self
        if self.settled_at is None:
            raise ValueError(f"a {self.status} bet needs settled_at")
        _check_time(self.settled_at, "settled_at")
        if self.settled_at < self.placed_at:
            raise ValueError("settled_at is before placed_at")
        if self.status == "lost":
            if self.payout_minor:
                raise ValueError("a lost bet pays nothing (payout_minor 0)")
            self.payout_minor = 0
        elif self.payout_minor is None:
            raise ValueError(f"a {self.status} bet needs payout_minor")
        return self


class TransactionRow(BaseModel):
    """One account transaction in the operator bulk format."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    external_id: ExternalId
    player_id: PlayerId
    occurred_at: AwareIsoDatetime
    kind: Literal["deposit", "withdrawal", "withdrawal_reversal"]
    status: Literal["approved", "declined"]
    amount_minor: JsonInt = Field(gt=0, le=10**13)
    currency: Currency

    @model_validator(mode="after")
    def _in_range(self) -> TransactionRow:
        _check_time(self.occurred_at, "occurred_at")
        return self


class LimitChangeRow(BaseModel):
    """A limit change in the operator bulk format: the player raised, lowered, removed or set a
    deposit, loss, wager or session limit. `amount_minor` is the new limit when there is one
    (minor units of `currency`; for a session limit, minutes and no currency)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    external_id: ExternalId = Field(description="The operator's id (idempotency key).")
    player_id: PlayerId
    occurred_at: AwareIsoDatetime
    limit_type: Literal["deposit", "loss", "wager", "session"]
    change: Literal["increase", "decrease", "removed", "set"]
    amount_minor: JsonInt | None = Field(
        None, ge=0, le=10**13, description="The new limit, if any."
    )
    currency: Currency | None = None

    @model_validator(mode="after")
    def _consistent(self) -> LimitChangeRow:
        _check_time(self.occurred_at, "occurred_at")
        if self.change == "removed" and self.amount_minor is not None:
            raise ValueError("a removed limit has no amount_minor")
        if self.limit_type == "session" and self.currency is not None:
            raise ValueError("a session limit (minutes) has no currency")
        if self.currency is not None and self.amount_minor is None:
            raise ValueError("currency is given without amount_minor")
        return self


class BetBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    bets: list[BetRow] = Field(min_length=1, max_length=MAX_ROWS)


class TransactionBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    transactions: list[TransactionRow] = Field(min_length=1, max_length=MAX_ROWS)


class LimitChangeBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    limit_changes: list[LimitChangeRow] = Field(min_length=1, max_length=MAX_ROWS)


class IngestResult(BaseModel):
    received: int = Field(description="Rows in the request.")
    created: int = Field(description="Rows stored now.")
    duplicates: int = Field(description="Rows whose external_id was already stored: unchanged.")
    players_created: int


class PlayerUpdate(BaseModel):
    """Fields left out keep their value; `null` clears one (the default time zone applies)."""

    model_config = ConfigDict(extra="forbid")

    time_zone: TimeZoneName | None = Field(None, examples=["America/Chicago"])
    gamalyze_score: float | None = Field(
        None, ge=0.0, le=1.0, strict=True, description="External self-assessment risk score, 0-1."
    )


class ComponentScores(BaseModel):
    """Each 0-1; null when absent (no data for it): the composite re-weights over the rest.
    `gamalyze` carries the behavioural assessment (today: the external self-assessment)."""

    loss_chase: float | None = Field(ge=0, le=1)
    bet_escalation: float | None = Field(ge=0, le=1)
    market_drift: float | None = Field(ge=0, le=1)
    temporal_risk: float | None = Field(ge=0, le=1)
    gamalyze: float | None = Field(ge=0, le=1)


class TopFeature(BaseModel):
    feature: str
    component: str
    label: str
    value: float | None
    score: float = Field(ge=0, le=1)
    contribution: float = Field(ge=0, le=1)


class ScoreOut(BaseModel):
    scored_at: dt.datetime
    as_of: dt.datetime = Field(description="End of the scored 90-day window (latest activity).")
    composite_risk_score: float = Field(ge=0, le=1)
    risk_category: Category
    component_scores: ComponentScores
    absent_components: list[str]
    top_features: list[TopFeature]


class PlayerOut(BaseModel):
    player_id: str
    source: str
    time_zone: str = Field(description="The player's IANA zone, else EDGELAB_SENTINEL_DEFAULT_TZ.")
    time_zone_is_default: bool
    gamalyze_score: float | None
    last_activity_at: dt.datetime | None
    needs_rescore: bool
    score: ScoreOut | None


class PlayerList(BaseModel):
    items: list[PlayerOut]
    total: int
    limit: int
    offset: int


class ScoreHistory(BaseModel):
    player_id: str
    days: int
    items: list[ScoreOut]


class AnalyzeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    player_id: Annotated[str, StringConstraints(pattern=SEED_PLAYER_ID_PATTERN)] = Field(
        examples=["PLR_10042_NJ"]
    )
    include_history: bool = Field(False, strict=True)
    generate_nudge: bool = Field(False, strict=True)


class HistoryPoint(BaseModel):
    scored_at: dt.datetime
    composite_risk_score: float = Field(ge=0, le=1)
    risk_category: Category


class RiskAssessment(BaseModel):
    """The seed's RiskAssessment, plus what makes it auditable (weights, absent parts, sources)."""

    player_id: str
    composite_risk_score: float = Field(ge=0, le=1)
    risk_category: Category
    component_scores: ComponentScores
    ai_explanation: str
    explanation_source: Literal["template", "claude"] = Field(
        description="Who wrote ai_explanation: Claude (a key is set and it answered) or the "
        "deterministic template (no key, or Claude failed)."
    )
    recommended_action: Literal["none", "nudge", "watchlist", "timeout"]
    recommended_action_detail: str
    generated_at: dt.datetime
    scored_at: dt.datetime
    as_of: dt.datetime
    weights: dict[str, float] = Field(description="Component weights after re-weighting.")
    absent_components: list[str]
    reweighted: bool
    top_features: list[TopFeature]
    notes: list[str]
    history: list[HistoryPoint] | None = Field(
        None, description="Scores of the last 90 days, oldest first (include_history)."
    )
    nudge: str | None = Field(None, description="A message for the player (generate_nudge).")
    nudge_source: Literal["template", "claude"] | None = Field(
        None,
        description="Who wrote nudge: Claude (a key is set and it answered with a message fit "
        "to send) or the deterministic template (no key, Claude failed, or its message named a "
        "diagnosis); null without generate_nudge.",
    )


class RunOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    mode: str
    trigger: str
    status: str
    started_at: dt.datetime
    finished_at: dt.datetime | None
    duration_seconds: float | None
    players_scored: int
    bets_read: int
    transactions_read: int
    errors: int
    error_detail: str | None


ACTIVITY_ID_PATTERN = r"^(bet|tx)_[0-9]{1,18}$"


class BetActivity(BaseModel):
    """A bet in a player's activity: `at` is when it was placed; money in minor units of
    `currency` as stored (`payout_minor` includes the stake; null while open)."""

    kind: Literal["bet"] = "bet"
    id: str = Field(description="`bet_<n>`: stable, and the paging tie-breaker.")
    at: dt.datetime
    external_id: str
    source: str
    sport: str
    market_type: str
    is_live: bool
    odds_decimal: float
    stake_minor: int
    payout_minor: int | None
    currency: str
    result: Literal["won", "lost", "void", "open"]
    settled_at: dt.datetime | None


class TransactionActivity(BaseModel):
    """A deposit, withdrawal or reversed withdrawal in a player's activity; `at` is when it
    occurred, `amount_minor` in minor units of `currency` as stored."""

    kind: Literal["transaction"] = "transaction"
    id: str = Field(description="`tx_<n>`: stable, and the paging tie-breaker.")
    at: dt.datetime
    external_id: str
    source: str
    type: Literal["deposit", "withdrawal", "withdrawal_reversal"]
    status: Literal["approved", "declined"]
    amount_minor: int
    currency: str


ActivityItem = Annotated[BetActivity | TransactionActivity, Field(discriminator="kind")]


class ActivityPage(BaseModel):
    """Newest first. To read on, pass `next_before` as `before` and `next_before_id` as
    `before_id`: the next page starts right after this one's last item (none skipped, none
    repeated); both are null on the last page."""

    player_id: str
    limit: int
    items: list[ActivityItem]
    next_before: dt.datetime | None
    next_before_id: str | None
