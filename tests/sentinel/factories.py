"""Plain async helpers for Sentinel's database tests."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from edgelab.accounts.service import create_user
from edgelab.core.auth import issue_access_token
from edgelab.core.settings import Settings
from edgelab.sentinel.commands import store_simulation
from edgelab.sentinel.simulate import Simulation, simulate

END = dt.datetime(2026, 11, 1, 12, tzinfo=dt.UTC)


async def headers_for(
    session: AsyncSession, settings: Settings, email: str, *, role: str = "analyst"
) -> dict[str, str]:
    """A committed user with `role` and a bearer header for them."""
    user = await create_user(session, email, role=role)
    await session.commit()
    return {"Authorization": f"Bearer {issue_access_token(settings, user.id)}"}


def bet_row(external_id: str, player_id: str = "PLR_1001_NJ", **changes: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "external_id": external_id,
        "player_id": player_id,
        "placed_at": "2026-10-01T20:00:00-04:00",
        "settled_at": "2026-10-01T22:30:00-04:00",
        "sport": "basketball",
        "market_type": "moneyline",
        "is_live": False,
        "stake_minor": 2500,
        "payout_minor": 4750,
        "currency": "USD",
        "odds_decimal": 1.9,
        "status": "won",
    }
    row.update(changes)
    return row


def tx_row(external_id: str, player_id: str = "PLR_1001_NJ", **changes: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "external_id": external_id,
        "player_id": player_id,
        "occurred_at": "2026-10-01T19:55:00+00:00",
        "kind": "deposit",
        "status": "approved",
        "amount_minor": 10_000,
        "currency": "USD",
    }
    row.update(changes)
    return row


async def simulated_population(
    session: AsyncSession, players: int = 60, seed: int = 3
) -> Simulation:
    """A small simulated population stored through the ingest path (committed)."""
    sim = simulate(players, seed, end=END)
    await store_simulation(session, sim, seed)
    await session.commit()
    return sim
