"""Request and response models of interventions (the seed's Intervention model).

Field names follow the seed: `player_id`, `intervention_type`, `analyst_id`, `reason`,
`duration_hours`. A duration is required for a timeout (1-168 hours) and refused for the other
types (422): a nudge or a watchlist entry that "lasts 24 hours" is a client mistake worth
reporting, not silently dropping.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints, model_validator

from edgelab.sentinel.schemas import SEED_PLAYER_ID_PATTERN

InterventionType = Literal["nudge", "timeout", "watchlist", "referral"]
InterventionStatus = Literal["active", "expired", "cancelled"]
MIN_HOURS, MAX_HOURS = 1, 168
Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=10, max_length=500)]
Note = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000)]
AnalystId = Annotated[
    str, StringConstraints(strip_whitespace=True, pattern=r"^[A-Za-z0-9_.:@-]{1,64}$")
]


class InterventionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    player_id: Annotated[str, StringConstraints(pattern=SEED_PLAYER_ID_PATTERN)] = Field(
        examples=["PLR_10042_NJ"]
    )
    intervention_type: InterventionType
    analyst_id: AnalystId | None = Field(
        None,
        description="The deciding analyst's id (an operator's own id is fine); default: the "
        "signed-in analyst's user id. The signed-in caller is recorded and audited either way.",
    )
    reason: Reason = Field(description="Why, for the record (10-500 characters).")
    duration_hours: int | None = Field(
        None,
        ge=MIN_HOURS,
        le=MAX_HOURS,
        description="Timeouts only, and required for them: 1-168 hours from now.",
    )
    note: Note | None = Field(
        None, description="Free text, e.g. where a referral was handed to (helpline, RG team)."
    )

    @model_validator(mode="after")
    def _duration_matches_type(self) -> InterventionCreate:
        if self.intervention_type == "timeout" and self.duration_hours is None:
            raise ValueError("a timeout needs duration_hours (1-168)")
        if self.intervention_type != "timeout" and self.duration_hours is not None:
            raise ValueError(f"duration_hours is for timeouts only, not a {self.intervention_type}")
        return self


class InterventionCancel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Reason | None = Field(None, description="Why it was cancelled (10-500 characters).")


class InterventionOut(BaseModel):
    id: str
    player_id: str
    intervention_type: InterventionType
    analyst_id: str
    created_by: str = Field(description="User id of the analyst who recorded it.")
    reason: str
    note: str | None
    duration_hours: int | None
    status: InterventionStatus = Field(
        description="active; expired (a timeout past its end); cancelled."
    )
    created_at: dt.datetime
    updated_at: dt.datetime = Field(description="Last change: poll with `updated_since`.")
    ends_at: dt.datetime | None = Field(description="When a timeout ends; null otherwise.")
    cancelled_at: dt.datetime | None
    cancelled_by: str | None
    cancel_reason: str | None
    enforced_by_edgelab: bool = Field(
        description="True for our own users (enforced here); false for an operator's player, "
        "whose operator enforces it."
    )
    effects: dict[str, Any] = Field(
        description="What enforcement did: `restricted_until`, `email_id` (a nudge's e-mail) "
        "and `written_by` (`claude` or `template`: who wrote the nudge's message)."
    )


class InterventionList(BaseModel):
    items: list[InterventionOut]
    total: int
    limit: int
    offset: int


class ListFilters(BaseModel):
    """Query filters of `GET /api/interventions` (all optional, combined with AND)."""

    player_id: str | None = None
    intervention_type: InterventionType | None = None
    status: InterventionStatus | None = None
    active: bool | None = None  # true: active; false: expired or cancelled
    updated_since: AwareDatetime | None = None
