"""Prices of our games on other venues (prediction markets), for the bet detail.

Betting sits below predictions, so it cannot import it: predictions provides an `OtherVenues`
at start-up (`predictions.wiring`) and `GET /bet/{id}` asks for it when present. Without the
predictions product (or with no match) the bet detail lists no other markets.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from edgelab.core.settings import Settings


class VenuePrices(Protocol):
    async def __call__(
        self, session: AsyncSession, settings: Settings, *, game_date: dt.date, home: str, away: str
    ) -> dict[str, dict[str, Any]]:
        """Each side's ("home"/"away") price on the venue, as a JSON-ready dict; {} if none."""
        ...


@dataclass(frozen=True)
class OtherVenues:
    prices: VenuePrices
