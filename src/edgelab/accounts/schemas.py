"""Request and response models of the accounts API."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from edgelab.core.formats import FreeJson, TimeZoneName

# Deliberately simple and ASCII-only (one meaning in every regex engine, so the OpenAPI pattern
# and the server agree): the address is proven by the link that reaches it, not by a regex.
# Internationalised addresses are not accepted yet.
EMAIL_RE = re.compile(r"^[A-Za-z0-9._%+'-]{1,64}@([A-Za-z0-9-]{1,63}\.)+[A-Za-z]{2,24}$")


class MagicLinkRequest(BaseModel):
    email: str = Field(
        min_length=6, max_length=254, pattern=EMAIL_RE.pattern, examples=["you@example.com"]
    )


class EmailChangeRequest(BaseModel):
    """`POST /me/email`: the address to move the account to (a link goes there first)."""

    email: str = Field(
        min_length=6, max_length=254, pattern=EMAIL_RE.pattern, examples=["new@example.com"]
    )


class Accepted(BaseModel):
    status: Literal["accepted"] = "accepted"
    message: str


class VerifyRequest(BaseModel):
    token: str = Field(min_length=10, max_length=200)


class RefreshRequest(BaseModel):
    refresh_token: str = Field(min_length=10, max_length=200)


class TokenResponse(BaseModel):
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(description="Seconds until the access token expires.")


class Me(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    email: str
    role: Literal["user", "analyst", "admin"]
    tier: Literal["free", "paid"]
    display_name: str | None
    time_zone: str
    alert_preferences: dict[str, Any]
    created_at: dt.datetime
    restricted_until: dt.datetime | None = Field(
        None,
        description="The end of a running Sentinel time-out (paid feeds, alerts and bet "
        "tracking answer 403 `account_restricted` until then); null when none runs.",
    )
    email_suppressed: Literal["bounced", "complained", "suppressed"] | None = Field(
        None,
        description="Why alerts and receipts no longer go to `email` (a message to it bounced "
        "permanently, was marked as spam, or Resend refused it as on its suppression list); "
        "null when they do. Signing in through an "
        "e-mailed link confirms the address and clears it.",
    )


class MeUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    display_name: str | None = Field(None, max_length=120)
    time_zone: TimeZoneName | None = Field(None, description="Null: unchanged.")
    alert_preferences: FreeJson | None = Field(None, description="Null: back to the defaults.")

    @field_validator("alert_preferences")
    @classmethod
    def _defaults(cls, value: dict[str, Any] | None) -> dict[str, Any]:
        return {} if value is None else value  # the column holds an object, never null


class ApiKeyCreate(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    scope: Literal["read", "write"] = Field(
        "read",
        description="`read`: GET requests only (the default); `write`: any request. No key "
        "may manage API keys or change or delete the account.",
    )


class ApiKeyOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    prefix: str
    scope: Literal["read", "write"]
    created_at: dt.datetime
    last_used_at: dt.datetime | None
    revoked_at: dt.datetime | None


class ApiKeyCreated(ApiKeyOut):
    key: str = Field(description="The key itself: shown once, never again.")


class ApiKeyList(BaseModel):
    items: list[ApiKeyOut]
