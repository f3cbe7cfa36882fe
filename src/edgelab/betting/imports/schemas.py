"""Request and response models of the bet-history import (`/me/bets/imports`)."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from edgelab.betting.imports.csvfile import Role


class MappingIn(BaseModel):
    """A new column mapping for the preview: column name -> role (null: ignore the column);
    columns left out keep their role. The options say what the file does not."""

    model_config = ConfigDict(extra="forbid")

    columns: dict[str, Role | None] = Field(
        default_factory=dict, max_length=200, examples=[{"Wager": "stake", "Notes": None}]
    )
    date_order: Literal["mdy", "dmy"] | None = Field(
        None, description="Day/month order of numeric dates; null: detected from the file."
    )
    time_zone: str | None = Field(
        None,
        min_length=1,
        max_length=64,
        description="IANA zone of times without an offset; default your account's.",
    )
    currency: str | None = Field(
        None, pattern=r"^[A-Z]{3}$", description="When no column or symbol says; default USD."
    )

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        if value is None:
            return None
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value


class ColumnOut(BaseModel):
    name: str
    role: Role | None
    suggested: Role | None = Field(description="The role its header suggests.")
    samples: list[str] = Field(description="Its first few non-empty values.")


class ParsedBetOut(BaseModel):
    placed_at: dt.datetime
    sport: str | None
    event: str | None
    market_type: str
    market: str | None
    selection: str | None
    line: float | None
    odds_decimal: float
    stake_minor: int
    currency: str
    result: str = Field(description="won, lost, push, void, cashout, half_won or half_lost.")
    status: Literal["won", "lost", "push", "void"]
    payout_minor: int = Field(description="Paid back, stake included.")
    bookmaker: str | None


class RowOut(BaseModel):
    line: int = Field(description="The row's line number in the file.")
    verdict: Literal["take", "skip", "duplicate"]
    reasons: list[str]
    cells: list[str]
    bet: ParsedBetOut | None


class Counts(BaseModel):
    rows: int = Field(description="Data rows in the file (empty lines left out).")
    take: int = Field(description="Rows that will be (or were) imported.")
    skip: int = Field(description="Rows that cannot be imported; `skipped` says why.")
    duplicate: int = Field(description="Rows already imported (by an earlier upload).")


class ImportResult(BaseModel):
    imported: int
    skipped: int
    duplicates: int
    confirmed_at: dt.datetime


class ImportOut(BaseModel):
    id: str
    filename: str
    status: Literal["preview", "confirmed"]
    created_at: dt.datetime
    expires_at: dt.datetime
    encoding: str
    delimiter: str
    columns: list[ColumnOut]
    missing_roles: list[Role] = Field(
        description="Roles confirm needs (date, odds, stake, result) that no column has."
    )
    date_order: Literal["mdy", "dmy"]
    time_zone: str
    currency: str
    counts: Counts
    first_rows: list[RowOut] = Field(description="The file's first rows, whatever their verdict.")
    skipped: list[RowOut] = Field(description="Every skipped row with its reasons (up to 1,000).")
    skipped_truncated: bool
    result: ImportResult | None = Field(description="What confirm wrote; null before.")
