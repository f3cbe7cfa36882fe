"""Request and response models of the alerts API (a paid feature)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from edgelab.betting.markets.schemas import Algorithm, MarketType
from edgelab.betting.odds.teams import TEAM_CODES

# Spelled out so OpenAPI lists them (an enum); tests check it equals teams.TEAM_CODES.
TeamCode = Literal[
    "ATL",
    "BKN",
    "BOS",
    "CHA",
    "CHI",
    "CLE",
    "DAL",
    "DEN",
    "DET",
    "GSW",
    "HOU",
    "IND",
    "LAC",
    "LAL",
    "MEM",
    "MIA",
    "MIL",
    "MIN",
    "NOP",
    "NYK",
    "OKC",
    "ORL",
    "PHI",
    "PHX",
    "POR",
    "SAC",
    "SAS",
    "TOR",
    "UTA",
    "WAS",
]
MAX_TEAMS = len(TEAM_CODES)
RuleName = Annotated[
    str,
    StringConstraints(min_length=1, max_length=100, pattern=r"^[^\x00-\x1f\x7f]+$"),
]
MarketTypes = Annotated[
    list[MarketType],
    Field(min_length=1, max_length=4, description="Market types to watch (at least one)."),
]
Teams = Annotated[
    list[TeamCode],
    Field(
        max_length=MAX_TEAMS,
        description="Team codes (BOS, LAL, ...); the game's home or away team must be one of "
        "them. Empty: any team.",
    ),
]
MinValueScore = Annotated[
    float, Field(ge=0, le=100, description="Alert when the algorithm's value score is >= this.")
]


def _scored_types() -> list[MarketType]:
    """The default: every market type that is scored (props too: rules are paid, as props)."""
    return ["moneyline", "prop", "spread", "total"]


def _unique_teams(value: list[TeamCode] | None) -> list[TeamCode] | None:
    return None if value is None else sorted(set(value))


def _unique_types(value: list[MarketType] | None) -> list[MarketType] | None:
    return None if value is None else sorted(set(value))


class AlertRuleCreate(BaseModel):
    # strict: JSON types as documented (`0` is not `false`, `"40"` is not a score)
    model_config = ConfigDict(extra="forbid", strict=True)

    name: RuleName
    min_value_score: MinValueScore
    algorithm: Algorithm = "a"
    market_types: MarketTypes = Field(default_factory=_scored_types)
    teams: Teams = Field(default_factory=list)
    active: bool = True

    check_teams = field_validator("teams")(_unique_teams)
    check_types = field_validator("market_types")(_unique_types)


def _not_nullable(schema: dict[str, Any]) -> None:
    """Document the PATCH fields as what they accept: optional, but never null."""
    for prop in schema.get("properties", {}).values():
        options = [o for o in prop.pop("anyOf", []) if o.get("type") != "null"]
        if len(options) == 1:
            prop.update(options[0])
        elif options:
            prop["anyOf"] = options
        if prop.get("default", 0) is None:
            del prop["default"]


class AlertRuleUpdate(BaseModel):
    """Only the fields sent change; none of them may be null."""

    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra=_not_nullable)

    name: RuleName | None = None
    min_value_score: MinValueScore | None = None
    algorithm: Algorithm | None = None
    market_types: MarketTypes | None = None
    teams: Teams | None = None
    active: bool | None = None

    @field_validator("*")
    @classmethod
    def _not_null(cls, value: object) -> object:
        if value is None:  # only reached when sent explicitly: defaults are not validated
            raise ValueError("may be left out but not null")
        return value

    check_teams = field_validator("teams")(_unique_teams)
    check_types = field_validator("market_types")(_unique_types)


class AlertRuleOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str = Field(description="Stable id, `alr_...`.")
    name: str
    min_value_score: float = Field(ge=0, le=100)
    algorithm: Algorithm
    market_types: list[MarketType]
    teams: list[TeamCode]
    active: bool
    created_at: dt.datetime
    updated_at: dt.datetime


class AlertRuleList(BaseModel):
    items: list[AlertRuleOut]
    max_rules: int = Field(description="How many rules a user may have.")


class DeliveredAlert(BaseModel):
    market_id: str = Field(description="The market e-mailed (each is e-mailed to a user once).")
    rule_id: str | None = Field(description="The rule it matched; null once that rule is deleted.")
    rule_name: str | None
    algorithm: Algorithm
    value_score: float = Field(ge=0, le=100, description="The score as e-mailed.")
    odds_decimal: float = Field(description="The price as e-mailed.")
    line: float | None
    market_type: MarketType
    outcome_label: str
    home_team: str
    away_team: str
    slate_date: dt.date
    tip_time: dt.datetime
    sent_at: dt.datetime


class AlertList(BaseModel):
    items: list[DeliveredAlert]
    total: int = Field(ge=0)
    limit: int
    offset: int


class Unsubscribed(BaseModel):
    status: Literal["unsubscribed"] = "unsubscribed"
    message: str
