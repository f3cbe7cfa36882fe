"""Response models of the uploads API."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, Field


class UploadOut(BaseModel):
    id: str = Field(examples=["upl_0123456789abcdef01234567"])
    kind: Literal["bet_history", "avatar"]
    content_type: str = Field(description="Detected from the bytes: text/csv, image/png, ...")
    size_bytes: int = Field(ge=0)
    sha256: str = Field(description="Hex SHA-256 of the stored bytes.")
    created_at: dt.datetime
    expires_at: dt.datetime | None = Field(
        description="When a bet history is deleted (retention); null for avatars."
    )
    download_url: str = Field(
        description="A signed link; works without credentials until it expires."
    )
    download_url_expires_at: dt.datetime


class UploadList(BaseModel):
    items: list[UploadOut] = Field(description="Newest first.")
